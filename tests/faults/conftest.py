"""Fixtures shared by the fault corpus files (defined once here, so that the session-scoped
clean run is made once per test session, not once per file)."""

from data_faults import cache_copy, clean, data_copy  # noqa: F401
