"""Failures to write an output, reported as one line naming the output.

A write can fail for reasons outside the program: a full disk (ENOSPC), a file size limit
(EFBIG, ``ulimit -f``), a quota, a read-only file system, or an output path whose parent is a
file. :func:`writing_to` turns these into :class:`~neurodyn.errors.InputFileError` naming the
output (the OS error of a failed ``write`` does not name its file); the atomic writers
(:func:`neurodyn.storage.write_atomically`) have already removed their temporaries by then.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neurodyn.errors import DEVICE_ERRORS, InputFileError

# torch.save reports a failed write as a RuntimeError of its zip writer, without the OS error
TORCH_WRITE_FAILURES = (
    "inline_container",
    "PytorchStreamWriter",
    "file write failed",
    "unexpected pos",
    "iostream error",
)


def write_problem(exc: BaseException) -> str | None:
    """Why writing failed, in one phrase, when ``exc`` is a failure to write; None otherwise."""
    if isinstance(exc, OSError):
        if exc.errno in DEVICE_ERRORS:
            return f"cannot be written: {DEVICE_ERRORS[exc.errno]}"
        if exc.errno in (errno.EEXIST, errno.ENOTDIR) and exc.filename and not Path(exc.filename).is_dir():
            blocker = next((p for p in (Path(exc.filename), *Path(exc.filename).parents) if p.is_file()), None)
            if blocker is not None:
                return f"cannot be written: {blocker} is a file, not a folder"
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot be written: {exc.strerror or exc}{where}"
    if isinstance(exc, RuntimeError) and any(s in str(exc) for s in TORCH_WRITE_FAILURES):
        return "cannot be written completely (torch's writer failed: is the disk full or a file size limit reached?)"
    return None


def _under(filename: str | os.PathLike[str] | None, output: Path) -> bool:
    if filename is None:
        return True
    try:
        return Path(os.path.abspath(filename)).is_relative_to(Path(os.path.abspath(output)).parent)
    except (TypeError, ValueError):
        return False


@contextmanager
def writing_to(output: str | os.PathLike[str]) -> Iterator[None]:
    """Report a failure to write ``output`` (a file or folder) as InputFileError naming it: any
    device error (full disk, file size limit, quota, read-only), torch's failed writes, and OS
    errors on paths at or below ``output``'s folder (a parent that is a file, permission denied).
    Other errors pass through unchanged."""
    output = Path(output)
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        problem = write_problem(exc)
        device_error = isinstance(exc, OSError) and exc.errno in DEVICE_ERRORS
        if problem is None or not (device_error or isinstance(exc, RuntimeError) or _under(exc.filename, output)):
            raise
        raise InputFileError(output, problem) from None


def check_output_path(output: str | os.PathLike[str], kind: str = "folder") -> Path:
    """Refuse, before any work, an output whose nearest existing ancestor is not a writable
    folder (a parent that is a file, a folder without write permission), and an output file
    (``kind`` "file") where a folder exists, which would otherwise be replaced with everything in
    it; InputFileError names it."""
    output = Path(output)
    if kind == "file" and output.is_dir():
        raise InputFileError(output, "is a folder; give the path of the file to write")
    ancestor = next((p for p in Path(os.path.abspath(output)).parents if p.exists()), None)
    if ancestor is None:
        return output
    if not ancestor.is_dir():
        raise InputFileError(output, f"cannot be written: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputFileError(output, f"cannot be written: no permission to write in {ancestor}")
    return output
