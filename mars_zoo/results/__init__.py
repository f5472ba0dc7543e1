"""Results: assembling and writing result files (`files`), their validation (`validation`) and
consistency rules (`consistency`), the submissions folder (`submissions`), and MTEB's result files
(`mteb_format`).

May import: core, schema, data, models, tasks
"""
