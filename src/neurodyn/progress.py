"""Progress of a long loop (a fit's epochs or EM iterations) that a user can follow.

A model family calls :func:`report_progress` once per epoch with the epoch, the total and its
objective. The line it logs names the run (``dataset/model``, set by the stage that runs the fit
with :func:`progress_label`), the epoch of the total, the time elapsed, the estimated time left and
the objective::

    spikes/smc (smc_lowrank): epoch 12/40 (30%), elapsed 0:36, ETA 1:24; bound/step -32.02, valid -26.22

Lines come every tenth of the loop and at least every :data:`LOG_SECONDS`, so that a cluster job's
log shows it is alive. Under :func:`terminal_progress` (``neurodyn fit`` in a terminal) a single
self-overwriting bar replaces these lines.

A leaf module (standard library only), so that every layer may report progress.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger("neurodyn.progress")

LOG_FRACTION = 0.1  # a log line every tenth of the loop
LOG_SECONDS = 60.0  # and at least one a minute
BAR_SECONDS = 0.2  # the terminal bar is redrawn at most five times a second
BAR_CELLS = 20

Clock = Callable[[], float]
Objective = Mapping[str, float | int | str]


# ----------------------------------------------------------------------------- formatting


def format_duration(seconds: float | None) -> str:
    """``M:SS`` under an hour, ``H:MM:SS`` from one hour; ``?`` when unknown (None or not finite)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_objective(objective: Objective) -> str:
    """``name value`` pairs joined by commas, numbers to four significant digits."""
    parts = []
    for name, value in objective.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            parts.append(f"{name} {value}")
        else:
            parts.append(f"{name} {value:.4g}")
    return ", ".join(parts)


@dataclass(frozen=True)
class ProgressState:
    """What one progress line or bar shows: ``step`` of ``total`` (1-based, completed) after
    ``elapsed`` seconds, ``eta`` seconds left (None: not yet known)."""

    label: str
    unit: str
    step: int
    total: int
    elapsed: float
    eta: float | None
    objective: Objective

    @property
    def percent(self) -> int:
        return math.floor(100 * self.step / self.total) if self.total > 0 else 100


def progress_line(state: ProgressState) -> str:
    """The log line of a state: label, step/total (percent), elapsed, ETA; objective."""
    line = (
        f"{state.label}: {state.unit} {state.step}/{state.total} ({state.percent}%), "
        f"elapsed {format_duration(state.elapsed)}, ETA {format_duration(state.eta)}"
    )
    objective = format_objective(state.objective)
    return f"{line}; {objective}" if objective else line


def progress_bar(state: ProgressState, width: int) -> str:
    """The terminal bar of a state, at most ``width`` characters:
    ``label [#####-----] epoch 12/40 0:36<1:24 bound/step -32.02, ...``."""
    filled = min(BAR_CELLS, math.floor(BAR_CELLS * state.step / state.total)) if state.total > 0 else BAR_CELLS
    text = (
        f"{state.label} [{'#' * filled}{'-' * (BAR_CELLS - filled)}] {state.percent:3d}% "
        f"{state.unit} {state.step}/{state.total} {format_duration(state.elapsed)}<{format_duration(state.eta)}"
    )
    objective = format_objective(state.objective)
    if objective:
        text = f"{text} {objective}"
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


# ----------------------------------------------------------------------------- one loop's timing


@dataclass
class LoopTimer:
    """The timing of one loop: ETA from the mean time per step since ``origin`` (the clock and the
    step count then), elapsed since ``started``; which steps earn a log line."""

    name: str
    total: int
    started: float
    origin: tuple[float, int] | None  # (clock, steps done) the rate is measured from; None: the first report sets it
    last_step: int = 0
    logged: tuple[float, int] | None = None  # (clock, step) of the last log line
    drawn: float | None = None  # clock of the last bar drawn

    def state(self, label: str, unit: str, step: int, now: float, objective: Objective) -> ProgressState:
        eta = None
        if self.origin is not None and step > self.origin[1]:
            per_step = (now - self.origin[0]) / (step - self.origin[1])
            eta = per_step * max(0, self.total - step)
        elif step >= self.total:
            eta = 0.0
        return ProgressState(label, unit, step, self.total, now - self.started, eta, dict(objective))

    def wants_line(self, step: int, now: float) -> bool:
        """The first report, the last step, a step into a new tenth of the loop, or a minute since the last line."""
        if self.logged is None or step >= self.total:
            return True
        last_time, last_step = self.logged
        tenth = max(1, self.total) * LOG_FRACTION
        return math.floor(step / tenth) > math.floor(last_step / tenth) or now - last_time >= LOG_SECONDS


@dataclass
class ProgressRun:
    """A named run (one fit) whose loops report progress: its label, clock and start."""

    label: str | None
    clock: Clock = time.monotonic
    started: float | None = None
    timer: LoopTimer | None = None

    def timer_for(self, name: str, step: int, total: int) -> LoopTimer:
        """The loop's timer; a new one when another loop starts (another name or total, or a step
        not after the last). The run's first loop is timed from the run's start, so the first
        report already has an ETA (the setup before the first epoch counts towards it)."""
        timer = self.timer
        if timer is None or timer.name != name or timer.total != total or step <= timer.last_step:
            now = self.clock()
            if timer is None and self.started is not None:
                timer = LoopTimer(name, total, self.started, origin=(self.started, step - 1))
            else:
                timer = LoopTimer(name, total, now, origin=None)
            self.timer = timer
        return timer

    def describe(self, name: str) -> str:
        """``dataset/model (family)``; the family alone outside a labelled run, and once only when
        the model is named after its family."""
        if not self.label:
            return name
        return self.label if self.label.rsplit("/", 1)[-1] == name else f"{self.label} ({name})"


_RUN: contextvars.ContextVar[ProgressRun | None] = contextvars.ContextVar("neurodyn_progress_run", default=None)
_BAR: contextvars.ContextVar[TerminalBar | None] = contextvars.ContextVar("neurodyn_progress_bar", default=None)
_UNLABELLED = ProgressRun(label=None)


@contextlib.contextmanager
def progress_label(label: str, clock: Clock = time.monotonic) -> Iterator[ProgressRun]:
    """Name the progress reported inside the block (``dataset/model``); elapsed time counts from here."""
    run = ProgressRun(label, clock, started=clock())
    token = _RUN.set(run)
    try:
        yield run
    finally:
        _RUN.reset(token)


def report_progress(name: str, step: int, total: int, objective: Objective, *, unit: str = "epoch") -> None:
    """Report that ``step`` of ``total`` steps of ``name``'s loop (a family's fit) are done, with the
    objective after it (name → value). Logs a line at the cadence described in the module, or
    redraws the terminal bar under :func:`terminal_progress`."""
    run = _RUN.get() or _UNLABELLED
    timer = run.timer_for(name, step, total)
    now = run.clock()
    if timer.origin is None:
        timer.origin = (now, step)
    timer.last_step = step
    bar = _BAR.get()
    if bar is not None:
        if step >= total or timer.drawn is None or now - timer.drawn >= BAR_SECONDS:
            timer.drawn = now
            bar.draw(timer.state(run.describe(name), unit, step, now, objective))
        if step >= total:
            bar.finish()
        return
    if timer.wants_line(step, now):
        timer.logged = (now, step)
        log.info("%s", progress_line(timer.state(run.describe(name), unit, step, now, objective)))


# ----------------------------------------------------------------------------- the terminal bar


def terminal_columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to; else ``COLUMNS`` or standard output's, else 100."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns if columns > 0 else shutil.get_terminal_size((100, 24)).columns


@dataclass
class TerminalBar:
    """One line of a terminal, redrawn in place; any log record printed to the same stream ends
    it first (see :func:`terminal_progress`), so that the record starts on a line of its own."""

    stream: TextIO
    open: bool = False

    def draw(self, state: ProgressState) -> None:
        self.stream.write("\r\x1b[K" + progress_bar(state, terminal_columns(self.stream) - 1))
        self.stream.flush()
        self.open = True

    def finish(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


class _EndBarFirst(logging.Filter):
    """Ends the bar's line before a log record is written to the bar's stream."""

    def __init__(self, bar: TerminalBar):
        super().__init__()
        self.bar = bar

    def filter(self, record: logging.LogRecord) -> bool:
        self.bar.finish()
        return True


@contextlib.contextmanager
def terminal_progress(stream: TextIO | None = None) -> Iterator[TerminalBar | None]:
    """Draw progress as one bar on ``stream`` (stderr) inside the block when it is a terminal;
    elsewhere (a file, a pipe, a cluster job's log) progress stays log lines. Yields the bar or None."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        yield None
        return
    bar = TerminalBar(stream)
    ender = _EndBarFirst(bar)
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is stream]
    for handler in handlers:
        handler.addFilter(ender)
    token = _BAR.set(bar)
    try:
        yield bar
    finally:
        _BAR.reset(token)
        bar.finish()
        for handler in handlers:
            handler.removeFilter(ender)
