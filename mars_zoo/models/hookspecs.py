"""The hooks a mars-zoo plugin may implement: every hook is declared here, and nowhere else.

A plugin is any module or object with functions decorated by `mars_zoo.hookimpl`.
Built-in model families in `plugins/`, and the MarsRetrieval tasks
(`mars_zoo.tasks.marsretrieval`), are written exactly as a third party would write
one. Example::

    import mars_zoo

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name="acme/small", family="acme", ...))

    @mars_zoo.hookimpl
    def register_tasks(register):
        register(mars_zoo.Task(name="acme_retrieval", title="Acme retrieval", ...))

Hooks receive a `register` callback instead of returning a list, so that a plugin
can register models conditionally and nothing heavy is imported while listing.

How a plugin is checked when it loads (`mars_zoo.models.plugin_manager`):

- A function decorated with `mars_zoo.hookimpl` must be named after a hook declared here
  (or name one with `specname=`) and take only that hook's arguments. Any other name is
  refused, with the hooks declared here and the closest one, as the misspelling it
  almost always is (`register_model`); mark a hook of a later mars-zoo
  `@mars_zoo.hookimpl(optionalhook=True)` to have this version ignore it instead.
- A plugin without any decorated function registers nothing: it still loads, with a
  warning that says so (a forgotten decorator, or a helper module in `--plugins-dir`
  that should be named `_helper.py`).
"""

import pluggy

PROJECT = "mars_zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register):
    """Register this plugin's models: call ``register(spec)`` once per `mars_zoo.ModelSpec`.

    Called once per command, before any model loads, for every plugin in load order
    (built-ins, entry points, `--plugins-dir` files); even `mars-zoo list` calls it.

    Must:
      - take the one argument ``register`` (it is passed by that name);
      - give each model a ``family/name`` no other plugin registered (a taken name is
        refused, naming both plugins), and the fields a result needs (`embedding_dim`,
        `parameters`, `license`, a pinned `revision`: `mars_zoo.models.spec_checks` says which);
      - register the same models for the same installed packages every time: results
        and the embedding cache name a model by what is registered here.

    Must not:
      - import torch, model libraries or weights, or reach the network: loading
        happens later, in ``spec.load``, and only for the model a command uses;
      - return the specs (the return value is ignored) or register anything but a
        `ModelSpec`;
      - depend on the working directory, or change it, to find its files.

    What it prints goes to stderr; what it raises (or a ``sys.exit()`` in it) ends the
    command with one error naming the plugin (exit status 3).
    """


@hookspec
def register_tasks(register):
    """Register this plugin's tasks: call ``register(task)`` once per `mars_zoo.Task`.

    Called once per command that runs or lists tasks (`mars-zoo run`), for every plugin in
    load order (built-ins, whose `marsretrieval` plugin registers the three MarsRetrieval
    tasks, then entry points, then `--plugins-dir` files).

    Must:
      - take the one argument ``register`` (it is passed by that name);
      - give each task a name no other plugin registered (a taken name is refused, naming
        both plugins) and the declarations a result needs: a title, each metric's name and
        the direction that is better, the headline metric among them
        (`mars_zoo.tasks.registry` checks them against the result schema);
      - register the same tasks every time: result files name a task and its metrics by
        what is registered here.

    Must not:
      - read data, import torch or model libraries, or reach the network: that happens in
        the task's ``plan``, and only for the tasks a run asks for;
      - embed anything itself: ``plan`` says what to embed, the harness embeds it (through
        the cache, on every rank alike) and hands the embeddings to ``score``.

    What it prints goes to stderr; what it raises (or a ``sys.exit()`` in it) ends the
    command with one error naming the plugin (exit status 3).
    """
