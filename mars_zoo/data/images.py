"""Task 1 image preparation, exactly as the published download step does it.

The published protocol fetches the task 1 images with img2dataset (`--image_size 512
--resize_mode center_crop`, its defaults otherwise) and evaluates the JPEG files it
writes (leaderboard/PROTOCOL.md, task 1). What that step does to each image, in order:

1. decode the downloaded bytes with OpenCV, unchanged (`cv2.IMREAD_UNCHANGED`: alpha
   kept, 16-bit kept, no EXIF rotation; palette images come out as 3 channels, or 4
   with a transparency chunk; greyscale as one 2-D plane);
2. a 4-channel image is matted onto white: alpha / 255 * colour + 255 - alpha in
   float64, in that order, clipped to [0, 255], rounded half to even, to uint8;
3. shrink or enlarge so that the shorter side is 512: the scale is 512 / shorter side,
   each side becomes round(side * scale) (half to even), resized with `cv2.INTER_AREA`
   when the shorter side was above 512 and `cv2.INTER_LANCZOS4` otherwise; an image
   whose shorter side already is 512 is not resized;
4. crop the centred 512 x 512 square, its top-left corner at ((w - 512) // 2,
   (h - 512) // 2);
5. encode as JPEG at quality 95 with OpenCV (always, even when nothing changed; the
   encoder takes 8 bits, so a 16-bit image is saturated to 8 bits there, as in the
   published step).

The model then sees that JPEG decoded by PIL and converted to RGB, with the model's own
preprocessing after it.
"""

from __future__ import annotations

import numpy as np

from mars_zoo.core.protocol import PAIRED_IMAGE_SIZE, PAIRED_JPEG_QUALITY

# The task 1 image preparations, recorded in result files (tasks.paired.image_preparation, whose
# schema allows exactly these) and in the embedding cache key:
# - the published protocol's (this module);
# - MTEB's (`--paired-protocol mteb`): the frozen copy's stored bytes decoded as the `datasets`
#   Image feature decodes them, in their stored mode (`decoding.decode_stored`), and nothing else
#   before the model's own preprocessing. Rows measured so are ranked by MTEB's rule too
#   (`mars_zoo.tasks.mteb_protocol`).
PUBLISHED_PREPARATION = f"img2dataset-center-crop-{PAIRED_IMAGE_SIZE}-jpeg{PAIRED_JPEG_QUALITY}"
MTEB_PREPARATION = "mteb-original-bytes"
IMAGE_PREPARATIONS = (PUBLISHED_PREPARATION, MTEB_PREPARATION)


class PreparationError(ValueError):
    """The bytes are not an image OpenCV can decode (the published step drops such rows)."""


def prepare_published(data: bytes, size: int = PAIRED_IMAGE_SIZE) -> bytes:
    """The JPEG bytes the published download step makes of an image's downloaded bytes."""
    import cv2

    cv2.setNumThreads(1)  # as the published step does; also keeps forked workers safe
    # The published step silences OpenCV; failures are reported by the caller instead.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return _prepare(data, size)
    except cv2.error as exc:  # e.g. an empty buffer; the published step drops such rows
        raise PreparationError(f"OpenCV cannot prepare it ({str(exc).strip()})") from None


def _prepare(data: bytes, size: int) -> bytes:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise PreparationError("OpenCV cannot decode it")
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[:, :, 3:]
        matted = alpha / 255 * image[:, :, :3] + 255 - alpha
        image = np.rint(np.clip(matted, 0, 255)).astype(np.uint8)
    height, width = image.shape[:2]
    shorter = min(width, height)
    scale = size / float(shorter)
    if scale != 1.0:
        new_height, new_width = round(height * scale), round(width * scale)
        if (new_height, new_width) != (height, width):
            interpolation = cv2.INTER_AREA if shorter > size else cv2.INTER_LANCZOS4
            image = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
    height, width = image.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    image = image[top : top + size, left : left + size]
    encoded, jpeg = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), PAIRED_JPEG_QUALITY])
    if not encoded:
        raise PreparationError("OpenCV cannot encode the prepared image as JPEG")
    return jpeg.tobytes()
