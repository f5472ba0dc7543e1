"""What a recipe is: the published embedding recipe of one MLLM embedder, as data.

Nothing here imports torch or transformers: recipe modules build their `ModelSpec`s
at registration time, and listing models must stay instant. The heavy code that
follows a recipe lives in `loading.py` and `encoder.py`.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from mars_zoo import ModelSpec
from mars_zoo.models.tiny import materialize

POOLINGS = ("last", "last_non_pad", "mean", "vision_span")
PADDING_SIDES = ("left", "right")
IMAGE = "image"  # the placeholder a prompt puts where the picture goes


_FIELDS = re.compile(r"\{(text|system)\}")


@dataclass(frozen=True)
class RawPrompt:
    """A prompt given to the tokenizer as written: `template` with `{text}` replaced, and
    `{system}` by `system` in a template that writes a system turn out itself (which a task
    instruction replaces: `Recipe.instructed`). Both are replaced in one pass, so a caption
    that holds "{system}" stays as it is.

    Image prompts write the model's own image token (e.g. Qwen2-VL's
    `<|image_pad|>`) where the picture goes; the processor expands it.
    """

    template: str = "{text}"
    system: str | None = None

    def __post_init__(self) -> None:
        if (self.system is None) == ("{system}" in self.template):
            raise ValueError("a RawPrompt has a system exactly when its template holds {system}")

    def render(self, processor: Any, text: str = "") -> str:
        values = {"text": text, "system": self.system}
        return _FIELDS.sub(lambda match: values[match.group(1)], self.template)


@dataclass(frozen=True)
class ChatPrompt:
    """A prompt made by the processor's chat template: an optional system message,
    then one user turn holding the picture (for image prompts) and/or `user`
    (with `{text}` replaced), then the generation prompt if asked."""

    system: str | None = None
    user: str = "{text}"
    image: bool = False
    generation_prompt: bool = True

    def render(self, processor: Any, text: str = "") -> str:
        content: list[dict[str, str]] = [{"type": "image"}] if self.image else []
        user_text = self.user.replace("{text}", text)
        if user_text:
            content.append({"type": "text", "text": user_text})
        messages = [{"role": "user", "content": content}]
        if self.system is not None:
            messages.insert(0, {"role": "system", "content": [{"type": "text", "text": self.system}]})
        return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=self.generation_prompt)


Prompt = RawPrompt | ChatPrompt
# (model, inputs) -> last hidden state [B, L, D]: how a family runs its model.
HiddenStates = Callable[[Any, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class TaskInstructions:
    """How the model's MTEB wrapper (mteb 2.26.24) reads the task instruction MTEB hands it
    (`mars_zoo.Encoder.with_instruction`): as the system turn of its text and image prompts alike,
    `default` where the instruction is empty (MTEB hands documents ""). `punctuate`: the
    instruction is stripped and ends in "." unless it ends in punctuation (Qwen3-VL-Embedding's
    wrapper). `changes`: the recipe fields that wrapper sets otherwise than the published code
    (how it prepares images), applied with the instruction."""

    default: str
    punctuate: bool = False
    changes: Mapping[str, Any] = field(default_factory=dict)

    def system(self, instruction: str) -> str:
        """The system turn that `instruction` gives."""
        system = instruction or self.default
        if not self.punctuate:
            return system
        system = system.strip()
        if system and not unicodedata.category(system[-1]).startswith("P"):
            system += "."
        return system


@dataclass(frozen=True)
class ImageResize:
    """A resize with PIL before the processor, as some published wrappers do
    (`fetch_image` of qwen-vl-utils): both sides rounded to `factor`, the pixel
    count kept within [min_pixels, max_pixels], the aspect ratio kept. With
    `processor_resizes=False` the processor is told not to resize the result again
    (`do_resize=False`), as Qwen3-VL-Embedding's wrapper does; GME's lets it."""

    factor: int
    min_pixels: int
    max_pixels: int
    processor_resizes: bool = True


@dataclass(frozen=True)
class Recipe:
    """How one model turns an image or a text into one vector.

    model_class: the native transformers class that loads the checkpoint.
    text_prompt / image_prompt: what the model reads (`RawPrompt` or `ChatPrompt`).
    pooling: "last" (the last position: a real token with left padding), "last_non_pad"
        (the last attended token: right padding), or "mean" (over the attention mask).
    image_pooling: the pooling of image inputs where it differs from `pooling`, e.g.
        "vision_span" (the mean from the vision-start to the vision-end token).
    padding_side: the tokenizer's padding side for batches, or None to keep the side the
        checkpoint's tokenizer config says, as a published wrapper that never sets one
        does. With None, "last" reads a padding token in the shorter rows of a batch
        when the checkpoint pads on the right, so an embedding depends on what shares
        its batch: the encoder then batches as the published code does (see
        `encoder.MllmEncoder`).
    image_size: the processor's pixel limits, {"shortest_edge": min_pixels,
        "longest_edge": max_pixels} for the Qwen-VL processors, given as the published
        wrappers give them (`min_pixels` and `max_pixels` of from_pretrained), which win
        over the limits the checkpoint's preprocessor_config.json holds.
    image_backend: the image processor's backend where the published runs used another
        than transformers 5's default: "pil" for the slow, PIL-based processors that
        transformers 4 loaded unless asked for a fast one.
    image_resize: an optional PIL resize before the processor.
    small_image: (side, size): an image with a side shorter than `side` px is first resized
        to `size` x `size` with PIL's default resampling, as VLM2Vec's `Qwen2_VL_process_fn`
        does (side 28, size 56); None: no such rule.
    max_length: truncation length of the tokenizer (None: no truncation).
    convert_rgb: PIL's convert("RGB") first (alpha dropped), as a wrapper that converts the image
        itself; False: the image goes to the processor as decoded, which converts it (transparency
        onto white), as a wrapper that hands the processor the image does. Only task 1's images
        under MTEB's protocol are not RGB already.
    task_instructions: how the model's MTEB wrapper reads a task instruction (`instructed`), or
        None where the plugin takes none.
    hidden_states: the forward pass; returns the last hidden state.
    adapter: the checkpoint is a peft adapter (LoRA/DoRA), loaded as VLM2Vec's published
        loader loads one: onto the base model its adapter_config.json names, once.
    adapter_renames: (regex, replacement) pairs that rename an adapter's module names into
        `model_class`'s where the adapter was saved from an older layout of the class (the
        first pair that matches applies; see `loading.with_adapter`).
    processor_kwargs: any further keyword arguments of the processor's from_pretrained.
    """

    model_class: str
    text_prompt: Prompt
    image_prompt: Prompt
    pooling: str
    padding_side: str | None
    hidden_states: HiddenStates
    image_pooling: str | None = None
    image_size: Mapping[str, int] = field(default_factory=dict)
    image_backend: str | None = None
    image_resize: ImageResize | None = None
    small_image: tuple[int, int] | None = None
    max_length: int | None = None
    adapter: bool = False
    adapter_renames: tuple[tuple[str, str], ...] = ()
    processor_kwargs: Mapping[str, Any] = field(default_factory=dict)
    convert_rgb: bool = True
    task_instructions: TaskInstructions | None = None

    def instructed(self, instruction: str) -> "Recipe":
        """This recipe as the model's MTEB wrapper runs it when handed `instruction`: the system
        turn of both prompts replaced, the wrapper's own changes applied."""
        if self.task_instructions is None:
            raise ValueError("this recipe takes no task instruction")
        system = self.task_instructions.system(instruction)
        return dataclasses.replace(
            self, text_prompt=dataclasses.replace(self.text_prompt, system=system),
            image_prompt=dataclasses.replace(self.image_prompt, system=system), **self.task_instructions.changes,
        )

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS or self.pooling == "vision_span":
            raise ValueError(f"pooling {self.pooling!r} is not one of {POOLINGS[:-1]}")
        if self.image_pooling is not None and self.image_pooling not in POOLINGS:
            raise ValueError(f"image_pooling {self.image_pooling!r} is not one of {POOLINGS}")
        if self.padding_side is not None and self.padding_side not in PADDING_SIDES:
            raise ValueError(f"padding_side {self.padding_side!r} is not one of {PADDING_SIDES} or None")
        if self.pooling == "last" and self.padding_side == "right":
            raise ValueError("pooling 'last' reads the last position, which is a real token only with left padding")


@dataclass(frozen=True)
class TinyModel:
    """A seeded tiny model: `build(folder, **params)` writes a save_pretrained folder
    (imports its heavy libraries inside). `name` and `params` key the built folder, so
    recipes that share an architecture share one build. A tiny model built on another
    (an adapter on its `base`) is handed the base's folder as `build(..., base=folder)`."""

    name: str
    build: Callable[..., None]
    params: Mapping[str, Any]
    base: TinyModel | None = None

    def folder(self, cache_dir: Path) -> Path:
        """Its folder in the mars-zoo cache `cache_dir`, built (its base first) if needed."""
        built_on = {} if self.base is None else {"base": self.base.folder(cache_dir)}
        return materialize(self.name, dict(self.params), lambda into: self.build(into, **self.params, **built_on),
                           cache_dir)


@dataclass(frozen=True)
class MllmLoader:
    """The `ModelSpec.loader` of every MLLM embedder: picklable, and imports
    nothing heavy until called."""

    recipe: Recipe
    tiny: TinyModel | None = None

    def __call__(self, spec: ModelSpec, device: str, precision: str):
        from mars_zoo_mllm.loading import load_encoder

        return load_encoder(spec, self.recipe, device, precision, self.tiny)


PEFT_REQUIRES = ("peft",)
PEFT_HINT = "pip install 'mars-zoo[peft]' (or: pip install peft)"


def mllm_spec(name: str, recipe: Recipe, *, tiny: TinyModel | None = None, **metadata: Any) -> ModelSpec:
    """A `ModelSpec` whose loader follows `recipe`; adapters require peft. As the published
    GPU runs do, the weights are loaded in the run's precision on CUDA; on the CPU they stay
    fp32 (fp16 matmuls are slow or missing there)."""
    family = name.partition("/")[0]
    extra: dict[str, Any] = {}
    if recipe.adapter:
        extra = {"requires": PEFT_REQUIRES, "install_hint": PEFT_HINT}
    return ModelSpec(
        name=name, family=family, loader=MllmLoader(recipe, tiny), weights_at_precision_on_cuda=True,
        takes_task_instructions=recipe.task_instructions is not None, **extra, **metadata
    )


def random_spec(
    name: str, recipe: Recipe, tiny: TinyModel, *, model: str, architecture: str, embedding_dim: int, parameters: int
) -> ModelSpec:
    """The `ModelSpec` of a seeded tiny `architecture` behind `model`'s recipe: marked as
    random weights, its checkpoint named after the tiny build and its parameters."""
    return mllm_spec(
        name,
        recipe,
        tiny=tiny,
        checkpoint=f"mars-zoo-{tiny.name.rpartition('/')[2]}@" + ",".join(f"{k}={v}" for k, v in tiny.params.items()),
        embedding_dim=embedding_dim,
        parameters=parameters,
        license="apache-2.0",
        batch_size=8,
        random_weights=True,
        description=(
            f"RANDOM-WEIGHT BASELINE: a tiny {architecture} with seeded random weights behind {model}'s "
            f"recipe. Needs no download; for tests and demos, not a real model."
        ),
    )
