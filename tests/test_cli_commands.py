"""Every command is added one way (`mars_zoo.cli.commands`): its handler's docstring is its
help, so each command lists a summary and its own --help a description, and a handler
without words is refused when the parser is built, not shipped with an empty help."""

import argparse

import pytest

from mars_zoo.cli import build_parser
from mars_zoo.cli.commands import add_command


def _commands(parser: argparse.ArgumentParser, path=("mars-zoo",)):
    """(path, summary, parser) of every command below `parser`, groups included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), summaries[name], sub
                yield from _commands(sub, (*path, name))


def test_every_command_has_a_summary_and_a_description_and_runs_its_own_handler():
    commands = list(_commands(build_parser()))
    names = {" ".join(path) for path, _, _ in commands}
    assert {"mars-zoo run", "mars-zoo data download", "mars-zoo import mteb", "mars-zoo leaderboard serve"} <= names
    for path, summary, parser in commands:
        assert summary and summary == summary.strip() and "\n" not in summary, path
        assert parser.description and len(parser.description) >= len(summary), path
        handler = parser.get_default("handler")
        if handler is not None:  # a command, not a group
            doc = handler.__doc__.split("\n\n")[0].strip()
            assert doc == summary, path


def test_a_handler_without_a_docstring_is_refused_by_name():
    def nameless(args):
        return 0

    subparsers = argparse.ArgumentParser().add_subparsers()
    with pytest.raises(TypeError, match="'nameless'.*nameless needs a docstring"):
        add_command(subparsers, "nameless", nameless)
