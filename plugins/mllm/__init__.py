"""MLLM embedders: multimodal LLMs whose hidden state at one position (or their
mean) is the embedding. One shared encoder, one small recipe module per model.

Written exactly as a third-party plugin would be: registering imports nothing heavy.

How a recipe plugs in
---------------------
A recipe module (e.g. `gme.py`) defines `MODELS`, a tuple of `ModelSpec`s made with
`recipe.mllm_spec(name, Recipe(...), checkpoint=..., revision=..., ...)`, and is
listed in `RECIPE_MODULES` below. A `Recipe` is data:

- `model_class`: the native transformers class (never remote code);
- `text_prompt` / `image_prompt`: a `RawPrompt("... {text} ...")` given to the
  tokenizer as written (with `{system}` and `system=` where it writes a system turn
  out), or a `ChatPrompt(system=..., user=..., image=True, generation_prompt=...)`
  rendered by the processor's chat template;
- `pooling` ("last", "last_non_pad", "mean") and `padding_side` (None: the side the
  checkpoint's tokenizer config says, batched as the published code batches);
- `image_size` (the processor's pixel limits), `image_resize` (a PIL resize before
  the processor), `small_image` (a fixed resize of images under a side length),
  `image_backend`, `max_length`, `processor_kwargs`, `convert_rgb` (False: the processor
  converts the decoded image itself);
- `task_instructions=TaskInstructions(default=..., punctuate=..., changes={...})` where the
  model's MTEB wrapper reads the task instruction (the system turn of both prompts, `default`
  for documents; `changes`: the recipe fields that wrapper sets otherwise): the encoder's
  `with_instruction` then follows `Recipe.instructed`, and the spec declares
  `takes_task_instructions`;
- `hidden_states(model, inputs) -> [B, L, D]`: the family's forward pass (see
  `qwen2vl.py`; another family adds its own module beside it);
- `adapter=True` when the checkpoint is a peft adapter, loaded as VLM2Vec's published
  loader loads one: the base its adapter_config.json names (which the spec declares in
  `base_repo`/`base_revision`), the adapter applied once, every tensor of it loaded
  (`adapter_renames` maps module names of an older layout of the class); then peft is
  required.

`loading.load_encoder` loads every source the same way: the pinned checkpoint, a
`run --weights` folder (`spec.weights`), or a seeded tiny model
(`mllm_spec(..., tiny=TinyModel(build, params), random_weights=True)`) built once
into the mars-zoo cache by `mars_zoo.models.tiny.materialize`. `encoder.MllmEncoder` renders
the prompts, groups each harness batch by prompt length or pixel count, runs
`hidden_states` and pools.
"""

from __future__ import annotations

import importlib

import mars_zoo

RECIPE_MODULES = ("gme", "b3", "vlm2vec", "opsmm", "e5v", "qwen3_vl", "jina")


@mars_zoo.hookimpl
def register_models(register):
    for name in RECIPE_MODULES:
        for spec in importlib.import_module(f"mars_zoo_mllm.{name}").MODELS:
            register(spec)
