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
    """Log to ``log_path`` (and stderr) while a stage runs, Python warnings included; a
    :class:`NeurodynError` ends the process with its one-line message and exit status 1 instead
    of a traceback. Any other exception (a bug) is logged as one ``unexpected`` line followed by
    its traceback, so that the job's log holds what a bug report needs, and exits 1 too."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
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
        logging.captureWarnings(False)
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
