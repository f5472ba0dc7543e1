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
- Instructions: each task names one for its queries (`TASK_INSTRUCTIONS`); a model wrapper decides
  whether to use it. The wrappers of the families in `INSTRUCTED_FAMILIES` do; this harness cannot
  pass an instruction to a plugin, so those families are refused under MTEB's protocol rather than
  measured without it. The OpenCLIP wrapper uses none, so no other text changes.
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

# mars-zoo family -> how mteb 2.26.24's wrapper for its checkpoint uses the task's instruction.
INSTRUCTED_FAMILIES = {
    "qwen3-vl": "Qwen3VLEmbeddingWrapper gives queries the task's instruction and documents \"Represent the "
                "user's input.\", through sentence-transformers' prompt",
    "gme": "the GME wrapper gives queries the task's instruction as the system prompt, documents \"You are a "
           "helpful assistant.\"",
    "ops-mm": "the Ops-MM wrapper gives queries the task's instruction as the system prompt, documents "
              "\"You are a helpful assistant.\"",
}


def check_mteb_run(spec: ModelSpec, tasks: Sequence[str] | None, pairs_source: str, caption: str) -> None:
    """Refuse a `--paired-protocol mteb` run that MTEB's tasks could not have measured: other tasks,
    the URL rows, the original captions, or a model whose MTEB wrapper adds instructions."""
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
    if spec.family in INSTRUCTED_FAMILIES:
        raise MarsZooError(
            f"Model {spec.name!r} cannot be measured under --paired-protocol mteb: in mteb {MTEB_VERSION} "
            f"{INSTRUCTED_FAMILIES[spec.family]} ({TASK_INSTRUCTIONS['t2i']!r} for MarsVLPairsT2IRetrieval), and "
            f"plugin {spec.plugin or spec.family!r} takes no task instruction, so the number would not be MTEB's. "
            f"Fix: run it without --paired-protocol (the published protocol), or compare with MTEB's reported row."
        )
