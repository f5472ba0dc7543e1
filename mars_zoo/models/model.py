"""The model contract: what a plugin registers (`ModelSpec`) and what loading it
returns (`Encoder`).

A `ModelSpec` is pure metadata plus a loader callable. Building one must not import
torch or any model library, so that `mars-zoo list` stays instant and a plugin whose
optional dependency is missing still lists (marked unavailable).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from mars_zoo.core.errors import MarsZooError
from mars_zoo.core.folders import default_cache_dir

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch
    from PIL import Image

IMAGE = "image"
TEXT = "text"
MODALITIES = (IMAGE, TEXT)
PRECISIONS = ("fp32", "fp16", "bf16")
# The torch dtype each precision computes in (torch's own names, so `getattr(torch, name)`).
PRECISION_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def device_kind(device: str) -> str:
    """'cuda' for 'cuda' and 'cuda:N', else the device as given ('cpu'): what decides how
    a model computes, whichever GPU of a node it runs on."""
    return device.partition(":")[0]


class Encoder:
    """Maps images and texts into one embedding space.

    Subclasses implement `encode_image` and/or `encode_text`, each returning a float
    tensor of shape [N, D]. The harness L2-normalises, so encoders need not.

    `image_transform`, when set, must be a picklable callable PIL image -> tensor;
    the harness then runs it in DataLoader workers and hands `encode_image` a
    stacked batch tensor instead of a list of PIL images.

    `paired_image_transform`, when set, replaces `image_transform` for task 1's images
    (prepared as the published download step prepares them), for a recipe whose published
    wrapper preprocesses those apart from the landform, tile and query image files (BGE-VL
    re-encodes them as JPEG at quality 95 first).

    Precision: the harness calls `encode_*` under `torch.autocast` to the run's precision
    (none for fp32); the weights are in the dtype `ModelSpec.run_dtypes` declares. Where
    an encoder keeps its torch modules as attributes (`self.model`), the harness checks
    after loading that their floating parameters are in that dtype.

    The PIL images are RGB, except task 1's under `--paired-protocol mteb`: those keep the mode
    they are stored in (RGBA, LA, P, L, I;16, CMYK ...), as MTEB hands them to a model wrapper,
    so the model's own preprocessing converts them where MTEB's wrapper lets it.

    Task instructions (optional; declared by `ModelSpec.takes_task_instructions`):
    `with_instruction(instruction)` returns an encoder that embeds as the model's MTEB wrapper
    does when MTEB hands it `instruction`: what mteb's `AbsEncoder.get_instruction` gives for the
    task and the side embedded, which for MarsRetrieval's MTEB tasks is the task's query
    instruction for queries and "" for documents (they name none); the wrapper decides what an
    empty one means (usually its default system prompt). Everything that wrapper does otherwise
    than the published code goes with it (its image limits, say), since the harness asks for it
    only to reproduce MTEB's numbers (`mars_zoo.tasks.mteb_protocol`). The returned encoder may share
    the loaded model; the harness keys its cache entries by the instruction.
    """

    image_transform: Callable[["Image.Image"], "torch.Tensor"] | None = None
    paired_image_transform: Callable[["Image.Image"], "torch.Tensor"] | None = None

    def encode_image(self, images: "Sequence[Image.Image] | torch.Tensor") -> "torch.Tensor":
        raise MarsZooError(f"{type(self).__name__} does not support images.")

    def encode_text(self, texts: Sequence[str]) -> "torch.Tensor":
        raise MarsZooError(f"{type(self).__name__} does not support text.")

    def with_instruction(self, instruction: str) -> "Encoder":
        raise MarsZooError(f"{type(self).__name__} takes no task instruction.")


Loader = Callable[["ModelSpec", str, str], Encoder]


# `ModelSpec.revision` of a model whose Hub repository publishes no commit to pin: the
# harness resolves the repository's main branch once, records that commit in the mars-zoo
# cache (`model-revisions.json`) and hands the loader a spec whose `revision` is it.
RESOLVE_AT_FIRST_USE = "resolve-at-first-use"


@dataclass(frozen=True)
class UrlWeights:
    """Weights published as one file at a URL rather than in a Hub repository (as open_clip's
    pretrained table names many): the URL and the sha256 of the file's bytes. The sha256 is
    what names the weights (in results and the embedding cache): a file that does not match
    it is never loaded. `url` is https://, http:// or file://."""

    url: str
    sha256: str


@dataclass(frozen=True)
class DeclaredTraining:
    """Mars-domain training that a model's publishers declare (MarScope: fine-tuned on Mars
    image-text pairs): what it was trained on, in words, and the https:// link where they say
    so. Results record it (training kind 'declared') and the leaderboard marks such a model
    fine-tuned as declared, apart from zero-shot models and from weights whose training data
    mars-zoo checked against the benchmark."""

    data: str
    source: str


@dataclass(frozen=True)
class ModelSpec:
    """Everything the harness, the fingerprint and the leaderboard need to know
    about one model, and how to load it.

    Registration checks every field a result file needs (see `mars_zoo.models.spec_checks`):
    `revision` is the 40-hex commit of the Hub repository `hub_repo` (default:
    `checkpoint`) or `RESOLVE_AT_FIRST_USE`; only random-weight models, and models whose
    weights are one file at a URL (`url_weights`, then without `revision` and `hub_repo`),
    leave it None.

    `loader(spec, device, precision)` builds the `Encoder`; it is where the heavy
    imports happen. `requires` names the distributions the loader needs beyond
    mars-zoo itself; `install_hint` says how to get them. The loader always receives a
    40-hex `revision` (or None for random weights): the harness resolves
    `RESOLVE_AT_FIRST_USE` before loading, and asks the Hub whether that commit exists
    (`revision_verified`: True, False where the Hub could not be asked, None where no Hub
    commit names the weights).

    Weights at a URL (`url_weights`): before calling the loader, the harness puts the file in
    the mars-zoo cache (`mars_zoo.models.url_weights`: downloaded once, checked against its sha256)
    and sets `weights_file` to its local path, which the loader reads the weights from.

    Precision: the loader loads the weights in `spec.weights_torch_dtype(device, precision)`,
    the dtype `weights_at_precision_on_cuda` declares (see `run_dtypes`), and leaves the
    reduced precision of the computation to the harness's autocast. The declaration is
    data, so the embedding cache knows the dtypes before anything is loaded (a warm run
    imports no torch); after loading, the harness refuses an encoder whose parameters are
    in another dtype.

    The mars-zoo cache (`cache_dir`): the harness sets it to the command's cache folder
    (`--cache-dir`) before loading; a loader keeps there whatever it builds or records
    (a tiny model built once by `mars_zoo.models.tiny.materialize`, the revision of a base model
    an adapter names), never in a folder of its own choosing. `load` sets the default cache
    on a spec the harness did not prepare.

    Own weights (`mars-zoo run MODEL --weights PATH`): the harness sets `weights` to the
    absolute PATH and `weights_sha256` to its content hash, and leaves `checkpoint` and
    `revision` those of the base model. A loader that sees `weights` builds the base
    architecture (configs, tokenizer and processor from `checkpoint` at `revision`) and
    loads the weights from PATH instead of the checkpoint's: a checkpoint file (a
    state_dict, or a dict holding one under "state_dict") for OpenCLIP, a
    `save_pretrained` folder for transformers families. Loaders read PATH through
    `mars_zoo.models.weights.own_weights`, so a PATH of a form the family does not take, or an
    empty, text or damaged checkpoint file, is a `MarsZooError` naming the model, PATH,
    what it holds and the forms the family takes. Results
    then record `weights_sha256` as the revision and the base revision under `weights`.

    Task instructions: `takes_task_instructions` declares that the encoder implements
    `Encoder.with_instruction`, so that a run knows before loading whether the model can be
    measured as an MTEB wrapper that adds the task's instruction measures it.

    Training: `declared_training` states Mars-domain training the publishers declare (None:
    none, so results of the published weights are marked zero-shot); own weights' training
    is what their `training.json` records (see `mars_zoo.schema.training`).
    """

    name: str
    family: str
    checkpoint: str
    loader: Loader = field(repr=False, compare=False)
    revision: str | None = None
    modalities: tuple[str, ...] = MODALITIES
    embedding_dim: int | None = None
    parameters: int | None = None
    license: str | None = None
    paper_url: str | None = None
    code_url: str | None = None
    image_size: int | None = None
    batch_size: int = 64
    precision: str = "fp32"
    requires: tuple[str, ...] = ()
    install_hint: str | None = None
    random_weights: bool = False
    description: str = ""
    # Where the published evaluation recipe (which the leaderboard follows) differs from
    # the model card: prompts, checkpoint, preprocessing. Shown on the model's page.
    recipe_notes: str = ""
    # The Hub model repository whose commit `revision` is, where `checkpoint` is not one
    # (open_clip's "ARCH@tag" and "hf-hub:org/name" forms).
    hub_repo: str | None = None
    # The weights as one file at a URL, instead of a Hub repository and commit.
    url_weights: UrlWeights | None = None
    # Mars-domain training its publishers declare; None: none (the model is evaluated zero-shot).
    declared_training: DeclaredTraining | None = None
    # The Hub model repository whose weights the loader loads beneath `checkpoint`'s (the base
    # model a peft adapter's adapter_config.json names), and its commit: 40 hex digits or
    # RESOLVE_AT_FIRST_USE, which the harness resolves and records like `revision` (in the run's
    # mars-zoo cache) before loading. The embedding cache is keyed by both.
    base_repo: str | None = None
    base_revision: str | None = None
    # Set by the harness for `run --weights PATH` (see the class docstring).
    weights: str | None = None
    weights_sha256: str | None = None
    # Set by the harness: the local copy of `url_weights` (checked when the loader sees it),
    # and whether the Hub confirmed `revision` (see the class docstring).
    weights_file: str | None = None
    revision_verified: bool | None = None
    # True: on CUDA the loader loads the weights in the run's precision (fp16/bf16 weights,
    # as the published GPU runs of MLLM embedders do). False: fp32 weights everywhere. Off
    # CUDA the weights are always fp32. See `run_dtypes`.
    weights_at_precision_on_cuda: bool = False
    # True: the encoder implements `Encoder.with_instruction` (see the class docstring).
    takes_task_instructions: bool = False
    plugin: str = field(default="", compare=False)
    # Set by the harness: the mars-zoo cache folder of the command (see the class docstring).
    cache_dir: Path | None = field(default=None, compare=False)

    @property
    def repository(self) -> str | None:
        """The Hub repository that `revision` pins (None for weights at a URL)."""
        return None if self.url_weights else self.hub_repo or self.checkpoint

    @property
    def checkpoint_revision(self) -> str | None:
        """What names the registered checkpoint's weights: the sha256 of `url_weights`,
        else the Hub commit `revision`."""
        return self.url_weights.sha256 if self.url_weights else self.revision

    @property
    def evaluated_revision(self) -> str | None:
        """What results and the embedding cache name as the revision: the own weights'
        sha256 when `weights` is set, else the checkpoint's revision."""
        return self.weights_sha256 if self.weights else self.checkpoint_revision

    def run_dtypes(self, device: str, precision: str) -> tuple[str, str]:
        """(weights dtype, compute dtype), torch names such as "float32", of a run on
        `device` at `precision`: known before loading, from the declaration alone, so that
        the embedding cache is keyed by them without importing torch."""
        compute = PRECISION_DTYPES[precision]
        on_cuda = device_kind(device) == "cuda"
        return (compute if self.weights_at_precision_on_cuda and on_cuda else "float32"), compute

    def weights_torch_dtype(self, device: str, precision: str) -> "torch.dtype":
        """The torch dtype a loader loads the weights in (`run_dtypes`)."""
        import torch

        return getattr(torch, self.run_dtypes(device, precision)[0])

    @property
    def supports_text(self) -> bool:
        return TEXT in self.modalities

    def missing_requirements(self) -> list[str]:
        """Distributions in `requires` that are not installed (no import needed)."""
        missing = []
        for requirement in self.requires:
            try:
                importlib.metadata.distribution(requirement)
            except importlib.metadata.PackageNotFoundError:
                missing.append(requirement)
        return missing

    def hint(self) -> str:
        return self.install_hint or "pip install " + " ".join(self.requires)

    def require_available(self) -> None:
        """Fail with the install hint when a required package is missing."""
        missing = self.missing_requirements()
        if missing:
            raise MarsZooError(
                f"Model {self.name!r} (plugin {self.plugin or '?'}) needs "
                f"{', '.join(missing)}, which is not installed. Install it with: {self.hint()}"
            )

    def load(self, device: str, precision: str) -> Encoder:
        """Build the encoder on `device` (fetching weights declared by URL first)."""
        self.require_available()
        spec = self if self.cache_dir is not None else dataclasses.replace(self, cache_dir=default_cache_dir())
        if spec.url_weights is not None and not spec.weights:
            from mars_zoo.models.url_weights import fetch_url_weights

            spec = fetch_url_weights(spec)
        return self.loader(spec, device, precision)

    def metadata(self) -> dict[str, Any]:
        """The JSON-ready description used by `mars-zoo list` and result files."""
        return {
            "name": self.name,
            "family": self.family,
            "checkpoint": self.checkpoint,
            "revision": self.evaluated_revision,
            "hub_repo": self.repository,
            "modalities": list(self.modalities),
            "embedding_dim": self.embedding_dim,
            "parameters": self.parameters,
            "license": self.license,
            "paper_url": self.paper_url,
            "code_url": self.code_url,
            "image_size": self.image_size,
            "batch_size": self.batch_size,
            "precision": self.precision,
            "requires": list(self.requires),
            "random_weights": self.random_weights,
            "description": self.description,
            "recipe_notes": self.recipe_notes,
            "url_weights": self._url_weights_record(),
            "weights": self._weights_record(),
            "revision_verified": self.revision_verified,
            "plugin": self.plugin,
        }

    def _url_weights_record(self) -> dict[str, str] | None:
        if not self.url_weights:
            return None
        return {"url": self.url_weights.url, "sha256": self.url_weights.sha256}

    def _weights_record(self) -> dict[str, Any] | None:
        if not self.weights:
            return None
        path = Path(self.weights)
        return {"name": path.name, "kind": "folder" if path.is_dir() else "file",
                "base_revision": self.checkpoint_revision}
