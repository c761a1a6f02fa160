"""Mean-field predictions against finite trained reservoirs (Rivkind & Barak 2017, Fig. 1).

For one setting (φ, g, targets) :func:`compare_setting` computes the theory's closed-loop pole(s)
around each trained fixed point (Eq. 14; Eqs. 16–18 for several targets) and, for networks of
each size and seed, the rightmost Jacobian eigenvalue outside the bulk disk |λ + 1| ≤ ρ (Eq. 4)
and the relative error of the finite-N open-loop gain G_OL(ω) (Eqs. 5–6) against the theory's
(Eq. 13 / 17). Everything is returned as plain numbers and arrays for tables and figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neurodyn.studies.reservoir_theory.mft import mean_field, mean_field_targets
from neurodyn.studies.reservoir_theory.reservoir import Reservoir

OMEGA = np.linspace(-3.0, 3.0, 121)


def theory_of(phi: str, g: float, targets: Sequence[float], threshold: float | None = None) -> list[dict[str, Any]]:
    """Per target: ``poles`` (complex array, rightmost first), ``rho``, ``stable``, ``nyquist_stable``
    and ``gain`` (a function ω ↦ G_OL(ω))."""
    targets = [float(t) for t in targets]
    if len(targets) == 1:
        mf = mean_field(phi, g, targets[0], threshold=threshold)
        return [
            {
                "poles": np.array([complex(mf.lambda_out)]),
                "rho": mf.rho,
                "stable": bool(mf.stable),
                "nyquist_stable": bool(mf.stable),
                "gain": mf.open_loop_gain,
                "sigma2": mf.sigma2,
                "beta0": mf.beta0,
                "beta1": mf.beta1,
                "tau_out": mf.tau_out,
                "tau_net": mf.tau_net,
            }
        ]
    mt = mean_field_targets(phi, g, targets, threshold=threshold)
    out = []
    for n in range(len(targets)):
        loc = mt.local(n)
        poles = np.asarray(loc.poles, dtype=np.complex128)
        out.append(
            {
                "poles": poles[np.argsort(-poles.real)],
                "rho": loc.rho,
                "stable": bool(loc.stable),
                "nyquist_stable": bool(loc.nyquist_stable),
                "gain": loc.open_loop_gain,
            }
        )
    return out


def compare_setting(
    phi: str,
    g: float,
    targets: Sequence[float],
    *,
    sizes: Sequence[int] = (250, 500),
    seeds: int = 2,
    threshold: float | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Theory vs finite networks for one setting.

    Returns ``theory`` (per target: predicted rightmost pole, whether it lies outside the bulk, ρ,
    stability by the poles and by Nyquist), ``finite`` (per size and target: the measured outliers
    over seeds and the G_OL relative errors), and for figures the spectrum of the largest network
    (seed 0) with its bulk radii, plus G_OL(ω) of theory and that network per target.
    """
    theory = theory_of(phi, g, targets, threshold)
    rows = []
    example: dict[str, Any] = {}
    for n_units in sizes:
        outliers: list[list[complex]] = [[] for _ in targets]
        errors: list[list[float]] = [[] for _ in targets]
        for seed in range(seeds):
            net = Reservoir.random(n_units, g, phi, threshold=threshold, seed=seed).train([float(t) for t in targets])
            for n, th in enumerate(theory):
                found = net.outlier(n, device=device)
                if found is not None:
                    outliers[n].append(complex(found))
                ref = th["gain"](OMEGA)
                finite_gain = net.open_loop_gain(n, OMEGA)
                errors[n].append(float(np.max(np.abs(finite_gain - ref)) / np.max(np.abs(ref))))
                if seed == 0 and n_units == max(sizes):
                    example.setdefault("eigenvalues", []).append(np.asarray(net.eigenvalues(n, device=device)))
                    example.setdefault("finite_gain", []).append(finite_gain)
        for n, t in enumerate(targets):
            rows.append(
                {
                    "n_units": int(n_units),
                    "target": float(t),
                    "n_outliers": len(outliers[n]),
                    "n_networks": seeds,
                    "outliers": outliers[n],
                    "gain_error_mean": float(np.mean(errors[n])),
                    "gain_error_sd": float(np.std(errors[n])),
                }
            )
    summary = []
    for t, th in zip(targets, theory):
        top = th["poles"][0]
        summary.append(
            {
                "target": float(t),
                "pole": top,
                "outside_bulk": bool(abs(top + 1) > th["rho"]),
                "rho": float(th["rho"]),
                "stable": th["stable"],
                "nyquist_stable": th["nyquist_stable"],
                "poles": th["poles"],
            }
        )
    example["theory_gain"] = [th["gain"](OMEGA) for th in theory]
    example["omega"] = OMEGA
    example["rho"] = [th["rho"] for th in theory]
    return {
        "phi": phi,
        "g": float(g),
        "targets": [float(t) for t in targets],
        "threshold": threshold,
        "theory": summary,
        "finite": rows,
        "example": example,
    }


def as_json(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of :func:`compare_setting`'s result (complex numbers as [re, im])."""

    def c(z: complex) -> list[float]:
        return [float(np.real(z)), float(np.imag(z))]

    return {
        "phi": result["phi"],
        "g": result["g"],
        "targets": result["targets"],
        "threshold": result["threshold"],
        "theory": [
            {
                **{k: v for k, v in s.items() if k not in ("pole", "poles")},
                "pole": c(s["pole"]),
                "poles": [c(p) for p in s["poles"]],
            }
            for s in result["theory"]
        ],
        "finite": [
            {**{k: v for k, v in r.items() if k != "outliers"}, "outliers": [c(z) for z in r["outliers"]]}
            for r in result["finite"]
        ],
    }
