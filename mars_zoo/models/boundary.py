"""The plugin boundary: every call into plugin code goes through `plugin_call`.

Plugin code is third-party code. It may raise anything, call `sys.exit()` or print. A failure
there must never look like success (a `sys.exit(0)` inside `encode_image` would otherwise end the
command with exit status 0 and no result) and never end in a traceback: it becomes one
`PluginError` paragraph that names the plugin, the model, what failed and the fix. Ctrl-C
(`KeyboardInterrupt`) still interrupts, and a `MarsZooError` a plugin raises on purpose keeps its
own message. While plugin code runs, what it prints goes to stderr (its child processes' and C
code's output included), so that stdout stays the command's own (`--json` output stays valid
JSON next to a chatty plugin).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Iterator

from mars_zoo.core.errors import MarsZooError, PluginError

if TYPE_CHECKING:  # pragma: no cover
    from mars_zoo.models.model import Encoder, ModelSpec

MAX_DETAIL = 400  # characters of a plugin's own exception message kept in ours
_PASS_THROUGH = (KeyboardInterrupt, GeneratorExit, MarsZooError)


def describe_failure(exc: BaseException) -> str:
    """What went wrong, in one line: `RuntimeError: boom`, or what a sys.exit() would have done."""
    if isinstance(exc, SystemExit):
        return (f"it called sys.exit({exc.code!r}), which would have ended mars-zoo as if the "
                f"command had finished")
    if isinstance(exc, SyntaxError) and exc.filename:  # its str() names the file without its folder
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}, line {exc.lineno})"
    detail = " ".join(str(exc).split())
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def model_subject(spec: "ModelSpec") -> str:
    return f"Model {spec.name!r} (plugin {spec.plugin or '?'})"


def check_hint(spec: "ModelSpec") -> str:
    return f"Fix the plugin (run 'mars-zoo check {spec.name}' to test it)."


@contextlib.contextmanager
def _output_to_stderr() -> Iterator[None]:
    """Send stdout to stderr: Python's `sys.stdout` and, where stdout is a real file, the file
    descriptor too, which C code and child processes write to."""
    with contextlib.redirect_stdout(sys.stderr):
        try:
            os.fstat(1), os.fstat(2)
        except OSError:  # no real descriptors (embedded interpreter): Python-level only
            yield
            return
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def plugin_call(subject: str, during: str, fix: str) -> Iterator[None]:
    """Run plugin code; any failure becomes `PluginError("{subject} failed {during}: ... {fix}")`."""
    try:
        with _output_to_stderr():
            yield
    except _PASS_THROUGH:
        raise
    except BaseException as exc:  # SystemExit and every Exception: plugin code must not end us
        raise PluginError(f"{subject} failed {during}: {describe_failure(exc)}. {fix}") from exc


def load_encoder(spec: "ModelSpec", device: str, precision: str) -> "Encoder":
    """`spec.load(device, precision)` behind the boundary, checked to return an encoder
    with the methods its declared modalities need."""
    with plugin_call(model_subject(spec), f"to load on {device}", check_hint(spec)):
        encoder = spec.load(device, precision)
    missing = [f"encode_{modality}" for modality in spec.modalities
               if not callable(getattr(encoder, f"encode_{modality}", None))]
    if missing:
        raise PluginError(
            f"{model_subject(spec)} loaded as {type(encoder).__name__}, which has no "
            f"{' or '.join(missing)} method; its loader must return a mars_zoo.Encoder. "
            f"{check_hint(spec)}"
        )
    check_weights_dtype(spec, encoder, device, precision)
    return encoder


def check_weights_dtype(spec: "ModelSpec", encoder: "Encoder", device: str, precision: str) -> None:
    """Refuse an encoder whose torch modules (those it keeps as attributes) hold floating
    parameters in another dtype than `spec.run_dtypes` declares: the cache key and the
    result file state that dtype, so it must be the one that runs."""
    import torch

    declared = spec.run_dtypes(device, precision)[0]
    found = {
        str(parameter.dtype).removeprefix("torch.")
        for module in getattr(encoder, "__dict__", {}).values() if isinstance(module, torch.nn.Module)
        for parameter in module.parameters() if parameter.is_floating_point()
    }
    if found - {declared}:
        raise PluginError(
            f"{model_subject(spec)} loaded on {device} at precision {precision} holds "
            f"{', '.join(sorted(found))} weights, but its ModelSpec declares {declared} "
            f"(weights_at_precision_on_cuda={spec.weights_at_precision_on_cuda}). Its loader must "
            f"load the weights in spec.weights_torch_dtype(device, precision), or the spec must "
            f"declare what it loads. {check_hint(spec)}"
        )
