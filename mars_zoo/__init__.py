"""mars-zoo: a plugin-based model zoo and leaderboard harness for MarsRetrieval.

Importing this package is cheap on purpose: it imports no torch, transformers or
open_clip, so that listing models and validating results stay fast.

The public names come from core, models and tasks; `python -m mars_zoo` runs the command line.
May import: core, models, tasks, cli
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mars-zoo")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from mars_zoo.core.errors import MarsZooError
from mars_zoo.models.hookspecs import hookimpl
from mars_zoo.models.model import RESOLVE_AT_FIRST_USE, DeclaredTraining, Encoder, ModelSpec, UrlWeights
from mars_zoo.tasks import EmbeddingPlan, ImageItems, Task, TaskSettings, TextItems

__all__ = ["DeclaredTraining", "EmbeddingPlan", "Encoder", "ImageItems", "MarsZooError", "ModelSpec",
           "RESOLVE_AT_FIRST_USE", "Task", "TaskSettings", "TextItems", "UrlWeights", "__version__", "hookimpl"]
