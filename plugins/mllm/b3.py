"""B3++ (B3_Qwen2_2B): Qwen2-VL with a LoRA adapter merged by peft; last token.

The published code runs B3++ through VLM2Vec's loader and demo prompts (not B3's
own), so it shares VLM2Vec-V2.0's recipe: the base model its adapter_config.json names
(which one is not known here), the adapter applied once, the bare image token prompt
and raw text. Upstream publishes no revision of the adapter or of its base: both are
resolved at first use and recorded.
"""

from mars_zoo import RESOLVE_AT_FIRST_USE
from mars_zoo_mllm import qwen2vl, vlm2vec
from mars_zoo_mllm.recipe import mllm_spec

MODELS = (
    mllm_spec(
        "b3/b3-qwen2-2b",
        vlm2vec.RECIPE,
        checkpoint="raghavlite/B3_Qwen2_2B",
        revision=RESOLVE_AT_FIRST_USE,
        license="unknown",
        paper_url="https://arxiv.org/abs/2505.11293",
        code_url="https://github.com/raghavlite/B3",
        precision="bf16",
        recipe_notes=(
            "Follows the published evaluation code, which runs B3++ through VLM2Vec's loader and "
            "prompts, not the model card or B3's own instructions. " + vlm2vec.LOADING_NOTES
        ),
        **qwen2vl.QWEN2VL_2B_METADATA,
        description="B3++: Qwen2-VL-2B with a merged LoRA adapter, trained with smart batch mining.",
    ),
    qwen2vl.tiny_spec("b3/tiny-random", vlm2vec.RECIPE, "B3++", adapter="lora"),
)
