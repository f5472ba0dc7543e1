"""B3++ (B3_Qwen2_2B): Qwen2-VL with a LoRA adapter merged by peft; last token.

The published code runs B3++ through VLM2Vec's loader, forward and demo prompts (not B3's
own), so it shares VLM2Vec-V2.0's recipe (see `vlm2vec.py`): the base model its
adapter_config.json names, the adapter applied once, sequential positions, the bare image
token prompt and raw text. Its script calls the repository "LoRA baked"; whatever else it
holds, the published sequence loads the base the adapter names and the adapter, so that is
done here too. The base is declared as Qwen/Qwen2-VL-2B-Instruct, the model B3_Qwen2_2B
is trained from (the adapter's own adapter_config.json could not be read here: an adapter
naming another base is refused with a message, never loaded under this base's key).
Upstream publishes no revision of the adapter or of its base: both are resolved at first
use and recorded.
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
        **vlm2vec.BASE,
        description="B3++: Qwen2-VL-2B with a merged LoRA adapter, trained with smart batch mining.",
    ),
    qwen2vl.tiny_spec("b3/tiny-random", vlm2vec.RECIPE, "B3++", adapter="lora", legacy_names=True),
)
