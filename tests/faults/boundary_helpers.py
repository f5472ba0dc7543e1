"""What every fault case of the CLI asserts: the exit code, one error paragraph that names
the thing at fault, and no traceback.

`cli` runs `mars-zoo` in-process (fast), capturing stdout and stderr; argparse's own usage
errors (exit 2) count as the one-paragraph error they are.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from mars_zoo.cli import main
from mars_zoo.core.reporting import console, console_err

WIDE = 1000  # columns


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def message(self) -> str:
        """The error paragraph, whitespace collapsed (rich may wrap a long line)."""
        return " ".join(self.err[self.err.find("error:"):].split()) if "error:" in self.err else ""


def cli(capsys, *args) -> Outcome:
    """Run `mars-zoo ARGS` in-process on consoles wide enough that no table cell wraps."""
    capsys.readouterr()
    widths = [(stream, stream.width) for stream in (console, console_err)]
    try:
        for stream, _ in widths:
            stream.width = WIDE
        code = main([str(arg) for arg in args])
    except SystemExit as exc:  # argparse: usage error
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for stream, width in widths:
            stream.width = width
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def assert_clean_error(outcome: Outcome, code: int, *needles: str) -> None:
    """Non-zero exit `code`, one error paragraph containing every needle, no traceback."""
    assert outcome.code == code, (outcome.code, outcome.err[-2000:])
    assert "Traceback" not in outcome.err + outcome.out, outcome.err
    start = outcome.err.find("error:")
    assert start >= 0, outcome.err
    paragraph = outcome.err[start:].strip()
    assert "\n\n" not in paragraph, paragraph  # one paragraph
    assert "this is a bug" not in paragraph.lower(), paragraph  # a user mistake is not a bug
    for needle in needles:
        assert needle in outcome.message, (needle, outcome.message)


def write_plugin(directory: Path, name: str, **faults: str) -> Path:
    """A plugin file registering model `<name>/model` whose code runs the given fault snippets:
    `top` (module level), `register`, `load`, `image`, `text` (method bodies before returning)."""
    indents = {"top": 4, "register": 8, "load": 8, "image": 12, "text": 12}
    body = PLUGIN.format(
        name=name,
        **{key: textwrap.indent(textwrap.dedent(faults.get(key, "pass")).strip(), " " * width)
           for key, width in indents.items()},
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(body)
    return path


PLUGIN = '''
import os
import sys

import mars_zoo
from mars_zoo import Encoder, ModelSpec

if True:
{top}


def _features(values):
    import torch

    return torch.tensor([[value, 1.0, (value * 7.0) % 1.0, 0.5] for value in values], dtype=torch.float32)


class FaultyEncoder(Encoder):
    def encode_image(self, images):
        import numpy as np

        if True:
{image}
        return _features([float(np.asarray(image, dtype=np.float64).mean()) / 255.0 for image in images])

    def encode_text(self, texts):
        if True:
{text}
        return _features([(sum(text.encode("utf-8")) % 997) / 997.0 for text in texts])


def load(spec, device, precision):
    if True:
{load}
    return FaultyEncoder()


@mars_zoo.hookimpl
def register_models(register):
    if True:
{register}
    register(ModelSpec(name="{name}/model", family="{name}", checkpoint="{name}:model", loader=load,
                       batch_size=8, license="mit", embedding_dim=4, parameters=1, random_weights=True))
'''
