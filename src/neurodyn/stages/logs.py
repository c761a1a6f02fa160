"""A stage's log file and its one-line errors: the same under Snakemake and the command line."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from neurodyn.errors import NeurodynError

log = logging.getLogger("neurodyn")


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def stage_logging(log_path: str | os.PathLike[str] | None = None, threads: int | None = None) -> Iterator[None]:
    """Log to ``log_path`` (and stderr) while a stage runs; a :class:`NeurodynError` ends the
    process with its one-line message and exit status 1 instead of a traceback."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        yield
    except NeurodynError as exc:
        log.error("%s", exc)
        raise SystemExit(1)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
