"""The ``neurodyn`` command line: the package's stages without Snakemake.

Every user-facing problem is reported as one line ``neurodyn: error: <file or field>: <problem>``
with exit status 1, and no partial output is left behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

from neurodyn.cli.data import add_data_commands
from neurodyn.cli.fixed_points import add_fixed_point_commands
from neurodyn.cli.lowrank import add_lowrank_commands
from neurodyn.cli.options import add_options_commands
from neurodyn.cli.pipeline import add_pipeline_commands
from neurodyn.cli.weights import add_weights_commands
from neurodyn.errors import NeurodynError
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
    add_pipeline_commands(sub)
    add_weights_commands(sub)
    add_fixed_point_commands(sub)
    add_lowrank_commands(sub)
    add_options_commands(sub)
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(sub)  # commands of the studies and of other installed packages
    return parser


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
        print(f"neurodyn: error: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neurodyn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped early (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
