"""Checking a `ModelSpec` when a plugin registers it (the idea of MTEB's ModelMeta).

Every fact a result file copies from the spec is checked at registration, against the
result schema's own `model` definition (so the two cannot drift apart) tightened by what a
registered model must declare beyond what a result may leave open: its dimension, parameter
count and licence, and a Hub revision to pin. A spec that would only fail when its result is
written, after hours of embedding, is refused before anything runs, with one message that
names the plugin, the model, each bad field and its fix.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.model import RESOLVE_AT_FIRST_USE, DeclaredTraining, UrlWeights
from mars_zoo.schema.results_schema import Problem, schema_error_problems, load_schema
from mars_zoo.schema.training import declared_section

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.models.model import ModelSpec

HUB_REPO = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"
PINNED = rf"^([0-9a-f]{{40}}|{RESOLVE_AT_FIRST_USE})$"

# What the result schema leaves open but a registered model must declare.
_DECLARED = {
    "embedding_dim": {"$ref": "#/$defs/positiveInt"},
    "parameters": {"$ref": "#/$defs/positiveInt"},
    "license": {"$ref": "#/$defs/name"},
}
# A registered revision may also be RESOLVE_AT_FIRST_USE (the result schema's may not: the
# harness resolves it to a commit before anything runs), or the sha256 that names weights
# declared by URL (`url_weights`, whose metadata reports it as the revision; its format is
# checked, and named, under url_weights.sha256).
_REVISION = {"type": ["string", "null"], "pattern": rf"^([0-9a-f]{{40}}|[0-9a-fA-F]{{64}}|{RESOLVE_AT_FIRST_USE})$",
             "description": f"a 40-hex Hub commit or {RESOLVE_AT_FIRST_USE!r}"}
# A model with real weights names the exact weights: a Hub repository and a commit of it
# (or, checked apart, one file at a URL and its sha256: `url_weights`).
_PINNED = {
    "revision": {"type": "string", "pattern": PINNED, "description": f"a 40-hex Hub commit or {RESOLVE_AT_FIRST_USE!r}"},
    "hub_repo": {
        "type": "string",
        "pattern": HUB_REPO,
        "description": "a Hugging Face Hub repository id 'org/name'",
    },
}

FIXES = {
    "name": "name the model '<family>/<name>' with the family it declares (letters, digits, '.', '_', '-')",
    "family": "declare the family that prefixes the model's name",
    "checkpoint": "give the checkpoint id the loader takes",
    "revision": (
        "pin the checkpoint's Hub commit (revision='<40-hex sha>'), or pass "
        "revision=mars_zoo.RESOLVE_AT_FIRST_USE where upstream publishes none, to have it resolved "
        "and recorded at first use"
    ),
    "hub_repo": (
        "set hub_repo='org/name', the Hub repository whose commit `revision` is, when `checkpoint` "
        "is not such an id"
    ),
    "url_weights": (
        "name the weights either by url_weights=mars_zoo.UrlWeights(url, sha256), with no revision, "
        "no hub_repo and random_weights=False, or by a Hub repository and revision, not both"
    ),
    "url_weights.url": "give the file's https://, http:// or file:// URL",
    "url_weights.sha256": "give the sha256 of the file's bytes: 64 lowercase hex digits (sha256sum FILE)",
    "modalities": "declare a non-empty subset of ('image', 'text')",
    "embedding_dim": "declare the dimension of the embeddings the model returns (a positive integer)",
    "parameters": "declare the model's parameter count (a positive integer: the sum of numel() over its parameters)",
    "license": "declare the licence of the weights (an SPDX id such as 'apache-2.0', or 'other')",
    "paper_url": "give an http(s):// link, or None",
    "code_url": "give an http(s):// link, or None",
    "image_size": "give the input size in pixels (a positive integer), or None",
    "batch_size": "recommend a batch size of at least 1",
    "precision": "recommend 'fp32', 'fp16' or 'bf16'",
    "requires": "list distribution names as strings",
    "random_weights": "use True or False",
    "description": "give a description of at most 20,000 characters",
    "recipe_notes": "give notes of at most 20,000 characters",
    "declared_training": "declare Mars-domain training as mars_zoo.DeclaredTraining(data, source), or None",
    "declared_training.data": "say in one line what the publishers declare the model was trained on",
    "declared_training.source": "give the http(s):// link where the publishers declare it",
}


@functools.cache
def _validator():
    from jsonschema import Draft202012Validator

    defs = load_schema()["$defs"]
    required = [key for key in defs["reproduced"]["properties"]["model"]["required"]
                if key not in ("plugin", "plugin_package", "plugin_version")]
    model = {**defs["model"], "properties": {**defs["model"]["properties"], "revision": _REVISION}}
    schema = {
        "$defs": defs,
        "allOf": [
            model,
            {"required": required, "properties": _DECLARED},
            {
                "if": {"properties": {"random_weights": {"const": False}, "url_weights": {"const": None}}},
                "then": {"properties": _PINNED},
            },
        ],
    }
    return Draft202012Validator(schema)


@functools.cache
def _training_validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$defs": load_schema()["$defs"],
                                 "properties": {"declared_training": {"$ref": "#/$defs/training"}}})


def _declared_training_problems(spec: "ModelSpec") -> list[Problem]:
    """The training a model declares, against the result's `training` definition, which records it."""
    if spec.declared_training is None:
        return []
    if not isinstance(spec.declared_training, DeclaredTraining):
        return [Problem("declared_training", f"must be a mars_zoo.DeclaredTraining(data, source), got "
                                             f"{spec.declared_training!r}")]
    instance = {"declared_training": declared_section(spec)}
    return [problem for error in _training_validator().iter_errors(instance)
            for problem in schema_error_problems(error, instance)]


def spec_problems(spec: "ModelSpec") -> list[Problem]:
    """Every problem of `spec` as a registered model, by field; [] when it is sound."""
    if spec.url_weights is not None and not isinstance(spec.url_weights, UrlWeights):
        # the other fields are judged by how the weights are named: that must be readable first
        return [Problem("url_weights", f"must be a mars_zoo.UrlWeights(url, sha256), got {spec.url_weights!r}")]
    instance: dict[str, Any] = spec.metadata()
    del instance["plugin"]  # set by the registry, not the plugin
    problems = {
        problem
        for error in _validator().iter_errors(instance)
        for problem in schema_error_problems(error, instance)
    }
    family = instance.get("family")
    if isinstance(family, str) and not str(instance.get("name")).startswith(family + "/"):
        problems.add(Problem("name", f"must be '{family}/<name>' (the family it declares), got {spec.name!r}"))
    if not callable(spec.loader):
        problems.add(Problem("loader", "must be a callable loader(spec, device, precision) -> Encoder"))
    problems.update(_url_weights_problems(spec))
    problems.update(_declared_training_problems(spec))
    return sorted(problems)


def _url_weights_problems(spec: "ModelSpec") -> list[Problem]:
    """What the schema cannot see of `url_weights` in the metadata: the fields that would name
    the weights a second way."""
    if spec.url_weights is None:
        return []
    conflicts = [f"{key}={value!r}" for key, value in (("revision", spec.revision), ("hub_repo", spec.hub_repo),
                                                        ("random_weights", spec.random_weights)) if value]
    if conflicts:
        return [Problem("url_weights", f"names the weights by their URL and sha256, so {', '.join(conflicts)} "
                                       f"cannot also be set")]
    return []


def check_spec(spec: "ModelSpec", plugin: str) -> None:
    """Refuse `spec` with one message naming the plugin, the model, each bad field and its fix."""
    problems = spec_problems(spec)
    if not problems:
        return
    details = "; ".join(
        f"{problem.field} {problem.message} (fix: {FIXES.get(problem.field.split('[')[0], 'see the ModelSpec docstring')})"
        for problem in problems
    )
    raise MarsZooError(
        f"Plugin {plugin!r} registered model {spec.name!r} with invalid metadata, so it was not "
        f"registered: {details}. Every field is copied into result files; fix the ModelSpec in "
        f"plugin {plugin!r}."
    )
