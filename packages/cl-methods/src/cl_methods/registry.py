"""Registry of methods by their paper names, each with a typed config (HF PEFT style)."""

from __future__ import annotations

import dataclasses
import types
import typing
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


def parse_bool(value: Any) -> bool:
    """Strict boolean parsing: true/false, 1/0, yes/no, on/off (any case); else an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "y", "on"}:
        return True
    if text in {"false", "0", "no", "n", "off"}:
        return False
    raise ValueError(f"not a boolean: {value!r} (use true/false, 1/0 or yes/no)")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a value (often a command-line string) to a dataclass field's annotated type."""
    if isinstance(annotation, str):
        raise TypeError(f"{where}: unresolved annotation {annotation!r}")
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in {"none", "null"})
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise ValueError(
            f"{where}: cannot interpret {value!r} as {annotation} ({'; '.join(errors)})"
        )
    if origin is typing.Literal:
        for arg in args:
            if value == arg or str(value) == str(arg):
                return arg
        raise ValueError(f"{where}: {value!r} is not one of {list(args)}")
    if annotation is bool:
        return parse_bool(value)
    if annotation in (int, float, str):
        if annotation is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        try:
            return annotation(value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: expected {annotation.__name__}, got {value!r}") from err
    if origin in (list, tuple, typing.Sequence) or annotation in (list, tuple):
        items = value
        if isinstance(value, str):
            items = [v for v in value.split(",") if v.strip() != ""]
        inner = args[0] if args else Any
        out = [_coerce(v, inner, where) for v in items]
        return tuple(out) if (origin is tuple or annotation is tuple) else out
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def config_from_dict(config_class: type[MethodConfig], values: dict[str, Any]) -> MethodConfig:
    """Build a config from a (possibly string-valued) mapping; unknown keys are an error."""
    hints = typing.get_type_hints(config_class)
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(
            f"unknown option(s) for {config_class.__name__}: {unknown}; known: {sorted(fields)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{config_class.__name__}.{k}") for k, v in values.items()}
    return config_class(**kwargs)


def build_method(name: str, config: MethodConfig | dict[str, Any] | None = None) -> Method:
    """Instantiate a registered method; ``config`` may be its config object or a mapping of
    overrides applied on top of the paper defaults."""
    cls = get_method_class(name)
    if config is None or isinstance(config, dict):
        config = config_from_dict(cls.config_class, config or {})
    return cls(config)
