"""VLM2Vec-V2.0: Qwen2-VL with a DoRA adapter merged by peft; last token.

The published code loads it with VLM2Vec's own `MMEBModel.load`: `from_pretrained` of
the adapter repository with peft installed, so transformers loads the base model that
the adapter_config.json names (Qwen/Qwen2-VL-2B-Instruct, at its main branch: no
revision is named) with the adapter repository's config and attaches the adapter;
`PeftModel.from_pretrained` and `load_adapter` then load the same adapter again under
the same name, so it is applied once (measured on tiny repositories: equal to one
application to 1e-6, far from two). `load_model` does the same, merging the adapter. Prompts are VLM2Vec-V2's demo prompt for images (the bare image token, no
vision start/end markers, no chat template) and the raw text.
"""

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
    hidden_states=qwen2vl.hidden_states,
    image_size={"shortest_edge": 4 * PATCH, "longest_edge": 1280 * PATCH},
    adapter=True,
)

# What B3++ shares: the published code runs both through VLM2Vec's loader and prompts.
LOADING_NOTES = (
    "Weights are loaded as VLM2Vec's MMEBModel.load loads them: the base model named in the "
    "adapter's adapter_config.json, built with the adapter repository's config, then the adapter "
    "applied once (merged here; the published code keeps it unmerged, the same function up to "
    "rounding). The adapter names no revision of its base: the base's commit is resolved at first "
    "use and recorded in the mars-zoo cache, like other unpinned weights. Prompts are VLM2Vec-V2's "
    "demo prompts: images as the bare image token followed by 'Represent the given image with the "
    "following question: What is in the image' (no vision markers, no chat template), captions and "
    "queries as raw text with no instruction."
)
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
        recipe_notes=NOTES,
        description="VLM2Vec-V2.0: Qwen2-VL-2B with a merged DoRA adapter, trained on MMEB-V2.",
    ),
    qwen2vl.tiny_spec("vlm2vec/tiny-random", RECIPE, "VLM2Vec-V2.0", adapter="dora"),
)
