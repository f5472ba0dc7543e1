"""Task 1 images and rows prepared exactly as the published download step does.

The expected bytes of every case are computed here step by step with numpy and OpenCV
calls written out directly, with the sizes, crop offsets and kernels worked out by hand
for each case (leaderboard/PROTOCOL.md, task 1; mars_zoo/data/images.py lists the
steps): shrinking uses INTER_AREA, enlarging LANCZOS4, a transparent image is matted on
white, palette and greyscale images are expanded as OpenCV expands them, and the result
is the JPEG at quality 95 that the model sees decoded.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from mars_zoo.data import hub_format, image_fetch
from mars_zoo.data.benchmark import open_benchmark
from mars_zoo.data.arrow_splits import ArrowSplit
from mars_zoo.data.image_sources import DatasetImageSource
from mars_zoo.data.images import PUBLISHED_PREPARATION, PreparationError, prepare_published
from mars_zoo.data.specs import PAIRS_FROZEN, PAIRS_URLS
from mars_zoo.core.errors import MarsZooError

JPEG_95 = [int(cv2.IMWRITE_JPEG_QUALITY), 95]


def noise(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    """Smooth-ish random pixels: different kernels give visibly different results."""
    shape = (height, width, channels) if channels else (height, width)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def png(array: np.ndarray) -> bytes:
    """Lossless bytes of a BGR(A) or greyscale array, as a server would send them."""
    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


def jpeg95(array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", array, JPEG_95)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    ("height", "width", "new_size", "offset", "kernel"),
    [
        # shorter side 600 > 512: shrink by 512/600; 1000 * 0.8533 = 853.3 -> 853; crop x from 170
        (600, 1000, (853, 512), (0, 170), cv2.INTER_AREA),
        # shorter side 200 < 512: enlarge by 2.56; 300 -> 768; crop x from 128
        (200, 300, (768, 512), (0, 128), cv2.INTER_LANCZOS4),
        # a tall image: shorter side 300, enlarge by 512/300; 701 -> 1196.37 -> 1196; crop y from 342
        (701, 300, (512, 1196), (342, 0), cv2.INTER_LANCZOS4),
        # 1024 x 1025: scale 0.5, 1025 * 0.5 = 512.5 rounds half to even -> 512 (a square)
        (1024, 1025, (512, 512), (0, 0), cv2.INTER_AREA),
        # 1025 x 1027: scale 512/1025; 1027 * 0.49951 = 512.999 -> 513; crop x from 0
        (1025, 1027, (513, 512), (0, 0), cv2.INTER_AREA),
    ],
)
def test_shrunk_and_enlarged_images(height, width, new_size, offset, kernel):
    image = noise(np.random.default_rng(height + width), height, width, 3)
    resized = cv2.resize(image, new_size, interpolation=kernel)
    top, left = offset
    expected = jpeg95(resized[top : top + 512, left : left + 512])
    assert prepare_published(png(image)) == expected
    other = cv2.INTER_LANCZOS4 if kernel == cv2.INTER_AREA else cv2.INTER_AREA
    wrong_kernel = cv2.resize(image, new_size, interpolation=other)[top : top + 512, left : left + 512]
    assert jpeg95(wrong_kernel) != expected  # the case tells the kernels apart


def test_an_image_with_a_512_shorter_side_is_only_cropped_and_encoded_again():
    image = noise(np.random.default_rng(1), 800, 512, 3)
    assert prepare_published(png(image)) == jpeg95(image[144:656])  # (800 - 512) // 2 = 144
    square = noise(np.random.default_rng(2), 512, 512, 3)
    once = prepare_published(jpeg95(square))
    assert once == jpeg95(cv2.imdecode(np.frombuffer(jpeg95(square), np.uint8), cv2.IMREAD_COLOR))


def matte_on_white(bgra: np.ndarray) -> np.ndarray:
    """alpha / 255 * colour + 255 - alpha, in float64 in that order, rounded half to even."""
    alpha = bgra[:, :, 3:].astype(np.float64)
    colour = bgra[:, :, :3].astype(np.float64)
    return np.rint(np.clip(alpha / 255 * colour + 255 - alpha, 0, 255)).astype(np.uint8)


def test_a_transparent_image_is_matted_on_white_before_resizing():
    rng = np.random.default_rng(3)
    bgra = noise(rng, 256, 384, 4)
    bgra[:64, :, 3] = 0  # fully transparent rows become white
    bgra[64:128, :, 3] = 255  # opaque rows keep their colour
    matted = matte_on_white(bgra)
    assert (matted[:64] == 255).all() and (matted[64:128] == bgra[64:128, :, :3]).all()
    resized = cv2.resize(matted, (768, 512), interpolation=cv2.INTER_LANCZOS4)  # scale 2
    assert prepare_published(png(bgra)) == jpeg95(resized[:, 128:640])


def pil_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def test_palette_images_are_expanded_and_their_transparency_matted():
    rng = np.random.default_rng(4)
    indices = rng.integers(0, 16, (600, 700), dtype=np.uint8)
    palette_rgb = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette_rgb.flatten().tolist())

    bgr = palette_rgb[indices][:, :, ::-1]
    expected = cv2.resize(bgr, (597, 512), interpolation=cv2.INTER_AREA)  # 700 * 512/600 = 597.3
    assert prepare_published(pil_bytes(image)) == jpeg95(expected[:, 42:554])  # (597 - 512) // 2

    # Index 0 transparent: those pixels are matted on white like any alpha.
    bgra = np.concatenate([bgr, np.where(indices == 0, 0, 255).astype(np.uint8)[:, :, None]], axis=2)
    expected = cv2.resize(matte_on_white(bgra), (597, 512), interpolation=cv2.INTER_AREA)
    assert prepare_published(pil_bytes(image, transparency=0)) == jpeg95(expected[:, 42:554])


def test_a_greyscale_image_stays_one_plane_and_the_model_sees_it_as_rgb():
    grey = noise(np.random.default_rng(5), 100, 150, 0)
    expected = cv2.resize(grey, (768, 512), interpolation=cv2.INTER_LANCZOS4)[:, 128:640]
    prepared = prepare_published(pil_bytes(Image.fromarray(grey, mode="L")))
    assert prepared == jpeg95(expected)
    with Image.open(io.BytesIO(prepared)) as image:
        assert image.mode == "L"
        rgb = np.asarray(image.convert("RGB"))
    assert (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all()


@pytest.mark.parametrize("data", [b"", b"<html>not found</html>", b"\x89PNG\r\n\x1a\n" + b"broken" * 9])
def test_bytes_opencv_cannot_decode_are_not_an_image(data):
    with pytest.raises(PreparationError, match="OpenCV"):
        prepare_published(data)


def test_the_model_sees_the_decoded_jpeg_of_a_frozen_copy_row():
    from datasets import Dataset, Features
    from datasets import Image as ImageFeature

    image = noise(np.random.default_rng(6), 300, 400, 3)
    rows = {"image": [{"bytes": png(image), "path": None}, {"bytes": b"junk", "path": None}]}
    dataset = Dataset.from_dict(rows, features=Features({"image": ImageFeature()}))
    source = DatasetImageSource(
        ArrowSplit.of(dataset), "image", ["a", "b"], "a test table", preparation=PUBLISHED_PREPARATION
    )
    resized = cv2.resize(image, (683, 512), interpolation=cv2.INTER_LANCZOS4)  # 400 * 512/300 = 682.7
    jpeg = jpeg95(resized[:, 85:597])  # (683 - 512) // 2 = 85
    with Image.open(io.BytesIO(jpeg)) as decoded:
        expected = np.asarray(decoded.convert("RGB"))
    seen = source[0]
    assert seen.mode == "RGB" and (np.asarray(seen) == expected).all()
    assert not (np.asarray(seen) == resized[:, 85:597, ::-1]).all()  # the JPEG round trip is there
    with pytest.raises(MarsZooError, match="Image b \\(row 1 of a test table\\): OpenCV cannot decode"):
        source[1]


# ------------------------------------------------------------------------- caption rule

# key -> (ori_caption, refined_caption): the published step keeps a row only when both are
# non-empty strings, whichever caption is evaluated; whitespace is not empty.
CAPTION_ROWS = {
    "both": ("an ori caption", "a refined caption"),
    "ori_empty": ("", "a refined caption"),
    "ori_null": (None, "a refined caption"),
    "refined_empty": ("an ori caption", ""),
    "refined_null": ("an ori caption", None),
    "ori_spaces": ("   ", "a refined caption"),
    "refined_tab": ("an ori caption", "\t\n"),
}
KEPT = ["both", "ori_spaces", "refined_tab"]


@pytest.mark.parametrize("caption", ["refined_caption", "ori_caption"])
def test_frozen_rows_follow_the_published_caption_rule(tmp_path, caption):
    records = [
        {"key": key, "image": png(noise(np.random.default_rng(7), 20, 30, 3)), "ori_caption": ori,
         "refined_caption": refined, "source_url": f"http://x.invalid/{key}.png",
         "resolved_url": f"http://x.invalid/{key}.png", "recovery_method": "direct"}
        for key, (ori, refined) in CAPTION_ROWS.items()
    ]
    hub_format.write_pairs_frozen(tmp_path / "data" / PAIRS_FROZEN.name, records)
    pairs = open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache").paired(caption)
    column = 0 if caption == "ori_caption" else 1
    assert pairs.keys == KEPT
    assert pairs.captions == [CAPTION_ROWS[key][column] for key in KEPT]
    assert pairs.missing == [key for key in CAPTION_ROWS if key not in KEPT]


@pytest.mark.parametrize("caption", ["refined_caption", "ori_caption"])
def test_url_rows_follow_the_published_caption_rule(tmp_path, monkeypatch, caption):
    # Every URL is unreachable: the rule decides which rows are even asked for.
    rows = [
        {"key": key, "image_url": f"ftp://x.invalid/{key}.png", "ori_caption": ori, "refined_caption": refined}
        for key, (ori, refined) in CAPTION_ROWS.items()
    ]
    rows.append({"key": "no_url", "image_url": None, "ori_caption": "o", "refined_caption": "r"})
    hub_format.write_pairs_urls(tmp_path / "data" / PAIRS_URLS.name, rows)
    benchmark = open_benchmark(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    asked: list[str] = []
    real = image_fetch.fetch_images

    def recording(items, *args, **kwargs):
        asked.extend(key for key, _ in items)
        return real(items, *args, **kwargs)

    monkeypatch.setattr(image_fetch, "fetch_images", recording)
    # No row can be evaluated (no URL answers), which is one clear error after the fetch.
    with pytest.raises(MarsZooError, match=f"None of the {len(rows)} pairs"):
        benchmark.paired(caption, source="urls")
    assert asked == KEPT
