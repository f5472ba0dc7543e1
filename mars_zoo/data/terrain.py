"""Synthetic Mars-like terrain for the mini benchmark.

Each landform is drawn as a height field over a noisy plain and rendered as a
grayscale hillshade lit from the west, the way a CTX image looks. The shapes are
simple, but distinct enough per class (crater rims, dune crests, meanders, pits,
streaks, lobes, fans, lineated tongues) that an image model can tell them apart,
so the mini benchmark's scores respond to a model and are not just noise.

Everything is a pure function of a numpy Generator: the same seed gives the same
pixels on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = (
    "crater",
    "dunes",
    "channel",
    "pitted_cones",
    "yardangs",
    "landslide",
    "alluvial_fan",
    "glacier_like",
)

_COMPASS = ("east", "north-east", "north", "north-west", "west", "south-west", "south", "south-east")


@dataclass(frozen=True)
class Scene:
    """A rendered landform: the 8-bit grayscale pixels and what was drawn (for captions)."""

    kind: str
    pixels: np.ndarray  # [H, W] uint8
    count: int  # how many features were drawn (craters, dunes, cones...)
    direction: str  # compass direction of the main orientation
    size: str  # "small" | "medium" | "large", relative to the scene


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates normalised so the shorter side spans [0, 1]."""
    scale = float(min(height, width))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    return (xx + 0.5) / scale, (yy + 0.5) / scale


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Bilinearly interpolated value noise with about `cells` cells across the shorter side."""
    step = min(height, width) / cells
    rows = int(np.ceil(height / step)) + 2
    cols = int(np.ceil(width / step)) + 2
    coarse = rng.random((rows, cols))
    y = (np.arange(height) + 0.5) / step
    x = (np.arange(width) + 0.5) / step
    y0 = np.floor(y).astype(int)
    x0 = np.floor(x).astype(int)
    fy = (y - y0)[:, None]
    fx = (x - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def plain(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """The background: a gently rolling, slightly rough surface (a height field)."""
    return (
        0.04 * smooth_noise(rng, height, width, 3)
        + 0.015 * smooth_noise(rng, height, width, 10)
        + 0.004 * rng.standard_normal((height, width))
    )


def _rotate(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, angle: float):
    """Coordinates along (u) and across (v) the direction `angle` (radians, from east)."""
    dx, dy = xx - cx, yy - cy
    c, s = np.cos(angle), np.sin(angle)
    return dx * c - dy * s, dx * s + dy * c


def _from_edge(rng, xx, yy, extent, inset: float):
    """A landform spreading in a random direction from a point `inset` (a fraction of the
    scene's shorter side) back from the centre, so it crosses the middle of the image:
    the direction, the coordinates along and across it, and the polar radius and angle
    about that point."""
    angle = rng.uniform(0, 2 * np.pi)
    ox = extent[0] / 2 - inset * np.cos(angle) * min(extent)
    oy = extent[1] / 2 + inset * np.sin(angle) * min(extent)
    u, v = _rotate(xx, yy, ox, oy, angle)
    return angle, u, v, np.hypot(u, v), np.arctan2(v, u)


def _crater(rng, xx, yy, extent):
    count = int(rng.integers(1, 4))
    height = np.zeros_like(xx)
    radius = first_radius = rng.uniform(0.12, 0.3)
    for _ in range(count):
        cx, cy = rng.uniform(0.25, 0.75) * extent[0], rng.uniform(0.25, 0.75) * extent[1]
        d = np.hypot(xx - cx, yy - cy) / radius
        bowl = np.where(d < 1, -0.35 * radius * (1 - d**2), 0.0)
        rim = 0.08 * radius * np.exp(-(((d - 1.0) / 0.12) ** 2))
        height += bowl + rim
        radius *= rng.uniform(0.45, 0.8)
    return height, count, 0.0, first_radius * 2


def _dunes(rng, xx, yy, extent):
    angle = rng.uniform(0, np.pi)
    wavelength = rng.uniform(0.08, 0.16)
    u, v = _rotate(xx, yy, 0, 0, angle)
    phase = 2 * np.pi * v / wavelength + 1.5 * np.sin(2 * np.pi * u / 0.5 + rng.uniform(0, 6.3))
    crest = np.sin(phase) + 0.35 * np.sin(2 * phase)  # asymmetric: gentle stoss, steep lee
    count = int(round(max(extent) / wavelength))
    return 0.012 * crest, count, angle + np.pi / 2, wavelength * 2


def _channel(rng, xx, yy, extent):
    angle = rng.uniform(0, np.pi)
    amplitude = rng.uniform(0.05, 0.12)
    frequency = rng.uniform(2.0, 4.0)
    u, v = _rotate(xx, yy, extent[0] / 2, extent[1] / 2, angle)
    centre = amplitude * np.sin(2 * np.pi * frequency * u / 2 + rng.uniform(0, 6.3))
    width = rng.uniform(0.025, 0.05)
    height = -0.05 * np.exp(-(((v - centre) / width) ** 2))
    count = int(rng.integers(1, 3))
    if count == 2:  # a tributary joining from the side
        u2, v2 = _rotate(xx, yy, extent[0] / 2, extent[1] / 2, angle + 0.7)
        height += np.where(u2 > 0, -0.03 * np.exp(-((v2 / (width * 0.6)) ** 2)), 0.0)
    return height, count, angle, width * 4


def _pitted_cones(rng, xx, yy, extent):
    count = int(rng.integers(3, 9))
    height = np.zeros_like(xx)
    radius = rng.uniform(0.07, 0.12)
    for _ in range(count):
        cx, cy = rng.uniform(0.1, 0.9) * extent[0], rng.uniform(0.1, 0.9) * extent[1]
        d = np.hypot(xx - cx, yy - cy) / radius
        cone = np.where(d < 1, 0.5 * radius * (1 - d), 0.0)
        pit = np.where(d < 0.35, -0.45 * radius * (1 - (d / 0.35) ** 2), 0.0)
        height += cone + pit
    return height, count, 0.0, radius * 4


def _yardangs(rng, xx, yy, extent):
    angle = rng.uniform(0, np.pi)
    spacing = rng.uniform(0.05, 0.09)
    u, v = _rotate(xx, yy, extent[0] / 2, extent[1] / 2, angle)
    ridges = np.abs(np.sin(np.pi * v / spacing)) ** 6
    along = np.clip(np.sin(2 * np.pi * u / rng.uniform(0.3, 0.6) + 0.6 * np.sin(np.pi * v / spacing)), 0, 1)
    count = int(round(max(extent) / spacing))
    return 0.03 * ridges * (0.4 + 0.6 * along), count, angle, spacing * 3


def _landslide(rng, xx, yy, extent):
    angle, u, v, r, phi = _from_edge(rng, xx, yy, extent, 0.45)
    lobes = int(rng.integers(3, 6))
    reach = rng.uniform(0.55, 0.8) * (1 + 0.12 * np.cos(lobes * phi))
    inside = (np.abs(phi) < 1.0) & (r < reach)
    taper = np.clip(1 - r / reach, 0, 1) ** 0.3 * np.clip(1 - np.abs(phi), 0, 1) ** 0.5
    deposit = np.where(inside, 0.05 * taper, 0.0)
    hummocks = 0.012 * smooth_noise(rng, *xx.shape, 14) * (deposit > 0)
    ridges = 0.004 * np.sin(np.pi * v / 0.03) * (deposit > 0)  # furrows along the flow
    scarp = 0.06 * np.clip(-u / 0.05, 0, 1)  # the head scarp the slide came from
    return deposit + hummocks + ridges + scarp, lobes, angle, 0.7


def _alluvial_fan(rng, xx, yy, extent):
    angle, _, _, r, phi = _from_edge(rng, xx, yy, extent, 0.4)
    radius = rng.uniform(0.6, 0.85)
    spread = rng.uniform(0.6, 0.9)
    inside = (np.abs(phi) < spread) & (r < radius)
    taper = np.clip(1 - (phi / spread) ** 2, 0, 1)  # no step at the fan's lateral edges
    cone = np.where(inside, 0.1 * (1 - r / radius) * taper, 0.0)
    count = int(rng.integers(4, 9))
    grooves = np.abs(np.cos(phi * count * np.pi / (2 * spread))) ** 8
    distributaries = np.where(inside, -0.015 * taper * grooves, 0.0)
    return cone + distributaries, count, angle, radius


def _glacier_like(rng, xx, yy, extent):
    angle = rng.uniform(0, 2 * np.pi)
    u, v = _rotate(xx, yy, extent[0] / 2, extent[1] / 2, angle)
    half_width = rng.uniform(0.14, 0.22)
    terminus = rng.uniform(0.2, 0.35)
    edge = half_width * np.sqrt(np.clip(1 - np.clip(u - terminus + 0.3, 0, None) / 0.3, 0, 1))
    inside = (np.abs(v) < edge) & (u < terminus)
    tongue = np.where(inside, 0.03 * (1 - (v / np.maximum(edge, 1e-6)) ** 2), 0.0)
    lineations = np.where(inside, 0.004 * np.sin(np.pi * v / 0.02), 0.0)
    arcs = np.where(inside, 0.004 * np.sin(2 * np.pi * (u + 3 * v**2) / 0.06), 0.0)
    walls = 0.06 * np.clip((np.abs(v) - half_width - 0.05) / 0.15, 0, 1)  # the valley it flows down
    count = int(rng.integers(1, 3))
    return tongue + lineations + arcs + walls, count, angle, half_width * 4


_DRAW = {
    "crater": _crater,
    "dunes": _dunes,
    "channel": _channel,
    "pitted_cones": _pitted_cones,
    "yardangs": _yardangs,
    "landslide": _landslide,
    "alluvial_fan": _alluvial_fan,
    "glacier_like": _glacier_like,
}


def hillshade(height: np.ndarray, pixel: float) -> np.ndarray:
    """Lambertian shading, sun from the west at 35 degrees elevation; values in [0, 1]."""
    gy, gx = np.gradient(height, pixel)
    elevation = np.radians(35.0)
    light = np.array([-np.cos(elevation), 0.0, np.sin(elevation)])  # from the west (x < 0)
    norm = np.sqrt(gx**2 + gy**2 + 1.0)
    shade = (-gx * light[0] - gy * light[1] + light[2]) / norm
    return np.clip(shade, 0.0, 1.0)


def _to_pixels(rng: np.random.Generator, height: np.ndarray, pixel: float) -> np.ndarray:
    rows, cols = height.shape
    albedo = 0.75 + 0.25 * smooth_noise(rng, rows, cols, 4)
    image = hillshade(height, pixel) * albedo + 0.02 * rng.standard_normal(height.shape)
    return np.clip(image * 255.0, 0, 255).round().astype(np.uint8)


def _size_word(relative: float) -> str:
    return "small" if relative < 0.3 else "medium" if relative < 0.6 else "large"


def _compass(angle: float) -> str:
    return _COMPASS[int(round((angle % (2 * np.pi)) / (np.pi / 4))) % 8]


def render(kind: str, rng: np.random.Generator, width: int, height: int) -> Scene:
    """Draw one `kind` landform over a plain into a `width` x `height` scene."""
    xx, yy = _grid(height, width)
    extent = (width / min(width, height), height / min(width, height))
    relief, count, angle, size = _DRAW[kind](rng, xx, yy, extent)
    pixels = _to_pixels(rng, plain(rng, height, width) + relief, 1.0 / min(width, height))
    return Scene(kind, pixels, count, _compass(angle), _size_word(size))


def render_plain(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A scene with no landform: what most of the tile gallery looks like."""
    return _to_pixels(rng, plain(rng, height, width), 1.0 / min(width, height))


_ORIGINAL = {
    "crater": "{count} crater(s), {size}",
    "dunes": "dune field, crests toward the {direction}",
    "channel": "{size} sinuous channel, flowing {direction}",
    "pitted_cones": "{count} pitted cones",
    "yardangs": "yardangs aligned {direction}",
    "landslide": "landslide, {count} lobes toward the {direction}",
    "alluvial_fan": "{size} alluvial fan opening to the {direction}",
    "glacier_like": "glacier-like form flowing {direction}",
}

_REFINED = {
    "crater": (
        "A CTX view of {count_words} {size} impact crater(s) with raised, bright rims and "
        "shadowed bowl-shaped floors on a dusty plain."
    ),
    "dunes": (
        "A CTX view of a field of about {count} dunes whose sinuous crests run toward the "
        "{direction}, with bright stoss slopes and dark lee faces."
    ),
    "channel": (
        "A CTX view of a {size} meandering channel winding toward the {direction} across a smooth "
        "plain{tributary}."
    ),
    "pitted_cones": (
        "A CTX view of {count_words} {size} pitted cones, each a low mound with a summit pit, "
        "scattered over a plain."
    ),
    "yardangs": (
        "A CTX view of about {count} parallel, wind-carved yardang ridges elongated toward the "
        "{direction}, separated by smooth troughs."
    ),
    "landslide": (
        "A CTX view of a landslide deposit spreading toward the {direction} from a steep scarp, "
        "ending in {count_words} lobate tongues with longitudinal ridges."
    ),
    "alluvial_fan": (
        "A CTX view of a {size} alluvial fan opening toward the {direction} from its apex, with "
        "{count_words} radial distributary channels on its surface."
    ),
    "glacier_like": (
        "A CTX view of a lineated glacier-like tongue flowing {direction} down a valley, with "
        "arcuate ridges near its terminus."
    ),
}

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def describe(scene: Scene, templates: dict[str, str]) -> str:
    """The template of `scene`'s kind filled with what `render` drew: {count},
    {count_words}, {direction}, {size}, {tributary}."""
    fields = {
        "count": scene.count,
        "count_words": _NUMBER_WORDS[scene.count] if scene.count < 10 else str(scene.count),
        "direction": scene.direction,
        "size": scene.size,
        "tributary": " and joined by one tributary" if scene.count == 2 else "",
    }
    return templates[scene.kind].format(**fields)


def captions(scene: Scene) -> tuple[str, str]:
    """(original-style short caption, refined caption) describing what `render` drew."""
    return describe(scene, _ORIGINAL), describe(scene, _REFINED)
