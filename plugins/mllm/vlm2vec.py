"""VLM2Vec-V2.0: Qwen2-VL with a DoRA adapter merged by peft; last token.

The published code (VLM2Vec's own `MMEBModel.load`) loads the base weights from the
adapter repository itself, then merges the adapter into them once. Prompts are
VLM2Vec-V2's demo prompt for images (the bare image token, no vision start/end
markers, no chat template) and the raw text.
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

NOTES = (
    "Follows the published evaluation code, not the model card: base weights from the "
    "adapter repository itself (MTEB uses Qwen/Qwen2-VL-2B-Instruct as the base), "
    "VLM2Vec-V2's demo image prompt and raw caption text."
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
