"""``neurodyn jslds train`` / ``analyse``: train an RNN on a JSLDS task benchmark, co-trained or
standard, and reverse-engineer a co-trained 3-bit model.

Smith, Linderman & Sussillo 2021 (NeurIPS), supplement A.3.1 (3-bit memory, GRU) and A.4.1
(context-dependent integration, vanilla tanh RNN). Trains with :func:`neurodyn.studies.jslds_tasks.train.train_task`
(checkpointing to ``OUT/checkpoint.pt``; ``--resume`` continues it), evaluates on fresh trials with
:func:`neurodyn.studies.jslds_tasks.evaluate.evaluate_model` and writes, each atomically:

* ``OUT/weights.pt`` — a flat dict of CPU tensors ``cell.<name>``, ``readout.<name>``, (co-trained)
  ``expansion.<name>`` and (``--learn-h0``) ``initial.h0``; read it with ``torch.load(path, weights_only=True)``;
* ``OUT/metrics.json`` — ``task``, ``cotrain``, ``config``, ``steps``, ``wall_time_s``,
  ``steps_per_s``, ``train`` (loss terms averaged over the last 50 steps), ``rollbacks`` (the
  divergence guard's rewinds: step detected, step restored, new lr scale), ``eval`` (held-out task
  metrics of the RNN and, co-trained, of the JSLDS; ``relative_error`` ‖h − a‖/‖h‖; the fixed-point
  linearisation ``baseline_error`` of the same RNN unless ``--no-baseline``), ``published`` (the
  paper's values) and ``device``, ``torch``;
* for a co-trained 3-bit model, the selection-vector analysis of ``neurodyn jslds analyse``
  (:func:`analyse_selection`): ``OUT/selection.json`` and the heatmaps
  ``OUT/selection_vectors.png`` (Fig. A.1) and ``OUT/readout_inputs.png`` (Fig. A.2).

The study's modules are imported when a command runs, so that building the ``neurodyn`` parser
stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurodyn.cli.arguments import emit_json, positive_int

if TYPE_CHECKING:
    import torch

CHECKPOINT_FILE = "checkpoint.pt"
WEIGHTS_FILE = "weights.pt"
METRICS_FILE = "metrics.json"
SELECTION_FILE = "selection.json"
SELECTION_FIGURES = {"selection": "selection_vectors.png", "readout": "readout_inputs.png"}

#: The paper's numbers (Smith et al. 2021, main text): the co-trained JSLDS's relative error
#: ‖h − a‖/‖h‖ and the standard-trained RNN's fixed-point linearisation error.
PUBLISHED = {
    "3bit": {"jslds_relative_error": 0.046, "baseline_error": 0.27},
    "context": {"jslds_relative_error": 0.0097, "baseline_error": 0.39},
}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _decay(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a per-step factor in (0, 1], got {text!r}")
    return value


def train_and_report(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate and write ``weights.pt`` / ``metrics.json`` into ``args.out``; the metrics."""
    import torch

    from neurodyn.storage import write_atomically
    from neurodyn.studies.jslds_tasks.evaluate import evaluate_model
    from neurodyn.studies.jslds_tasks.train import train_task

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = train_task(
        args.task,
        cotrain=not args.standard,
        n_steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        warmup_steps=args.warmup_steps,
        clip=args.clip,
        hidden=args.hidden,
        seed=args.seed,
        device=args.device,
        checkpoint_path=out / CHECKPOINT_FILE,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        log_every=args.log_every,
        learn_h0=args.learn_h0,
    )
    write_atomically(lambda tmp: torch.save(result.weights(), tmp), out / WEIGHTS_FILE)
    evaluation = evaluate_model(
        args.task,
        result.cell,
        result.readout,
        result.expansion,
        n_trials=args.eval_trials,
        seed=args.seed + 10_000,
        baseline=not args.no_baseline,
        n_starts=args.fp_starts,
        h0=result.h0,
    )
    tail = min(50, len(result.history["total"]))
    train_terms = {k: float(sum(v[-tail:]) / tail) for k, v in result.history.items() if k != "lr"}
    # standard training has no JSLDS terms (NaN in the history): null in the JSON, which has no NaN
    train_terms = {k: (v if math.isfinite(v) else None) for k, v in train_terms.items()}
    new_steps = result.steps - result.resumed_from
    payload = {
        "task": args.task,
        "cotrain": not args.standard,
        "config": result.config,
        "steps": result.steps,
        "wall_time_s": result.wall_time_s,
        "steps_per_s": (new_steps / result.wall_time_s) if result.wall_time_s > 0 else None,
        "train": train_terms,
        "rollbacks": [list(r) for r in result.rollbacks],
        "eval": evaluation,
        "published": PUBLISHED[args.task],
        "device": str(result.device),
        "torch": torch.__version__,
    }
    emit_json(payload, out / METRICS_FILE)
    return payload


def load_trained(
    directory: Path,
) -> tuple[dict[str, Any], torch.nn.Module, torch.nn.Module, torch.nn.Module | None, torch.Tensor | None]:
    """The metrics and the (cell, readout, expansion network or None, learned initial state or None)
    of a ``jslds train`` output directory, on the CPU; weights read with ``weights_only=True``."""
    import torch

    from neurodyn.errors import InputFileError
    from neurodyn.models.base import load_tensors
    from neurodyn.studies.jslds_tasks.train import build_models

    metrics_path, weights_path = directory / METRICS_FILE, directory / WEIGHTS_FILE
    try:
        payload = json.loads(metrics_path.read_text())
        config = payload["config"]
        task, hidden, cotrain = config["task"], int(config["hidden"]), bool(config["cotrain"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFileError(metrics_path, f"not a `neurodyn jslds train` metrics file ({type(exc).__name__}: {exc})")
    cell, readout, expansion = build_models(task, hidden, cotrain=cotrain, device=torch.device("cpu"), seed=0)
    flat = load_tensors(weights_path, "cpu", "weights")
    try:
        for prefix, module in (("cell", cell), ("readout", readout), ("expansion", expansion)):
            if module is not None:
                state = {k[len(prefix) + 1 :]: v for k, v in flat.items() if k.startswith(prefix + ".")}
                module.load_state_dict(state)
        h0 = flat.get("initial.h0")
        if h0 is not None and tuple(h0.shape) != (hidden,):
            raise ValueError(f"initial.h0 has shape {tuple(h0.shape)}, expected ({hidden},)")
    except (OSError, RuntimeError, AttributeError, KeyError, ValueError) as exc:
        raise InputFileError(weights_path, f"cannot load the {task} model's weights ({type(exc).__name__}: {exc})")
    return payload, cell, readout, expansion, h0


def analyse_selection(directory: Path, *, n_trials: int = 512, seed: int = 0, n_vectors: int = 9) -> dict[str, Any]:
    """The selection-vector analysis (:func:`neurodyn.studies.jslds_tasks.analysis.three_bit_selection`) of a
    co-trained 3-bit model in ``directory``: writes ``selection.json`` and the two heatmap figures."""
    from neurodyn.errors import ConfigError
    from neurodyn.report.figures import figure_png
    from neurodyn.storage import write_atomically
    from neurodyn.studies.jslds_tasks.analysis import three_bit_selection
    from neurodyn.studies.jslds_tasks.figures import selection_figure

    payload, cell, readout, expansion, h0 = load_trained(directory)
    if payload["config"]["task"] != "3bit" or expansion is None:
        raise ConfigError(
            "task",
            "the selection-vector analysis needs a co-trained 3bit model "
            f"(got task {payload['config']['task']!r}, co-trained {expansion is not None})",
        )
    sel = three_bit_selection(cell, readout, expansion, n_trials=n_trials, seed=seed, n_vectors=n_vectors, h0=h0)
    states = [" ".join("+" if v > 0 else "−" for v in row) for row in sel.output_states]
    figures = {
        "selection": selection_figure(
            sel.selection,
            states,
            sel.input_labels,
            [f"l{i + 1}" for i in range(sel.selection.shape[1])],
            title="Top left eigenvectors of J_h(e*) · effective inputs J_u(e*)(u − u*)",
        ),
        "readout": selection_figure(
            sel.readout, states, sel.input_labels, ["out 1", "out 2", "out 3"], title="Readout rows · effective inputs"
        ),
    }
    for key, fig in figures.items():
        png = figure_png(fig)
        write_atomically(lambda tmp, png=png: Path(tmp).write_bytes(png), directory / SELECTION_FIGURES[key])
    result = {"n_trials": n_trials, "seed": seed, **sel.to_json()}
    emit_json(result, directory / SELECTION_FILE)
    return result


def run_analyse_command(args: argparse.Namespace) -> int:
    """Handler of ``neurodyn jslds analyse``."""
    res = analyse_selection(Path(args.directory), n_trials=args.trials, seed=args.seed, n_vectors=args.vectors)
    print(
        f"selection vectors at {len(res['counts'])} stored states: mean normalised product "
        f"{res['selection_flip_mean']:.3g} for flipping pulses vs {res['selection_hold_mean']:.3g} for repeated ones; "
        f"wrote {Path(args.directory) / SELECTION_FILE}"
    )
    return 0


def run_train_command(args: argparse.Namespace) -> int:
    """Handler of ``neurodyn jslds train``."""
    payload = train_and_report(args)
    ev = payload["eval"]
    line = f"{args.task} ({'co-trained' if payload['cotrain'] else 'standard'}): RNN MSE {ev['rnn']['mse']:.4g}"
    if "relative_error" in ev:
        line += f", JSLDS relative error {ev['relative_error']:.4g}"
    if "baseline_error" in ev:
        line += f", fixed-point linearisation error {ev['baseline_error']:.4g}"
    print(f"{line}; wrote {Path(args.out) / METRICS_FILE}")
    if args.task == "3bit" and payload["cotrain"]:
        run_analyse_command(
            argparse.Namespace(directory=args.out, trials=args.eval_trials, seed=args.seed + 20_000, vectors=9)
        )
    return 0


def add_jslds_commands(sub) -> None:
    """Register ``jslds`` (with its subcommand ``train``) on the ``neurodyn`` subparsers (handler in ``func``)."""
    jslds = sub.add_parser(
        "jslds",
        help="co-train RNNs with Jacobian switching linear dynamical systems",
        description="JSLDS co-training (Smith, Linderman & Sussillo 2021, NeurIPS).",
    )
    jslds_sub = jslds.add_subparsers(dest="jslds_command", required=True, metavar="COMMAND")
    p = jslds_sub.add_parser(
        "train",
        help="train on the 3-bit memory or context-integration task",
        description="Train a GRU (3bit) or vanilla tanh RNN (context) with JSLDS co-training (default) or "
        "in the standard way (--standard), with the paper's settings unless overridden; write "
        "OUT/weights.pt (flat dict of tensors) and OUT/metrics.json (task error, JSLDS relative "
        "error, fixed-point linearisation error, wall time).",
    )
    p.add_argument("--task", required=True, choices=("3bit", "context"))
    p.add_argument("--standard", action="store_true", help="standard training (RNN + readout on the task loss only)")
    p.add_argument("--steps", type=positive_int, required=True, metavar="N", help="Adam steps in total")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:k] (default auto)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and trial seed (default 0)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("--resume", action="store_true", help=f"continue DIR/{CHECKPOINT_FILE} if present")
    p.add_argument("--hidden", type=positive_int, default=None, help="state size (default: paper's 100 / 128)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="trials per step (default 256)")
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help="initial Adam learning rate (default: 0.02 for 3bit as in the paper, 0.005 for context)",
    )
    p.add_argument(
        "--lr-decay", type=_decay, default=0.9998, help="per-step exponential decay: lr_k = lr·decay^k (default 0.9998)"
    )
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=200,
        metavar="N",
        help="linear learning-rate warm-up over the first N steps (default 200; 0: none)",
    )
    p.add_argument("--clip", type=_positive_float, default=10.0, help="gradient-norm clip (default 10)")
    p.add_argument(
        "--learn-h0",
        action="store_true",
        help="train the initial state h0 with the weights, as the published code does (default: h0 = 0)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=500,
        metavar="N",
        help="write the checkpoint every N steps (default 500)",
    )
    p.add_argument("--log-every", type=int, default=0, metavar="N", help="log the losses every N steps (0: never)")
    p.add_argument("--eval-trials", type=positive_int, default=512, help="held-out trials (default 512)")
    p.add_argument(
        "--fp-starts", type=positive_int, default=512, help="starting states of the fixed-point search (default 512)"
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the fixed-point linearisation baseline")
    p.set_defaults(func=run_train_command)
    a = jslds_sub.add_parser(
        "analyse",
        help="selection vectors of a co-trained 3bit model (Figs. A.1-A.2)",
        description="Around the expansion point of each stored 3-bit state: the products of the top left "
        "eigenvectors of J_h and of the readout rows with the effective inputs J_u(e*)(u - u*) of "
        "the six one-hot pulses; writes DIR/selection.json, DIR/selection_vectors.png and "
        "DIR/readout_inputs.png. `jslds train --task 3bit` runs it itself.",
    )
    a.add_argument("directory", type=Path, metavar="DIR", help="a `neurodyn jslds train` output directory")
    a.add_argument("--trials", type=positive_int, default=512, help="fresh trials (default 512)")
    a.add_argument("--seed", type=int, default=0, help="trial seed (default 0)")
    a.add_argument("--vectors", type=positive_int, default=9, help="top left eigenvectors shown (default 9)")
    a.set_defaults(func=run_analyse_command)


__all__ = [
    "PUBLISHED",
    "add_jslds_commands",
    "analyse_selection",
    "load_trained",
    "run_analyse_command",
    "run_train_command",
    "train_and_report",
]
