"""The ``neurodyn`` command line: the package's stages without Snakemake.

Every user-facing problem is reported as one line ``neurodyn: error: <file or field>: <problem>``
with exit status 1, and no partial output is left behind. An OS error on a path (permission
denied, a full disk, a folder where a file was expected) is reported the same way, naming the
path; an unexpected error (a bug) as ``neurodyn: error: unexpected <Type>: <message>``, its
traceback printed with ``-v``. Usage errors (argparse) exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from importlib.metadata import entry_points

from neurodyn.cli.data import add_data_commands
from neurodyn.cli.fixed_points import add_fixed_point_commands
from neurodyn.cli.inspect import add_inspect_commands
from neurodyn.cli.lowrank import add_lowrank_commands
from neurodyn.cli.options import add_options_commands
from neurodyn.cli.pipeline import add_pipeline_commands
from neurodyn.cli.weights import add_weights_commands
from neurodyn.errors import DEVICE_ERRORS, NeurodynError
from neurodyn.version import __version__

# packages add subcommands through this entry-point group: a callable taking the subparsers
COMMANDS_GROUP = "neurodyn.commands"

log = logging.getLogger("neurodyn")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurodyn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"neurodyn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_data_commands(sub)
    add_inspect_commands(sub)
    add_pipeline_commands(sub)
    add_weights_commands(sub)
    add_fixed_point_commands(sub)
    add_lowrank_commands(sub)
    add_options_commands(sub)
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(sub)  # commands of the studies and of other installed packages
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def os_error_line(exc: OSError, args: argparse.Namespace) -> str:
    """An OS error as ``<path>: <problem>``: the path it names, or else (a failed write names no
    file) the command's output."""
    problem = DEVICE_ERRORS.get(exc.errno) or exc.strerror or str(exc)
    path = exc.filename
    if path is None:
        path = next((getattr(args, k) for k in ("out", "out_dir") if getattr(args, k, None) is not None), None)
        if path is not None and exc.errno in DEVICE_ERRORS:
            problem = f"cannot be written: {problem}"
    if exc.filename2 is not None:
        problem = f"{problem} ({exc.filename2})"
    return _one_line(f"{path}: {problem}" if path is not None else problem)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except NeurodynError as exc:
        print(f"neurodyn: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neurodyn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped early (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a user's path: permission denied, a full disk, a file where a folder should be
        if args.verbose:
            traceback.print_exc()
        print(f"neurodyn: error: {os_error_line(exc, args)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 — a bug: one line, the traceback with -v
        if args.verbose:
            traceback.print_exc()
            hint = ""
        else:
            hint = " (run with -v for the traceback)"
        print(f"neurodyn: error: unexpected {type(exc).__name__}: {_one_line(str(exc))}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
