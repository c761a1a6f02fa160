"""User-facing errors.

Every problem a user can fix (a bad file, a missing field, a wrong option) is raised as a
:class:`NeurodynError` whose message is one line naming the file or field and the problem.
The command line prints that line and exits non-zero; nothing else needs to catch them.
"""

from __future__ import annotations

import errno
from os import PathLike

# OS errors of the output device rather than of a path: a failed write reports them without naming its file
DEVICE_ERRORS = {
    errno.ENOSPC: "no space left on the disk (ENOSPC)",
    errno.EFBIG: "the file size limit was reached (EFBIG: File too large; see `ulimit -f`)",
    errno.EDQUOT: "the disk quota is exhausted (EDQUOT)",
    errno.EROFS: "the file system is read-only (EROFS)",
}


class NeurodynError(Exception):
    """A problem with the user's input or configuration (printed as one line, exit 1)."""


class InputFileError(NeurodynError):
    """An input file is unreadable, malformed or lacks something required."""

    def __init__(self, path: str | PathLike[str], problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(NeurodynError):
    """An option has a wrong value or combination."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"config '{field}': {problem}")


class DatasetContractError(NeurodynError):
    """A binned dataset does not follow the data contract (see neurodyn.data.dataset)."""
