"""Checks on what a model returns, batch by batch.

A plugin bug (NaN, a wrong shape, a dimension that changes between modalities)
would silently corrupt every number downstream, so the harness refuses it at the
first batch and names the plugin and model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mars_zoo.core.errors import ModelContractError
from mars_zoo.models.model import ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch


class BatchChecker:
    """Validates and L2-normalises every batch; remembers the embedding dimension
    so that images and texts must agree with each other and with the spec."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.dim: int | None = spec.embedding_dim
        self._dim_source = "its declared embedding_dim" if self.dim is not None else None

    def _fail(self, modality: str, rows: int, problem: str) -> ModelContractError:
        return ModelContractError(
            f"Model {self.spec.name!r} (plugin {self.spec.plugin or '?'}) returned {problem} from "
            f"encode_{modality} for a batch of {rows} {modality}s. encode_{modality} must return a "
            f"finite floating-point torch.Tensor of shape [batch, dim]; fix the plugin "
            f"(run 'mars-zoo check {self.spec.name}' to test it)."
        )

    def __call__(self, output: object, rows: int, modality: str) -> "torch.Tensor":
        import torch

        if not isinstance(output, torch.Tensor):
            raise self._fail(modality, rows, f"a {type(output).__name__}, not a torch.Tensor")
        if output.ndim != 2 or output.shape[0] != rows:
            raise self._fail(modality, rows, f"shape {tuple(output.shape)}, expected ({rows}, dim)")
        if not output.is_floating_point():
            raise self._fail(modality, rows, f"dtype {output.dtype}, expected a floating-point dtype")
        if self.dim is None:
            self.dim, self._dim_source = output.shape[1], f"its first {modality} batch"
        elif output.shape[1] != self.dim:
            raise self._fail(
                modality, rows, f"dimension {output.shape[1]}, but {self.dim} from {self._dim_source}"
            )
        output = output.detach().float()
        finite = torch.isfinite(output)
        if not bool(finite.all()):
            raise self._fail(modality, rows, f"{int((~finite).sum())} non-finite values (NaN or inf)")
        return torch.nn.functional.normalize(output, dim=1).cpu()
