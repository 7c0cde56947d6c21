"""Provider discovery: pluggy plugins loaded from the ``hayswitch`` entry-point group.

Each entry point is loaded in isolation. A plugin that fails to import, raises inside its hook or
registers something invalid is recorded with its error, reported with a :class:`PluginWarning`
and skipped; every other plugin keeps working. ``HAYSWITCH_STRICT_PLUGINS=1`` turns such failures
into :class:`~hayswitch.errors.PluginLoadError`. ``HAYSWITCH_PLUGINS=a,b`` restricts loading to
those entry points (an empty value loads none).

Plugins are isolated from the program that loads them: an exception of any kind raised while a
plugin module is imported or while its hook runs -- ``SystemExit`` and ``KeyboardInterrupt``
included -- skips that plugin. The one exception is a *real* Ctrl-C: while plugins load, a
SIGINT handler (in the main thread) notes that the user pressed Ctrl-C, and only then is the
``KeyboardInterrupt`` passed on. (A real Ctrl-C is only ever delivered to the main thread, so a
``KeyboardInterrupt`` raised in another thread is always the plugin's own.)

Built-in providers -- those registered by the core distribution (``fake``) and by the
first-party provider distributions (:data:`CORE_DISTRIBUTIONS`) -- are loaded first and cannot
be displaced by name: a third-party plugin whose entry point or provider class uses one of their
names is refused, and the message names its distribution.

Discovery imports only the plugin modules (which must not import heavy SDKs at module level); it
never instantiates a provider.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import re
import signal
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from hayswitch import hookspecs
from hayswitch.contracts import ContractDeclaration
from hayswitch.errors import (
    ConfigurationError,
    DuplicateProviderError,
    PluginLoadError,
    ProviderNotFoundError,
)
from hayswitch.provider import Provider, ProviderSettings
from hayswitch.types import Capabilities, GenerationOptions

__all__ = [
    "CORE_DISTRIBUTIONS",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginWarning",
    "ProviderInfo",
    "Registry",
    "get_registry",
    "reset_registry",
]

ENTRY_POINT_GROUP = "hayswitch"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_TRUE = {"1", "true", "yes", "on"}


CORE_DISTRIBUTIONS = frozenset({"hayswitch", "hayswitch-local", "hayswitch-openai", "hayswitch-gradient"})
"""Distributions whose providers are built in: loaded first, and their names cannot be taken over."""


def _normalise_dist(name: str | None) -> str | None:
    return re.sub(r"[-_.]+", "-", name).lower() if name else None


def _is_core(info: PluginInfo) -> bool:
    return _normalise_dist(info.distribution) in CORE_DISTRIBUTIONS


class _InterruptWatch:
    """Notes whether a real SIGINT (Ctrl-C) arrived while plugins were loading."""

    def __init__(self) -> None:
        self.signalled = False
        self.installed = False


@contextmanager
def _watch_interrupts() -> Iterator[_InterruptWatch]:
    """Install a SIGINT handler that records a real Ctrl-C and then behaves like the previous one.

    Outside the main thread nothing is installed: signals are delivered to the main thread only,
    so a ``KeyboardInterrupt`` raised in another thread never comes from the user.
    """
    watch = _InterruptWatch()
    if threading.current_thread() is not threading.main_thread():
        yield watch
        return
    try:
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> Any:
            watch.signalled = True
            if callable(previous):
                return previous(signum, frame)
            if previous == signal.SIG_IGN:
                return None
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, handler)
        watch.installed = True
    except (ValueError, TypeError, OSError):  # not the main interpreter, or no signal support
        yield watch
        return
    try:
        yield watch
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _is_user_interrupt(exc: BaseException, watch: _InterruptWatch) -> bool:
    """Whether ``exc`` must propagate: a KeyboardInterrupt while a real Ctrl-C was signalled."""
    return isinstance(exc, KeyboardInterrupt) and watch.signalled


def _base_exception_note(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}); a plugin must raise an exception instead of exiting the program"
    if isinstance(exc, KeyboardInterrupt):
        return "it raised KeyboardInterrupt itself (no Ctrl-C was pressed)"
    return f"it raised {type(exc).__name__}, which is not an Exception"


class PluginWarning(UserWarning):
    """A plugin failed to load and was skipped."""


@dataclass
class PluginInfo:
    """One loaded (or failed) plugin: an entry point of the ``hayswitch`` group."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    providers: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class ProviderInfo:
    """What ``list_providers()`` reports for one provider name."""

    name: str
    plugin: str
    distribution: str | None
    version: str | None
    capabilities: Capabilities | None
    error: str | None = None
    provider_class: type[Provider] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "capabilities": self.capabilities.model_dump() if self.capabilities else None,
            "status": "ok" if self.error is None else "error",
            "error": self.error,
        }


def _short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _where(exc: BaseException) -> str:
    """`` (at FILE:LINE)`` of the line that failed (the syntax error's own location, else the
    innermost frame of a real file), or ``""``."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    tb = exc.__traceback__
    location = ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<"):
            location = f" (at {filename}:{tb.tb_lineno})"
        tb = tb.tb_next
    return location


def _check_provider_class(cls: Any) -> str | None:
    """Return a problem description, or None if ``cls`` is a valid provider class."""
    if not isinstance(cls, type) or not issubclass(cls, Provider):
        return f"register() takes a hayswitch.Provider subclass, got {cls!r}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"{cls.__qualname__}.name must be a lowercase identifier (letters, digits, '-', '_'), got {name!r}"
    if not (isinstance(cls.settings_model, type) and issubclass(cls.settings_model, ProviderSettings)):
        return f"{cls.__qualname__}.settings_model must subclass hayswitch.ProviderSettings"
    if not (isinstance(cls.options_model, type) and issubclass(cls.options_model, GenerationOptions)):
        return f"{cls.__qualname__}.options_model must subclass hayswitch.GenerationOptions"
    if not isinstance(cls.capabilities, Capabilities):
        return f"{cls.__qualname__}.capabilities must be a hayswitch.Capabilities instance"
    if not isinstance(inspect.getattr_static(cls, "long_text_behaviour", None), property):
        return (
            f"{cls.__qualname__}.long_text_behaviour must be a property (decorate it with @property); "
            "as a method it is always truthy and the contract kit would take the wrong branch"
        )
    if cls.capabilities.streaming and cls._stream is Provider._stream:
        # Listed as streaming, every stream() would raise UnsupportedOperation: refuse it here.
        return f"{cls.__qualname__} declares capabilities.streaming=True but does not implement _stream()"
    return None


@dataclass
class _Entry:
    cls: type[Provider]
    plugin: PluginInfo


class Registry:
    """The set of providers available in this process.

    :param environ: environment to read ``HAYSWITCH_PLUGINS`` / ``HAYSWITCH_STRICT_PLUGINS`` from.
    :param load_entry_points: discover plugins from installed distributions (off for an empty
        registry in tests).
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None, load_entry_points: bool = True) -> None:
        self._environ = environ
        self._load_entry_points = load_entry_points
        self._loaded = False
        self._load_error: ConfigurationError | None = None
        self._lock = threading.RLock()
        self.plugin_manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._providers: dict[str, _Entry] = {}
        self._conflicts: dict[str, DuplicateProviderError] = {}
        self._plugins: list[PluginInfo] = []
        self._watch = _InterruptWatch()

    # ------------------------------------------------------------------ environment
    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    @property
    def strict(self) -> bool:
        return self.environ.get("HAYSWITCH_STRICT_PLUGINS", "").strip().lower() in _TRUE

    def _allowed(self) -> set[str] | None:
        raw = self.environ.get("HAYSWITCH_PLUGINS")
        if raw is None:
            return None
        return {p.strip() for p in raw.split(",") if p.strip()}

    # ------------------------------------------------------------------ loading
    def load(self) -> Registry:
        """Discover plugins once (idempotent and thread-safe)."""
        with self._lock:
            if self._load_error is not None:
                # A strict-mode failure is permanent for this registry: never serve a half-loaded one.
                raise self._load_error
            if self._loaded:
                return self
            self._loaded = True
            if self._load_entry_points:
                allowed = self._allowed()
                eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)

                def order(ep: importlib.metadata.EntryPoint) -> tuple[bool, str, str]:
                    # Built-in distributions first, so their names cannot be taken by a plugin.
                    dist = _normalise_dist(getattr(getattr(ep, "dist", None), "name", None))
                    return (dist not in CORE_DISTRIBUTIONS, ep.name, dist or "")

                try:
                    with _watch_interrupts() as self._watch:
                        for ep in sorted(eps, key=order):
                            if allowed is not None and ep.name not in allowed:
                                continue
                            self._load_entry_point(ep)
                except ConfigurationError as exc:
                    self._load_error = exc
                    raise
                finally:
                    self._watch = _InterruptWatch()
            return self

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=getattr(dist, "name", None),
            version=getattr(dist, "version", None),
        )
        first = next((p for p in self._plugins if p.name == info.name), None)
        self._plugins.append(info)
        if first is not None and self.plugin_manager.get_plugin(info.name) is not None:
            if first.module == info.module:
                # The same module listed twice (stale metadata next to a reinstalled distribution).
                self._plugins.remove(info)
                return
            # Refused before its module is imported: its import-time code never runs.
            problem = (
                f"entry point name {info.name!r} is already used by {_describe(first)}; rename the entry point "
                f"of {_describe(info)}, uninstall one of the two distributions, or restrict loading with "
                "HAYSWITCH_PLUGINS"
            )
            self._fail(info, f"invalid plugin: {problem}", ConfigurationError(problem))
            return
        try:
            module = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            self._fail(info, f"import failed: {_short_error(exc)}{_where(exc)}", exc)
            return
        except BaseException as exc:  # SystemExit, KeyboardInterrupt, ... raised by the plugin itself
            if _is_user_interrupt(exc, self._watch):
                raise
            self._fail(info, f"import failed: {_base_exception_note(exc)}", None)
            return
        self.register_plugin(module, info)

    def register_plugin(self, plugin: ModuleType | object, info: PluginInfo | None = None) -> PluginInfo:
        """Register a plugin object (a module or any object with hookimpls) and run its
        ``register_providers`` hook in isolation."""
        with self._lock:
            if info is None:
                name = getattr(plugin, "__name__", None) or type(plugin).__name__
                info = PluginInfo(name=name, module=name, distribution=None, version=None)
                self._plugins.append(info)
            registered = self.plugin_manager.get_plugin(info.name)
            if registered is plugin:
                # The same module listed twice (e.g. stale metadata next to a reinstalled
                # distribution): it is already loaded, so there is nothing to do and nothing wrong.
                if info in self._plugins and any(p is not info and p.name == info.name for p in self._plugins):
                    self._plugins.remove(info)
                return info
            if registered is not None:
                first = next((p for p in self._plugins if p.name == info.name and p is not info), None)
                owner = _describe(first) if first is not None else "another plugin"
                problem = (
                    f"entry point name {info.name!r} is already used by {owner}; uninstall one of the two "
                    "distributions (or restrict loading with HAYSWITCH_PLUGINS)"
                )
                self._fail(info, f"invalid plugin: {problem}", ConfigurationError(problem))
                return info
            try:
                self.plugin_manager.register(plugin, name=info.name)
            except Exception as exc:  # noqa: BLE001
                self._fail(info, f"invalid plugin: {_short_error(exc)}", exc)
                return info
            hook_problem = self._check_hooks(plugin)
            if hook_problem is not None:
                self.plugin_manager.unregister(plugin)
                self._fail(info, f"invalid plugin: {hook_problem}", ConfigurationError(hook_problem))
                return info
            if any(impl.plugin is plugin for impl in self.plugin_manager.hook.register_providers.get_hookimpls()):
                staged: list[type[Provider]] = []

                def register(cls: type[Provider], _staged: list[type[Provider]] = staged) -> None:
                    problem = _check_provider_class(cls)
                    if problem:
                        raise ConfigurationError(problem)
                    _staged.append(cls)

                # Through pluggy's hook caller, restricted to this plugin (isolation: one plugin's
                # failure is its own).
                others = [p for p in self.plugin_manager.get_plugins() if p is not plugin]
                caller = self.plugin_manager.subset_hook_caller("register_providers", remove_plugins=others)
                try:
                    caller(register=register)
                except Exception as exc:  # noqa: BLE001
                    self.plugin_manager.unregister(plugin)
                    self._fail(info, f"register_providers() raised {_short_error(exc)}{_where(exc)}", exc)
                    return info
                except BaseException as exc:  # SystemExit, KeyboardInterrupt, ... raised by the plugin
                    if _is_user_interrupt(exc, self._watch):
                        raise
                    self.plugin_manager.unregister(plugin)
                    self._fail(info, f"register_providers() failed: {_base_exception_note(exc)}", None)
                    return info
                for cls in staged:
                    self._add(cls, info)
            return info

    def _check_hooks(self, plugin: object) -> str | None:
        """A problem with the plugin's hook implementations (unknown hook names, or none at all)."""
        callers = self.plugin_manager.get_hookcallers(plugin) or []
        known = sorted(n for n in dir(hookspecs) if n.startswith("register_"))
        unknown = sorted(c.name for c in callers if not c.has_spec())
        if unknown:
            return (
                f"{', '.join(repr(n) for n in unknown)} is not a hayswitch hook "
                f"(known hooks: {', '.join(known)}); check the function name"
            )
        if not callers:
            return f"the module defines no @hayswitch.hookimpl function (expected one of: {', '.join(known)})"
        return None

    def register(self, cls: type[Provider], *, plugin: str = "(in-process)") -> None:
        """Register one provider class directly (for notebooks and tests)."""
        self.load()
        problem = _check_provider_class(cls)
        if problem:
            raise ConfigurationError(problem)
        info = PluginInfo(name=plugin, module=getattr(cls, "__module__", "?"), distribution=None, version=None)
        self._plugins.append(info)
        self._add(cls, info)

    def _add(self, cls: type[Provider], info: PluginInfo) -> None:
        existing = self._providers.get(cls.name)
        if existing is not None and existing.cls is not cls and _is_core(existing.plugin) and not _is_core(info):
            # A built-in provider's name: refused, the built-in one stays in place and usable.
            problem = (
                f"provider name {cls.name!r} belongs to the built-in provider of {_describe(existing.plugin)} and "
                f"cannot be replaced; {_describe(info)} registers {cls.__module__}.{cls.__qualname__} under it. "
                "Give that provider class another name, or uninstall the distribution"
            )
            info.error = problem
            refused = PluginLoadError(info.name, info.distribution, problem)
            if self.strict:
                raise refused
            warnings.warn(f"{refused} -- skipped.", PluginWarning, stacklevel=4)
            return
        if existing is not None and existing.cls is not cls:
            err = DuplicateProviderError(cls.name, _describe(existing.plugin), _describe(info))
            self._conflicts[cls.name] = err
            info.error = str(err)
            warnings.warn(str(err), PluginWarning, stacklevel=4)
            if self.strict:
                raise err
            return
        self._providers[cls.name] = _Entry(cls=cls, plugin=info)
        info.providers.append(cls.name)

    def _fail(self, info: PluginInfo, detail: str, exc: BaseException | None) -> None:
        info.error = detail
        err = PluginLoadError(info.name, info.distribution, detail)
        if self.strict:
            raise err from exc
        warnings.warn(f"{err} -- skipped. Set HAYSWITCH_STRICT_PLUGINS=1 to fail instead.", PluginWarning, stacklevel=4)

    # ------------------------------------------------------------------ queries
    def names(self) -> list[str]:
        """Names of the providers that loaded without error."""
        self.load()
        return sorted(n for n in self._providers if n not in self._conflicts)

    def get_class(self, name: str) -> type[Provider]:
        """The provider class registered under ``name``.

        :raises ProviderNotFoundError: with a did-you-mean suggestion.
        :raises DuplicateProviderError: if two plugins registered ``name``.
        :raises PluginLoadError: if the plugin whose entry point is ``name`` failed to load.
        """
        import difflib

        self.load()
        if not isinstance(name, str) or not name.strip():
            raise ProviderNotFoundError(str(name), self.names(), note=self._restriction_note())
        if name not in self._providers and name.strip().lower() in self._providers:
            name = name.strip().lower()  # provider names are case-insensitive
        if name in self._conflicts:
            raise self._conflicts[name]
        entry = self._providers.get(name)
        if entry is not None:
            return entry.cls
        failed = [info for info in self._plugins if info.error and not info.providers]
        for info in failed:
            if info.name == name:
                raise PluginLoadError(info.name, info.distribution, info.error or "failed")
        # The entry point may be named differently from the provider it registers: a failed plugin
        # whose entry point or distribution mentions the name is most likely the one.
        for info in failed:
            if name in info.name or (info.distribution and name in info.distribution):
                raise PluginLoadError(
                    info.name,
                    info.distribution,
                    f"{info.error or 'failed'} -- provider {name!r} is not registered, most likely because this "
                    "plugin failed",
                )
        available = self.names()
        close = difflib.get_close_matches(name.lower(), available, n=1, cutoff=0.6)
        raise ProviderNotFoundError(name, available, close[0] if close else None, note=self._restriction_note())

    def _restriction_note(self) -> str | None:
        """Why providers may be missing because of ``HAYSWITCH_PLUGINS`` (None when it is unset)."""
        allowed = self._allowed()
        if allowed is None or not self._load_entry_points:
            return None
        if not allowed:
            return (
                "HAYSWITCH_PLUGINS is set but empty, so no plugin was loaded: unset it to load every installed "
                "plugin, or list the entry points to load (e.g. HAYSWITCH_PLUGINS=fake,local)."
            )
        return (
            f"HAYSWITCH_PLUGINS restricts loading to: {', '.join(sorted(allowed))}; add the entry point you need "
            "or unset the variable."
        )

    def contract_declarations(self) -> tuple[dict[str, ContractDeclaration], list[str]]:
        """Every :class:`~hayswitch.ContractDeclaration` the plugins register (``register_contracts``
        hook, called through pluggy one plugin at a time), and the problems of plugins whose hook
        failed (a broken plugin does not hide the others' declarations)."""
        self.load()
        found: dict[str, ContractDeclaration] = {}
        problems: list[str] = []

        def register(declaration: ContractDeclaration) -> None:
            if not isinstance(declaration, ContractDeclaration):
                raise ConfigurationError(
                    f"register_contracts() must register hayswitch.ContractDeclaration objects, got {declaration!r}."
                )
            found.setdefault(declaration.provider, declaration)

        pm = self.plugin_manager
        for impl in pm.hook.register_contracts.get_hookimpls():
            others = [p for p in pm.get_plugins() if p is not impl.plugin]
            try:
                pm.subset_hook_caller("register_contracts", remove_plugins=others)(register=register)
            except Exception as exc:  # noqa: BLE001 - reported with the plugin's name
                problems.append(f"plugin {pm.get_name(impl.plugin)!r}: {_short_error(exc)}{_where(exc)}")
        return found, problems

    def plugins(self) -> list[PluginInfo]:
        self.load()
        return list(self._plugins)

    def infos(self) -> list[ProviderInfo]:
        """Every provider and every failed plugin, sorted by name."""
        self.load()
        rows: list[ProviderInfo] = []
        for name, entry in self._providers.items():
            rows.append(
                ProviderInfo(
                    name=name,
                    plugin=entry.plugin.name,
                    distribution=entry.plugin.distribution,
                    version=entry.plugin.version,
                    capabilities=entry.cls.capabilities,
                    error=str(self._conflicts[name]) if name in self._conflicts else None,
                    provider_class=entry.cls,
                )
            )
        for info in self._plugins:
            if info.error and not info.providers and not any(r.name == info.name and r.ok is False for r in rows):
                taken = any(r.name == info.name for r in rows)
                rows.append(
                    ProviderInfo(
                        name=f"{info.name} ({info.distribution or info.module})" if taken else info.name,
                        plugin=info.name,
                        distribution=info.distribution,
                        version=info.version,
                        capabilities=None,
                        error=info.error,
                    )
                )
        return sorted(rows, key=lambda r: r.name)


def _describe(info: PluginInfo) -> str:
    if info.distribution:
        return f"distribution {info.distribution!r} (entry point {info.name!r})"
    return f"plugin {info.name!r} ({info.module})"


_registry: Registry | None = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry (discovered lazily on first use)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = Registry()
        return _registry.load()


def reset_registry() -> None:
    """Forget the process-wide registry (tests; after installing a plugin at run time)."""
    global _registry
    with _registry_lock:
        _registry = None
