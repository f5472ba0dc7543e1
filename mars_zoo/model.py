"""The model contract: what a plugin registers (`ModelSpec`) and what loading it
returns (`Encoder`).

A `ModelSpec` is pure metadata plus a loader callable. Building one must not import
torch or any model library, so that `mars-zoo list` stays instant and a plugin whose
optional dependency is missing still lists (marked unavailable).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from mars_zoo.errors import MarsZooError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch
    from PIL import Image

IMAGE = "image"
TEXT = "text"
MODALITIES = (IMAGE, TEXT)
PRECISIONS = ("fp32", "fp16", "bf16")


class Encoder:
    """Maps images and texts into one embedding space.

    Subclasses implement `encode_image` and/or `encode_text`, each returning a float
    tensor of shape [N, D]. The harness L2-normalises, so encoders need not.

    `image_transform`, when set, must be a picklable callable PIL image -> tensor;
    the harness then runs it in DataLoader workers and hands `encode_image` a
    stacked batch tensor instead of a list of PIL images.
    """

    image_transform: Callable[["Image.Image"], "torch.Tensor"] | None = None

    def encode_image(self, images: "Sequence[Image.Image] | torch.Tensor") -> "torch.Tensor":
        raise MarsZooError(f"{type(self).__name__} does not support images.")

    def encode_text(self, texts: Sequence[str]) -> "torch.Tensor":
        raise MarsZooError(f"{type(self).__name__} does not support text.")


Loader = Callable[["ModelSpec", str, str], Encoder]


@dataclass(frozen=True)
class ModelSpec:
    """Everything the harness, the fingerprint and the leaderboard need to know
    about one model, and how to load it.

    `loader(spec, device, precision)` builds the `Encoder`; it is where the heavy
    imports happen. `requires` names the distributions the loader needs beyond
    mars-zoo itself; `install_hint` says how to get them.
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
    # A local path holding fine-tuned weights of this architecture (`run --weights`):
    # a loader that sees it loads these weights instead of the checkpoint's.
    weights: str | None = None
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        family, sep, short = self.name.partition("/")
        if not sep or not family or not short or family != self.family:
            raise MarsZooError(
                f"Model name {self.name!r} must have the form '{self.family}/<name>' "
                f"(family/name, with the family {self.family!r} it declares)."
            )
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not self.modalities:
            raise MarsZooError(
                f"Model {self.name!r} declares modalities {self.modalities!r}; "
                f"use a non-empty subset of {MODALITIES}."
            )
        if self.precision not in PRECISIONS:
            raise MarsZooError(
                f"Model {self.name!r} recommends precision {self.precision!r}; "
                f"use one of {PRECISIONS}."
            )

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
        """Build the encoder on `device`."""
        self.require_available()
        return self.loader(self, device, precision)

    def metadata(self) -> dict[str, Any]:
        """The JSON-ready description used by `mars-zoo list` and result files."""
        return {
            "name": self.name,
            "family": self.family,
            "checkpoint": self.checkpoint,
            "revision": self.revision,
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
            "plugin": self.plugin,
        }
