"""Models: the plugin hooks (`hookspecs`), the plugin manager and the plugin boundary (`plugin_manager`,
`plugin_code`, `boundary`), the model registry (`registry`), the `ModelSpec`/`Encoder` contract
(`model`, `spec_checks`, `checks`, `contract`), weights (`weights`, `url_weights`, recorded revisions
in `model_revisions`), the tiny test models (`tiny`) and the model table (`model_table`). A model
knows nothing of how its embeddings are cached or scored.

May import: core, schema, data
"""
