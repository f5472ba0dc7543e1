"""The pipeline of a command that embeds and scores: the settings `run`, `search` and `check` share and
the set-up that turns them into a model ready to embed (`settings`), and the runner that orders the
steps of an evaluation (`runner`). It is the one package that knows every layer below the command
line.

May import: core, data, models, embedding, tasks, results
"""
