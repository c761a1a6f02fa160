"""Figures of a neurodyn report.

Every figure function takes arrays or xarray objects and returns a :class:`matplotlib.figure.Figure`
built with matplotlib's object API (no pyplot, so importing this package never changes a user's
backend or registers global figures); :func:`figure_png` renders one to PNG bytes. Shapes are
given in the docstrings; nothing here computes more than a figure needs (the only "analysis" is a
PCA projection of latents to two dimensions for plotting).

Modules (each imports only :mod:`.style`):

* :mod:`~neurodyn.report.figures.style` — scale (figure inches of 100 CSS px, PNGs at 2×, the
  smallest font), colours, :func:`figure_png`, :func:`new_figure`, :func:`figure_css_size`,
  condition labels/colours, eigenvalue parsing and the drawing helpers shared by dataset and
  model figures (channel images, stacked traces, alignment marker, legends);
* :mod:`~neurodyn.report.figures.data` — readers of the binned dataset (kind, time label, held-out
  mask, channel names, trial titles) and the dataset figures: raster / trace stack, rate
  histogram, channel variance, PSTH;
* :mod:`~neurodyn.report.figures.generation` — recorded vs generated activity, latent trajectories
  (PCA projection);
* :mod:`~neurodyn.report.figures.dynamics` — fixed-point eigenvalue planes, transfer functions;
* :mod:`~neurodyn.report.figures.flow` — the flow field of a latent map of 1–3 dimensions with
  its fixed points and posterior trajectories;
* :mod:`~neurodyn.report.figures.training` — training curves;
* :mod:`~neurodyn.report.figures.psth` — condition PSTHs, the best units, predicted vs recorded PSTHs;
* :mod:`~neurodyn.report.figures.spectra` — power spectra with their peaks and latent–channel coherence;
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
from neurodyn.report.figures.flow import flow_field_figure
from neurodyn.report.figures.generation import latent_trajectories_figure, pca_projection, recorded_vs_generated_figure
from neurodyn.report.figures.psth import best_units, condition_psths, psth_comparison_figure
from neurodyn.report.figures.spectra import coherence_figure, spectra_figure
from neurodyn.report.figures.style import (
    CSS_PX_PER_INCH,
    FULL_WIDTH_IN,
    HALF_WIDTH_IN,
    MIN_TEXT_PT,
    PNG_DPI,
    STABLE_COLOR,
    UNSTABLE_COLOR,
    complex_values,
    condition_labels,
    figure_css_size,
    figure_png,
    has_conditions,
    new_figure,
    png_css_size,
)
from neurodyn.report.figures.sweeps import sweep_figure
from neurodyn.report.figures.training import training_curves_figure, training_panels

__all__ = [
    "CSS_PX_PER_INCH",
    "FULL_WIDTH_IN",
    "HALF_WIDTH_IN",
    "MIN_TEXT_PT",
    "PNG_DPI",
    "STABLE_COLOR",
    "UNSTABLE_COLOR",
    "best_units",
    "condition_psths",
    "figure_css_size",
    "flow_field_figure",
    "png_css_size",
    "psth_comparison_figure",
    "training_curves_figure",
    "training_panels",
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
