"""Image bytes or files -> 8-bit RGB, the same way for every image the harness embeds.

The published evaluation code decodes landform, query and tile images with PIL and
`Image.convert("RGB")`. That is right for the 8-bit images the benchmark's datasets
hold, and wrong for some images a local copy can hold: a 16-bit greyscale PNG opens in
mode "I;16" (0..65535) and PIL's conversion clips every value above 255, so a normal
image turns white. Here each mode is converted by what its values mean, which equals
PIL's conversion wherever that one is right (so no published number moves):

- 8-bit modes (L, P, 1, RGB, CMYK, YCbCr, LAB, HSV): PIL's conversion, which is exact
  for them (a palette is looked up; CMYK is inverted).
- Integer greyscale of more than 8 bits (I;16, I;16B, I;16L, I;16N, I): a 16-bit range,
  scaled by 255/65535 and rounded, so 65535 is white and 257 is 1 (values outside
  0..65535 in a 32-bit "I" image are clipped).
- Alpha (RGBA, LA, PA, a palette with transparency): the colour channels are kept and
  alpha is dropped, as the published code's PIL conversion does for tasks 2 and 3.
  (Task 1 images are first prepared by `images.prepare_published`, which mattes them
  onto white, as the published download step does.)
- 32-bit floating point ("F"): refused. Floats have no agreed brightness scale, and a
  guess would score an image the model never should have seen; convert it to 8 or 16
  bits.

Images larger than PIL's `Image.MAX_IMAGE_PIXELS` (about 89 million pixels) are refused
as decompression bombs, at the header, before any pixel is decoded (PIL only warns
between one and two times that limit).

Under MTEB's task 1 protocol (`decode_stored`) none of this applies: the image is what MTEB's
evaluator hands a model wrapper, the `datasets` Image feature's decoding of the stored bytes
(EXIF orientation applied, the stored mode kept, PIL's own decompression-bomb limits), and the
model's preprocessing converts it (open_clip's converts to RGB after its resize and crop).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from mars_zoo.core.errors import MarsZooError

# What PIL raises for bytes that are not a (complete) image: UnidentifiedImageError and
# "image file is truncated" are OSErrors; some plugins raise SyntaxError or EOFError.
# A DecompressionBombWarning is raised as an error inside `_opened`.
DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning,
)
WIDE_GREYSCALE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_SIXTEEN_BIT_MAX = 65535


def _opened(data: bytes | str | Path, strict_bombs: bool = True) -> Image.Image:
    """`Image.open` (header only), with PIL's decompression-bomb warning made an error unless
    `strict_bombs` is false (then PIL's own limits hold, as for `datasets`)."""
    with warnings.catch_warnings():
        if strict_bombs:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` as a new, loaded 8-bit RGB image, by the rules of the module docstring."""
    if image.mode == "F":
        raise ValueError(
            "it has 32-bit floating-point pixels, which have no defined brightness scale; "
            "store it with 8- or 16-bit integer pixels"
        )
    if image.mode in WIDE_GREYSCALE_MODES:
        pixels = np.asarray(image).astype(np.float64)
        scaled = np.rint(np.clip(pixels, 0, _SIXTEEN_BIT_MAX) * (255 / _SIXTEEN_BIT_MAX)).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if image.mode == "PA":
        image = image.convert("RGBA")
    return image.convert("RGB")


def refused(item: str, where: str, fix: str, reason: str) -> MarsZooError:
    """The error for image `item` (stored at `where`) that cannot be used for `reason`."""
    return MarsZooError(f"Image {item} ({where}) cannot be read as an image ({reason}). Fix: {fix}.")


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def decode(data: bytes | str, item: str, where: str, fix: str) -> Image.Image:
    """Encoded bytes or a file path -> an RGB image. `item`, `where` and `fix` name the
    image, its file or shard, and the remedy if it cannot be used."""
    try:
        with _opened(data) as image:
            image = to_rgb(image)
    except DECODE_ERRORS as exc:
        # the reason is in the message; a chained traceback would not cross processes
        raise refused(item, where, fix, _reason(exc)) from None
    return image


def decode_stored(data: bytes, item: str, where: str, fix: str) -> Image.Image:
    """Encoded bytes -> the image MTEB's evaluator hands a model wrapper: decoded by the `datasets`
    Image feature (so its EXIF rotation and PIL's bomb limits hold), in the mode it is stored in
    (RGBA, P, L, I;16 ... as well as RGB). `item`, `where` and `fix` as for `decode`."""
    from datasets.features import Image as ImageFeature

    try:
        return ImageFeature().decode_example({"bytes": data, "path": None})
    except DECODE_ERRORS as exc:
        raise refused(item, where, fix, _reason(exc)) from None


def header_problem(data: bytes | str | None) -> str | None:
    """Why an image cannot be used, as far as its header shows (None: no problem seen):
    absent, not an image, a decompression bomb, floating-point pixels. Reads the header
    only, so it is cheap enough to check every image before anything is embedded."""
    if data is None:
        return "the row has no image bytes"
    try:
        with _opened(data) as image:
            if image.mode == "F":
                to_rgb(image)
    except DECODE_ERRORS as exc:
        return _reason(exc)
    return None


def decodes(data: bytes | None, strict_bombs: bool = True) -> bool:
    """Whether `data` opens as an image and passes PIL's integrity check (headers, and for
    PNG the chunk checksums) without decoding the pixels: cheap enough for every row.
    `strict_bombs=False` accepts what PIL itself opens (up to twice its pixel limit)."""
    if data is None:
        return False
    try:
        with _opened(data, strict_bombs) as image:
            image.verify()
    except DECODE_ERRORS:
        return False
    return True
