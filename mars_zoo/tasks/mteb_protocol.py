"""Task 1 under MTEB's protocol (`mars-zoo run --paired-protocol mteb`), as mteb 2.26.24 runs its
tasks MarsVLPairsT2IRetrieval and MarsVLPairsI2TRetrieval (leaderboard/PROTOCOL.md, task 1).

What differs from the published protocol, read from mteb 2.26.24's own source (the file names
are those of its wheel):

- Images (`tasks/retrieval/eng/mars_vl_pairs.py`, `_create_dataloaders.py`): the frozen copy's
  stored bytes, decoded by the `datasets` Image feature (EXIF orientation applied, the stored mode
  kept); the evaluator converts nothing, so the model wrapper's preprocessing does the rest (the
  OpenCLIP wrapper hands the image to open_clip's transform, which converts to RGB after its
  resize and centre crop). No 512 px crop, no JPEG round trip: `images.MTEB_PREPARATION`.
- Ranking (`_evaluators/retrieval_metrics.py`): every candidate by score, highest first, and
  candidates of equal score by id, the greatest first (pytrec_eval keeps trec_eval's order for
  recall; MTEB's own MRR sorts by (score, id) in reverse). Query and candidate ids are both the
  pair's `key`, so a tie counts against the model only where a tied wrong candidate's key sorts
  after the right one's: `metrics.paired_ranks_by_id`.
- Numbers: recall_at_k is rounded to 5 decimals; mrr_at_2247 (the tasks' main score) is not;
  there is no median rank (mars-zoo adds MedR from the same ranks): `metrics.mteb_rank_summary`.
- Instructions (`abstasks/abstask.py`, `models/abs_encoder.py`): each task names one for its queries
  (`TASK_INSTRUCTIONS`) and none for its documents, so a wrapper's `get_instruction` gives queries the
  task's and documents "" (the tasks' prompt is {"query": ...}); each wrapper decides what to do with
  them. In t2i the queries are the captions and the documents the images, in i2t the other way
  round, so under a wrapper that uses them an image and a caption are embedded twice, once per
  direction. The wrappers of the families in `INSTRUCTED_FAMILIES` use them; the others checked
  there use none. A plugin receives them through `Encoder.with_instruction` (declared by
  `ModelSpec.takes_task_instructions`): task 1 then embeds four lists (each direction's queries
  and documents, each with what MTEB hands its wrapper, which keys the cache) and the result
  records them under `tasks.paired.instructions` (`instructions_record`). A model of such a family
  whose plugin takes no instruction is refused, rather than measured without it.
"""

from __future__ import annotations

from typing import Sequence

from mars_zoo.data.specs import PAIRS_FROZEN
from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import ModelSpec
from mars_zoo.core.protocol import PAIRED_DEFAULT_CAPTION

MTEB_VERSION = "2.26.24"
PROTOCOL = "mteb"
RECALL_DECIMALS = 5
MRR_CUTOFF = PAIRS_FROZEN.rows  # mrr_at_2247: the tasks' largest k, their main score

TASK_INSTRUCTIONS = {
    "t2i": "Retrieve the Mars image that matches this scientific description.",
    "i2t": "Retrieve the scientific caption that describes this Mars image.",
}

# What MTEB hands a wrapper, per direction and side: the task's instruction for queries, "" for documents.
HANDED = {direction: {"query": instruction, "document": ""} for direction, instruction in TASK_INSTRUCTIONS.items()}

# mars-zoo family -> what mteb 2.26.24's wrapper of its checkpoint makes of the task's instruction (file names
# are those under mteb/models/ of the wheel). Images and texts alike: the instruction goes with the side.
INSTRUCTED_FAMILIES = {
    # model_implementations/qwen3_vl_embedding_models.py (Qwen3VLEmbeddingWrapper.get_task_instruction) on
    # instruct_wrapper.py (InstructSentenceTransformerModel): sentence-transformers' `prompt`, which becomes
    # the chat's system message; "" becomes "Represent the user's input.", stripped, "." added unless it ends
    # in punctuation; documents get it too (apply_instruction_to_passages).
    "qwen3-vl": "Qwen3VLEmbeddingWrapper makes the task's instruction the system message of queries and "
                "\"Represent the user's input.\" that of documents",
    # model_implementations/gme_v_models.py (GmeQwen2VL.encode, Encoder.embed): the instruction as the system
    # turn of the chat it writes out; documents get None, then "You are a helpful assistant.".
    "gme": "GmeQwen2VL makes the task's instruction the system turn of queries and \"You are a helpful "
           "assistant.\" that of documents",
    # model_implementations/ops_mm_models.py (OpsMMEmbeddingWrapper.encode, embed_batch): the same, from
    # get_task_instruction, "" becoming "You are a helpful assistant.".
    "ops-mm": "OpsMMEmbeddingWrapper makes the task's instruction the system turn of queries and \"You are a "
              "helpful assistant.\" that of documents",
}
# Checked and using none for these tasks: openclip (openclip_models.py, no prompt at all); jina
# (jina_models.py, JinaV4Wrapper: its model_prompts name no Any2AnyRetrieval prompt, so every text gets
# jina's own "query" prompt and task "retrieval", as the recipe does); e5-v (e5_v.py:
# fixed templates); bge-vl and st (bge_vl_models.py, sentence_transformers_models.py:
# SentenceTransformerEncoderWrapper, the checkpoint's own sentence-transformers prompts only); b3 and
# aimv2 have no wrapper in mteb 2.26.24; dinov3 embeds no text.

# Checked and using none either, but embedding otherwise than the family's recipe (which follows the
# published wrapper), so a run of theirs under MTEB's preparation would not be MTEB's number: refused
# rather than written as one. mars-zoo family -> what differs.
MTEB_WRAPPER_DIFFERS = {
    # vlm2vec_models.py, VLM2VEC2Wrapper: its own table _VLM2VEC2_TASK_PROMPTS has no Mars task, so an image
    # is f"{_VLM2VEC2_IMAGE_TOKEN} {''}".strip(), the bare "<|image_pad|>", and a text the raw text.
    "vlm2vec": "VLM2VEC2Wrapper reads an image through the bare image token \"<|image_pad|>\", where the "
               "recipe (VLM2Vec-V2's own demo prompt, as the published code runs it) asks \"Represent the given "
               "image with the following question: What is in the image\"",
}


def uses_instructions(spec: ModelSpec) -> bool:
    """Whether MTEB's wrapper of `spec`'s checkpoint embeds with the task's instructions."""
    return spec.family in INSTRUCTED_FAMILIES


def instructions_record() -> dict[str, dict[str, str]]:
    """`tasks.paired.instructions` of a result measured with MTEB's instructions: what its wrapper was
    handed, per direction and side."""
    return {direction: dict(sides) for direction, sides in HANDED.items()}


def check_mteb_run(spec: ModelSpec, tasks: Sequence[str] | None, pairs_source: str, caption: str) -> None:
    """Refuse a `--paired-protocol mteb` run that MTEB's tasks could not have measured: other tasks,
    the URL rows, the original captions, or a model whose MTEB wrapper adds instructions and whose
    plugin takes none, or a model whose MTEB wrapper embeds task 1's texts otherwise than its recipe."""
    if tasks is None or tuple(tasks) != ("paired",):
        asked = f"--tasks {','.join(tasks)}" if tasks else "no --tasks (every task)"
        raise MarsZooError(
            f"--paired-protocol mteb measures task 1 only, as MTEB's MarsVLPairsT2IRetrieval and "
            f"MarsVLPairsI2TRetrieval do, but the run asks for {asked}. Fix: pass --tasks paired, and run "
            f"tasks 2 and 3 without --paired-protocol."
        )
    if pairs_source != "frozen":
        raise MarsZooError(
            f"--paired-protocol mteb reads the frozen copy {PAIRS_FROZEN.repo_id}, the data of MTEB's tasks, but "
            f"--pairs-source is {pairs_source!r}. Fix: drop --pairs-source (or pass --pairs-source frozen)."
        )
    if caption != PAIRED_DEFAULT_CAPTION:
        raise MarsZooError(
            f"--paired-protocol mteb scores the {PAIRED_DEFAULT_CAPTION} column, as MTEB's tasks do, but --caption "
            f"is {caption!r}. Fix: drop --caption."
        )
    if uses_instructions(spec) and not spec.takes_task_instructions:
        raise MarsZooError(
            f"Model {spec.name!r} cannot be measured under --paired-protocol mteb: in mteb {MTEB_VERSION} "
            f"{INSTRUCTED_FAMILIES[spec.family]} ({TASK_INSTRUCTIONS['t2i']!r} for MarsVLPairsT2IRetrieval), and "
            f"plugin {spec.plugin or spec.family!r} declares no task instructions (ModelSpec.takes_task_instructions), "
            f"so the number would not be MTEB's. Fix: run it without --paired-protocol (the published protocol), "
            f"or give its encoder Encoder.with_instruction and declare takes_task_instructions=True."
        )
    if spec.family in MTEB_WRAPPER_DIFFERS:
        raise MarsZooError(
            f"Model {spec.name!r} cannot be measured under --paired-protocol mteb: in mteb {MTEB_VERSION} "
            f"{MTEB_WRAPPER_DIFFERS[spec.family]}, so the number would not be MTEB's. Fix: run it without "
            f"--paired-protocol (the published protocol), or compare with MTEB's reported row."
        )
