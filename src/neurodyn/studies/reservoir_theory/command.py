"""``neurodyn theory mft``: mean-field output dynamics of a trained reservoir (Rivkind & Barak 2017).

One target (``--amplitude A``) prints JSON with ``sigma2`` (Eq. 8), ``beta0``, ``beta1`` (Eq. 11),
``rho``, ``lambda_out`` (Eq. 14; ``lambda_out_eq15`` from Eq. 15 as a check), ``open_loop_pole``,
``dc_gain``, ``tau_out``, ``tau_net``, ``stable`` and ``nyquist_stable``. Several targets
(``--targets A1,A2,...``; write ``--targets=-0.5,1`` when the first is negative) print per-target
lists: ``sigma2``, ``beta0``, ``beta1``, ``rho``, ``poles`` (the M closed-loop poles around each
fixed point as [re, im] pairs), ``open_loop_poles``, ``stable`` (all poles in the left half
plane) and ``nyquist_stable`` (the Nyquist criterion on G_OL, Eqs. 17–18), plus ``k`` and ``C``.
Where no finite self-consistent σ² exists (e.g. a ReLU with g ≥ √2) or the driven open loop has
ρ ≥ 1, the command fails with one line (exit 1): the open loop has no fading memory.

The theory modules are imported when the command runs, so that building the ``neurodyn`` parser
stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from neurodyn.errors import NeurodynError


def _targets(text: str) -> list[float]:
    try:
        values = [float(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers A1,A2,..., got {text!r}")
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one target level, got {text!r}")
    return values


def mft_report(
    phi: str,
    g: float,
    *,
    amplitude: float | None = None,
    targets: list[float] | None = None,
    threshold: float | None = None,
    fb: str = "uniform",
    fb_scale: float = 1.0,
) -> dict[str, Any]:
    """The JSON-ready result of ``neurodyn theory mft`` (one target, or M targets)."""
    from neurodyn.errors import ConfigError
    from neurodyn.studies.reservoir_theory.mft import (
        mean_field,
        mean_field_targets,
        nyquist_unstable_count,
    )

    if (amplitude is None) == (targets is None):
        raise ConfigError("--amplitude/--targets", "give exactly one of --amplitude A or --targets A1,A2,...")
    if targets is not None and len(targets) == 1:
        amplitude, targets = targets[0], None
    if targets is None:
        mf = mean_field(phi, g, amplitude, threshold=threshold, fb=fb, fb_scale=fb_scale)
        out = {"M": 1, **mf.to_json()}
        pole = mf.open_loop_pole
        out["nyquist_stable"] = (
            nyquist_unstable_count(mf.open_loop_gain, open_loop_unstable=int(pole > 0), scale=max(1.0, abs(pole))) == 0
        )
        return out
    return mean_field_targets(phi, g, targets, threshold=threshold, fb=fb, fb_scale=fb_scale).to_json()


def _finite(value: Any) -> Any:
    """JSON has no inf/NaN (tau_net at rho = 1, z_nm where K_nm = 0): write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _cmd_theory_mft(args: argparse.Namespace) -> int:
    payload = mft_report(
        args.phi,
        args.g,
        amplitude=args.amplitude,
        targets=args.targets,
        threshold=args.threshold,
        fb=args.fb,
        fb_scale=args.fb_scale,
    )
    print(json.dumps(_finite(payload), indent=2, allow_nan=False))
    return 0


def add_theory_commands(sub) -> None:
    """Register ``theory mft`` on the ``neurodyn`` subparsers (handler in ``func``)."""
    theory = sub.add_parser(
        "theory",
        help="mean-field theory of trained reservoir networks (Rivkind & Barak 2017)",
        description="Analytical results on recurrent networks trained to hold fixed points.",
    )
    theory_sub = theory.add_subparsers(dest="theory_command", required=True, metavar="THEORY_COMMAND")
    p = theory_sub.add_parser(
        "mft",
        help="σ², β₀, β₁ and the closed-loop poles of a reservoir trained on fixed-point targets",
        description="Mean-field theory of a random reservoir (W_ij ~ N(0, g²/N), feedback weights i.i.d.) "
        "whose readout is trained by breaking the loop to hold z = A (Rivkind & Barak, PRL 2017): "
        "σ² (Eq. 8), β₀, β₁ (Eq. 11), the closed-loop outlier λ_out = −(1 − Aβ₀ − β₁) (Eq. 14) "
        "for one target, or the M closed-loop poles around each of M targets with the all-poles "
        "and Nyquist stability verdicts (Eqs. 16–18). Prints JSON.",
    )
    p.add_argument(
        "--phi",
        choices=("tanh", "relu"),
        default="tanh",
        help="nonlinearity: tanh, or relu φ(x) = max(0, x − threshold) (default tanh)",
    )
    p.add_argument("--threshold", type=float, help="relu threshold (default 0.1, the paper's)")
    p.add_argument("--g", type=float, required=True, help="connectivity gain g (W_ij ~ N(0, g²/N))")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--amplitude", type=float, metavar="A", help="one target output level A (M = 1)")
    group.add_argument(
        "--targets",
        type=_targets,
        metavar="A1,A2,...",
        help="several target levels (M ≥ 2), comma-separated; --targets=-1,1 for a negative first",
    )
    p.add_argument(
        "--fb",
        choices=("uniform", "normal"),
        default="uniform",
        help="feedback weight distribution: U(−s, s) (default, reproduces Figs. 1D and 2) or N(0, s²)",
    )
    p.add_argument("--fb-scale", type=float, default=1.0, metavar="S", help="feedback weight scale s (default 1)")
    p.set_defaults(func=_cmd_theory_mft)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone ``python -m neurodyn.studies.reservoir_theory.command mft ...`` with the ``neurodyn`` error style."""
    parser = argparse.ArgumentParser(prog="neurodyn theory")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_theory_commands(sub)
    args = parser.parse_args(["theory", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except NeurodynError as exc:
        print(f"neurodyn: error: {exc}".replace("\n", " "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["add_theory_commands", "main", "mft_report"]
