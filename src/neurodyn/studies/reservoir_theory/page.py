"""The theory page: mean-field predictions against finite trained reservoirs, per setting, with figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurodyn.report.figures import STABLE_COLOR, UNSTABLE_COLOR, new_figure
from neurodyn.report.formatting import format_number, slug
from neurodyn.report.page import FigureWriter, html_table, sections_document, table_cell


def theory_figure(result: dict[str, Any]) -> Figure:
    """Mean-field theory vs one finite trained reservoir, per target (a row each).

    result: :func:`neurodyn.studies.reservoir_theory.compare.compare_setting` output. Left: the closed-loop Jacobian
    spectrum of the largest network (dots), the bulk disk |λ + 1| ≤ ρ of the theory and its
    predicted poles (crosses); right: the open-loop gain G_OL(ω), theory (solid) vs network (dashed).
    """
    example, theory = result["example"], result["theory"]
    rows = len(theory)
    fig = new_figure(9.0, 3.0 * rows)
    axes = np.atleast_2d(fig.subplots(rows, 2))
    omega = example["omega"]
    for r, summary in enumerate(theory):
        ax = axes[r, 0]
        eig = np.asarray(example["eigenvalues"][r])
        ax.scatter(
            eig.real,
            eig.imag,
            s=3,
            color="0.5",
            label=f"finite network, N = {max(f['n_units'] for f in result['finite'])}",
        )
        circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200)) * summary["rho"] - 1
        ax.plot(circle.real, circle.imag, color="black", lw=0.8, label="bulk radius ρ (theory)")
        poles = np.asarray(summary["poles"])
        ax.scatter(
            poles.real,
            poles.imag,
            marker="x",
            s=60,
            color=STABLE_COLOR if summary["stable"] else UNSTABLE_COLOR,
            label="predicted poles",
            zorder=3,
        )
        ax.axvline(0, color="0.7", lw=0.8, ls=":")
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
        ax.set_title(f"target A = {summary['target']:g}: {'stable' if summary['stable'] else 'unstable'}", fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
        if r == 0:
            ax.legend(fontsize=7, loc="upper left")
        ax = axes[r, 1]
        theory_gain, finite = np.asarray(example["theory_gain"][r]), np.asarray(example["finite_gain"][r])
        ax.plot(omega, theory_gain.real, color="tab:blue", label="Re G_OL, theory")
        ax.plot(omega, theory_gain.imag, color="tab:orange", label="Im G_OL, theory")
        ax.plot(omega, finite.real, color="tab:blue", ls="--", lw=1, label="finite network")
        ax.plot(omega, finite.imag, color="tab:orange", ls="--", lw=1)
        ax.set_xlabel("ω (1/τ)")
        ax.set_title("open-loop gain", fontsize=9)
        if r == 0:
            ax.legend(fontsize=7)
    return fig


def build_theory_report(
    results: Sequence[tuple[str, dict[str, Any]]],
    *,
    title: str = "Trained reservoirs: theory",
    figures_dir: Path | None = None,
    pages: Sequence[tuple[str, str]] = (),
) -> str:
    """A page comparing the mean-field theory of trained reservoirs (Rivkind & Barak 2017) with
    finite networks. results: (label, :func:`neurodyn.studies.reservoir_theory.compare.compare_setting` output);
    pages: (relative href, label) of other pages to link, e.g. the index."""
    writer = FigureWriter(figures_dir)
    intro = (
        "Networks ẋ = −x + W φ(x) + w_FB z, z = w_outᵀ φ(x), W_ij ~ N(0, g²/N), trained by "
        "breaking the loop to hold each target A as a fixed point. Theory: σ², β₀, β₁ and the closed-loop "
        "pole(s) of the mean-field theory; measured: the rightmost Jacobian eigenvalue outside the bulk, "
        "and the error of the finite network's open-loop gain."
    )
    sections = []
    for label, result in results:
        name = f"{result['phi']}{'(x − ' + format(result['threshold'] or 0.1, 'g') + ')' if result['phi'] == 'relu' else ''}"
        blocks = []
        rows = []
        theory = {s["target"]: s for s in result["theory"]}
        for row in result["finite"]:
            th = theory[row["target"]]
            measured = np.asarray(row["outliers"])
            text = (
                (
                    f"{format_number(float(measured.real.mean()))} ± {format_number(float(measured.real.std()))}"
                    + (
                        f", |Im| {format_number(float(np.abs(measured.imag).mean()))}"
                        if np.abs(measured.imag).max() > 1e-9
                        else ""
                    )
                )
                if measured.size
                else "inside the bulk"
            )
            pole = complex(th["pole"])
            predicted = (
                format_number(pole.real)
                + (f" ± {format_number(abs(pole.imag))}i" if abs(pole.imag) > 1e-9 else "")
                + ("" if th["outside_bulk"] else " (inside the bulk)")
            )
            rows.append(
                [
                    table_cell(row["n_units"]),
                    table_cell(row["target"]),
                    table_cell(predicted),
                    table_cell("stable" if th["stable"] else "unstable"),
                    table_cell(text),
                    table_cell(f"{row['n_outliers']}/{row['n_networks']}"),
                    table_cell(row["gain_error_mean"]),
                ]
            )
        blocks.append(
            html_table(
                [
                    "N",
                    "target A",
                    "predicted pole (theory)",
                    "theory says",
                    "measured outlier (mean ± sd)",
                    "networks with an outlier",
                    "G_OL relative error",
                ],
                rows,
            )
        )
        blocks.append(
            writer.embed(
                f"theory_{slug(label)}",
                lambda result=result: theory_figure(result),
                "Spectrum of the largest network with the theory's bulk and poles, and the "
                "open-loop gain of theory and network.",
            )
        )
        sections.append(
            {
                "id": f"theory-{slug(label)}",
                "heading": f"{label}: φ = {name}, g = {format_number(result['g'])}",
                "blocks": blocks,
            }
        )
    return sections_document(title, intro, sections, pages)
