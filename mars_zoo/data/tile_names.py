"""The CTX tile naming rule of the geo-localization gallery.

A tile is named by its lower-left corner, one decimal, '.' written as '_' and a
minus sign written as a leading '_': `E_12_4_N_3_2.png` is lon -12.4, lat -3.2 and
`E12_4_N3_2.png` is lon 12.4, lat 3.2.
"""

from __future__ import annotations

import re

from mars_zoo.errors import MarsZooError

_NAME = re.compile(r"^E(_?)(\d+)_(\d)_N(_?)(\d+)_(\d)\.png$")


def _format_coordinate(value: float) -> str:
    tenths = round(value * 10)
    sign = "_" if tenths < 0 else ""
    whole, frac = divmod(abs(tenths), 10)
    return f"{sign}{whole}_{frac}"


def tile_name(lon: float, lat: float) -> str:
    """The file name of the tile whose lower-left corner is (lon, lat)."""
    return f"E{_format_coordinate(lon)}_N{_format_coordinate(lat)}.png"


def parse_tile_name(name: str) -> tuple[float, float]:
    """(lon, lat) of a tile file name; raises a MarsZooError naming a bad name."""
    match = _NAME.match(name.rsplit("/", 1)[-1])
    if match is None:
        raise MarsZooError(
            f"Tile {name!r} does not follow the tile naming rule E{{lon}}_N{{lat}}.png "
            f"(one decimal, '.' as '_', a minus as a leading '_', e.g. E_12_4_N3_2.png)."
        )
    lon_sign, lon_whole, lon_frac, lat_sign, lat_whole, lat_frac = match.groups()
    lon = (int(lon_whole) * 10 + int(lon_frac)) / 10 * (-1 if lon_sign else 1)
    lat = (int(lat_whole) * 10 + int(lat_frac)) / 10 * (-1 if lat_sign else 1)
    return lon, lat
