"""Benchmark data: the dataset definitions, the Hub-format readers and writers, and
the embedded synthetic mini benchmark.

May import: core
"""
