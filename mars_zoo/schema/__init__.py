"""The formats of what mars-zoo writes for others to read: the result file's JSON Schema and its
strict reading and validation (`results_schema`), and the training record of evaluated weights
(`training`, with `training-v1.schema.json`). Models check their declarations against them,
tasks theirs, results their files, and the leaderboard reads them, so they stand below all four.

May import: core
"""
