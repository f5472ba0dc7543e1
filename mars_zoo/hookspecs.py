"""The hooks a mars-zoo plugin may implement: every hook is declared here, and nowhere else.

A plugin is any module or object with functions decorated by `mars_zoo.hookimpl`.
Built-in model families in `plugins/` are written exactly as a third party would
write one. Example::

    import mars_zoo

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name="acme/small", family="acme", ...))

Hooks receive a `register` callback instead of returning a list, so that a plugin
can register models conditionally and nothing heavy is imported while listing.

How a plugin is checked when it loads (`mars_zoo.plugin_manager`):

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
        `parameters`, `license`, a pinned `revision`: `mars_zoo.spec_checks` says which);
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
