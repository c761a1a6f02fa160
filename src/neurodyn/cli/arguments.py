"""Small helpers shared by the command-line subcommands: argument types, .npz input, JSON output.

numpy and the storage helpers are imported by the functions that use them, so that a module
registering a command with these helpers keeps ``neurodyn --help`` light.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurodyn.errors import InputFileError

if TYPE_CHECKING:
    import numpy as np


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
        from neurodyn.storage import write_atomically

        write_atomically(lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), out)


def read_npz(path: str | Path, expected: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read without pickle: name → numpy array.

    Raises InputFileError naming the file for a missing or unreadable file, a bare ``.npy`` array
    (``expected`` says what the archive should hold) and, naming the field, for an array that needs
    pickle (object arrays) or cannot be read.
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(path, f"not a readable .npz archive ({exc})")
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise InputFileError(path, f"expected an .npz archive {expected}, found a single .npy array")
    raw = {}
    with loaded as archive:
        for name in archive.files:
            try:
                raw[name] = archive[name]
            except ValueError as exc:  # object arrays need pickle, which we refuse
                raise InputFileError(path, f"field '{name}' cannot be read without pickle ({exc})")
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise InputFileError(path, f"field '{name}' is unreadable ({exc})")
    return raw
