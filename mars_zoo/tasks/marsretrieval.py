"""The built-in plugin of the three MarsRetrieval tasks, registered as any plugin registers a
task. The task modules are imported by the hook, not with this module, so that commands that
only list models do not load them."""

from mars_zoo.models.hookspecs import hookimpl


@hookimpl
def register_tasks(register):
    from mars_zoo.tasks import geolocalization, landform, paired

    for module in (paired, landform, geolocalization):
        register(module.TASK)
