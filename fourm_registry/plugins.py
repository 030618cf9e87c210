"""One plugin manager: built-ins, installed entry points (group ``fourm``) and explicit objects.

Environment switches:
- ``FOURM_LOAD_PLUGINS=a,b`` loads only the named third-party plugins (empty: none but
  the built-ins); unset loads every installed one.
- ``FOURM_TRACE_HOOKS=1`` prints every hook call and which plugin answered to stderr.
"""
from __future__ import annotations

import importlib.metadata as md
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

ENTRYPOINT_GROUP = "fourm"
BUILTIN_DISTRIBUTION = "fourm"  # entry points shipped by fourm itself are the built-ins
CORE_PLUGIN = "fourm.core"


def allowed_plugins() -> set[str] | None:
    """The allow-list from ``FOURM_LOAD_PLUGINS`` (``None``: no restriction)."""
    raw = os.environ.get("FOURM_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _entry_points() -> list[tuple[md.EntryPoint, str]]:
    found = []
    for ep in md.entry_points(group=ENTRYPOINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        found.append((ep, dist))
    return found


def distribution_of(plugin_name: str) -> str | None:
    """The installed distribution whose ``fourm`` entry point is ``plugin_name`` (None: not one)."""
    for ep, dist in _entry_points():
        if ep.name == plugin_name:
            return dist
    return None


def entry_point_names() -> list[str]:
    """Names of every installed ``fourm`` entry point, built-ins included."""
    return [ep.name for ep, _ in _entry_points()]


def third_party_plugins() -> list[str]:
    """Entry-point names of every installed plugin that is not fourm's own."""
    return [ep.name for ep, dist in _entry_points()
            if dist.replace("_", "-").lower() != BUILTIN_DISTRIBUTION]


def broken_plugin(message: str, plugin: str, dist: str | None) -> PluginError:
    """A :class:`PluginError` naming the plugin and its distribution, with the way around it."""
    builtin = dist is not None and dist.replace("_", "-").lower() == BUILTIN_DISTRIBUTION
    hint = "" if builtin or dist is None else (
        f" Skip it with FOURM_LOAD_PLUGINS=<the plugins to load, comma-separated; empty: built-ins only>, "
        f"or uninstall {dist}.")
    err = PluginError(message.rstrip(".") + "." + hint)
    err.plugin, err.distribution = plugin, dist  # type: ignore[attr-defined]
    return err


def make_plugin_manager(
    *, entrypoints: bool = True, builtins: bool = True, allow: Iterable[str] | None = None,
    extra: Iterable[Any] = (),
) -> pluggy.PluginManager:
    """Create an isolated plugin manager; nothing global is mutated.

    ``allow`` overrides ``FOURM_LOAD_PLUGINS``; ``extra`` are plugin objects (modules,
    classes or instances with hookimpls) registered explicitly, as tests do.
    """
    from . import objectives  # the core's own plugin: built-in losses

    pm = pluggy.PluginManager(ENTRYPOINT_GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(objectives, name=CORE_PLUGIN)
    allow_set = set(allow) if allow is not None else allowed_plugins()
    if entrypoints:
        seen: dict[str, str] = {}
        for ep, dist in _entry_points():
            builtin = dist.replace("_", "-").lower() == BUILTIN_DISTRIBUTION
            if builtin and not builtins:
                continue
            if not builtin and allow_set is not None and not ({ep.name, dist} & allow_set):
                continue
            if ep.name in seen and seen[ep.name] != dist:
                raise PluginError(
                    f"Plugin name {ep.name!r} is provided by both {seen[ep.name]!r} and {dist!r}."
                )
            if pm.get_plugin(ep.name) is not None:
                continue
            seen[ep.name] = dist
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party package must not hide the rest's error
                raise broken_plugin(f"Plugin {ep.name!r} (from {dist}) failed to import: {exc}", ep.name, dist) from exc
            pm.register(plugin, name=ep.name)
    for obj in extra:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if pm.get_plugin(name) is not None:
            raise PluginError(f"A plugin named {name!r} is already registered.")
        pm.register(obj, name=name)
    if os.environ.get("FOURM_TRACE_HOOKS"):
        _trace(pm)
    return pm


def _trace(pm: pluggy.PluginManager) -> None:
    def before(hook_name: str, impls: list, kwargs: dict) -> None:
        names = ", ".join(impl.plugin_name for impl in impls)
        print(f"[fourm hook] {hook_name}({', '.join(kwargs)}) -> {names}", file=sys.stderr)

    def after(outcome: Any, hook_name: str, impls: list, kwargs: dict) -> None:
        pass

    pm.add_hookcall_monitoring(before, after)


def call_each(pm: pluggy.PluginManager, hook_name: str, make_kwargs: Callable[[str], dict]) -> None:
    """Call every implementation of a hook separately, so a failure names its plugin.

    ``make_kwargs(plugin_name)`` builds the hook's arguments for that plugin (e.g. a
    ``register`` callback that records who registered what).
    """
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
        if os.environ.get("FOURM_TRACE_HOOKS"):
            print(f"[fourm hook] {hook_name} -> {impl.plugin_name}", file=sys.stderr)
        kwargs = make_kwargs(impl.plugin_name)
        try:
            impl.function(**{k: kwargs[k] for k in impl.argnames})
        except PluginError:
            raise
        except Exception as exc:
            dist = distribution_of(impl.plugin_name)
            source = f" (from {dist})" if dist else ""
            raise broken_plugin(f"Plugin {impl.plugin_name!r}{source} failed in {hook_name}: "
                                f"{type(exc).__name__}: {exc}", impl.plugin_name, dist) from exc
