"""Ops-MM-embedding-v1-2B: a plain Qwen2-VL fine-tune; last position, left padding.

Its own wrapper (`ops_mm_embedding_v1.py`, which the published code runs) writes out a
chat prompt with the system "You are a helpful assistant." for texts and images,
ending in `<|endoftext|>`; images get a PIL resize to 256..1280 patches of 28 px
before the processor, which holds the same limits (transformers 4.57.3 loads its
fast, torchvision-based image processor, as transformers 5 does by default).
"""

from mars_zoo_mllm import qwen2vl
from mars_zoo_mllm.recipe import ImageResize, Recipe, TaskInstructions, mllm_spec

PATCH = 28 * 28
SYSTEM = "You are a helpful assistant."

# mteb 2.26.24's OpsMMEmbeddingWrapper (ops_mm_models.py): get_task_instruction as the system turn of the
# chat embed_batch writes out, "" (documents) becoming SYSTEM; the same string for texts and images. It
# hands the processor each image as decoded (no PIL resize, no conversion: the processor converts it, and
# resizes within the same 256 to 1,280 patches).
MTEB_INSTRUCTIONS = TaskInstructions(default=SYSTEM, changes={"image_resize": None, "convert_rgb": False})

RECIPE = Recipe(
    model_class="Qwen2VLForConditionalGeneration",
    text_prompt=qwen2vl.written_chat(SYSTEM, "{text}"),
    image_prompt=qwen2vl.written_chat(SYSTEM, qwen2vl.VISION),
    pooling="last",
    padding_side="left",
    hidden_states=qwen2vl.hidden_states,
    image_size={"shortest_edge": 256 * PATCH, "longest_edge": 1280 * PATCH},
    image_resize=ImageResize(factor=28, min_pixels=256 * PATCH, max_pixels=1280 * PATCH),
    task_instructions=MTEB_INSTRUCTIONS,
)

RECIPE_NOTES = (
    "Follows the published evaluation, which runs the repository's own OpsMMEmbeddingV1: every text "
    "and image is read in the chat string that code writes out, with the system turn \"You are a "
    "helpful assistant.\" (the wrapper takes a task instruction; the published code passes none, MTEB's "
    "wrapper passes its task's) and a final <|endoftext|>, whose state at the last position is the "
    "embedding (left padding). Images are resized with PIL to multiples of 28 between 256 and 1,280 "
    "merged patches, then preprocessed at the same limits. bf16 weights, as that code loads them on "
    "every device. Under --paired-protocol mteb it runs as MTEB's Ops-MM wrapper does: queries get the "
    "task's instruction as their system turn, documents \"You are a helpful assistant.\", and images go "
    "to the processor as decoded, without the PIL resize."
)

MODELS = (
    mllm_spec(
        "ops-mm/ops-mm-embedding-v1-2b",
        RECIPE,
        checkpoint="OpenSearch-AI/Ops-MM-embedding-v1-2B",
        revision="69c23ac5595bb7fb3a9959df96fe155b3650c01e",  # MTEB's pin
        license="apache-2.0",
        paper_url="https://huggingface.co/OpenSearch-AI/Ops-MM-embedding-v1-2B",
        code_url="https://huggingface.co/OpenSearch-AI/Ops-MM-embedding-v1-2B",
        precision="bf16",
        **qwen2vl.QWEN2VL_2B_METADATA,
        description="Ops-MM-embedding-v1-2B, a multimodal embedder fine-tuned from Qwen2-VL-2B.",
        recipe_notes=RECIPE_NOTES,
    ),
    qwen2vl.tiny_spec("ops-mm/tiny-random", RECIPE, "Ops-MM-embedding-v1"),
)
