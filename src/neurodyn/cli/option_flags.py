"""Command-line flags generated from option dataclasses, so a flag's type, choices and help are
those of the option it sets (:mod:`neurodyn.options`).

A flag the user did not give is absent from the parsed namespace (``argparse.SUPPRESS``): the
option keeps the default its dataclass declares, and the mapping handed on holds what was given.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from neurodyn.options import Options

NULL_WORDS = ("null", "none")


def _parse_scalar(tp: Any, nullable: bool, extra_nulls: tuple[str, ...]):
    def parse(text: str) -> Any:
        if nullable and text.lower() in NULL_WORDS + extra_nulls:
            return None
        if tp is int:
            try:
                return int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
        if tp is float:
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
        return text

    return parse


def flag_name(name: str, prefix: str = "") -> str:
    return "--" + (f"{prefix}-" if prefix else "") + name.replace("_", "-")


def add_option_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    options: type[Options],
    *,
    prefix: str = "",
    aliases: Mapping[str, Iterable[str]] | None = None,
    skip: Iterable[str] = (),
    null_words: Mapping[str, tuple[str, ...]] | None = None,
    seen: set[str] | None = None,
) -> None:
    """One flag per option of ``options`` (``--<prefix>-<name>``), with extra spellings from
    ``aliases`` and extra words meaning null from ``null_words``; options in ``skip`` and flags
    already in ``seen`` (shared by several readers) are not added again."""
    hints = typing.get_type_hints(options)
    aliases = aliases or {}
    null_words = null_words or {}
    for info, f in zip(options.describe(), options._option_fields()):
        if f.name in skip:
            continue
        flag = flag_name(f.name, prefix)
        if seen is not None:
            if flag in seen:
                continue
            seen.add(flag)
        tp = hints[f.name]
        nullable = type(None) in typing.get_args(tp)
        inner = next((a for a in typing.get_args(tp) if a is not type(None)), tp) if nullable else tp
        default = "null" if info.default is None else info.default
        help_text = f"{info.help} (default: {default})"
        kwargs: dict[str, Any] = {"dest": f"{prefix}_{f.name}" if prefix else f.name, "default": argparse.SUPPRESS}
        origin = typing.get_origin(inner)
        if inner is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin in (list, tuple):
            item = typing.get_args(inner)[0]
            kwargs["type"] = _parse_scalar(item, False, ())
            constraint = options._constraint(f)
            kwargs["nargs"] = constraint.length or "+"
            kwargs["metavar"] = f.name.upper().removesuffix("_S")
        elif origin is dict or inner is dict:
            continue  # mappings are set in a configuration file
        else:
            kwargs["type"] = _parse_scalar(inner, nullable, null_words.get(f.name, ()))
            choices = options._constraint(f).choices
            if choices is not None:
                kwargs["metavar"] = "{" + ",".join(str(c) for c in choices) + "}"
        kwargs["help"] = help_text.replace("%", "%%")
        parser.add_argument(flag, *aliases.get(f.name, ()), **kwargs)


def given_options(args: argparse.Namespace, options: type[Options], *, prefix: str = "") -> dict[str, Any]:
    """The options of ``options`` given on the command line, by option name."""
    out = {}
    for f in options._option_fields():
        dest = f"{prefix}_{f.name}" if prefix else f.name
        if hasattr(args, dest):
            value = getattr(args, dest)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
