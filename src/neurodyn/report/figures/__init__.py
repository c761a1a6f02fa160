"""Figures of a neurodyn report.

Every figure function takes arrays or xarray objects and returns a :class:`matplotlib.figure.Figure`
built with matplotlib's object API (no pyplot, so importing this package never changes a user's
backend or registers global figures); :func:`figure_png` renders one to PNG bytes. Shapes are
given in the docstrings; nothing here computes more than a figure needs (the only "analysis" is a
PCA projection of latents to two dimensions for plotting).

Modules (each imports only :mod:`.style`):

* :mod:`~neurodyn.report.figures.style` — DPI, colours, :func:`figure_png`, :func:`new_figure`,
  condition labels/colours, eigenvalue parsing and the drawing helpers shared by dataset and
  model figures (channel images, stacked traces, alignment marker, legends);
* :mod:`~neurodyn.report.figures.data` — readers of the binned dataset (kind, time label, held-out
  mask, channel names, trial titles) and the dataset figures: raster / trace stack, rate
  histogram, channel variance, PSTH;
* :mod:`~neurodyn.report.figures.generation` — recorded vs generated activity, latent trajectories
  (PCA projection);
* :mod:`~neurodyn.report.figures.dynamics` — fixed-point eigenvalue planes, transfer functions;
* :mod:`~neurodyn.report.figures.spectra` — power spectra and latent–channel coherence;
* :mod:`~neurodyn.report.figures.expansion` — expansion-point modes and jPCA;
* :mod:`~neurodyn.report.figures.sweeps` — the sweep figure.
"""

from neurodyn.report.figures.data import (
    channel_names,
    channel_variance_figure,
    data_kind,
    heldout_mask,
    psth_figure,
    raster_figure,
    rate_histogram_figure,
    time_label,
    trial_title,
)
from neurodyn.report.figures.dynamics import eigenvalue_figure, transfer_figure
from neurodyn.report.figures.expansion import expansion_modes_figure, jpca_figure
from neurodyn.report.figures.generation import latent_trajectories_figure, pca_projection, recorded_vs_generated_figure
from neurodyn.report.figures.spectra import coherence_figure, spectra_figure
from neurodyn.report.figures.style import (
    STABLE_COLOR,
    UNSTABLE_COLOR,
    complex_values,
    condition_labels,
    figure_png,
    has_conditions,
    new_figure,
)
from neurodyn.report.figures.sweeps import sweep_figure

__all__ = [
    "STABLE_COLOR",
    "UNSTABLE_COLOR",
    "channel_names",
    "channel_variance_figure",
    "coherence_figure",
    "complex_values",
    "condition_labels",
    "data_kind",
    "eigenvalue_figure",
    "expansion_modes_figure",
    "figure_png",
    "has_conditions",
    "heldout_mask",
    "jpca_figure",
    "latent_trajectories_figure",
    "new_figure",
    "pca_projection",
    "psth_figure",
    "raster_figure",
    "rate_histogram_figure",
    "recorded_vs_generated_figure",
    "spectra_figure",
    "sweep_figure",
    "time_label",
    "transfer_figure",
    "trial_title",
]
