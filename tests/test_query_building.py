"""How every query of tasks 2 and 3 is built, checked from the outside.

A recording model logs every text and image it is asked to embed, and the query vectors
the tasks hand to the search are caught on their way in. Both are compared with what is
computed here from leaderboard/PROTOCOL.md alone: the three prompt templates written out
below, the name rules (task 2 replaces `_` and `-` by spaces, task 3 only `_`), the mean
of the normalised prompt embeddings, the mean of the normalised embeddings of every query
image in the folder, and the hybrid query (softmax of image-text similarities at
temperature 0.1, then 0.3 image + 0.7 text). Nothing of mars_zoo's query code is used to
compute the expectations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mars_zoo
from fake_models import DIM, image_features, text_features
from mars_zoo import Encoder, ModelSpec
from mars_zoo.scoring import search
from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import Reporter
from mars_zoo.pipeline.runner import RunConfig, run

TEMPLATES = (
    "a photo of {}, a type of martian terrain",
    "a satellite photo of {}.",
    "a high-resolution remote sensing image of {} on Mars.",
)
GEO_LANDFORMS = ("alluvial_fans", "glacier-like_form", "landslides", "pitted_cones", "yardangs")
LANDFORM_CLASSES = ("impact_crater", "dune-field", "channel", "pitted_cone", "yardang", "landslide",
                    "alluvial_fan", "glacier-like_form")  # the mini benchmark's, hyphens included
TOL = 1e-5  # the harness keeps embeddings in float32


class RecordingEncoder(Encoder):
    """Embeds like fake_models (a function of each item alone) and logs every input."""

    def __init__(self, log: dict[str, list]) -> None:
        self.log = log

    def encode_image(self, images):
        features = [image_features(image) for image in images]
        self.log["images"] += features
        return torch.tensor(np.stack(features), dtype=torch.float32)

    def encode_text(self, texts):
        self.log["texts"] += list(texts)
        return torch.tensor(np.stack([text_features(text) for text in texts]), dtype=torch.float32)


class RecordingPlugin:
    def __init__(self) -> None:
        self.log: dict[str, list] = {"texts": [], "images": []}

    @mars_zoo.hookimpl
    def register_models(self, register):
        register(ModelSpec(name="recording/model", family="recording", checkpoint="recording",
                           loader=lambda spec, device, precision: RecordingEncoder(self.log),
                           batch_size=8, license="apache-2.0", embedding_dim=DIM, parameters=1,
                           random_weights=True))


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector, axis=-1, keepdims=True)


def text_query(concept: str) -> np.ndarray:
    prompts = [template.format(concept) for template in TEMPLATES]
    return unit(np.mean([unit(text_features(prompt)) for prompt in prompts], axis=0))


def query_image_embeddings(mini_dir: Path, landform: str) -> np.ndarray:
    folder = mini_dir / "Mars-Global-Geolocalization" / "image_queries" / landform
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in (".png", ".jpg", ".jpeg"))
    assert len(files) >= 2, "the mini data must have several query images per landform"
    embeddings = []
    for path in files:
        with Image.open(path) as image:
            embeddings.append(unit(image_features(image.convert("RGB"))))
    return np.stack(embeddings)


def hybrid(images: np.ndarray, text: np.ndarray) -> np.ndarray:
    logits = images @ text / 0.1
    weights = np.exp(logits) / np.exp(logits).sum()
    visual = unit((weights[:, None] * images).sum(axis=0))
    return unit(0.3 * visual + 0.7 * text)


@pytest.fixture(scope="module")
def recorded(mini_dir, tmp_path_factory):
    """Runs tasks 2 and 3 with the recording model, each on its own, and returns what the
    model received and what the search was given, per task."""
    caught: list[np.ndarray] = []

    def catching(real):
        def search_with(queries, *args, **kwargs):
            caught.append(np.asarray(queries, dtype=np.float64))
            return real(queries, *args, **kwargs)

        return search_with

    patch = pytest.MonkeyPatch()
    for name in ("scores_all", "top_k"):  # every search entry point takes the queries first
        patch.setattr(search, name, catching(getattr(search, name)))
    try:
        by_task = {}
        for task in ("landform", "geolocalization"):
            plugin = RecordingPlugin()
            pm = build_plugin_manager()
            pm.add(plugin, PluginInfo("recording", "test", "tests", "0"))
            out = tmp_path_factory.mktemp(task)
            config = RunConfig(model="recording/model", out=out / "result.json", benchmark="mini",
                               tasks=(task,), no_cache=True, workers=0)
            caught.clear()
            run(config, Registry(pm), Reporter())
            assert len(caught) == 1, "each task scores all its queries in one search"
            by_task[task] = {"texts": plugin.log["texts"], "images": plugin.log["images"], "queries": caught[0]}
    finally:
        patch.undo()
    return by_task


def test_landform_queries_are_the_three_prompts_of_each_class_name_without_underscores_or_hyphens(recorded):
    concepts = [name.replace("_", " ").replace("-", " ") for name in LANDFORM_CLASSES]
    assert "dune field" in concepts and "glacier like form" in concepts
    expected_texts = [template.format(concept) for concept in concepts for template in TEMPLATES]
    assert sorted(recorded["landform"]["texts"]) == sorted(expected_texts)


def test_landform_query_vectors_are_the_prompt_ensembles(recorded):
    concepts = [name.replace("_", " ").replace("-", " ") for name in LANDFORM_CLASSES]
    expected = np.stack([text_query(concept) for concept in concepts])
    np.testing.assert_allclose(recorded["landform"]["queries"], expected, atol=TOL, rtol=0)


def test_geolocalization_texts_keep_the_hyphen(recorded):
    concepts = [name.replace("_", " ") for name in GEO_LANDFORMS]
    assert "glacier-like form" in concepts
    expected_texts = [template.format(concept) for concept in concepts for template in TEMPLATES]
    assert sorted(recorded["geolocalization"]["texts"]) == sorted(expected_texts)


def test_every_query_image_reaches_the_model(recorded, mini_dir):
    received = np.asarray(recorded["geolocalization"]["images"])
    for landform in GEO_LANDFORMS:
        for embedding in query_image_embeddings(mini_dir, landform):
            assert np.abs(unit(received) - embedding).max(axis=1).min() < TOL, landform


def test_geolocalization_query_vectors_follow_the_protocol(recorded, mini_dir):
    """Queries are searched in landform order, text, image and hybrid for each."""
    expected = []
    for landform in GEO_LANDFORMS:
        text = text_query(landform.replace("_", " "))
        images = query_image_embeddings(mini_dir, landform)
        expected += [text, unit(images.mean(axis=0)), hybrid(images, text)]
    np.testing.assert_allclose(recorded["geolocalization"]["queries"], np.stack(expected), atol=TOL, rtol=0)


@pytest.mark.parametrize("concept", ["yardangs", "glacier-like form", "a photo of pits"])
def test_each_prompt_names_its_whole_ensemble_and_no_other_text_does(concept):
    """What an embedder that batches an ensemble as the published code does relies on."""
    from mars_zoo.core.protocol import ensemble_of

    prompts = [template.format(concept) for template in TEMPLATES]
    assert [ensemble_of(prompt) for prompt in prompts] == [prompts] * 3
    for text in ("a crater with dunes", "a satellite photo of .", prompts[0] + " "):
        assert ensemble_of(text) is None
