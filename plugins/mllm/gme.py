"""GME (gme-Qwen2-VL-2B-Instruct): Qwen2-VL, last non-pad token, right padding.

The published code runs GME's own wrapper: a chat prompt ending in `<|endoftext|>`,
whose state is the embedding, and the language model run on the input embeddings
with plain sequential positions (see `qwen2vl.sequential_hidden_states`). Images
pass qwen-vl-utils' `fetch_image` resize (4..16384 patches of 28 px) before the
processor (256..1280 patches).
"""

from mars_zoo_mllm import qwen2vl
from mars_zoo_mllm.recipe import ChatPrompt, ImageResize, Recipe, mllm_spec

PATCH = 28 * 28
END = "<|endoftext|>"

RECIPE = Recipe(
    model_class="Qwen2VLForConditionalGeneration",
    text_prompt=ChatPrompt(system="Find an image that matches the given text.", suffix=END),
    image_prompt=ChatPrompt(system="You are a helpful assistant.", user="", image=True, suffix=END),
    pooling="last_non_pad",
    padding_side="right",
    hidden_states=qwen2vl.sequential_hidden_states,
    image_size={"shortest_edge": 256 * PATCH, "longest_edge": 1280 * PATCH},
    image_resize=ImageResize(factor=28, min_pixels=4 * PATCH, max_pixels=16384 * PATCH),
    max_length=1800,
)

MODELS = (
    mllm_spec(
        "gme/gme-qwen2-vl-2b-instruct",
        RECIPE,
        checkpoint="Alibaba-NLP/gme-Qwen2-VL-2B-Instruct",
        revision="ce765ae71b8cdb208203cd8fb64a170b1b84293a",
        license="apache-2.0",
        paper_url="https://arxiv.org/abs/2412.16855",
        code_url="https://huggingface.co/Alibaba-NLP/gme-Qwen2-VL-2B-Instruct",
        precision="fp16",
        **qwen2vl.QWEN2VL_2B_METADATA,
        description="GME-Qwen2-VL-2B-Instruct, a universal multimodal embedder on Qwen2-VL-2B.",
    ),
    qwen2vl.tiny_spec("gme/tiny-random", RECIPE, "GME"),
)
