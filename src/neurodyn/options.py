"""Typed options: every option is defined once, as a dataclass field with its default, bounds and help.

A part of the package that takes options (a model family, the binning, the analysis, a reader, the
synthetic generator) declares them as a subclass of :class:`Options`::

    @dataclass(frozen=True)
    class LDSOptions(Options):
        latent_dim: int = option(6, "latent dimensions (principal components of the smoothed data)", ge=1)
        transform: str = option("auto", "variance-stabilising transform", choices=("auto", "sqrt", "none"))

:meth:`Options.parse` turns a user's mapping (YAML, JSON, command line) into an instance: unknown
keys and values of the wrong type or out of bounds raise one :class:`~neurodyn.errors.ConfigError`
naming ``<where>.<option>`` and what was expected. What a user means is accepted: YAML reads
``1e-3`` as the string "1e-3", which a float option takes as 0.001; ``100.0`` is the integer 100.
The workflow's JSON schema, ``neurodyn options`` and the options reference are generated from the
same fields (:meth:`Options.json_schema`, :meth:`Options.describe`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar, Self

from neurodyn.errors import ConfigError

_META_KEY = "neurodyn"


class _Required:
    """The default of an option that must be given."""

    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()

# set while Options.parse builds an instance, which it checks itself with the caller's names
_PARSING: ContextVar[bool] = ContextVar("neurodyn_options_parsing", default=False)


@dataclass(frozen=True)
class Constraint:
    """What a field accepts beyond its type: choices, bounds (also on each item of a list), length."""

    help: str
    choices: tuple[Any, ...] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    even: bool = False
    length: int | None = None
    min_length: int | None = None
    allow_inf: bool = False

    def bounds_text(self) -> str:
        parts = []
        if self.ge is not None:
            parts.append(f">= {self.ge:g}")
        if self.gt is not None:
            parts.append(f"> {self.gt:g}")
        if self.le is not None:
            parts.append(f"<= {self.le:g}")
        if self.lt is not None:
            parts.append(f"< {self.lt:g}")
        if self.even:
            parts.append("even")
        return " and ".join(parts)


def option(
    default: Any,
    help: str,
    *,
    choices: Sequence[Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    even: bool = False,
    length: int | None = None,
    min_length: int | None = None,
    allow_inf: bool = False,
) -> Any:
    """A dataclass field with its default, its one-line help and its constraints (bounds apply to
    each item of a list). Numbers must be finite unless ``allow_inf``. Mutable defaults (lists) are
    copied per instance."""
    meta = {
        _META_KEY: Constraint(
            help=help,
            choices=None if choices is None else tuple(choices),
            ge=ge,
            gt=gt,
            le=le,
            lt=lt,
            even=even,
            length=length,
            min_length=min_length,
            allow_inf=allow_inf,
        )
    }
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: typing.cast(Any, default).copy(), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class OptionInfo:
    """One option as ``neurodyn options`` and the reference list it."""

    name: str
    type: str
    default: Any
    help: str
    constraints: str


# --- coercion of one value to a field's type ----------------------------------------------------


def _is_optional(tp: Any) -> tuple[bool, Any]:
    """(None allowed, the type without None)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return True, args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
    return False, tp


def _type_text(tp: Any) -> str:
    optional, inner = _is_optional(tp)
    origin = typing.get_origin(inner)
    if origin in (list, tuple):
        args = typing.get_args(inner)
        text = f"list of {_type_text(args[0])}"
    elif inner is bool:
        text = "true or false"
    elif inner is int:
        text = "integer"
    elif inner is float:
        text = "number"
    elif inner is str:
        text = "text"
    elif origin is dict or inner is dict:
        text = "mapping"
    else:
        text = getattr(inner, "__name__", str(inner))
    return f"{text} or null" if optional else text


def _expected(tp: Any) -> str:
    """What a value of type ``tp`` is called in an error: an integer, a number, a list of text, ..."""
    text = _type_text(tp)
    return (
        text
        if text.startswith(("true", "text"))
        else f"a {text}"
        if text.startswith(("number", "list", "mapping"))
        else f"an {text}"
    )


def _describe_value(value: Any) -> str:
    return "null" if value is None else repr(value)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(where, f"expected {_expected(inner)}, got null")
    origin = typing.get_origin(inner)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(where, f"expected {_expected(inner)}, got {_describe_value(value)}")
        item_type = typing.get_args(inner)[0]
        items = [_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or inner is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(where, f"expected a mapping, got {_describe_value(value)}")
        return dict(value)
    wrong = ConfigError(where, f"expected {_expected(inner)}, got {_describe_value(value)}")
    if inner is bool:
        if isinstance(value, bool):
            return value
        raise wrong
    if isinstance(value, bool) and inner in (int, float):
        raise wrong  # True is an int to Python, not a number to a user
    if inner is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise wrong
    if inner is float:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            # YAML 1.1 reads 1e-3 (no dot) as a string; a number written as text is what was meant
            try:
                number = float(value.strip())
            except ValueError:
                raise wrong
        else:
            raise wrong
        if math.isnan(number):
            raise ConfigError(where, "expected a number, got NaN")
        return number
    if inner is str:
        if isinstance(value, str):
            return value
        raise wrong
    if inner is Any or inner is object:
        return value
    raise TypeError(f"option type {inner!r} at {where} is not supported")  # a definition error, not a user's


def _default(f: dataclasses.Field) -> Any:
    """A field's default as a user writes it (lists, not tuples)."""
    value = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    return list(value) if isinstance(value, tuple) else value


def join_key(where: str, name: str) -> str:
    """``where.name``, or ``name`` at the top level (``where`` empty)."""
    return f"{where}.{name}" if where else name


def _python_value(value: Any) -> Any:
    """numpy scalars (also inside a list or tuple) as Python ones, as a mapping read from YAML holds."""
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, list | tuple):
        return [_python_value(v) for v in value]
    return value


def _check_bounds(value: Any, c: Constraint, where: str) -> None:
    if isinstance(value, list | tuple):
        if c.length is not None and len(value) != c.length:
            raise ConfigError(where, f"expected {c.length} values, got {len(value)}")
        if c.min_length is not None and len(value) < c.min_length:
            raise ConfigError(where, f"expected at least {c.min_length} values, got {len(value)}")
        for i, item in enumerate(value):
            _check_bounds(item, dataclasses.replace(c, length=None, min_length=None), f"{where}[{i}]")
        return
    if value is None:
        return
    if c.choices is not None and value not in c.choices:
        raise ConfigError(where, f"must be one of {list(c.choices)}, got {_describe_value(value)}")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    if math.isinf(value) and not c.allow_inf:
        raise ConfigError(where, f"must be a finite number, got {value!r}")
    ok = (
        (c.ge is None or value >= c.ge)
        and (c.gt is None or value > c.gt)
        and (c.le is None or value <= c.le)
        and (c.lt is None or value < c.lt)
        and (not c.even or value % 2 == 0)
    )
    if not ok:
        raise ConfigError(where, f"must be {c.bounds_text()}, got {value!r}")


# --- the base class ------------------------------------------------------------------------------


class Options:
    """Base of every options dataclass (subclasses are ``@dataclass(frozen=True)``).

    ``passthrough`` names keys that belong to the caller rather than to this group (a model
    entry's ``family`` and job resources, say): they are neither options nor errors.
    """

    passthrough: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _hints(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls)

    @classmethod
    def _constraint(cls, f: dataclasses.Field) -> Constraint:
        return f.metadata.get(_META_KEY) or Constraint(help="")

    @classmethod
    def _option_fields(cls) -> list[dataclasses.Field]:
        """The fields read from this group's own mapping: all but nested option groups, which
        the owner parses from their own sections (``split`` beside ``binning``, say)."""
        hints = cls._hints()
        return [
            f
            for f in dataclasses.fields(typing.cast(Any, cls))
            if not (isinstance(hints[f.name], type) and issubclass(hints[f.name], Options))
        ]

    def __post_init__(self) -> None:
        """Direct construction (the Python API) is checked and coerced as a parsed mapping is;
        errors name ``<ClassName>.<option>``."""
        if _PARSING.get():
            return
        cls = type(self)
        given = {f.name: _python_value(getattr(self, f.name)) for f in cls._option_fields()}
        checked = cls.parse({k: v for k, v in given.items() if v is not REQUIRED}, cls.__name__)
        for f in cls._option_fields():
            object.__setattr__(self, f.name, getattr(checked, f.name))

    @classmethod
    def parse(cls, mapping: Mapping[str, Any] | None, where: str) -> Self:
        """An instance from ``mapping`` (missing keys take their defaults); ``where`` prefixes the
        option's name in errors, e.g. ``models.lds``."""
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise ConfigError(where, f"expected a mapping of options, got {_describe_value(mapping)}")
        known = {f.name: f for f in cls._option_fields()}
        unknown = sorted(str(k) for k in mapping if k not in known and k not in cls.passthrough)
        if unknown:
            raise ConfigError(join_key(where, unknown[0]), f"unknown option (known: {', '.join(sorted(known))})")
        hints = cls._hints()
        values = {}
        for name, f in known.items():
            if name not in mapping:
                if f.default is REQUIRED:
                    raise ConfigError(join_key(where, name), f"is required ({cls._constraint(f).help})")
                continue
            value = _coerce(mapping[name], hints[name], join_key(where, name))
            _check_bounds(value, cls._constraint(f), join_key(where, name))
            values[name] = value
        token = _PARSING.set(True)
        try:
            instance = cls(**values)
        finally:
            _PARSING.reset(token)
        instance.check(where)
        return instance

    def check(self, where: str) -> None:
        """Constraints between options; raise ConfigError naming ``<where>.<option>``."""

    def as_dict(self) -> dict[str, Any]:
        """Plain values (lists, not tuples), in definition order: what model.json records."""
        out = {}
        for f in dataclasses.fields(typing.cast(Any, self)):
            value = getattr(self, f.name)
            if isinstance(value, Options):
                value = value.as_dict()
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return cls.parse({}, cls.__name__).as_dict()

    @classmethod
    def describe(cls) -> list[OptionInfo]:
        """Every option with its type, default, help and constraints."""
        hints = cls._hints()
        out = []
        for f in cls._option_fields():
            c = cls._constraint(f)
            parts = []
            if c.choices is not None:
                parts.append("one of " + ", ".join(str(x) for x in c.choices))
            if c.bounds_text():
                parts.append(c.bounds_text())
            if c.length is not None:
                parts.append(f"{c.length} values")
            if c.min_length is not None:
                parts.append(f"at least {c.min_length} values")
            out.append(
                OptionInfo(
                    name=f.name,
                    type=_type_text(hints[f.name]),
                    default=_default(f),
                    help=c.help,
                    constraints="; ".join(parts),
                )
            )
        return out

    @classmethod
    def json_schema(cls, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A JSON-schema object for a mapping of these options (``extra``: further properties,
        e.g. a model entry's job resources)."""
        hints = cls._hints()
        props: dict[str, Any] = {}
        for f in cls._option_fields():
            c = cls._constraint(f)
            schema = _schema_of(hints[f.name], c)
            default = _default(f)
            # the default goes into the text, not into "default": Snakemake's validate would write
            # it into the configuration, and so into the hashes that decide what reruns
            shown = "required" if default is REQUIRED else f"default: {'null' if default is None else default}"
            schema["description"] = f"{c.help} ({shown})" if c.help else shown
            props[f.name] = schema
        props.update(extra or {})
        schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
        required = [f.name for f in cls._option_fields() if f.default is REQUIRED]
        if required:
            schema["required"] = required
        return schema


def _bounds_schema(c: Constraint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.choices is not None:
        out["enum"] = list(c.choices)
    for key, name in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum"), ("lt", "exclusiveMaximum")):
        if getattr(c, key) is not None:
            out[name] = getattr(c, key)
    if c.even:
        out["multipleOf"] = 2
    return out


def _schema_of(tp: Any, c: Constraint) -> dict[str, Any]:
    optional, inner = _is_optional(tp)
    origin = typing.get_origin(inner)
    if origin in (list, tuple):
        item = _schema_of(typing.get_args(inner)[0], dataclasses.replace(c, length=None, min_length=None))
        schema: dict[str, Any] = {"type": "array", "items": item}
        if c.length is not None:
            schema.update(minItems=c.length, maxItems=c.length)
        if c.min_length is not None:
            schema["minItems"] = c.min_length
    elif origin is dict or inner is dict:
        schema = {"type": "object"}
    else:
        # a float option also takes a number written as text (YAML reads 1e-3 as a string)
        names = {bool: "boolean", int: "integer", float: ["number", "string"], str: "string"}
        name = names.get(inner)
        schema = {} if name is None else {"type": name}
        schema.update(_bounds_schema(c))
    if optional:
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        kind = schema.get("type")
        if kind is not None:
            schema["type"] = [*(kind if isinstance(kind, list) else [kind]), "null"]
    return schema


__all__ = ["join_key", "REQUIRED", "Constraint", "OptionInfo", "Options", "option"]
