"""The plugin contract check (`mars-zoo check MODEL`).

What a plugin author runs before a pull request: on the embedded mini benchmark,
on the CPU, it checks that the model returns what the harness can score and that
its embeddings are a function of the input alone (not of batch mates, batch size
or the call), that the declared metadata matches what the model does, and, for a
model that declares task instructions, that an instruction reaches the model through
a new encoder, leaving the one it was asked of as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mars_zoo.models.boundary import check_hint, load_encoder, model_subject, plugin_call
from mars_zoo.models.checks import BatchChecker
from mars_zoo.core.errors import MarsZooError, PluginError
from mars_zoo.models.model import Encoder, ModelSpec
from mars_zoo.core.protocol import landform_query_name, prompts_for
from mars_zoo.core.reporting import Reporter

SAMPLE_SIZE = 8
TOLERANCE = 1e-4  # max abs difference of normalised fp32 embeddings
# An instruction of the kind MTEB hands a query side, for the check that one reaches the model.
CHECK_INSTRUCTION = "Retrieve the Mars image that matches this scientific description."


class CheckFailed(MarsZooError):
    """One contract check found the model breaking a rule. Raised, never asserted, so that
    the check holds under `python -O` too."""


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def _encode_images(encoder: Encoder, images: list) -> Any:
    import torch

    transform = getattr(encoder, "image_transform", None)
    if transform is None:
        return encoder.encode_image(images)
    return encoder.encode_image(torch.stack([transform(image) for image in images]))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.size else 0.0


class _Checker:
    """Collects checks; a check that raises a user-facing error fails with its message."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def run(self, name: str, body: Callable[[], str]) -> None:
        try:
            self.checks.append(Check(name, True, body()))
        except MarsZooError as exc:  # plugin failures arrive here as PluginError, named
            self.checks.append(Check(name, False, str(exc)))


def check_model(spec: ModelSpec, reporter: Reporter, cache_dir: Path | None = None) -> list[Check]:
    """The contract checks of `spec`, on the mini benchmark kept in the mars-zoo cache
    `cache_dir` (None: the default cache)."""
    import torch

    from mars_zoo.data.benchmark import open_benchmark

    data = open_benchmark("mini", cache_dir=cache_dir, reporter=reporter).landforms()
    images = [data.images[i] for i in range(min(SAMPLE_SIZE, len(data.images)))]
    texts = [prompt for name in data.class_names for prompt in prompts_for(landform_query_name(name))]
    texts = texts[:SAMPLE_SIZE]
    collector = _Checker()
    try:
        reporter.info(f"loading {spec.name} on cpu ...")
        encoder = load_encoder(spec, "cpu", "fp32")
    except MarsZooError as exc:
        return [Check("loads offline on the CPU", False, str(exc))]
    collector.checks.append(Check("loads offline on the CPU", True, type(encoder).__name__))
    validate = BatchChecker(spec)

    def embed(modality: str, items: list, using: Encoder = encoder) -> np.ndarray:
        with torch.inference_mode(), plugin_call(
            model_subject(spec), f"in encode_{modality} on a batch of {len(items)} {modality}s", check_hint(spec)
        ):
            output = _encode_images(using, items) if modality == "image" else using.encode_text(items)
        return validate(output, len(items), modality).numpy()

    modalities = [m for m in ("image", "text") if m in spec.modalities]
    batches: dict[str, np.ndarray] = {}
    samples = {"image": images, "text": texts}
    for modality in modalities:
        def whole_batch(modality=modality) -> str:
            batches[modality] = embed(modality, samples[modality])
            return f"shape {batches[modality].shape}, finite, float"

        collector.run(f"{modality}: shape, dtype and finite values", whole_batch)
        if modality not in batches:
            continue

        def independent_of_batch(modality=modality) -> str:
            items = samples[modality]
            alone = np.concatenate([embed(modality, [item]) for item in items])
            reversed_batch = embed(modality, items[::-1])[::-1]
            differences = {
                "alone": _max_difference(alone, batches[modality]),
                "batch mates reversed": _max_difference(reversed_batch, batches[modality]),
            }
            worst = max(differences, key=differences.get)
            _require(differences[worst] <= TOLERANCE,
                     f"an item's embedding changes with its batch ({worst}: max difference "
                     f"{differences[worst]:.2e} > {TOLERANCE:g}); the model must embed each item independently")
            return f"max difference {max(differences.values()):.1e} (batch size 1 vs {len(items)}, reordered)"

        collector.run(f"{modality}: independent of batch mates and batch size", independent_of_batch)

        def repeatable(modality=modality) -> str:
            again = embed(modality, samples[modality])
            difference = _max_difference(again, batches[modality])
            _require(difference <= TOLERANCE, f"two runs differ by {difference:.2e} > {TOLERANCE:g}")
            return f"max difference {difference:.1e}"

        collector.run(f"{modality}: two runs agree", repeatable)

    if "text" not in spec.modalities:
        def refuses_text() -> str:
            try:
                with plugin_call(model_subject(spec), "in encode_text", check_hint(spec)):
                    encoder.encode_text(texts[:1])
            except PluginError as exc:
                raise CheckFailed(f"declared image-only, but encode_text failed instead of refusing "
                                  f"with a MarsZooError: {exc}") from exc
            except MarsZooError as exc:
                return f"refused: {exc}"
            raise CheckFailed("declared image-only, but encode_text returned embeddings without error")

        collector.run("text: refused by an image-only model", refuses_text)

    if spec.takes_task_instructions:
        def instructed() -> str:
            with plugin_call(model_subject(spec), "in with_instruction", check_hint(spec)):
                instructed_encoder = encoder.with_instruction(CHECK_INSTRUCTION)
            moved = {m: _max_difference(embed(m, samples[m], instructed_encoder), batches[m])
                     for m in modalities if m in batches}
            _require(any(difference > TOLERANCE for difference in moved.values()),
                     f"declares takes_task_instructions, but with_instruction({CHECK_INSTRUCTION!r}) embeds "
                     f"everything as without it; the instruction must reach the model")
            after = {m: _max_difference(embed(m, samples[m]), batches[m]) for m in moved}
            stuck = [m for m, difference in after.items() if difference > TOLERANCE]
            _require(not stuck, f"after with_instruction the encoder itself embeds {' and '.join(stuck)} otherwise "
                                f"(max difference {max(after.values()):.2e}); it must return a new encoder and "
                                f"leave the one it was called on as it was")
            return ", ".join(f"{m} moved by {difference:.1e}" for m, difference in moved.items())

        collector.run("task instructions: reach the model, on a new encoder", instructed)

    def metadata() -> str:
        notes = []
        if spec.embedding_dim is not None and validate.dim is not None:
            _require(validate.dim == spec.embedding_dim,
                     f"declared embedding_dim {spec.embedding_dim}, but the model returns {validate.dim}")
            notes.append(f"embedding_dim {validate.dim}")
        counter = getattr(encoder, "parameter_count", None)
        if spec.parameters is not None and callable(counter):
            with plugin_call(model_subject(spec), "in parameter_count", check_hint(spec)):
                actual = counter()
            _require(actual == spec.parameters, f"declared {spec.parameters:,} parameters, the model has {actual!r}")
            notes.append(f"{actual:,} parameters")
        return ", ".join(notes) or "nothing declared to compare"

    collector.run("declared metadata matches the model", metadata)
    return collector.checks
