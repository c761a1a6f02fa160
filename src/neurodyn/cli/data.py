"""``neurodyn ingest`` and ``neurodyn info``: a source file binned into a dataset store, and its summary.

The data modules are imported when a command runs, so that ``neurodyn --help`` stays fast; the
flags come from the option dataclasses alone (:mod:`neurodyn.data.binning_options`,
:mod:`neurodyn.io.reader_options` through the reader registry), which load neither numpy nor xarray.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from neurodyn.cli.option_flags import add_option_flags, flag_name, given_options
from neurodyn.data.binning_options import BinningOptions, HeldoutOptions, SplitOptions
from neurodyn.io.registry import READERS


def _cmd_info(args: argparse.Namespace) -> int:
    from neurodyn.data.dataset import open_dataset, summary

    info = summary(open_dataset(args.store, load=False))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"{args.store}: {info['kind']} dataset, {info['n_trials']} trials × {info['n_time_bins']} bins "
        f"× {info['n_channels']} channels ({info['n_heldout_channels']} held out)"
    )
    print(
        f"  bins: {info['bin_size_s'] * 1e3:g} ms, window {info['window_s'][0]:+.3f} … "
        f"{info['window_s'][1]:+.3f} s around '{info['align_event']}'"
    )
    print("  splits: " + ", ".join(f"{k} {v}" for k, v in info["splits"].items()))
    if info["kind"] == "counts":
        print(
            f"  spikes: {info['total_spikes']}, mean rate {info['mean_rate_hz']:.2f} Hz "
            f"(median {info['median_rate_hz']:.2f} Hz)"
        )
    else:
        print(f"  signal: mean {info['mean']:.3g} {info['units']}, std {info['std']:.3g} {info['units']}")
    for key in ("n_conditions", "inputs", "behavior"):
        if key in info:
            print(f"  {key.replace('n_', '').replace('_', ' ')}: {info[key]}")
    print(f"  observed: {100 * info['fraction_observed']:.1f}% of bins")
    print(f"  source: {info['source']} (sha256 {info['source_sha256'][:12]}…)")
    print(f"  created by {info['created_by']}, config {info['config_hash'][:12]}")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from neurodyn.data.dataset import open_dataset, summary
    from neurodyn.stages.data import dataset_entry, ingest_and_bin_stage
    from neurodyn.stages.outputs import check_output_path, writing_to

    options = given_options(args, BinningOptions)
    for reader in READERS.values():
        options.update(given_options(args, reader.Options))
    split = given_options(args, SplitOptions, prefix="split")
    heldout = given_options(args, HeldoutOptions, prefix="heldout")
    if args.seed is not None:  # one seed for both seeded choices, unless each is given its own
        split.setdefault("seed", args.seed)
        heldout.setdefault("seed", args.seed)
    check_output_path(args.out)
    dataset_cfg = dataset_entry(args.source, options, split=split, heldout=heldout, label=flag_name)
    with writing_to(args.out):
        ingest_and_bin_stage(args.source, dataset_cfg, args.out, block_bytes=int(args.block_mb * 2**20))
    print(json.dumps(summary(open_dataset(args.out, load=False)), indent=2))
    return 0


def _positive_mib(text: str) -> float:
    """argparse type: a positive, finite number of MiB."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of MiB, got {text!r}")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of MiB, got {text!r}")
    return value


def _source_argument(text: str) -> str | Path:
    """argparse type: a URL or ``dandi://`` source stays a string (a Path would fold its ``//``)."""
    from neurodyn.io.remote import is_remote

    return text if is_remote(text) else Path(text)


def add_data_commands(sub) -> None:
    """Register ingest / info on the ``neurodyn`` parser; ingest's flags are generated from the
    reader, binning, split and held-out options (:mod:`neurodyn.cli.option_flags`)."""
    ingest = sub.add_parser(
        "ingest",
        help="bin an NWB, EDF or NumPy-array recording into a dataset store",
        description="Read an NWB (spikes), EDF (continuous) or .npy/.npz (continuous, needs --sfreq) recording "
        "and write the binned zarr v3 dataset, through the same stages as the workflow. The source kind is read "
        "from the file. Every option is listed by `neurodyn options binning` and `neurodyn options source KIND`.",
    )
    ingest.add_argument(
        "source",
        type=_source_argument,
        help="NWB, EDF/BDF or .npy/.npz (sample × channel) file; an NWB file may also be an https:// URL "
        "(read lazily, by range requests) or a DANDI asset dandi://<dandiset>/<version>/<path>",
    )
    ingest.add_argument("out", type=Path, help="output store (e.g. dataset.zarr)")
    binning = ingest.add_argument_group("binning")
    add_option_flags(
        binning,
        BinningOptions,
        aliases={"bin_size_s": ["--bin-size"], "window_s": ["--window"], "segment_length_s": ["--segment-length"]},
        null_words={"bin_size_s": ("native",)},
    )
    seen: set[str] = set()
    for kind, reader in READERS.items():
        add_option_flags(ingest.add_argument_group(f"{kind} sources"), reader.Options, seen=seen)
    split = ingest.add_argument_group("split and held-out channels")
    add_option_flags(split, SplitOptions, prefix="split")
    add_option_flags(split, HeldoutOptions, prefix="heldout")
    split.add_argument("--seed", type=int, help="seed of both the split and the held-out choice")
    ingest.add_argument(
        "--block-mb",
        type=_positive_mib,
        default=256,
        help="binned data held in memory at once, MiB (trials are binned and written in blocks)",
    )
    ingest.set_defaults(func=_cmd_ingest)

    info = sub.add_parser(
        "info", help="summarise a dataset store", description="Print a readable summary of a binned dataset store."
    )
    info.add_argument("store", type=Path)
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_cmd_info)
