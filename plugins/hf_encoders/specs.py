"""Building the ModelSpecs of this family without importing torch (registration
must stay cheap)."""

from __future__ import annotations

from mars_zoo import ModelSpec

REQUIRES = ("transformers",)


def spec(family: str, short_name: str, checkpoint: str, loader, **metadata) -> ModelSpec:
    return ModelSpec(name=f"{family}/{short_name}", family=family, checkpoint=checkpoint, loader=loader,
                     requires=REQUIRES, **metadata)


def tiny_spec(family: str, loader, what: str, short_name: str = "tiny-random", **metadata) -> ModelSpec:
    """A seeded random-weight model of the real class at tiny width, built offline."""
    return spec(
        family, short_name, f"mars-zoo-{short_name}@seed0", loader,
        license="apache-2.0", batch_size=32, random_weights=True,
        description=f"RANDOM-WEIGHT BASELINE: {what} at tiny width with seeded random weights, built "
                    f"offline. For tests and demos, not a real model.",
        **metadata,
    )
