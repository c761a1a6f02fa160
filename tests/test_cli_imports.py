"""The command line starts light: building the parser and every ``neurodyn … --help`` import none of
the heavy libraries (torch, xarray, scipy, …); a command imports what it needs when it runs.

Counted by the modules loaded in a fresh interpreter, not by time (benchmarks/bench_cli_startup.py
times it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# libraries that take from a tenth of a second (numpy) to seconds (torch) to import
HEAVY = (
    "torch",
    "xarray",
    "pandas",
    "scipy",
    "matplotlib",
    "pynwb",
    "hdmf",
    "mne",
    "h5py",
    "zarr",
    "numpy",
    "snakemake",
)

# run in a fresh interpreter: the statement, then the heavy top-level packages now loaded, as JSON
PROBE = """
import contextlib, io, json, sys
argv = json.loads(sys.argv[1])
out, code = io.StringIO(), None
if argv is None:
    from neurodyn.cli import build_parser
    build_parser()
elif argv == ["import"]:
    import neurodyn
else:
    from neurodyn.cli import main
    with contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
heavy = json.loads(sys.argv[2])
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(heavy))
print(json.dumps({"code": code, "stdout": out.getvalue(), "heavy": loaded}))
"""


def _probe(argv: list[str] | None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and nested subcommand of ``parser``, e.g. ("fit",), ("lowrank", "omp")."""
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


def test_import_neurodyn_is_light():
    assert _probe(["import"])["heavy"] == []


def test_building_the_parser_imports_no_heavy_library():
    assert _probe(None)["heavy"] == []


def test_every_help_imports_no_heavy_library():
    from neurodyn.cli import build_parser

    commands = _command_paths(build_parser())
    # the product's commands, nested ones and those the studies add through entry points
    assert {("ingest",), ("fixed-points",), ("lowrank", "omp"), ("jslds", "train"), ("theory", "mft")} <= set(commands)
    offenders = {}
    for path in [(), *commands]:
        result = _probe([*path, "--help"])
        # the help was printed (argparse exits 0 after it), so the command's parser was built
        assert result["code"] == 0, (path, result)
        assert result["stdout"].startswith(f"usage: {' '.join(('neurodyn', *path))}"), (path, result["stdout"][:200])
        if result["heavy"]:
            offenders[" ".join(("neurodyn", *path, "--help"))] = result["heavy"]
    assert offenders == {}, f"--help imported heavy libraries: {offenders}"
