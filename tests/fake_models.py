"""A throwaway plugin of small, fast fake models for the tests.

Embeddings are a deterministic function of each item alone (image colour
statistics, text bytes), so the harness's behaviour can be tested without any
real model. Some models break the contract on purpose. Setting
MARS_ZOO_TEST_CALL_LOG appends one line per model call to that file (the kind, the
torch.distributed rank and the process id), and MARS_ZOO_TEST_KILL_RANK=R:N makes
the process of rank R kill itself (SIGKILL) at its N-th model call, so a test can
kill a run mid-embedding and count what a rerun recomputes.
"""

import hashlib
import os
import signal

import mars_zoo
from mars_zoo import Encoder, MarsZooError, ModelSpec

DIM = 16


_CALLS = []  # the kinds of the model calls this process made


def _log_call(kind):
    path = os.environ.get("MARS_ZOO_TEST_CALL_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(f"{kind} rank={os.environ.get('RANK', '0')} pid={os.getpid()}\n")
    _CALLS.append(kind)
    rank, _, call = os.environ.get("MARS_ZOO_TEST_KILL_RANK", ":").partition(":")
    if rank == os.environ.get("RANK") and str(len(_CALLS)) == call:
        os.kill(os.getpid(), signal.SIGKILL)


def image_features(image):
    import numpy as np

    pixels = np.asarray(image.convert("RGB").resize((8, 8)), dtype=np.float64) / 255.0
    features = np.concatenate([pixels.mean(axis=(0, 1)), pixels.std(axis=(0, 1)), pixels[::2, ::2, 0].ravel()])
    return features[:DIM] - 0.5


def text_features(text):
    import numpy as np

    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.frombuffer(digest[:DIM], dtype=np.uint8).astype(np.float64) / 255.0 - 0.5


class FakeEncoder(Encoder):
    def __init__(self, kind, instruction=None):
        self.kind = kind
        self.instruction = instruction

    def with_instruction(self, instruction):
        """"instructed": a new encoder that reads texts after the instruction; "instruction-ignored"
        returns itself unchanged; "instruction-sticks" keeps the instruction for every later call."""
        if self.kind == "instruction-ignored":
            return self
        if self.kind == "instruction-sticks":
            self.instruction = instruction
            return self
        return FakeEncoder(self.kind, instruction)

    def encode_image(self, images):
        import numpy as np
        import torch

        _log_call("image")
        out = torch.tensor(np.stack([image_features(image) for image in images]), dtype=torch.float32)
        if self.kind == "nan":
            out[0, 0] = float("nan")
        if self.kind == "wrong-shape":
            out = out[:-1] if len(out) > 1 else out.reshape(-1)
        if self.kind == "constant":
            out = torch.ones_like(out)
        if self.kind == "raises":
            raise RuntimeError("the fake model crashed")
        if self.kind == "batch-dependent":
            out = out + out.mean(dim=0, keepdim=True)
        return out

    def encode_text(self, texts):
        import numpy as np
        import torch

        _log_call("text")
        if self.kind == "image-only":
            raise MarsZooError("fake/image-only does not support text.")
        prefix = f"{self.instruction}\n" if self.instruction is not None else ""
        out = torch.tensor(np.stack([text_features(prefix + text) for text in texts]), dtype=torch.float32)
        if self.kind == "wrong-dim":
            out = torch.cat([out, out], dim=1)
        if self.kind == "constant":
            out = torch.ones_like(out)
        return out


def _loader(spec, device, precision):
    return FakeEncoder(spec.name.split("/", 1)[1])


# No weights to pin: the fakes register as random-weight models, with the metadata
# registration asks of every model.
FAKE_METADATA = dict(embedding_dim=DIM, parameters=1, license="apache-2.0", random_weights=True)
KINDS = ("good", "nan", "wrong-shape", "wrong-dim", "raises", "constant", "batch-dependent")
INSTRUCTED_KINDS = ("instructed", "instruction-ignored", "instruction-sticks")


@mars_zoo.hookimpl
def register_models(register):
    for kind in KINDS:
        register(ModelSpec(name=f"fake/{kind}", family="fake", checkpoint=f"fake:{kind}", loader=_loader,
                           batch_size=4, **FAKE_METADATA))
    for kind in INSTRUCTED_KINDS:
        register(ModelSpec(name=f"fake/{kind}", family="fake", checkpoint=f"fake:{kind}", loader=_loader,
                           batch_size=4, takes_task_instructions=True, **FAKE_METADATA))
    register(ModelSpec(name="fake/image-only", family="fake", checkpoint="fake:image-only", loader=_loader,
                       modalities=("image",), batch_size=4, **FAKE_METADATA))
