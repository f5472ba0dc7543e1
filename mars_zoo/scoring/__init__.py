"""Scoring: exact top-k search (`search`), the pure metrics (`metrics`) and the bootstrap intervals
(`uncertainty`). Functions of arrays of embeddings and labels: scoring knows nothing of models,
plugins or the cache.

May import: core
"""
