"""A stage's log file and its one-line errors: the same under Snakemake and the command line.

The log file holds everything: the stage's lines, every Python warning and the full traceback of
an unexpected error. The terminal (a stage's stderr: Snakemake's terminal, or a cluster job's
output file) gets the stage's lines and one line per error, pointing to the log file for the
traceback; warnings raised by other libraries, which mean nothing to a user of neurodyn, go to the
log file only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from neurodyn.errors import NeurodynError

log = logging.getLogger("neurodyn")
warnings_log = logging.getLogger("py.warnings")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # src/neurodyn


def is_users_warning(category: type[Warning], filename: str) -> bool:
    """Whether a warning is meant for the user: a plain ``UserWarning`` raised by neurodyn's own
    code. Another library's warnings (ZarrUserWarning, hdmf's and mne's, deprecations, NumPy's
    RuntimeWarnings) are for developers: they go to the log file only."""
    try:
        inside = str(Path(filename).resolve()).startswith(PACKAGE_DIR + os.sep)
    except (OSError, ValueError):
        inside = False
    return inside and category is UserWarning


def log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` while a stage runs: the warning as a record of ``py.warnings``,
    marked ``third_party`` unless it is meant for the user (:func:`is_users_warning`)."""
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    warnings_log.warning("%s", text, extra={"third_party": not is_users_warning(category, filename)})


class TerminalFormatter(logging.Formatter):
    """One line per record: no traceback (the log file has it, named in the line); ``log_path``: the file."""

    def __init__(self, log_path: str | os.PathLike[str] | None = None):
        super().__init__(LOG_FORMAT)
        self.log_path = log_path

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            return super().format(record)
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        line = super().format(plain)
        return f"{line} (traceback in {self.log_path})" if self.log_path else line


def not_third_party(record: logging.LogRecord) -> bool:
    return not getattr(record, "third_party", False)


@contextlib.contextmanager
def stage_logging(log_path: str | os.PathLike[str] | None = None, threads: int | None = None) -> Iterator[None]:
    """Log to ``log_path`` (and stderr) while a stage runs, Python warnings included; a
    :class:`NeurodynError` ends the process with its one-line message and exit status 1 instead
    of a traceback. Any other exception (a bug) is logged as one ``unexpected`` line followed by
    its traceback, so that the job's log holds what a bug report needs, and exits 1 too; the
    terminal gets the line only. Other libraries' warnings reach the log file, not the terminal."""
    root = logging.getLogger()
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(TerminalFormatter(log_path))
    terminal.addFilter(not_third_party)
    handlers: list[logging.Handler] = [terminal]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
        handlers[-1].setFormatter(logging.Formatter(LOG_FORMAT))
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    shown = warnings.showwarning
    warnings.showwarning = log_warning
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        yield
    except NeurodynError as exc:
        log.error("%s", exc)
        raise SystemExit(1)
    except Exception as exc:
        log.exception("unexpected %s: %s", type(exc).__name__, " ".join(str(exc).split()))
        raise SystemExit(1)
    finally:
        warnings.showwarning = shown
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
