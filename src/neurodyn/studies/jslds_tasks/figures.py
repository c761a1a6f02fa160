"""Figures of the JSLDS task study: selection vectors against effective inputs (Smith et al. 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from neurodyn.report.figures import new_figure


def selection_figure(
    values: np.ndarray,
    state_labels: Sequence[str],
    input_labels: Sequence[str],
    row_labels: Sequence[str],
    *,
    title: str,
) -> Figure:
    """One heatmap per stored state (Smith et al. 2021, Figs. A.1–A.2).

    values: (S, r, I) normalised products in [0, 1] (rows: selection vectors or readout rows,
    columns: effective inputs); state_labels: (S,), e.g. "+ − +"; input_labels: (I,); row_labels: (r,).
    """
    values = np.asarray(values, dtype=float)
    n_states = values.shape[0]
    cols = min(4, max(n_states, 1))
    rows = int(np.ceil(n_states / cols)) if n_states else 1
    fig = new_figure(2.3 * cols + 0.8, 0.25 * values.shape[1] * rows + 1.2 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    image = None
    for k, ax in enumerate(axes):
        if k >= n_states:
            ax.axis("off")
            continue
        image = ax.imshow(values[k], vmin=0, vmax=1, cmap="viridis", aspect="auto", interpolation="nearest")
        ax.set_title(f"state {state_labels[k]}", fontsize=8)
        ax.set_xticks(range(len(input_labels)), input_labels, fontsize=7)
        ax.set_yticks(range(len(row_labels)), row_labels if k % cols == 0 else [""] * len(row_labels), fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="|vᵀ e| / (‖v‖ ‖e‖)")
    fig.suptitle(title, fontsize=10)
    return fig
