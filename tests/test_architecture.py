"""The package's layering: the product never loads a paper study, and the import contracts hold."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _loaded_modules(statement: str) -> list[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    "statement",
    [
        "import neurodyn.models",
        "import neurodyn.stages",
        "import neurodyn.analysis.evaluate",
        "import neurodyn.report",
        "from neurodyn.cli import build_parser; build_parser()",
    ],
)
def test_product_loads_no_study(statement):
    studies = [m for m in _loaded_modules(statement) if m.startswith("neurodyn.studies.")]
    # the command line finds the studies' commands through entry points and loads only their
    # command modules, which import nothing heavy at module level
    if "build_parser" in statement:
        studies = [m for m in studies if not m.endswith(".command") and m.count(".") > 2]
    assert studies == [], f"{statement} loaded study modules {studies}"


def test_cli_lists_study_commands():
    from neurodyn.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"jslds", "theory", "ingest", "fit", "fixed-points"} <= set(commands)


LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed (pip install -e '.[test]')")
def test_import_contracts_hold():
    out = subprocess.run([LINT_IMPORTS], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:]
