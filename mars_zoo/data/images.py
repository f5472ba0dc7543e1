"""Image preparation shared by every loader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mars_zoo.protocol import PAIRED_IMAGE_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


def resize_center_crop(image: "Image.Image", size: int = PAIRED_IMAGE_SIZE) -> "Image.Image":
    """Task 1 preparation of the published protocol: RGB, shorter side resized to
    `size` (bicubic), then a centred `size` x `size` crop. The model's own
    preprocessing runs after this."""
    from PIL import Image

    image = image.convert("RGB")
    width, height = image.size
    scale = size / min(width, height)
    new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = image.resize(new_size, Image.Resampling.BICUBIC)
    left = (new_size[0] - size) // 2
    top = (new_size[1] - size) // 2
    return image.crop((left, top, left + size, top + size))
