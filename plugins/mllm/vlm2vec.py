"""VLM2Vec-V2.0: Qwen2-VL with a DoRA adapter merged by peft; last token.

The published code runs it through VLM2Vec's own code (its `src/`, cloned into the
uncommitted `third_party/vlm2vec`), and this recipe does what that code does, as the parity
harness (benchmarks/parity_vlm2vec.py) measured on tiny repositories in the Hub's layout:

- weights: `MMEBModel.load`, i.e. `from_pretrained` of the adapter repository with peft
  installed (transformers loads the base model its adapter_config.json names, with the adapter
  repository's config.json, and attaches the adapter), then `PeftModel.from_pretrained` and
  `load_adapter` of the same adapter under the same name. The adapter ends up applied once
  (one LoRA layer per targeted linear, one adapter each, none nested), onto the base's weights
  (never onto weights beside the adapter). The published code keeps it unmerged; merged here.
- adapter tensor names: VLM2Vec's copy of the Qwen2-VL classes names the modules as
  transformers 4.45 did (`model.layers.N`, `visual`), so its adapters do; transformers 5's
  class nests them (`model.language_model`, `model.visual`), and peft 0.22 does not rename
  them: the adapter would silently stay at its initial values. They are renamed
  (`qwen2vl.LEGACY_MODULE_NAMES`) and every tensor must find its module.
- positions: VLM2Vec's forward gives every token plain sequential positions on the three
  rotary axes, images included: its rope index counts an image only after a
  `<|vision_start|>` token, which the bare image prompt does not have. Transformers 5 would
  give image tokens their 2-D positions, so the recipe uses `qwen2vl.sequential_hidden_states`.
- pixels: VLM2Vec's image processor (a copy of transformers' PIL-based Qwen2-VL one), so the
  PIL backend here; an image with a side under 28 px is first resized to 56x56, as its
  `Qwen2_VL_process_fn` does.
- prompts: VLM2Vec-V2's demo prompt for images (the bare image token, no vision start/end
  markers, no chat template) and the raw text.
"""

from mars_zoo import RESOLVE_AT_FIRST_USE
from mars_zoo_mllm import qwen2vl
from mars_zoo_mllm.recipe import RawPrompt, Recipe, mllm_spec

PATCH = 28 * 28
IMAGE_PROMPT = "<|image_pad|> Represent the given image with the following question: What is in the image"

RECIPE = Recipe(
    model_class="Qwen2VLForConditionalGeneration",
    text_prompt=RawPrompt(),
    image_prompt=RawPrompt(IMAGE_PROMPT),
    pooling="last_non_pad",
    padding_side="right",
    hidden_states=qwen2vl.sequential_hidden_states,
    image_size={"shortest_edge": 4 * PATCH, "longest_edge": 1280 * PATCH},
    small_image=(28, 56),
    adapter=True,
    adapter_renames=qwen2vl.LEGACY_MODULE_NAMES,
    image_backend="pil",
)

# What B3++ shares: the published code runs both through VLM2Vec's loader and prompts.
LOADING_NOTES = (
    "Weights are loaded as VLM2Vec's MMEBModel.load loads them: the base model named in the "
    "adapter's adapter_config.json, built with the adapter repository's config, then the adapter "
    "applied once (merged here; the published code keeps it unmerged, the same function up to "
    "rounding). The adapter names no revision of its base: the base's commit is resolved at first "
    "use and recorded in the mars-zoo cache, like other unpinned weights. As VLM2Vec's own code runs "
    "it: every token, image tokens included, at plain sequential positions (not Qwen2-VL's 2-D image "
    "positions), pixels from the PIL-based image processor, images narrower or lower than 28 px "
    "resized to 56x56 first. Prompts are VLM2Vec-V2's "
    "demo prompts: images as the bare image token followed by 'Represent the given image with the "
    "following question: What is in the image' (no vision markers, no chat template), captions and "
    "queries as raw text with no instruction."
)
BASE = {"base_repo": "Qwen/Qwen2-VL-2B-Instruct", "base_revision": RESOLVE_AT_FIRST_USE}
NOTES = (
    "Follows the published evaluation code, not the model card. " + LOADING_NOTES
    + " The base named is Qwen/Qwen2-VL-2B-Instruct (MTEB uses the same base)."
)

MODELS = (
    mllm_spec(
        "vlm2vec/vlm2vec-v2.0",
        RECIPE,
        checkpoint="VLM2Vec/VLM2Vec-V2.0",
        revision="e39ff079b8275ef876d3656da8c0bddbff3c4dde",
        license="apache-2.0",
        paper_url="https://arxiv.org/abs/2507.04590",
        code_url="https://github.com/TIGER-AI-Lab/VLM2Vec",
        precision="bf16",
        **qwen2vl.QWEN2VL_2B_METADATA,
        **BASE,
        recipe_notes=NOTES,
        description="VLM2Vec-V2.0: Qwen2-VL-2B with a merged DoRA adapter, trained on MMEB-V2.",
    ),
    qwen2vl.tiny_spec("vlm2vec/tiny-random", RECIPE, "VLM2Vec-V2.0", adapter="dora", legacy_names=True),
)
