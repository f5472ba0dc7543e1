"""The tile gallery (task 3, not on the Hub): tar shards or PNG files -> an indexed
`TileGallery`, each tile placed by the lower-left corner in its name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from mars_zoo.data.files import Listing, has_suffix, list_files, require_dir
from mars_zoo.data.fingerprints import local_revision
from mars_zoo.data.gallery_index import cached_index
from mars_zoo.data.hub_format import GALLERY_INDEX, SHARD_PREFIX, shard_name
from mars_zoo.data.image_sources import FileImageSource, NameList, PathList, TarImageSource
from mars_zoo.data.tile_names import TileNameError, parse_tile_names
from mars_zoo.data.types import DatasetRef, TileGallery
from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.reporting import Reporter

_SHARD_NUMBER = re.compile(rf"^{SHARD_PREFIX}(\d+)\.tar$")


def _placed_tiles(names: np.ndarray, where: Sequence[str]) -> np.ndarray:
    """The (lon, lat) of every tile (`names`: a bytes array of file names), after checking
    the names and that none appears twice; an error names the tile and `where` it is."""
    try:
        lonlat = parse_tile_names(names)
    except TileNameError as exc:
        raise MarsZooError(f"{exc} Found in {where[exc.index]}; rename or remove that tile.") from None
    _check_on_the_planet(names, lonlat, where)
    _check_unique_tiles(names, lonlat, where)
    return lonlat


def _check_on_the_planet(names: np.ndarray, lonlat: np.ndarray, where: Sequence[str]) -> None:
    """Every tile's lower-left corner on the map: -180 <= lon < 180 and -90 <= lat < 90.
    A corner outside is a misnamed tile; scored as it stands, it would be a hit or a miss
    at a place that does not exist."""
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    outside = np.flatnonzero(~((lon >= -180) & (lon < 180) & (lat >= -90) & (lat < 90)))
    if outside.size:
        i = int(outside[0])
        raise MarsZooError(
            f"Tile {names[i].decode('utf-8', 'replace')} (in {where[i]}) puts its lower-left corner at "
            f"lon {lon[i]:g}, lat {lat[i]:g}, off the map (lon -180 to 180, lat -90 to 90)"
            f"{f', like {outside.size - 1} other tile(s)' if outside.size > 1 else ''}. Rename or remove it."
        )


def _check_unique_tiles(names: np.ndarray, lonlat: np.ndarray, where: Sequence[str]) -> None:
    """No name twice. Equal names have equal coordinates, so distinct coordinates (one
    sort of numbers) prove it; only where two tiles share a place (or coordinates too
    large for one number clash) are the names compared."""
    tenths = np.rint(np.clip(lonlat, -1e12, 1e12) * 10).astype(np.int64)
    place = np.sort(tenths[:, 0] * (1 << 32) + tenths[:, 1])  # one number per place on the planet
    if not (place[1:] == place[:-1]).any():
        return
    first: dict[bytes, int] = {}
    for i, name in enumerate(names.tolist()):
        j = first.setdefault(name, i)
        if j != i:
            raise MarsZooError(
                f"Tile {name.decode('utf-8', 'replace')} appears twice, in {where[j]} and {where[i]}; "
                f"each tile must appear once."
            )


def _check_complete(tiles_dir: Path, shards: list[Path], members: np.ndarray) -> None:
    """A gallery missing a shard would be scored as if those tiles did not exist. Against
    the gallery's index (`GALLERY_INDEX`, written by every gallery writer) when it has
    one: every listed shard present with its member count, and no other shard. Without an
    index, the shard naming rule: tiles-000000.tar, tiles-000001.tar, ... with no gap."""
    fix = "copy the missing shard(s) again, or rebuild the gallery with `mars-zoo tiles build`"
    found = {shard.relative_to(tiles_dir).as_posix(): int(count) for shard, count in zip(shards, members)}
    index_path = tiles_dir / GALLERY_INDEX
    if not index_path.is_file():
        numbers = sorted(int(match[1]) for name in found if (match := _SHARD_NUMBER.match(name.rsplit("/", 1)[-1])))
        absent = sorted(set(range(max(numbers, default=-1) + 1)) - set(numbers))
        if absent:
            raise MarsZooError(
                f"The tile gallery {tiles_dir} is incomplete: shard(s) {', '.join(shard_name(n) for n in absent[:5])}"
                f"{' ...' if len(absent) > 5 else ''} are missing from the numbered sequence. Fix: {fix}."
            )
        return
    try:
        listed = {entry["file"]: int(entry["members"]) for entry in json.loads(index_path.read_text())["shards"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MarsZooError(
            f"The gallery index {index_path} cannot be read ({type(exc).__name__}: {exc}). Fix: rebuild the "
            f"gallery with `mars-zoo tiles build`, or copy its {GALLERY_INDEX} again."
        ) from None
    for name, count in listed.items():
        if name not in found:
            raise MarsZooError(
                f"The tile gallery {tiles_dir} is incomplete: shard {name}, listed in {index_path} with "
                f"{count} tiles, is missing. Fix: {fix}."
            )
        if found[name] != count:
            raise MarsZooError(
                f"Tile shard {tiles_dir / name} holds {found[name]} tiles where {index_path} lists {count}. "
                f"Fix: {fix}."
            )
    extra = sorted(set(found) - set(listed))
    if extra:
        raise MarsZooError(
            f"Tile shard {tiles_dir / extra[0]} is not listed in the gallery index {index_path}, so it is "
            f"not part of this gallery. Fix: move it out of {tiles_dir}, or rebuild the gallery."
        )


def _shard_tiles(
    tiles_dir: Path, listing: Listing, cache_dir: Path, reporter: Reporter
) -> tuple[np.ndarray, TarImageSource] | None:
    """The (lon, lat) and images of a tar-shard gallery (None: it has no shards), from its
    cached index or one built now."""
    tar = has_suffix(listing.paths, b".tar")
    shards = [tiles_dir / listing.relative(row) for row in np.flatnonzero(tar)]
    if not shards:
        return None

    def place(names: np.ndarray, where: Sequence[str], shard_of: np.ndarray) -> np.ndarray:
        # A missing shard is the first thing to say, before what its absence causes.
        _check_complete(tiles_dir, shards, np.bincount(shard_of, minlength=len(shards)))
        return _placed_tiles(names, where)

    index = cached_index(shards, Listing(tiles_dir, listing.paths[tar], listing.stats[tar]), cache_dir, reporter, place)
    _check_complete(tiles_dir, shards, np.bincount(index.shard, minlength=len(shards)))
    images = TarImageSource(
        [str(path) for path in shards], NameList.of_ascii(index.names), index.shard, index.offset, index.size
    )
    return index.lonlat, images


def png_tiles(tiles_dir: Path, listing: Listing) -> tuple[np.ndarray, FileImageSource] | None:
    """The (lon, lat) and images of a gallery of PNG files (None: it has none), from its
    listing. (Not cached: the listing, which every open needs for the revision, is most
    of the work.)"""
    relatives = listing.paths[has_suffix(listing.paths, b".png")]
    if not len(relatives):
        return None
    pngs = PathList(tiles_dir, relatives)
    names = np.strings.rpartition(relatives, b"/")[2]
    lonlat = _placed_tiles(names, pngs)
    fix = "rebuild the gallery with `mars-zoo tiles build`, or replace the file"
    return lonlat, FileImageSource(pngs, NameList.of_ascii(names), fix)


def read_tile_gallery(
    tiles_dir: Path, gallery_id: str, synthetic: bool, reporter: Reporter, cache_dir: Path
) -> TileGallery:
    """The gallery: tar shards (preferred) or PNG files, possibly in subfolders, each tile
    named by its lower-left corner. Order: shards (or files) sorted by their path relative
    to `tiles_dir` (as the published code sorts its shard paths), members in shard order.
    Ids are the tile file names; the revision is the gallery's content fingerprint
    (`local_revision`, remembered under `cache_dir`). The folder is listed once, with
    each file's stat, for both."""
    tiles_dir = Path(tiles_dir)
    require_dir(
        tiles_dir,
        "The tile gallery",
        "build the gallery with `mars-zoo tiles build` and pass its folder with --tiles DIR",
    )
    listing = list_files(tiles_dir)
    tiles = _shard_tiles(tiles_dir, listing, cache_dir, reporter) or png_tiles(tiles_dir, listing)
    if tiles is None or not len(tiles[1]):
        raise MarsZooError(
            f"No tiles found in {tiles_dir}: expected tar shards of PNG tiles (tiles-000000.tar, ...) or "
            f"PNG files named E{{lon}}_N{{lat}}.png. Fix: point --tiles at the built gallery."
        )
    ref = DatasetRef(gallery_id, local_revision(tiles_dir, cache_dir, reporter, listing), None, str(tiles_dir), synthetic)
    return TileGallery(source=ref, images=tiles[1], lonlat=tiles[0])
