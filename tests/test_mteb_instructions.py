"""MTEB's task instructions under `--paired-protocol mteb` (mars_zoo/tasks/mteb_protocol.py,
`Encoder.with_instruction`, the mllm plugin's `TaskInstructions`).

- The expected strings are written out here from mteb 2.26.24's wrappers (the chat each writes
  or has rendered, `gme_v_models.py`, `ops_mm_models.py`, `qwen3_vl_embedding_models.py`), not
  taken from the code under test; they are compared with what reaches the tiny model's forward.
- A run with a fake instructed model checks the four embedding lists, the ranks from each
  direction's own queries and documents, the cache keys and the result record.
- The published protocol is untouched: its plan hands no instruction, so its cache keys hold no
  instruction field (the golden mini results, tests/test_golden_mini.py, stay as they were).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import mars_zoo
from mars_zoo import Encoder, MarsZooError, ModelSpec
from mars_zoo.data import hub_format
from mars_zoo.data.specs import PAIRS_FROZEN
from mars_zoo.embedding.embed import EmbedOptions, entry_identity
from mars_zoo.tasks.mteb_protocol import check_mteb_run
from mars_zoo.models.plugin_manager import PluginInfo, build_plugin_manager
from mars_zoo.models.registry import Registry
from mars_zoo.core.reporting import Reporter
from mars_zoo.results.consistency import consistency_problems
from mars_zoo.results.validation import validate_file
from mars_zoo.pipeline.runner import RunConfig, run
from mllm_support import picture, received, registry as mllm_registry, tiny_encoder
from test_mteb_protocol import mteb_expected, odd_images, stored

T2I = "Retrieve the Mars image that matches this scientific description."
I2T = "Retrieve the scientific caption that describes this Mars image."
EXPECTED_RECORD = {"t2i": {"query": T2I, "document": ""}, "i2t": {"query": I2T, "document": ""}}

# GmeQwen2VL's Encoder.embed and OpsMMEmbeddingWrapper.embed_batch write this string themselves.
WRITTEN = ("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
           "<|im_start|>assistant\n<|endoftext|>")
# Qwen3-VL-Embedding's chat template with the system message sentence-transformers prepends.
RENDERED = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
CASES = {  # family model -> (chat, what documents get)
    "gme/tiny-random": (WRITTEN, "You are a helpful assistant."),
    "ops-mm/tiny-random": (WRITTEN, "You are a helpful assistant."),
    "qwen3-vl/tiny-random": (RENDERED, "Represent the user's input."),
}


def read_by_model(encoder, call):
    """The text the model's forward received in `call()`, one string per row (padding removed)."""
    _, seen = received(encoder.model.base_model, call)
    decode = encoder.processor.tokenizer.decode
    return [decode(ids[mask.bool()]) for inputs in seen for ids, mask in zip(inputs["input_ids"],
                                                                             inputs["attention_mask"])]


def vision(encoder, image) -> str:
    """The image tokens the processor puts where one image goes."""
    grid = encoder.inputs([encoder.image_prompt()], [encoder.prepare_image(image)])["image_grid_thw"]
    return "<|vision_start|>" + "<|image_pad|>" * (int(grid.prod()) // 4) + "<|vision_end|>"


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("direction,side", [("t2i", "query"), ("t2i", "document"), ("i2t", "query"),
                                            ("i2t", "document")])
def test_the_model_reads_the_instruction_as_mtebs_wrapper_writes_it(name, direction, side):
    chat, default = CASES[name]
    handed = EXPECTED_RECORD[direction][side]
    system = handed or default
    encoder = tiny_encoder(name).with_instruction(handed)
    if (direction, side) in (("t2i", "query"), ("i2t", "document")):  # captions
        texts = ["a crater", "layered deposits on the floor of a large crater"]
        got = read_by_model(encoder, lambda: encoder.encode_text(texts))
        assert sorted(got) == sorted(chat.format(system=system, user=text) for text in texts)
    else:
        image = picture(40, 30, 1)
        got = read_by_model(encoder, lambda: encoder.encode_image([image]))
        assert got == [chat.format(system=system, user=vision(encoder, image))]


@pytest.mark.parametrize("handed,system", [
    ("  Find the crater  ", "Find the crater."),  # stripped, then "." since "r" is no punctuation
    ("Is this a crater?", "Is this a crater?"),  # ends in punctuation (category P*): kept
    ("", "Represent the user's input."),
])
def test_qwen3_vl_ends_its_instruction_as_mtebs_wrapper_does(handed, system):
    encoder = tiny_encoder("qwen3-vl/tiny-random").with_instruction(handed)
    got = read_by_model(encoder, lambda: encoder.encode_text(["dunes"]))
    assert got == [RENDERED.format(system=system, user="dunes")]


def test_mtebs_wrappers_prepare_images_as_their_source_says():
    """GME: MTEB's processor keeps images down to 4 patches of 28 px (GME's own: 256); Ops-MM and
    Qwen3-VL: no PIL resize, the processor resizes within its limits and composites transparency
    onto white (as transformers' convert_to_rgb does), where the published recipes drop alpha."""
    small = picture(60, 60, 2)  # fetch_image makes it 56 x 56: 4 merged patches of 28 px (a 4 x 4 grid of 14 px)
    gme = tiny_encoder("gme/tiny-random")  # GME's processor then scales it up to 448 x 448 (256 merged patches)
    assert gme.inputs([gme.image_prompt()], [gme.prepare_image(small)])["image_grid_thw"].tolist() == [[1, 32, 32]]
    mteb_gme = gme.with_instruction("")
    assert mteb_gme.inputs([mteb_gme.image_prompt()], [mteb_gme.prepare_image(small)])["image_grid_thw"].tolist() \
        == [[1, 4, 4]]
    clear = picture(64, 64, 3).convert("RGBA")
    clear.putalpha(0)  # fully transparent: white once composited, the colours once alpha is dropped
    ops = tiny_encoder("ops-mm/tiny-random").with_instruction("")
    assert ops.prepare_image(clear) is clear
    pixels = ops.inputs([ops.image_prompt()], [clear])["pixel_values"]
    white = ops.inputs([ops.image_prompt()], [picture(64, 64, 0).point(lambda _: 255)])["pixel_values"]
    assert torch_equal(pixels, white)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_a_plugin_that_takes_no_instruction_keeps_its_published_prompts():
    assert not mllm_registry().get("e5-v/tiny-random").takes_task_instructions
    assert mllm_registry().get("gme/tiny-random").takes_task_instructions
    with pytest.raises(MarsZooError, match="takes no task instruction"):
        Encoder().with_instruction(T2I)


# --------------------------------------------------------------------------- a run


def _features(text: str) -> np.ndarray:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.frombuffer(digest[:16], dtype=np.uint8).astype(np.float64) / 255.0 - 0.5


def image_features(image, instruction: str) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB").resize((4, 4)), dtype=np.float64)[..., 0].ravel() / 255.0 - 0.5
    return pixels + 0.7 * _features("image:" + instruction)


def text_features(text: str, instruction: str) -> np.ndarray:
    return _features(instruction + "|" + text)


class InstructedFake(Encoder):
    """A fake whose embeddings depend on the instruction; without one it embeds as if handed "-"."""

    def __init__(self, instruction: str = "-") -> None:
        self.instruction = instruction

    def with_instruction(self, instruction):
        return InstructedFake(instruction)

    def encode_image(self, images):
        import torch

        return torch.tensor(np.stack([image_features(image, self.instruction) for image in images]),
                            dtype=torch.float32)

    def encode_text(self, texts):
        import torch

        return torch.tensor(np.stack([text_features(text, self.instruction) for text in texts]), dtype=torch.float32)


class FakePlugin:
    @mars_zoo.hookimpl
    def register_models(self, register):
        common = dict(family="gme", embedding_dim=16, parameters=1, license="apache-2.0", random_weights=True,
                      batch_size=3, loader=lambda spec, device, precision: InstructedFake())
        register(ModelSpec(name="gme/fake-instructed", checkpoint="fake:instructed", takes_task_instructions=True,
                           **common))
        register(ModelSpec(name="gme/fake-plain", checkpoint="fake:plain", **common))


@pytest.fixture(scope="module")
def registry():
    pm = build_plugin_manager()
    pm.add(FakePlugin(), PluginInfo("fake-instructed", "test", "tests", "0"))
    return Registry(pm)


KEYS = ["k-3", "K-10", "a", "b-2", "b-10", "zeta", "0", "9", "pair"]


@pytest.fixture(scope="module")
def pairs_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("mteb-instructed-pairs")
    records = [{"key": key, "image": data, "ori_caption": f"caption {key}", "refined_caption": f"a {name} scene",
                "source_url": f"http://x.invalid/{key}", "resolved_url": f"http://x.invalid/{key}",
                "recovery_method": "direct"}
               for key, (name, data) in zip(KEYS, odd_images().items())]
    hub_format.write_pairs_frozen(root / PAIRS_FROZEN.name, records)
    hub_format.mark_synthetic(root / PAIRS_FROZEN.name)
    return root, records


def evaluate(registry, data_dir, cache, out, protocol="mteb", model="gme/fake-instructed"):
    config = RunConfig(model=model, out=out, tasks=("paired",), data_dir=data_dir, cache_dir=cache,
                       paired_protocol=protocol)
    return run(config, registry, Reporter())


def unit(rows: list[np.ndarray]) -> np.ndarray:
    array = np.stack(rows)
    return (array / np.linalg.norm(array, axis=1, keepdims=True)).astype(np.float32)


def test_a_run_ranks_each_direction_by_its_own_instructed_queries_and_documents(registry, pairs_copy, tmp_path):
    root, records = pairs_copy
    result, embedder = evaluate(registry, root, tmp_path / "cache", tmp_path / "r.json")
    assert embedder.stats.calls["image"] > 0 and embedder.stats.items == {"image": 18, "text": 18}  # 2 x 9 each
    assert validate_file(tmp_path / "r.json") == []
    paired = result["tasks"]["paired"]
    assert paired["instructions"] == EXPECTED_RECORD
    images = [stored(record["image"]) for record in records]
    captions = [record["refined_caption"] for record in records]
    ids = [record["key"] for record in records]
    t2i = unit([image_features(image, "") for image in images]) @ unit([text_features(c, T2I) for c in captions]).T
    i2t = unit([image_features(image, I2T) for image in images]) @ unit([text_features(c, "") for c in captions]).T
    assert paired["metrics"] == {"t2i": mteb_expected(t2i, ids)["t2i"], "i2t": mteb_expected(i2t, ids)["i2t"]}
    assert list(consistency_problems(result)) == []


def test_the_instruction_keys_the_cache_and_the_published_protocol_hands_none(registry, pairs_copy, tmp_path):
    root, _ = pairs_copy
    cache = tmp_path / "cache"
    published, first = evaluate(registry, root, cache, tmp_path / "p.json", "marsretrieval")
    assert "instructions" not in published["tasks"]["paired"]
    assert first.stats.items == {"image": 9, "text": 9}
    _, mteb = evaluate(registry, root, cache, tmp_path / "m.json")
    assert mteb.stats.items == {"image": 18, "text": 18}  # no entry of the published run answers
    _, warm = evaluate(registry, root, cache, tmp_path / "m2.json")
    assert warm.stats.calls == {"image": 0, "text": 0}


def test_entry_identity_holds_the_instruction_only_where_one_was_handed():
    spec = ModelSpec(name="gme/x", family="gme", checkpoint="c", loader=lambda *a: None, random_weights=True)
    keys = {instruction: entry_identity(spec, "code", EmbedOptions(), "text", ["a"], instruction=instruction)
            for instruction in (None, "", T2I)}
    assert "instruction" not in keys[None]
    assert keys[""]["instruction"] == "" and keys[T2I]["instruction"] == T2I
    assert len({tuple(sorted(key.items())) for key in keys.values()}) == 3


def test_a_family_whose_wrapper_uses_instructions_is_refused_where_its_plugin_takes_none(registry, pairs_copy,
                                                                                          tmp_path):
    root, _ = pairs_copy
    with pytest.raises(MarsZooError) as refused:
        evaluate(registry, root, tmp_path / "cache", tmp_path / "x.json", model="gme/fake-plain")
    message = " ".join(str(refused.value).split())
    assert "'gme/fake-plain' cannot be measured under --paired-protocol mteb" in message
    assert "takes_task_instructions" in message and "Fix:" in message
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "cache").exists()
    check_mteb_run(registry.get("gme/fake-instructed"), ("paired",), "frozen", "refined_caption")  # no error


def test_instructions_are_consistent_only_as_mteb_hands_them_under_its_protocol(registry, pairs_copy, tmp_path):
    import json

    root, _ = pairs_copy
    result, _ = evaluate(registry, root, tmp_path / "cache", tmp_path / "r.json")
    edited = json.loads(json.dumps(result))
    edited["tasks"]["paired"]["instructions"]["t2i"]["document"] = "Represent the user's input."
    assert {p.field for p in consistency_problems(edited)} == {"tasks.paired.instructions.t2i.document"}
    published, _ = evaluate(registry, root, tmp_path / "cache", tmp_path / "p.json", "marsretrieval")
    published["tasks"]["paired"]["instructions"] = EXPECTED_RECORD
    assert "tasks.paired.instructions" in {p.field for p in consistency_problems(published)}


PLAIN_PLUGIN = '''
import mars_zoo
from mars_zoo import Encoder, ModelSpec


@mars_zoo.hookimpl
def register_models(register):
    register(ModelSpec(name="gme/plain", family="gme", checkpoint="fake:plain", embedding_dim=4, parameters=1,
                       license="apache-2.0", random_weights=True, loader=lambda spec, device, precision: Encoder()))
'''


def _refused_mteb_run(model, tmp_path, capsys, *options):
    """The one-paragraph error (whitespace folded) of `mars-zoo run MODEL` under MTEB's protocol,
    checked to be exit 2 with nothing written."""
    from mars_zoo.cli import main

    out, cache = tmp_path / "r.json", tmp_path / "cache"
    capsys.readouterr()
    code = main(["run", model, *options, "--benchmark", "mini", "--tasks", "paired", "--paired-protocol", "mteb",
                 "--out", str(out), "--cache-dir", str(cache)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "Traceback" not in err
    assert f"Model '{model}' cannot be measured under --paired-protocol mteb" in err
    assert not out.exists() and not cache.exists()
    return err


def test_the_command_refuses_such_a_model_with_one_paragraph_and_writes_nothing(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "plain_gme.py").write_text(PLAIN_PLUGIN)
    err = _refused_mteb_run("gme/plain", tmp_path, capsys, "--plugins-dir", str(plugins))
    assert "GmeQwen2VL makes the task's instruction the system turn of queries" in err and "Fix:" in err


def test_a_family_whose_mteb_wrapper_embeds_otherwise_than_its_recipe_is_refused(tmp_path, capsys):
    """VLM2Vec-V2.0 under mteb 2.26.24 reads images through the bare image token (its prompt table has no
    Mars task); the recipe uses VLM2Vec-V2's demo prompt, as the published code does. A number measured
    with the recipe under MTEB's preparation would be neither, so the command refuses it."""
    err = _refused_mteb_run("vlm2vec/tiny-random", tmp_path, capsys)
    assert 'bare image token "<|image_pad|>"' in err and "Fix: run it without --paired-protocol" in err
