"""The texts mteb 2.26.24's instruction-aware wrappers build for MarsRetrieval's MTEB tasks, next to
mars-zoo's (`benchmarks/mteb_parity.py` runs `mteb_texts` in the child that has mteb on its path).

mteb's side calls the wrappers' own code with the tasks' own metadata, on instances made without
loading any weights: `GmeQwen2VL.encode` and its `Encoder.embed`, `OpsMMEmbeddingWrapper`'s
`get_task_instruction` and `embed_batch` (each handed a processor that records the strings it is
called with), and `Qwen3VLEmbeddingWrapper.get_task_instruction` (the system message that
sentence-transformers then prepends to each chat; the chat itself is the checkpoint's template).
mars-zoo's side: the tiny models' `with_instruction` encoders, their text and image prompts as
written before the processor expands the image token (for Qwen3-VL, the system turn of its prompts).
"""

from __future__ import annotations

from typing import Any

CAPTION = "a crater with layered deposits"
FAMILIES = {"gme": "gme/tiny-random", "ops-mm": "ops-mm/tiny-random", "qwen3-vl": "qwen3-vl/tiny-random"}
TASKS = {"t2i": "MarsVLPairsT2IRetrieval", "i2t": "MarsVLPairsI2TRetrieval"}
# Which side of each direction holds the captions (the other holds the images).
TEXT_SIDE = {"t2i": "query", "i2t": "document"}


class _Recorded(Exception):
    """Raised by the recording processor once the strings are in hand."""


class _RecordingProcessor:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: list[str], **_: Any) -> None:
        self.texts.extend(text)
        raise _Recorded


def _strings(call) -> list[str]:
    recorder = _RecordingProcessor()
    try:
        call(recorder)
    except _Recorded:
        pass
    return recorder.texts


def mteb_texts() -> dict[str, dict[str, dict[str, str]]]:
    """family -> direction -> side -> what mteb's wrapper builds (child side: mteb importable)."""
    from PIL import Image

    import mteb
    from mteb.models.model_implementations import gme_v_models, ops_mm_models, qwen3_vl_embedding_models
    from mteb.types import PromptType

    image = Image.new("RGB", (64, 48), (120, 80, 40))
    tasks = {direction: mteb.get_task(name).metadata for direction, name in TASKS.items()}
    out: dict[str, dict[str, dict[str, str]]] = {family: {} for family in FAMILIES}
    for direction, metadata in tasks.items():
        for side in ("query", "document"):
            prompt_type = PromptType(side)
            batch = {"text": [CAPTION]} if TEXT_SIDE[direction] == side else {"image": [image]}

            def gme(recorder):
                inner = object.__new__(gme_v_models._encoder_class())
                inner.__dict__.update(processor=recorder, default_instruction="You are a helpful assistant.",
                                      max_length=1800)

                class Model:
                    def to(self, device):
                        return self

                    def embed(self, **kwargs):
                        return type(inner).embed(inner, **kwargs)

                wrapper = object.__new__(gme_v_models.GmeQwen2VL)
                wrapper.__dict__.update(model=Model(), device="cpu", sep=" ")
                wrapper.encode([batch], task_metadata=metadata, hf_split="test", hf_subset="default",
                               prompt_type=prompt_type, show_progress_bar=False)

            def ops(recorder):
                wrapper = object.__new__(ops_mm_models.OpsMMEmbeddingWrapper)
                wrapper.__dict__.update(processor=recorder, device="cpu")
                instruction = wrapper.get_task_instruction(metadata, prompt_type)
                wrapper.embed_batch(texts=batch.get("text"), images=batch.get("image"), instruction=instruction)

            qwen = object.__new__(qwen3_vl_embedding_models.Qwen3VLEmbeddingWrapper)
            out["gme"].setdefault(direction, {})[side] = _strings(gme)[0]
            out["ops-mm"].setdefault(direction, {})[side] = _strings(ops)[0]
            out["qwen3-vl"].setdefault(direction, {})[side] = qwen.get_task_instruction(metadata, prompt_type)
    return out


def ours() -> dict[str, dict[str, dict[str, str]]]:
    """The same, from mars-zoo's tiny models (this environment)."""
    from mars_zoo.tasks.mteb_protocol import HANDED
    from mars_zoo.models.registry import load_registry

    registry = load_registry()
    out: dict[str, dict[str, dict[str, str]]] = {family: {} for family in FAMILIES}
    for family, name in FAMILIES.items():
        encoder = registry.get(name).load("cpu", "fp32")
        for direction, sides in HANDED.items():
            for side, handed in sides.items():
                instructed = encoder.with_instruction(handed)
                if family == "qwen3-vl":
                    text = instructed.recipe.text_prompt.system
                    assert instructed.recipe.image_prompt.system == text
                elif TEXT_SIDE[direction] == side:
                    text = instructed.text_prompts([CAPTION])[0]
                else:
                    text = instructed.image_prompt()
                out[family].setdefault(direction, {})[side] = text
    return out


def report(theirs: dict, mine: dict) -> bool:
    """Print each family's texts side by side; True when all are equal."""
    equal = True
    print("\ninstruction texts, mteb's wrappers vs mars-zoo's with_instruction:")
    for family in FAMILIES:
        for direction in TASKS:
            for side in ("query", "document"):
                same = theirs[family][direction][side] == mine[family][direction][side]
                equal &= same
                print(f"  {family:9} {direction} {side:8} {'equal' if same else 'DIFFERENT'}: "
                      f"{theirs[family][direction][side]!r}"
                      + ("" if same else f"\n{'':30}mars-zoo: {mine[family][direction][side]!r}"))
    return equal
