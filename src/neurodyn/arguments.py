"""Small helpers shared by the command-line subcommands: argument types and JSON output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neurodyn.recording import write_atomically


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def emit_json(payload: Any, out: str | Path | None) -> None:
    """Print ``payload`` as indented JSON, or write it to ``out`` atomically (never a partial file)."""
    text = json.dumps(payload, indent=2) + "\n"
    if out is None:
        print(text, end="")
    else:
        write_atomically(lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), out)
