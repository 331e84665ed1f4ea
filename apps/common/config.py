"""One run configuration for every app, built on ``transformers.HfArgumentParser`` and PyYAML.

A configuration is a tree of dataclasses whose fields carry the paper's default and
``field(metadata={"help": ...})``; a field whose type is a dataclass is a *section*. The method's
config is the section ``method_config``, its class the registered config of ``method``. Every
field is a flag named by its path (``--order``, ``--trainer.epochs``, ``--method_config.lambda_1``;
``-`` and ``_`` are interchangeable), and a method's field also answers to its path without
``method_config.`` when no other flag has that name (``--lambda-1``). ``--config FILE.yaml`` gives
values in the same tree; the file's values are read as flags placed before the command line, so
the command line wins whatever the order. Precedence: dataclass defaults < preset < file < command
line. ``--print-config`` prints the merged configuration as YAML (which ``--config`` reads back)
and exits 0; :func:`save` writes it to the run folder. Bad input is one line on stderr, exit code
2, naming the flag as it was typed or the file's key.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import sys
import types
import typing
from argparse import ArgumentError, ArgumentTypeError
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from transformers import HfArgumentParser

from cl_methods import DivergedError, get_method_class

CONFIG_FILE = "run_config.yaml"
DIVERGED = 3  # exit code of a run stopped by non-finite training (cl_methods.DivergedError)
METHOD = "method_config"
_SEP = "__"  # a section path in the flat dataclass HfArgumentParser sees: trainer__epochs


class ConfigError(SystemExit):
    """A setting a person can fix: one line on stderr, exit code 2 (see :func:`entry`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = 2
        self.message = message


class FieldError(ValueError):
    """Raised by an app config's ``validate()``: ``path`` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass
class AppSpec:
    """What the configuration system needs to know about one app.

    root: the app's config dataclass (fields ``method``/``method_config`` if it runs a method).
    methods: method name on this app's command line -> registered cl-methods name.
    presets: (preset name, early values of ``selectors``) -> nested values of that preset.
    selectors: root fields the presets depend on (read from the file and command line first).
    """

    prog: str
    description: str
    root: type
    methods: Mapping[str, str] = field(default_factory=dict)
    presets: Callable[[str, dict[str, str]], dict[str, Any]] | None = None
    selectors: tuple[str, ...] = ("preset",)


def entry(*errors: Any) -> Any:
    """Decorate an app's ``main``: a :class:`ConfigError` (and any of ``errors``, exception
    classes a run may raise with a message a person can act on) becomes ``error: ...`` on stderr
    and exit code 2; a diverged run (:class:`cl_methods.DivergedError`) one line and exit code
    3. ``@entry`` and ``@entry(DataError)`` both work."""
    if len(errors) == 1 and not isinstance(errors[0], type):
        return entry()(errors[0])
    caught = (ConfigError, *errors)

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        def wrapped(argv: list[str] | None = None) -> int:
            try:
                return main(argv)
            except caught as err:
                print(f"error: {getattr(err, 'message', None) or err}", file=sys.stderr)
                return 2
            except DivergedError as err:
                print(f"error: {err}", file=sys.stderr)
                return DIVERGED

        wrapped.__doc__ = main.__doc__
        return wrapped

    return decorate


# -- schema -------------------------------------------------------------------------------------
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def schema(cls: type, method_cls: type | None, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """path -> (type, dataclass field) of every leaf of the tree."""
    out: dict[str, tuple[Any, Any]] = {}
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        if prefix == "" and f.name == METHOD:
            tp = method_cls
        path = prefix + f.name
        if tp is None:
            continue
        if _is_section(tp):
            out.update(schema(tp, None, path + "."))
        else:
            out[path] = (tp, f)
    return out


def _null(text: str) -> bool:
    return text.strip().lower() in ("none", "null")


def _converter(tp: Any, optional: bool) -> Callable[[str], Any]:
    """The argparse type of a field HfArgumentParser cannot convert by itself."""

    def convert(text: str) -> Any:
        if optional and _null(text):
            return None
        if typing.get_origin(tp) is Literal:
            choices = typing.get_args(tp)
            match = [c for c in choices if str(c) == text]
            if not match:
                shown = ", ".join(repr(c) for c in choices)
                raise ArgumentTypeError(f"invalid choice: {text!r} (choose from {shown})")
            return match[0]
        if tp is bool:
            value = text.strip().lower()
            if value in ("true", "yes", "1", "on"):
                return True
            if value in ("false", "no", "0", "off"):
                return False
            raise ArgumentTypeError(f"not a boolean: {text!r} (use true/false, yes/no or 1/0)")
        if tp in (int, float, str):
            try:
                return tp(text)
            except ValueError:
                raise ArgumentTypeError(f"invalid {tp.__name__} value: {text!r}") from None
        value = yaml.safe_load(text)  # mappings and anything else: YAML flow syntax
        if (typing.get_origin(tp) is dict or tp is dict) and not isinstance(value, dict):
            raise ArgumentTypeError(f"expected a mapping, got {text!r}")
        return value

    convert.__name__ = getattr(tp, "__name__", "value")
    return convert


def _flat_field(path: str, tp: Any, f: Any) -> tuple[str, Any, Any]:
    """One field of the flat dataclass handed to HfArgumentParser."""
    inner, optional = _optional(tp)
    origin = typing.get_origin(inner)
    if origin in (list, tuple) or inner in (list, tuple):
        args = [a for a in typing.get_args(inner) if a is not Ellipsis]
        elem = args[0] if len(set(args)) == 1 else str
        flat_type: Any = list[_converter(elem, False) if elem not in (int, float, str) else elem]
    elif inner is bool and not optional:
        flat_type = bool
    elif origin is Literal and not optional:
        flat_type = inner
    else:
        flat_type = _converter(inner, optional)
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = None
    if isinstance(default, tuple):
        default = list(default)
    meta = {"help": f.metadata.get("help", "")}
    if isinstance(default, (list, dict)):
        value = default
        spec = field(default_factory=lambda: value, metadata=meta)
    else:
        spec = field(default=default, metadata=meta)
    return path.replace(".", _SEP), flat_type, spec


class Parser:
    """The flags of one app for one method (built by :func:`load`)."""

    def __init__(self, spec: AppSpec, method_cls: type | None) -> None:
        self.spec = spec
        self.leaves = schema(spec.root, method_cls)
        roots = {p.split(".")[0] for p in self.leaves}
        taken = {f"--{v}" for p in self.leaves for v in _spellings(p)}
        self.options: dict[str, list[str]] = {}
        fields_ = []
        for path, (tp, f) in self.leaves.items():
            opts = [f"--{v}" for v in _spellings(path)]
            if path.startswith(METHOD + "."):
                short = path[len(METHOD) + 1 :]
                if short.split(".")[0] not in roots:
                    opts += [f"--{v}" for v in _spellings(short) if f"--{v}" not in taken]
            name, flat_type, spec_field = _flat_field(path, tp, f)
            aliases = [o for o in opts if o not in (f"--{name}", f"--{name.replace('_', '-')}")]
            meta = {**spec_field.metadata, "aliases": aliases}
            if path == "method" and spec.methods:
                meta["help"] = f"{meta['help']}; one of: {', '.join(spec.methods)}"
            spec_field.metadata = types.MappingProxyType(meta)
            fields_.append((name, flat_type, spec_field))
            self.options[path] = opts
        self.flat = dataclasses.make_dataclass("FlatConfig", fields_)
        self.hf = HfArgumentParser(
            self.flat,
            prog=spec.prog,
            description=spec.description,
            allow_abbrev=False,
            exit_on_error=False,
        )
        self.hf.add_argument("--config", metavar="FILE.yaml", help="read settings from a YAML file")
        self.hf.add_argument(
            "--print-config", action="store_true", help="print the merged configuration and exit"
        )
        for action in self.hf._actions:
            if action.nargs == "+":
                action.nargs = "*"  # an empty list is a valid value

    def parse(self, tokens: list[str]) -> tuple[dict[str, Any], list[str]]:
        flat, *rest = self.hf.parse_args_into_dataclasses(
            args=tokens, return_remaining_strings=True, look_for_args_file=False
        )
        values = {k.replace(_SEP, "."): v for k, v in dataclasses.asdict(flat).items()}
        return values, rest[-1]

    def all_options(self) -> list[str]:
        return [o for opts in self.options.values() for o in opts]


def _spellings(path: str) -> list[str]:
    out = [path, path.replace("_", "-")]
    return list(dict.fromkeys(out))


# -- values <-> tokens ----------------------------------------------------------------------------
def _token(value: Any) -> list[str]:
    if value is None:
        return ["null"]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _token(v)]
    if isinstance(value, dict):
        return [json.dumps(value)]
    if isinstance(value, float):
        return [repr(value)]
    return [str(value)]


def _flatten(tree: Mapping[str, Any], leaves: Mapping[str, Any], where: str, prefix: str = ""):
    """(path, value) of a nested mapping; unknown keys are an error naming the nearest ones."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if path in leaves:
            yield path, value
        elif isinstance(value, Mapping) and any(p.startswith(path + ".") for p in leaves):
            yield from _flatten(value, leaves, where, path + ".")
        else:
            near = difflib.get_close_matches(path, list(leaves), n=3, cutoff=0.6)
            hint = f"; nearest valid keys: {', '.join(near)}" if near else ""
            raise ConfigError(f"{where}: unknown key {path!r}{hint}")


def _tokens(tree: Mapping[str, Any], parser: Parser, where: str) -> list[str]:
    out: list[str] = []
    for path, value in _flatten(tree, parser.leaves, where):
        out += [f"--{path}", *_token(value)]
    return out


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def to_yaml(config: Any) -> str:
    """The configuration as YAML: what ``--print-config`` prints and ``--config`` reads."""
    tree = plain(config)
    if METHOD in tree:  # the method's section last, whatever the class layout
        tree[METHOD] = tree.pop(METHOD)
    return yaml.safe_dump(tree, sort_keys=False, default_flow_style=False)


def save(config: Any, folder: str | Path) -> Path:
    """Write ``run_config.yaml`` (call it after validation, before training)."""
    path = Path(folder) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(config))
    return path


# -- loading --------------------------------------------------------------------------------------
def _read_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        tree = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"--config {path}: not valid YAML{where}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"--config {path}: the top level must be a mapping of keys to values")
    return tree


def _early(argv: list[str], name: str) -> str | None:
    """The last value of ``--name`` on the command line (``--name v`` or ``--name=v``)."""
    found = None
    flags = {f"--{s}" for s in _spellings(name)}
    for i, tok in enumerate(argv):
        key, eq, val = tok.partition("=")
        if key in flags:
            found = val if eq else (argv[i + 1] if i + 1 < len(argv) else None)
    return found


def _split_cli(argv: list[str]) -> tuple[list[str], str | None, bool]:
    """(the command line without --config/--print-config, the config file, print?)."""
    rest: list[str] = []
    config, show, i = None, False, 0
    while i < len(argv):
        key, eq, val = argv[i].partition("=")
        if key == "--config":
            if not eq and i + 1 >= len(argv):
                raise ConfigError("--config needs a YAML file")
            config = val if eq else argv[i + 1]
            i += 1 if eq else 2
        elif key in ("--print-config", "--print_config"):
            show, i = True, i + 1
        else:
            rest.append(argv[i])
            i += 1
    return rest, config, show


def _typed_flag(action_options: list[str], cli: list[str]) -> str | None:
    for tok in reversed(cli):
        key = tok.partition("=")[0]
        if key in action_options:
            return key
    return None


def _method(spec: AppSpec, name: str | None) -> tuple[str | None, type | None, list[str]]:
    """(method name, its config class, the parts it combines) for ``A+B`` or ``A``."""
    if not spec.methods or name is None:
        return name, None, []
    head, *parts = [p.strip() for p in str(name).split("+")]
    if head not in spec.methods:
        raise ConfigError(
            f"unknown method {name!r} for {spec.prog}; choose one of: {', '.join(spec.methods)}"
        )
    cls = get_method_class(spec.methods[head]).config_class
    if parts and "combine_with" not in {f.name for f in dataclasses.fields(cls)}:
        raise ConfigError(f"--method {name}: {head} does not combine with other methods")
    return head, cls, parts


def load(spec: AppSpec, argv: list[str] | None = None) -> Any:
    """Parse the command line (and its ``--config`` file) into the app's config; print it and
    exit 0 on ``--print-config``; raise :class:`ConfigError` on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        early_method = _early(argv, "method")
        _, cls, _ = _method(spec, early_method) if early_method else (None, None, [])
        Parser(spec, cls).hf.parse_args(["--help"])
    cli, config_file, show = _split_cli(argv)
    tree = _read_file(config_file) if config_file else {}
    where = f"--config {config_file}"
    root_defaults = {f.name: f.default for f in dataclasses.fields(spec.root)}

    def early(name: str) -> Any:
        value = _early(cli, name)
        if value is None:
            value = tree.get(name, root_defaults.get(name))
        return value

    method_value = early("method")
    method, method_cls, parts = _method(spec, method_value)
    parser = Parser(spec, method_cls)
    selectors = {k: early(k) for k in spec.selectors}
    if method is not None:
        selectors["method"] = method
    preset_tree = spec.presets(selectors.get("preset"), selectors) if spec.presets else {}
    if isinstance(tree.get("method"), str) and "+" in tree["method"]:
        tree = {**tree, "method": tree["method"].split("+")[0]}
    pre = _tokens(preset_tree, parser, "preset") + _tokens(tree, parser, where)
    method_cli: list[str] = []
    if method is not None:
        method_cli = ["--method", method]
        if parts:
            method_cli += ["--method_config.combine_with", *parts]
    cli = [t for t in _drop(cli, "method")] + method_cli

    try:  # the file alone first, so that its errors name its keys
        parser.parse(pre)
    except ArgumentError as err:
        raise ConfigError(f"{where}: {_file_error(err, parser)}") from None
    try:
        values, rest = parser.parse(pre + cli)
    except ArgumentError as err:
        opts = (err.argument_name or "").split("/")
        flag = _typed_flag(opts, cli) or opts[0]
        raise ConfigError(f"{flag}: {err.message}") from None
    if rest:
        raise ConfigError(_unknown(rest, parser, method_value))
    try:
        config = _build(spec.root, method_cls, values)
    except FieldError as err:
        _fail(parser, cli, tree, where, err.path, str(err))
    _validate(config, parser, cli, tree, where)
    finalize = getattr(config, "finalize", None)
    if callable(finalize):  # fill derived defaults (output folder, run name) before printing
        finalize(spec.prog.removesuffix(".py"), config_file)
    if show:
        sys.stdout.write(to_yaml(config))
        raise SystemExit(0)
    return config


def _drop(cli: list[str], name: str) -> list[str]:
    flags = {f"--{s}" for s in _spellings(name)}
    out, i = [], 0
    while i < len(cli):
        key, eq, _ = cli[i].partition("=")
        if key in flags:
            i += 1 if eq else 2
        else:
            out.append(cli[i])
            i += 1
    return out


def _file_error(err: ArgumentError, parser: Parser) -> str:
    opts = (err.argument_name or "").split("/")
    for path, flags in parser.options.items():
        if set(flags) & set(opts):
            return f"{path}: {err.message}"
    return err.message


def _unknown(rest: list[str], parser: Parser, method: Any) -> str:
    tok = rest[0]
    if not tok.startswith("-"):
        return f"unexpected argument {tok!r} (every setting is a --flag)"
    flag = tok.partition("=")[0]
    options = list(dict.fromkeys(o.replace("_", "-") for o in parser.all_options()))
    near = difflib.get_close_matches(flag.replace("_", "-"), options, n=3, cutoff=0.6)
    hint = f"; nearest valid flags: {', '.join(near)}" if near else ""
    if method:
        hint += f" (with method {method})"
    return f"unknown option {flag}{hint}"


def _build(cls: type, method_cls: type | None, values: dict[str, Any], prefix: str = "") -> Any:
    kwargs = {}
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        if prefix == "" and f.name == METHOD:
            tp = method_cls
        path = prefix + f.name
        if tp is None:
            kwargs[f.name] = None
        elif _is_section(tp):
            kwargs[f.name] = _build(tp, None, values, path + ".")
        else:
            value = values[path]
            inner, _ = _optional(tp)
            if isinstance(value, list) and (typing.get_origin(inner) is tuple or inner is tuple):
                value = tuple(value)
            kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise FieldError(_mentioned(str(err), cls, prefix), str(err)) from None


def _mentioned(message: str, cls: type, prefix: str) -> str:
    names = sorted((f.name for f in dataclasses.fields(cls)), key=len, reverse=True)
    for name in names:
        if name in message:
            return prefix + name
    return prefix.rstrip(".") or cls.__name__


def _checks(config: Any, leaves: dict[str, tuple[Any, Any]]):
    """(path, message) for every non-finite float and every value outside its field's
    ``metadata`` bounds (``min``: inclusive, ``gt``: exclusive)."""
    for path, (_, f) in leaves.items():
        value = config
        for part in path.split("."):
            value = getattr(value, part)
        if isinstance(value, float) and not math.isfinite(value):
            yield path, f"must be a finite number, got {value}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "min" in f.metadata and value < f.metadata["min"]:
                yield path, f"must be >= {f.metadata['min']}, got {value}"
            if "gt" in f.metadata and value <= f.metadata["gt"]:
                yield path, f"must be > {f.metadata['gt']}, got {value}"


def _fail(parser: Parser, cli: list[str], tree: Mapping, where: str, path: str, message: str):
    """Raise the one-line error of ``path``: the flag as typed, else the file's key, else the
    field's flag (a preset's or a default value)."""
    flag = _typed_flag(parser.options.get(path, []), cli)
    if flag is not None:
        raise ConfigError(f"{flag}: {message}")
    node: Any = tree
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is not None:
        raise ConfigError(f"{where}: {path}: {message}")
    shown = parser.options.get(path, [f"--{path}"])[-1]
    raise ConfigError(f"{shown}: {message}")


def _validate(config: Any, parser: Parser, cli: list[str], tree: Mapping, where: str) -> None:
    for path, message in _checks(config, parser.leaves):
        _fail(parser, cli, tree, where, path, message)
    validate = getattr(config, "validate", None)
    if callable(validate):
        try:
            validate()
        except FieldError as err:
            _fail(parser, cli, tree, where, err.path, str(err))
