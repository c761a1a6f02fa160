"""The binning's options: how a recording becomes trials × bins × channels, which trials train,
validate and test, and which channels are held out.

Only the standard library and :mod:`neurodyn.options` are imported here, so that the ``neurodyn
ingest`` flags, the workflow's schema and ``neurodyn options binning`` come from these dataclasses
without loading numpy or xarray; the binning itself is :mod:`neurodyn.data.binned`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from neurodyn.errors import ConfigError
from neurodyn.options import Options, option

SEGMENTS = ("auto", "trials", "events", "windows", "continuous")


@dataclass(frozen=True)
class SplitOptions(Options):
    """Which trials train, validate and test a model."""

    # trials columns ``column: auto`` takes the labels from, the first present ('split' in NLB-style
    # files; 'data_split' in the synthetic NWB, where 'split' would clash with pynapple's IntervalSet.split)
    AUTO_COLUMNS: ClassVar[tuple[str, ...]] = ("split", "data_split")

    column: str | None = option(
        "auto",
        "trials column holding train/valid/test labels; auto: a 'split' or 'data_split' column (the "
        "first present) when it has training trials; null: a seeded split stratified by condition",
    )
    fractions: dict[str, float] = option(
        {"train": 0.7, "valid": 0.15, "test": 0.15}, "fractions of train/valid/test trials of a seeded split"
    )
    seed: int = option(0, "seed of the seeded split", ge=0)

    def check(self, where: str) -> None:
        from neurodyn.data.trials import SPLITS  # the trials module loads numpy: imported when options are checked

        fr = self.fractions
        if (
            any(
                k not in SPLITS or not isinstance(v, int | float) or isinstance(v, bool) or v < 0 for k, v in fr.items()
            )
            or fr.get("valid", 0) + fr.get("test", 0) >= 1
        ):
            raise ConfigError(
                f"{where}.fractions", f"need non-negative train/valid/test with valid + test < 1, got {fr}"
            )


@dataclass(frozen=True)
class HeldoutOptions(Options):
    """Which channels are held out of the encoder and scored by co-smoothing."""

    column: str | None = option(
        "auto",
        "boolean units column marking held-out units; auto: a 'heldout' column when it marks any unit; "
        "null: a seeded choice",
    )
    fraction: float = option(0.2, "fraction of channels held out when the choice is seeded", ge=0, lt=1)
    seed: int = option(0, "seed of the held-out choice", ge=0)


@dataclass(frozen=True)
class BinningOptions(Options):
    """How a recording becomes trials × bins × channels.

    The ``split`` and ``heldout`` groups come from their own sections of a dataset entry; the
    windows themselves are built by :mod:`neurodyn.data.trials`.
    """

    bin_size_s: float | None = option(
        0.02, "bin width in seconds (spikes: 0.001-0.1); null keeps a continuous signal's sampling period", gt=0, le=1
    )
    segment: str = option(
        "auto",
        "how trials are cut; auto: the trials table when there is one, else one continuous trial",
        choices=SEGMENTS,
    )
    align_event: str | None = option(None, "trials-table column to align to (null: start_time)")
    window_s: tuple[float, ...] | None = option(None, "[start, stop] in seconds around the alignment event", length=2)
    segment_length_s: float | None = option(None, "window length in seconds for segment: windows", gt=0)
    event_labels: list[str] | None = option(None, "annotation labels that start trials for segment: events (null: all)")
    condition_column: str | None = option(
        "auto", "trials column with condition labels; auto: 'condition' when present; null: none"
    )
    on_missing_event: str = option(
        "error",
        "a trial whose alignment event is missing: stop with an error, or drop the trial",
        choices=("error", "drop"),
    )
    min_spikes: int = option(1, "drop units with fewer spikes in the binned data", ge=0)
    zscore: bool = option(False, "z-score each continuous channel")
    split: SplitOptions = field(default_factory=SplitOptions)
    heldout: HeldoutOptions = field(default_factory=HeldoutOptions)

    @classmethod
    def from_config(
        cls, binning_cfg: dict | None = None, split: dict | None = None, heldout: dict | None = None
    ) -> BinningOptions:
        """Build from a dataset entry's ``binning``, ``split`` and ``heldout`` sections, naming any
        unknown key or bad value."""
        opts = cls.parse(binning_cfg, "binning")
        return replace(opts, split=SplitOptions.parse(split, "split"), heldout=HeldoutOptions.parse(heldout, "heldout"))

    def check(self, where: str) -> None:
        if self.window_s is not None:
            if not self.window_s[1] > self.window_s[0]:
                raise ConfigError(f"{where}.window_s", f"stop must be after start, got {list(self.window_s)}")
            if self.bin_size_s is not None and self.window_s[1] - self.window_s[0] < self.bin_size_s:
                raise ConfigError(f"{where}.window_s", f"{list(self.window_s)} is shorter than one bin")
