"""A throwaway plugin that records, for the tests, every embedding the harness is asked for:
with MARS_ZOO_TEST_EMBED_LOG set, each call of `Embedder.images` or `Embedder.texts` appends
one line to that file: the torch.distributed rank, the modality, the number of items and the
label. Put beside a --plugins-dir's plugins, it wraps the harness's embedder when it is
imported; it registers nothing."""

import os

import mars_zoo
from mars_zoo.embedding.embed import Embedder


def _recorded(method, modality, count):
    def record(self, items, *args, **kwargs):
        path = os.environ.get("MARS_ZOO_TEST_EMBED_LOG")
        label = kwargs.get("label") or args[1 if modality == "image" else 0]
        if path:
            with open(path, "a") as handle:
                handle.write(f"rank={os.environ.get('RANK', '0')} {modality} {count(items)} {label}\n")
        return method(self, items, *args, **kwargs)

    record.recorded = method
    return record


if not hasattr(Embedder.images, "recorded"):  # once per process, however often the folder loads
    Embedder.images = _recorded(Embedder.images, "image", lambda source: len(source.ids))
    Embedder.texts = _recorded(Embedder.texts, "text", len)


@mars_zoo.hookimpl
def register_models(register):
    """Registers no model: the plugin is here for its side effect."""
