"""The hooks a mars-zoo plugin may implement.

A plugin is any module or object with functions decorated by `mars_zoo.hookimpl`.
Built-in model families in `plugins/` are written exactly as a third party would
write one. Example::

    import mars_zoo

    @mars_zoo.hookimpl
    def register_models(register):
        register(mars_zoo.ModelSpec(name="acme/small", family="acme", ...))

Hooks receive a `register` callback instead of returning a list, so that a plugin
can register models conditionally and nothing heavy is imported while listing.
"""

import pluggy

PROJECT = "mars_zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register):
    """Register this plugin's models.

    Call ``register(spec)`` once per `mars_zoo.ModelSpec`. Must not import torch,
    model libraries or weights: loading happens later, in ``spec.load``.
    """
