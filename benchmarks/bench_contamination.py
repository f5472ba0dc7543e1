"""The contamination check: what it finds, what it wrongly finds, and how fast it is.

    python benchmarks/bench_contamination.py [--per-part 40] [--points 10000] [--repeats 3]
        [--queries 500] [--no-baseline]

1. Detection, on the mini benchmark: copies of its scored images (up to --per-part of
   each part, every part) made every way a training set could hold them (a lossless
   re-encode, JPEG at quality 70 and 40, shrunk to half, enlarged twice, cropped by up to
   2, 5, 8, 10, 12 and 15% a side, task 1's centre square at 512 px) and its task 1
   captions rewritten (case, spacing, punctuation) are planted among the mini training
   split's 384 clean pairs. Prints per kind of copy: planted, found (as the right item and
   kind), false hits (any other item); and the false hits of the clean pairs.
2. Baseline: the same plants against imagehash's `phash` of the whole image at Hamming
   radius 10 and its `crop_resistant_hash` (`matches`, its defaults): what a plain
   perceptual hash finds without crop windows and alignment (needs `pip install imagehash`).
3. Speed: fingerprinting benchmark images and checking training pairs (per image, CPU);
   the scale of the real gallery: tiles within 0.5 deg of --points catalogue points
   (clustered like catalogues) among the 1.4M tile corners, the number of window hashes
   they make, and a lookup in the multi-index hash table against comparing with all of
   them (random hashes, --queries queries, medians of --repeats).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import time
from collections import Counter

import numpy as np
from PIL import Image

from timing import timed
from mars_zoo.adapt import image_fingerprints as fingerprints
from mars_zoo.adapt.benchmark_index import benchmark_index
from mars_zoo.adapt.contamination import NEAR_RADIUS, contamination_report
from mars_zoo.adapt.hamming_index import FULL_COMPARISON_MAX, HammingIndex
from mars_zoo.adapt.training_data import TrainingPair, open_training_data
from mars_zoo.data.benchmark import open_benchmark
from mars_zoo.data.decoding import decode, to_rgb
from mars_zoo.data.image_sources import many
from mars_zoo.core.protocol import GEO_MAX_ABS_LAT, GEO_RADIUS_DEG, GEO_TILE_DEG

CROPS = (0.02, 0.05, 0.08, 0.10, 0.12, 0.15)


def _png(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _cropped(image: Image.Image, most: float, rng: np.random.Generator) -> Image.Image:
    left, top, right, bottom = rng.uniform(0, most, 4)
    w, h = image.size
    return image.crop((round(left * w), round(top * h), w - round(right * w), h - round(bottom * h)))


def _copies(image: Image.Image, part: str, rng: np.random.Generator) -> dict[str, tuple[bytes, str]]:
    """Every way of copying `image` that is planted: name -> (bytes, the kind it must be found as)."""
    w, h = image.size
    copies = {
        "lossless re-encode": (_png(image), "exact"),
        "JPEG q70": (_png(image, "JPEG", quality=70), "near"),
        "JPEG q40": (_png(image, "JPEG", quality=40), "near"),
        "shrunk to 1/2": (_png(image.resize((max(w // 2, 8), max(h // 2, 8)), Image.Resampling.BICUBIC)), "near"),
        "enlarged 2x": (_png(image.resize((2 * w, 2 * h), Image.Resampling.LANCZOS), "JPEG", quality=90), "near"),
    }
    for most in CROPS:
        cut = _cropped(image, most, rng)  # on a small image a small crop can trim nothing: the same pixels
        copies[f"cropped <= {most:.0%} a side"] = (_png(cut), "exact" if cut.size == image.size else "near")
    if part == "paired-images":
        side = min(w, h)
        square = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        copies["centre square at 512 px"] = (_png(square.resize((512, 512), Image.Resampling.LANCZOS), "JPEG",
                                                  quality=95), "near")
    return copies


def _caption_rewrites(text: str, number: int) -> str:
    return (text.upper(), "  ".join(text.split()) + " .", text.replace(",", ";").replace(".", "!"))[number % 3]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def plant(per_part: int) -> tuple[list[TrainingPair], dict[str, tuple[str, str, set[str]]], list]:
    """The planted pairs and, per planted key, (copy name, kind, the items it duplicates);
    and the scored images it copied (part, id, image) for the baseline."""
    index = benchmark_index(open_benchmark("mini"))
    rng = np.random.default_rng(0)
    pairs, expected, images, taken = [], {}, [], Counter()
    for group in index.items.groups:
        for i in range(len(group.positions)):
            if taken[group.part] == per_part:
                break
            taken[group.part] += 1
            image = many(group.source, [int(group.positions[i])])[0]
            image = to_rgb(image) if group.stored_mode else image
            images.append((group.part, group.ids[i], image))
            for name, (data, kind) in _copies(image, group.part, rng).items():
                key = f"plant-{len(pairs)}"
                pairs.append(TrainingPair(key, data, f"planted pair {len(pairs)}"))
                expected[key] = (name, kind, {group.ids[i]})
    noise = _png(Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)))
    captions = index.items.captions
    spread = captions[:: max(1, len(captions) // (2 * per_part))][: 2 * per_part]  # both columns
    for number, (key, column, text) in enumerate(spread):
        rewritten = _caption_rewrites(text, number)
        same = {other for other, _, other_text in captions if _words(other_text) == _words(rewritten)}
        plant_key = f"plant-{len(pairs)}"
        pairs.append(TrainingPair(plant_key, noise, rewritten))
        expected[plant_key] = (f"{column} rewritten", "caption", same)
    return pairs, expected, images


def detection(per_part: int) -> tuple[list[TrainingPair], dict, list]:
    pairs, expected, images = plant(per_part)
    clean = list(open_training_data("mini"))
    started = time.process_time()
    report = contamination_report(clean + pairs, open_benchmark("mini"), examples=10**9)
    cpu = time.process_time() - started
    rows: dict[str, Counter] = {}
    for name, _, _ in expected.values():
        rows.setdefault(name, Counter())["planted"] += 1
    hits: dict[str, set] = {}
    for match in report.examples:
        if match.training_key in expected:
            name, kind, items = expected[match.training_key]
            if match.kind == kind and match.item in items:
                hits.setdefault(match.training_key, set()).add(match.item)
            else:
                rows[name]["false"] += 1
        else:
            rows.setdefault("clean pairs (mini training split)", Counter())["false"] += 1
    for key, (name, _, items) in expected.items():
        rows[name]["found"] += hits.get(key, set()) == items
    rows.setdefault("clean pairs (mini training split)", Counter())["planted"] = 0
    print(f"\n1. Detection: {len(pairs)} planted pairs among {len(clean)} clean ones "
          f"({len(clean) + len(pairs)} checked in {cpu:.1f} s CPU)")
    print(f"{'copy':36} {'planted':>8} {'found':>6} {'false hits':>11}")
    for name, counted in rows.items():
        planted = counted["planted"] or "-"
        found = counted["found"] if counted["planted"] else "-"
        print(f"{name:36} {planted:>8} {found:>6} {counted['false']:>11}")
    return pairs, expected, images


def baseline(pairs: list[TrainingPair], expected: dict, images: list) -> None:
    try:
        import imagehash
    except ImportError:
        print("\n2. Baseline: imagehash is not installed (pip install imagehash); skipped")
        return
    clean = list(open_training_data("mini"))
    bench = [(item, imagehash.phash(image), imagehash.crop_resistant_hash(image)) for _, item, image in images]
    rows: dict[str, Counter] = {}
    for pair in pairs + clean:
        name, kind, items = expected.get(pair.key, ("clean pairs (mini training split)", None, set()))
        if kind == "caption":
            continue
        image = Image.open(io.BytesIO(pair.image_bytes)).convert("RGB")
        phash, crop_hash = imagehash.phash(image), imagehash.crop_resistant_hash(image)
        counted = rows.setdefault(name, Counter())
        counted["planted"] += bool(items)
        near = {item for item, other, _ in bench if phash - other <= 10}
        resistant = {item for item, _, other in bench if crop_hash.matches(other)}
        counted["phash found"] += bool(items) and items <= near
        counted["phash false"] += len(near - items)
        counted["crop-resistant found"] += bool(items) and items <= resistant
        counted["crop-resistant false"] += len(resistant - items)
    print("\n2. Baseline: imagehash phash (whole image, radius 10) and crop_resistant_hash, same plants")
    print(f"{'copy':36} {'planted':>8} {'phash found':>12} {'false':>6} {'crop-res. found':>16} {'false':>6}")
    for name, c in rows.items():
        print(f"{name:36} {c['planted']:>8} {c['phash found']:>12} {c['phash false']:>6} "
              f"{c['crop-resistant found']:>16} {c['crop-resistant false']:>6}")


def catalogue(points: int, rng: np.random.Generator) -> np.ndarray:
    """`points` (lon, lat) in clusters of about 20, like landform catalogues."""
    centres = np.column_stack([rng.uniform(-180, 180, points // 20 + 1), rng.uniform(-60, 60, points // 20 + 1)])
    return centres[rng.integers(0, len(centres), points)] + rng.normal(0, 0.5, (points, 2))


def speed(points: int, queries: int, repeats: int) -> None:
    from mars_zoo.scoring.metrics import pairs_within_radius

    print("\n3. Speed")
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (512, 512), dtype=np.uint8)).convert("RGB")
    data = _png(image)
    _, cpu, _ = timed(lambda: [fingerprints.window_hashes(fingerprints.thumbnail(image), fingerprints.crop_windows(
        512, 512)) for _ in range(50)])
    print(f"benchmark side: 81 window hashes of a decoded 512 px image: {cpu / 50 * 1e3:.2f} ms CPU")
    def training_side(decoded: Image.Image) -> None:
        fingerprints.pixel_digest(decoded)
        fingerprints.window_hashes(fingerprints.thumbnail(decoded), [fingerprints.FULL_WINDOW])

    _, cpu, _ = timed(lambda: [training_side(decode(data, "x", "", "")) for _ in range(50)])
    print(f"training side: decode a 512 px PNG, its pixel digest, thumbnail and hash: {cpu / 50 * 1e3:.2f} ms CPU")
    lon = np.arange(-180, 180, GEO_TILE_DEG)
    lat = np.arange(-GEO_MAX_ABS_LAT, GEO_MAX_ABS_LAT, GEO_TILE_DEG)
    corners = np.column_stack([np.repeat(lon, len(lat)), np.tile(lat, len(lon))]).round(1)
    truth = catalogue(points, rng)
    wall, _, (near, _) = timed(lambda: pairs_within_radius(corners, truth, GEO_RADIUS_DEG))
    tiles = len(np.unique(near))
    windows = tiles * len(fingerprints.crop_windows(512, 512))
    print(f"gallery: {len(corners):,} tile corners, {points:,} catalogue points: {tiles:,} tiles within "
          f"{GEO_RADIUS_DEG} deg ({tiles / len(corners):.1%}), found in {wall:.2f} s; {windows:,} window hashes")
    stored = rng.integers(0, 2**63, windows, dtype=np.int64).astype(np.uint64) ^ (
        rng.integers(0, 2, windows).astype(np.uint64) << np.uint64(63))
    wall, _, index = timed(lambda: HammingIndex(stored))
    print(f"multi-index hash table over them: built in {wall:.2f} s, {index.nbytes / 2**20:.0f} MiB"
          f"{' (below FULL_COMPARISON_MAX: looked up by the full comparison)' if windows <= FULL_COMPARISON_MAX else ''}")
    asked = stored[rng.integers(0, windows, queries)] ^ np.uint64(0b1011)  # near ones: 3 bits off
    table, full = [], []
    for _ in range(repeats):
        table.append(timed(lambda: index.within(asked, NEAR_RADIUS))[0])
        full.append(timed(lambda: [np.flatnonzero(np.bitwise_count(stored ^ q) <= NEAR_RADIUS) for q in asked])[0])
    found = len(index.within(asked, NEAR_RADIUS)[0])
    print(f"lookup of {queries} hashes at radius {NEAR_RADIUS}: table {statistics.median(table) / queries * 1e3:.3f} "
          f"ms a hash, full comparison {statistics.median(full) / queries * 1e3:.3f} ms a hash "
          f"({statistics.median(full) / statistics.median(table):.0f}x); {found} found (each query's own at least)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-part", type=int, default=40)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    pairs, expected, images = detection(args.per_part)
    if not args.no_baseline:
        baseline(pairs, expected, images)
    speed(args.points, args.queries, args.repeats)


if __name__ == "__main__":
    main()
