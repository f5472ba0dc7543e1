"""GME (gme-Qwen2-VL-2B-Instruct): Qwen2-VL, last non-pad token, right padding.

The published code runs GME's own wrapper (the repository's remote code, which needs
transformers < 4.52): a chat prompt it writes out itself, ending in `<|endoftext|>`,
whose state is the embedding, and the language model run on the input embeddings
with plain sequential positions (see `qwen2vl.sequential_hidden_states`). Images
pass its `fetch_image` resize (4..16384 patches of 28 px) before the processor
(256..1280 patches, given as `min_pixels`/`max_pixels`), which transformers 4.51.3
loads as the slow, PIL-based `Qwen2VLImageProcessor` (`image_backend="pil"`).
"""

from mars_zoo_mllm import qwen2vl
from mars_zoo_mllm.recipe import ImageResize, Recipe, TaskInstructions, mllm_spec

PATCH = 28 * 28
TEXT_INSTRUCTION = "Find an image that matches the given text."  # the published config's gme_text_instruction
DEFAULT_SYSTEM = "You are a helpful assistant."  # GME's default_instruction

# mteb 2.26.24's GmeQwen2VL (gme_v_models.py): queries get the task's instruction as the system turn,
# documents None, which Encoder.embed makes DEFAULT_SYSTEM; the same chat string for texts and images.
# Its processor is loaded with min_image_tokens=4 (min_pixels 4 x 28 x 28), not GME's 256; its
# fetch_image is the published one (4 to 16,384 patches, PIL convert("RGB") first).
MTEB_INSTRUCTIONS = TaskInstructions(
    default=DEFAULT_SYSTEM, changes={"image_size": {"shortest_edge": 4 * PATCH, "longest_edge": 1280 * PATCH}},
)

RECIPE = Recipe(
    model_class="Qwen2VLForConditionalGeneration",
    text_prompt=qwen2vl.written_chat(TEXT_INSTRUCTION, "{text}"),
    image_prompt=qwen2vl.written_chat(DEFAULT_SYSTEM, qwen2vl.VISION),
    pooling="last_non_pad",
    padding_side="right",
    hidden_states=qwen2vl.sequential_hidden_states,
    image_size={"shortest_edge": 256 * PATCH, "longest_edge": 1280 * PATCH},
    image_backend="pil",
    image_resize=ImageResize(factor=28, min_pixels=4 * PATCH, max_pixels=16384 * PATCH),
    max_length=1800,
    task_instructions=MTEB_INSTRUCTIONS,
)

RECIPE_NOTES = (
    "Follows the published evaluation, which runs GME's own code (the repository's remote code, under "
    "transformers 4.51.3 as its instructions say): every text, the captions that task 1 searches as a "
    "gallery included, is embedded with the query instruction \"Find an image that matches the given "
    "text.\" as its system turn (GME's code gives a text embedded as a document the default \"You "
    "are a helpful assistant.\", which images get); the chat strings are written out as GME's code "
    "writes them, ending in <|endoftext|>, whose state is the embedding (right padding). The language "
    "model runs on plain sequential positions, as GME's forward does, not Qwen2-VL's 3-D image "
    "positions. Images are resized with PIL to multiples of 28, then preprocessed by the slow, "
    "PIL-based image processor that transformers 4.51.3 loads, held to 256 to 1,280 merged patches. "
    "Texts are cut at 1,800 tokens. Under --paired-protocol mteb it runs as MTEB's GME wrapper does: "
    "queries get the task's instruction as their system turn, documents \"You are a helpful assistant.\", "
    "and the processor keeps images down to 4 patches (MTEB's min_image_tokens) instead of 256."
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
        recipe_notes=RECIPE_NOTES,
    ),
    qwen2vl.tiny_spec("gme/tiny-random", RECIPE, "GME"),
)
