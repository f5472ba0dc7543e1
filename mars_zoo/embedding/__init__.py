"""Embedding: the embedder (`embed`), the embedding cache (identity, shards, verification: `cache`),
distributed ranks (`distributed`) and the machine and device a run embeds on (`environment`).

May import: core, data, models
"""
