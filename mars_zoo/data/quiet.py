"""Keep `datasets` silent while mars-zoo reads and writes through it.

`datasets` draws its own progress bars ("Generating test split: 48 examples") and logs
its own error line before raising. Around mars-zoo's calls both are noise: progress
goes through the caller's `Reporter`, and a failure reaches the user as one
`MarsZooError` that names the file and the fix.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Within the block, `datasets` draws no progress bar and logs nothing below CRITICAL;
    its previous settings come back afterwards."""
    from datasets.utils import logging as ds_logging

    bars = ds_logging.is_progress_bar_enabled()
    verbosity = ds_logging.get_verbosity()
    ds_logging.disable_progress_bar()
    ds_logging.set_verbosity(ds_logging.CRITICAL)
    try:
        yield
    finally:
        ds_logging.set_verbosity(verbosity)
        if bars:
            ds_logging.enable_progress_bar()
