"""Tasks: the `Task` contract (`spec`), embedding plans (`plan`), how a run walks them on every
rank (`walk`), the task registry (`registry`), and the three MarsRetrieval tasks (`paired`,
`landform`, `geolocalization`), which the built-in plugin `marsretrieval` registers as any
plugin registers a task. Each task turns a benchmark into an embedding plan and scores the
embeddings of that plan with the pure functions of `mars_zoo.scoring.metrics`.

Importing this package is cheap (it is imported with `mars_zoo`); the task modules themselves
import numpy and the data layer, and load only when a plugin registers them.

May import: core, schema, data, models, embedding, scoring
"""

from mars_zoo.tasks.plan import EmbeddingPlan, ImageItems, TextItems
from mars_zoo.tasks.spec import Task, TaskSettings

__all__ = ["EmbeddingPlan", "ImageItems", "Task", "TaskSettings", "TextItems"]
