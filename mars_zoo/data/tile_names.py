"""The CTX tile naming rule of the geo-localization gallery.

A tile is named by its lower-left corner, one decimal, '.' written as '_' and a
minus sign written as a leading '_': `E_12_4_N_3_2.png` is lon -12.4, lat -3.2 and
`E12_4_N3_2.png` is lon 12.4, lat 3.2.

`parse_tile_names` reads a whole gallery's names at once: one regular-expression pass
over all of them joined, then a few byte replacements turn them into decimal numbers
that numpy parses in C. A Python call per name made that most of the index build.
"""

from __future__ import annotations

import re

import numpy as np

from mars_zoo.core.errors import MarsZooError

_RULE = r"E(_?)([0-9]+)_([0-9])_N(_?)([0-9]+)_([0-9])\.png"
_NAME = re.compile(_RULE)
_PLAIN_RULE = re.sub(r"[()]", "", _RULE)  # groups slow a repeated match down 4x


def _names_pattern() -> re.Pattern[bytes]:
    """The rule over names joined, each ended by a NUL (which no file or member name can hold)."""
    try:  # possessive quantifiers (Python 3.11+) match the same names without backtracking, 5x faster
        return re.compile(f"(?:{_PLAIN_RULE.replace('?', '?+').replace(']+', ']++')}\0)*+".encode("ascii"))
    except re.error:
        return re.compile(f"(?:{_PLAIN_RULE}\0)*".encode("ascii"))


_NAMES = _names_pattern()


def _format_coordinate(value: float) -> str:
    tenths = round(value * 10)
    sign = "_" if tenths < 0 else ""
    whole, frac = divmod(abs(tenths), 10)
    return f"{sign}{whole}_{frac}"


def tile_name(lon: float, lat: float) -> str:
    """The file name of the tile whose lower-left corner is (lon, lat)."""
    return f"E{_format_coordinate(lon)}_N{_format_coordinate(lat)}.png"


class TileNameError(MarsZooError):
    """A name that breaks the tile naming rule; `index` is its position in the names given."""

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index

    def __reduce__(self):
        return type(self), (str(self), self.index)


def parse_tile_name(name: str) -> tuple[float, float]:
    """(lon, lat) of a tile file name; raises a TileNameError naming a bad name."""
    match = _NAME.fullmatch(name.rsplit("/", 1)[-1])
    if match is None:
        raise TileNameError(
            f"Tile {name!r} does not follow the tile naming rule E{{lon}}_N{{lat}}.png "
            f"(one decimal, '.' as '_', a minus as a leading '_', e.g. E_12_4_N3_2.png)."
        )
    lon_sign, lon_whole, lon_frac, lat_sign, lat_whole, lat_frac = match.groups()
    lon = (int(lon_whole) * 10 + int(lon_frac)) / 10 * (-1 if lon_sign else 1)
    lat = (int(lat_whole) * 10 + int(lat_frac)) / 10 * (-1 if lat_sign else 1)
    return lon, lat


def _joined(names: np.ndarray) -> bytes:
    """The names of a bytes array, each followed by a NUL."""
    width = max(names.dtype.itemsize, 1)
    chars = np.zeros((len(names), width + 1), dtype=np.uint8)
    chars[:, :width] = np.ascontiguousarray(names, dtype=f"S{width}").view(np.uint8).reshape(len(names), width)
    return chars[np.arange(width + 1) <= np.strings.str_len(names)[:, None]].tobytes()


def parse_tile_names(names: np.ndarray) -> np.ndarray:
    """[N, 2] (lon, lat) of a bytes array of tile file names (no folders, no NULs), exactly
    as `parse_tile_name` gives them one by one; raises a TileNameError with the index of
    the first name that breaks the rule."""
    joined = _joined(names)
    valid = _NAMES.match(joined).end()
    if valid < len(joined):
        bad = joined.count(b"\0", 0, valid)
        try:
            parse_tile_name(names[bad].decode("utf-8", "replace"))
        except TileNameError as exc:
            raise TileNameError(str(exc), bad) from None
    if joined.count(b"\0") != len(names):
        raise ValueError("tile names hold no NUL")
    # Each name becomes "<lon> <lat> " in tenths: a leading '_' of a number is its minus sign, the other
    # its decimal point. (numpy parses integers six times faster than decimals.)
    text = joined.replace(b".png\0", b" ").replace(b"_N", b" ").replace(b"E", b"")
    text = (b" " + text).replace(b" _", b" -").replace(b"_", b"")
    tenths = np.fromstring(text, dtype=np.int64, sep=" ").reshape(len(names), 2)
    lonlat = tenths / 10
    # A zero may be -0.0, a number past 2**53 tenths (numpy saturates at 2**63) is not exact as
    # float64 arithmetic: those few rows one by one.
    for row in np.flatnonzero(((tenths == 0) | (np.abs(tenths) >= 2**53)).any(axis=1)):
        lonlat[row] = parse_tile_name(names[row].decode("ascii"))
    return lonlat
