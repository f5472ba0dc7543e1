"""The contamination check: planted duplicates of mini benchmark items (exact copies,
re-encodes, resizes, small crops, captions with other case, spacing and punctuation) in
the clean mini training split are all found, each as what it is, and nothing else is."""

import csv
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mars_zoo.adapt import image_fingerprints as fingerprints
from mars_zoo.adapt.contamination import contamination_report
from mars_zoo.adapt.benchmark_index import normalise_caption
from mars_zoo.adapt.hamming_index import HammingIndex
from mars_zoo.adapt.training_data import TrainingPair, open_training_data
from mars_zoo.cli import main
from mars_zoo.data.benchmark import open_benchmark
from mars_zoo.data.tile_names import parse_tile_name


def _encode(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The image with 2 to 8% trimmed from each side."""
    left, top, right, bottom = rng.uniform(0.02, 0.08, 4)
    width, height = image.size
    return image.crop((round(left * width), round(top * height), width - round(right * width),
                       height - round(bottom * height)))


def _centre_square_512(image: Image.Image) -> Image.Image:
    """Task 1's published preparation, roughly: the centre square, at 512 px."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((512, 512), Image.Resampling.LANCZOS)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _scored_images(mini_dir: Path) -> list[tuple[str, str, bytes]]:
    """(part, item id, stored bytes) of two items of every image part, read from the mini
    benchmark's files; the tiles are ones within 0.3 degrees of a catalogue point (the
    radius is 0.5)."""
    pairs = pq.read_table(next((mini_dir / "Mars-VL-Pairs-MTEB" / "data").glob("*.parquet"))).to_pylist()
    landforms = pq.read_table(sorted((mini_dir / "Mars-Landforms" / "data").glob("*.parquet"))[0]).to_pylist()
    queries = sorted((mini_dir / "Mars-Global-Geolocalization" / "image_queries").rglob("query_*"))
    with open(mini_dir / "Mars-Global-Geolocalization" / "ground_truth" / "yardangs.csv") as handle:
        points = np.array([(float(row["lon"]), float(row["lat"])) for row in csv.DictReader(handle)])
    tiles = []
    for shard in sorted((mini_dir / "tiles").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                lon, lat = parse_tile_name(member.name)
                if np.hypot(points[:, 0] - lon, points[:, 1] - lat).min() < 0.3:
                    tiles.append((member.name, tar.extractfile(member).read()))
    return [
        *(("paired-images", row["key"], row["image"]["bytes"]) for row in (pairs[3], pairs[10])),
        *(("landform-images", row["image_id"], row["image"]["bytes"]) for row in (landforms[0], landforms[7])),
        *(("geo-queries", f"{path.parent.name}/{path.name}", path.read_bytes()) for path in (queries[0], queries[-1])),
        *(("gallery-tiles", name, data) for name, data in (tiles[0], tiles[-1])),
    ]


def _plants(mini_dir: Path) -> tuple[list[TrainingPair], set[tuple[str, str, str, str]]]:
    """The planted pairs, and what each must be found as: (training key, kind, part, item)."""
    rng = np.random.default_rng(7)
    planted, expected = [], set()
    for number, (part, item, data) in enumerate(_scored_images(mini_dir)):
        image = Image.open(io.BytesIO(data))
        copies = {
            "exact": (data, "exact"),
            "lossless": (_encode(image), "exact"),
            "jpeg": (_encode(image, "JPEG", quality=70), "near"),
            "smaller": (_encode(image.convert("RGB").resize((image.width * 3 // 4, image.height * 3 // 4),
                                                            Image.Resampling.BICUBIC)), "near"),
            "larger": (_encode(image.convert("RGB").resize((image.width * 2, image.height * 2),
                                                           Image.Resampling.LANCZOS), "JPEG", quality=90), "near"),
            "cropped": (_encode(_crop(image, rng)), "near"),
            "cropped-jpeg": (_encode(_crop(image, rng), "JPEG", quality=80), "near"),
        }
        if part == "paired-images":
            copies["centre-square"] = (_encode(_centre_square_512(image), "JPEG", quality=95), "near")
        for name, (copy, kind) in copies.items():
            key = f"planted-{number}-{name}"
            planted.append(TrainingPair(key, copy, f"planted training pair {number} {name}"))
            expected.add((key, kind, part, item))
    pairs = pq.read_table(next((mini_dir / "Mars-VL-Pairs-MTEB" / "data").glob("*.parquet"))).to_pylist()
    noise = _encode(Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)))
    for row, column, rewrite in ((pairs[0], "refined_caption", lambda text: "  " + text.upper().replace(",", " ;")),
                                 (pairs[1], "ori_caption", lambda text: text.replace(" ", "\t\n") + "!!"),
                                 (pairs[2], "refined_caption", lambda text: text.lower().rstrip(".") + " ...")):
        key, caption = f"planted-caption-{row['key']}", rewrite(row[column])
        planted.append(TrainingPair(key, noise, caption))
        # Short captions repeat in the mini benchmark: every pair with the same words is hit.
        expected |= {(key, "caption", "paired-captions", other["key"]) for other in pairs
                     for text in (other["ori_caption"], other["refined_caption"]) if _words(text) == _words(caption)}
    return planted, expected


@pytest.fixture(scope="module")
def planted(mini_dir):
    return _plants(mini_dir)


def test_every_planted_duplicate_is_found_and_nothing_else(mini_dir, planted):
    pairs, expected = planted
    clean = list(open_training_data("mini"))
    mixed = clean[:150] + pairs[:30] + clean[150:] + pairs[30:]
    report = contamination_report(mixed, open_benchmark("mini"), examples=10_000)
    found = {(m.training_key, m.kind, m.part, m.item) for m in report.examples}
    assert found - expected == set(), "false hits"
    assert expected - found == set(), "planted duplicates not found"
    assert report.contaminated and report.pairs_hit == len(pairs) and report.training["pairs"] == len(mixed)
    by_part = {part.part: part for part in report.parts}
    assert {part: count.checked for part, count in by_part.items()} == {
        "paired-images": 48, "paired-captions": 96, "landform-images": 96, "geo-queries": 15, "gallery-tiles": 162}
    assert by_part["paired-images"].items == {"exact": 2, "near": 2, "caption": 0}
    assert by_part["paired-captions"].items["caption"] == len({item for _, kind, _, item in expected if kind == "caption"})
    assert by_part["gallery-tiles"].pairs_hit == 14
    assert report.as_dict()["tasks"]["geolocalization"]["items_hit"] == 4
    json.dumps(report.as_dict())  # JSON-ready
    _assert_kept_as_training_records_keep_it(report, expected)


def _assert_kept_as_training_records_keep_it(report, expected) -> None:
    """`record()` counts, per task, the distinct benchmark images and captions the planted pairs
    duplicate, and is a valid training record's contamination report."""
    from mars_zoo.schema.results_schema import schema_problems
    from mars_zoo.schema.training import TRAINING_SCHEMA, record_problems
    from training_support import training_record

    task_of = {"paired-images": "paired", "paired-captions": "paired", "landform-images": "landform",
               "geo-queries": "geolocalization", "gallery-tiles": "geolocalization"}
    counts = {task: {"images": set(), "captions": set()} for task in task_of.values()}
    for _, _, part, item in expected:
        counts[task_of[part]]["captions" if part == "paired-captions" else "images"].add((part, item))
    kept = report.record()
    assert kept["tasks"] == {task: {kind: len(items) for kind, items in by_kind.items()}
                             for task, by_kind in counts.items()}
    assert kept["contaminated"] and len(kept["examples"]) == len(report.examples)
    record = training_record(contamination=json.loads(json.dumps(kept)), allowed_contaminated=True)
    assert sorted(schema_problems(record, TRAINING_SCHEMA)) == [] and list(record_problems(record, [])) == []


def test_the_mini_training_split_is_clean(mini_dir):
    data = open_training_data("mini")
    report = contamination_report(data, open_benchmark("mini"), tasks=("paired", "landform"))
    assert not report.contaminated
    assert report.training["fingerprint"] == data.fingerprint and report.training["pairs"] == 384
    assert [part.part for part in report.parts] == ["paired-images", "paired-captions", "landform-images"]


def test_command_line_exit_status_and_json(mini_dir, planted, tmp_path):
    pairs, _ = planted
    chosen = [pair for pair in pairs if pair.key.endswith(("-cropped", "-exact"))][:3]
    clean = list(open_training_data("mini"))[:5]

    def parquet(path: Path, rows: list[TrainingPair]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"key": [p.key for p in rows], "caption": [p.caption for p in rows],
                                 "picture": [{"bytes": p.image_bytes, "path": None} for p in rows]}), path)
        return path

    dirty = parquet(tmp_path / "dirty" / "train.parquet", clean + chosen)
    out = tmp_path / "report.json"
    assert main(["contamination", str(dirty), "--image-column", "picture", "--benchmark", "mini", "--json",
                 str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["contaminated"] and report["pairs_hit"] == 3 and report["training"]["pairs"] == 8
    assert {example["training_key"] for example in report["examples"]} == {pair.key for pair in chosen}
    clean_file = parquet(tmp_path / "clean" / "train.parquet", clean)
    assert main(["contamination", str(clean_file), "--image-column", "picture", "--benchmark", "mini"]) == 0
    assert main(["contamination", str(clean_file), "--benchmark", "mini"]) == 2  # no column "image"


@pytest.mark.parametrize("full_comparison_max", [10**9, 0])  # compare with all of them; read the buckets
def test_hamming_index_finds_exactly_what_a_full_comparison_finds(monkeypatch, full_comparison_max):
    monkeypatch.setattr("mars_zoo.adapt.hamming_index.FULL_COMPARISON_MAX", full_comparison_max)
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 2**63, 2000, dtype=np.int64).astype(np.uint64)
    near = stored[:200] ^ np.array([sum(1 << int(bit) for bit in rng.choice(64, k, replace=False))
                                    for k in rng.integers(0, 17, 200)], dtype=np.uint64)
    queries = np.concatenate([near, rng.integers(0, 2**63, 50, dtype=np.int64).astype(np.uint64)])
    index = HammingIndex(stored)
    full = np.array([[bin(int(q) ^ int(s)).count("1") for s in stored] for q in queries])
    for radius in (0, 3, 7, 11, 14, 15):
        query, found, distance = index.within(queries, radius)
        assert set(zip(query.tolist(), found.tolist())) == set(zip(*(np.nonzero(full <= radius)[axis].tolist()
                                                                       for axis in (0, 1))))
        assert (distance == full[query, found]).all()
    assert len(index.within(queries, 15)[0]) >= 150  # most near ones are within 15 bits: there is something to find


@pytest.mark.parametrize("text, same", [
    ("A CTX view of two craters.", "a ctx view of two  craters"),
    ("Glacier-like form, flowing north", "glacier like form flowing NORTH!"),
    ("ｆｕｌｌ width", "full width"),
])
def test_captions_compare_without_case_spacing_and_punctuation(text, same):
    assert normalise_caption(text) == normalise_caption(same)
    assert normalise_caption(text) != normalise_caption(text + " and one more word")


def test_a_crop_of_a_very_oblong_image_is_aligned_from_its_narrow_windows():
    rng = np.random.default_rng(5)
    wide = Image.fromarray(np.kron(rng.integers(0, 256, (12, 48)), np.ones((6, 6))).astype(np.uint8))  # 288 x 72
    windows = fingerprints.crop_windows(*wide.size)
    narrowest = min(windows, key=lambda window: window[3] - window[2])
    assert narrowest[3] - narrowest[2] < fingerprints.MIN_WINDOW  # the centre square, trimmed
    top, bottom, left, right = narrowest
    cut = wide.crop((round(left * 288), round(top * 72), round(right * 288), round(bottom * 72)))
    similarity, _ = fingerprints.aligned_similarity(
        fingerprints.band_view(fingerprints.thumbnail(cut)), fingerprints.thumbnail(wide), [narrowest])
    assert similarity > 0.7  # copies align at 0.6 to 1; the check counts 0.55 or more
