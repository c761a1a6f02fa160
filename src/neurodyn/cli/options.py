"""``neurodyn options``: every option, with its default, accepted values and help, from the option
dataclasses; and the generated workflow schema and options reference.

The option groups are imported when the command runs (they load torch through the model
families), so that building the ``neurodyn`` parser stays fast.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path

from neurodyn.errors import ConfigError

DEFAULT_SCHEMA = Path("workflow/schemas/config.schema.yaml")
DEFAULT_REFERENCE = Path("config/README.md")


def _print_group(title: str, cls) -> None:
    width = max(60, min(shutil.get_terminal_size().columns, 110))
    print(f"{title}\n{'=' * len(title)}")
    if cls.__doc__:
        print(cls.__doc__.strip().splitlines()[0])
    print()
    for o in cls.describe():
        default = "null" if o.default is None else str(o.default).lower() if isinstance(o.default, bool) else o.default
        head = f"  {o.name}: {o.type} = {default}"
        print(head + (f"  [{o.constraints}]" if o.constraints else ""))
        print(textwrap.fill(o.help, width=width, initial_indent="      ", subsequent_indent="      "))
    print()


def _cmd_options(args: argparse.Namespace) -> int:
    from neurodyn.stages import schema
    from neurodyn.storage import write_atomically

    if args.write_schema is not None or args.write_reference is not None:
        for path, text in ((args.write_schema, schema.schema_text), (args.write_reference, schema.reference_text)):
            if path is not None:
                content = text()
                write_atomically(lambda tmp, content=content: Path(tmp).write_text(content, encoding="utf-8"), path)
                print(f"wrote {path}")
        return 0
    if args.schema:
        print(schema.schema_text(), end="")
        return 0
    groups = {key: (title, cls) for key, title, cls in schema.option_groups()}
    wanted = " ".join(args.group).strip()
    if not wanted:
        print("Option groups (neurodyn options GROUP):")
        for key, (_title, cls) in groups.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"  {key:<22} {doc}")
        return 0
    if wanted == "all":
        for title, cls in groups.values():
            _print_group(title.replace("`", ""), cls)
        return 0
    if wanted not in groups:
        raise ConfigError("options", f"no option group {wanted!r} (known: {', '.join(groups)})")
    title, cls = groups[wanted]
    _print_group(title.replace("`", ""), cls)
    return 0


def add_options_commands(sub) -> None:
    """Register ``options`` on the ``neurodyn`` parser."""
    p = sub.add_parser(
        "options",
        help="list every option of a model family, the binning, the analysis or a source kind",
        description="Print options with their defaults, accepted values and help, as the workflow configuration "
        "and the commands take them. Without GROUP: the list of groups; 'all': every group.",
    )
    p.add_argument("group", nargs="*", help="e.g. lds, smc_lowrank, binning, analysis, 'source nwb', synthetic, all")
    p.add_argument("--schema", action="store_true", help="print the workflow's JSON schema (YAML)")
    p.add_argument(
        "--write-schema",
        nargs="?",
        const=DEFAULT_SCHEMA,
        type=Path,
        metavar="PATH",
        help=f"write the workflow's JSON schema (default: {DEFAULT_SCHEMA})",
    )
    p.add_argument(
        "--write-reference",
        nargs="?",
        const=DEFAULT_REFERENCE,
        type=Path,
        metavar="PATH",
        help=f"write the options reference in Markdown (default: {DEFAULT_REFERENCE})",
    )
    p.set_defaults(func=_cmd_options)
