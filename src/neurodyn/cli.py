"""The ``neurodyn`` command line: the package's stages without Snakemake.

Every user-facing problem is reported as one line ``neurodyn: error: <file or field>: <problem>``
with exit status 1, and no partial output is left behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from neurodyn import __version__
from neurodyn.errors import NeurodynError

log = logging.getLogger("neurodyn")


def _bin_size(text: str) -> float | None:
    if text.lower() in ("native", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'native', got {text!r}")


def _cmd_ingest(args: argparse.Namespace) -> int:
    from neurodyn.dataset import config_hash, open_dataset, summary
    from neurodyn.ingest import BinningOptions, bin_to_store, read_source

    binning_cfg = {
        "bin_size_s": args.bin_size,
        "segment": args.segment,
        "align_event": args.align_event,
        "window_s": args.window,
        "segment_length_s": args.segment_length,
        "event_labels": args.event_labels,
        "min_spikes": args.min_spikes,
        "zscore": args.zscore,
    }
    split_cfg = {"column": None if args.split_column == "none" else args.split_column, "seed": args.seed}
    heldout_cfg = {"fraction": args.heldout_fraction, "seed": args.seed}
    opts = BinningOptions.from_config(binning_cfg, split_cfg, heldout_cfg)
    source_cfg = {
        "inputs": args.inputs,
        "channels": args.channels,
        "l_freq": args.l_freq,
        "h_freq": args.h_freq,
        "resample_hz": args.resample_hz,
        "start_sample": args.start_sample,
        "n_samples": args.n_samples,
    }
    if args.sfreq is not None:
        source_cfg["sfreq"] = args.sfreq
    recording = read_source(args.source, **source_cfg)
    bin_to_store(
        recording,
        opts,
        args.out,
        config_hash=config_hash({"source": source_cfg, "binning": opts.as_dict()}),
        block_bytes=int(args.block_mb * 2**20),
    )
    print(json.dumps(summary(open_dataset(args.out, load=False)), indent=2))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from neurodyn.dataset import open_dataset, summary

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


def _cmd_export_weights(args: argparse.Namespace) -> int:
    import numpy as np

    from neurodyn.models import load_model
    from neurodyn.recording import write_atomically

    model = load_model(args.model)
    if not hasattr(model, "export_weights"):
        raise NeurodynError(f"{args.model}: a '{model.family}' model has no low-rank weights to export")
    arrays = model.export_weights()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomically(write, args.out)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "n_units": int(arrays["M"].shape[0]),
                "rank": int(arrays["M"].shape[1]),
                "nonlinearity": str(arrays["nonlinearity"]),
            }
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurodyn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"neurodyn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser(
        "ingest",
        help="bin an NWB, EDF or NumPy-array recording into a dataset store",
        description="Read an NWB (spikes), EDF (continuous) or .npy/.npz (continuous, "
        "needs --sfreq) recording and write the binned zarr v3 dataset. The "
        "source kind is read from the file.",
    )
    ingest.add_argument("source", type=Path, help="NWB, EDF/BDF or .npy/.npz (sample × channel) file")
    ingest.add_argument("out", type=Path, help="output store (e.g. dataset.zarr)")
    ingest.add_argument(
        "--bin-size",
        type=_bin_size,
        required=True,
        metavar="SECONDS",
        help="bin width in seconds (spikes: 0.001–0.1); 'native' keeps a continuous signal's sampling period",
    )
    ingest.add_argument("--align-event", metavar="COLUMN", help="trials-table column to align to (default: start_time)")
    ingest.add_argument(
        "--window",
        type=float,
        nargs=2,
        metavar=("START", "STOP"),
        help="window around the alignment event, seconds (e.g. -0.25 0.45)",
    )
    ingest.add_argument(
        "--segment",
        default="auto",
        choices=["auto", "trials", "events", "windows", "continuous"],
        help="how to cut trials (default: trials table if present, else one continuous trial)",
    )
    ingest.add_argument("--segment-length", type=float, metavar="SECONDS", help="window length for --segment windows")
    ingest.add_argument("--event-labels", nargs="+", metavar="LABEL", help="annotation labels for --segment events")
    ingest.add_argument(
        "--inputs", nargs="+", default=[], metavar="NAME", help="NWB stimulus time series to bin as conditioning inputs"
    )
    ingest.add_argument("--channels", nargs="+", metavar="NAME", help="EDF channels to keep (cleaned names)")
    ingest.add_argument("--l-freq", type=float, help="EDF band-pass low edge, Hz")
    ingest.add_argument("--h-freq", type=float, help="EDF band-pass high edge, Hz")
    ingest.add_argument("--resample-hz", type=float, help="resample EDF signals to this rate first")
    ingest.add_argument("--sfreq", type=float, help="sampling rate of a .npy/.npz array, Hz")
    ingest.add_argument("--start-sample", type=int, default=0, help="array: first sample kept (default 0)")
    ingest.add_argument("--n-samples", type=int, help="array: number of samples kept (default: to the end)")
    ingest.add_argument("--zscore", action="store_true", help="z-score each continuous channel")
    ingest.add_argument("--min-spikes", type=int, default=1, help="drop units with fewer spikes (default 1)")
    ingest.add_argument(
        "--split-column",
        default="auto",
        help="trials column holding train/val/test, 'auto', or 'none' for a seeded split",
    )
    ingest.add_argument(
        "--heldout-fraction",
        type=float,
        default=0.2,
        help="fraction of channels held out when the file marks none (default 0.2)",
    )
    ingest.add_argument("--seed", type=int, default=0, help="seed of split and held-out choices")
    ingest.add_argument(
        "--block-mb",
        type=float,
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

    export = sub.add_parser(
        "export-weights",
        help="write a fitted low-rank model's map as .npz for fixed-points",
        description="Write M, N, h, a and nonlinearity of a fitted smc_lowrank model "
        "(the map z -> a z + N^T phi(M z + h)) to an .npz file that "
        "`neurodyn fixed-points` reads.",
    )
    export.add_argument("model", type=Path, help="fitted model directory")
    export.add_argument("out", type=Path, help="output .npz")
    export.set_defaults(func=_cmd_export_weights)

    from neurodyn.analysis.fixed_points.command import add_fixed_point_commands
    from neurodyn.jslds.command import add_jslds_commands
    from neurodyn.lowrank.command import add_lowrank_commands
    from neurodyn.pipeline import add_pipeline_commands
    from neurodyn.theory.command import add_theory_commands

    add_pipeline_commands(sub)
    add_fixed_point_commands(sub)
    add_lowrank_commands(sub)
    add_theory_commands(sub)
    add_jslds_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except NeurodynError as exc:
        print(f"neurodyn: error: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neurodyn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
