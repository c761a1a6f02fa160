"""Compiled CPU loops (numba) for the few places where a loop of small steps is the work.

numba is imported on first use, never at start-up. Compiled code is cached on disk beside the
source when that is writable (or in numba's user cache); on a read-only install with no cache
location it is compiled in memory for each process instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def available() -> bool:
    """Whether numba can be imported here."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def njit(fn: Callable, **options: Any) -> Callable:
    """``numba.njit(fn)`` with ``nogil`` and an on-disk cache where one can be written.

    options: further ``numba.njit`` options (e.g. ``fastmath``). Compilation itself happens on the
    first call, once per argument types.
    """
    import numba

    options = {"nogil": True, **options}
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available" (read-only install)
        return numba.njit(**options)(fn)
