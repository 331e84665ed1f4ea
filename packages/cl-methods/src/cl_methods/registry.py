"""Registry of methods by their paper names, each with a typed config (HF PEFT style)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from .method import Method, MethodConfig

M = TypeVar("M", bound=type[Method])

_REGISTRY: dict[str, type[Method]] = {}


def register_method(name: str) -> Callable[[M], M]:
    """Class decorator: ``@register_method("olora")`` makes ``build_method("olora")`` work."""
    key = name.lower()

    def decorate(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"@register_method({name!r}) must decorate a Method subclass")
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"method name {key!r} is already registered by {_REGISTRY[key]}")
        cls.name = key
        _REGISTRY[key] = cls
        return cls

    return decorate


def _ensure_builtin() -> None:
    # Importing the package registers the built-in methods.
    from . import methods  # noqa: F401


def available_methods() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def get_method_class(name: str) -> type[Method]:
    _ensure_builtin()
    key = name.lower()
    if key not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[key]


def build_method(name: str, config: MethodConfig | dict[str, Any] | None = None) -> Method:
    """Instantiate a registered method; ``config`` may be its config object or a mapping of typed
    values applied on top of the paper defaults (strings are not converted: the apps' command
    lines and YAML files are typed by their configuration system)."""
    cls = get_method_class(name)
    if config is None or isinstance(config, dict):
        values = config or {}
        known = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown option(s) for {cls.config_class.__name__}: {unknown}; known: "
                f"{sorted(known)}"
            )
        config = cls.config_class(**values)
    return cls(config)
