"""User-facing errors.

A `MarsZooError` is a mistake the user can fix (a wrong model name, a missing data
directory, a malformed file). The CLI prints its message as one paragraph and exits
non-zero without a traceback; anything else is a bug and keeps its traceback.
"""


class MarsZooError(Exception):
    """A problem the user can fix; the message names the thing and the fix."""

    exit_code = 2


class PluginError(MarsZooError):
    """Plugin code failed: it raised, called sys.exit(), or broke the contract."""

    exit_code = 3


class ModelContractError(PluginError):
    """A model returned something the harness cannot score (shape, dtype, NaN...)."""

    exit_code = 3


class RanksLost(MarsZooError):
    """A run on several ranks stopped because one of them did (killed, crashed): what
    was finished is in the cache, and a rerun resumes."""

    exit_code = 3
