"""Domain adaptation: training data for fine-tuning, and fine-tuning itself.

This package owns what turns a base model of the zoo into one's own weights: reading
image-text training pairs (`training_data`: a parquet dataset from the Hub or a local
copy, or WebDataset tar shards, with a content fingerprint), and `mars-zoo finetune`,
which drives open_clip's own training engine (`open_clip_train`) for the OpenCLIP
family and writes a weights folder that `mars-zoo run MODEL --weights DIR` evaluates
as is, with its training configuration and data recorded in `DIR/training.json`.

It may import the rest of mars_zoo (data, registry, reporting, distributed, atomic
writes) but nothing of it imports this package except the command line, which
imports it only inside its handlers. torch, open_clip and open_clip_train are imported
inside functions, never at module level, so `import mars_zoo` and `mars-zoo list`
stay fast.

May import: core, schema, data, models, embedding, scoring, pipeline
"""
