"""The metrics the analysis reports: what each is, in one place (:class:`neurodyn.metric_spec.MetricSpec`).

``evaluate`` writes these keys into ``metrics.json``; reports, the index and the glossary read
their labels, units, directions and definitions from here. A model family's own diagnostics
declare theirs in ``FittedModel.diagnostic_metrics``; :func:`metric_registry` joins both.
"""

from __future__ import annotations

from neurodyn.metric_spec import MetricSpec

BOTH = ("counts", "continuous")
COUNTS = ("counts",)
CONTINUOUS = ("continuous",)

ANALYSIS_METRICS: tuple[MetricSpec, ...] = (
    # --- prediction of held-out data (evaluation split) ---
    MetricSpec(
        "co_bps",
        "co-bps",
        "bits/spike",
        "higher",
        COUNTS,
        "Co-smoothing: log-likelihood gain of the predicted rates on held-out neurons over each neuron's mean "
        "rate, in bits per spike (Pei et al. 2021, Neural Latents Benchmark).",
    ),
    MetricSpec(
        "psth_r2_heldin",
        "PSTH R² held-in",
        "",
        "higher",
        COUNTS,
        "R² between recorded (smoothed) and predicted condition-averaged PSTHs of held-in neurons, averaged over "
        "neurons; as in the Neural Latents Benchmark, the recorded PSTH averages all trials of each condition, the "
        "predicted one the evaluation trials.",
    ),
    MetricSpec(
        "psth_r2_heldout",
        "PSTH R² held-out",
        "",
        "higher",
        COUNTS,
        "As PSTH R² held-in, for the held-out neurons the model never saw.",
    ),
    MetricSpec(
        "psth_r2_heldout_eval_trials",
        "PSTH R² held-out (evaluation trials)",
        "",
        "higher",
        COUNTS,
        "PSTH R² held-out with the recorded PSTH averaged over the evaluation trials only (not the benchmark's "
        "definition; fewer trials make a noisier target).",
    ),
    MetricSpec(
        "poisson_ll_per_bin",
        "Poisson log-lik. per bin",
        "nats",
        "higher",
        COUNTS,
        "Poisson log-likelihood of the recorded counts under the predicted rates, per observed bin and neuron.",
    ),
    MetricSpec(
        "r2_heldin",
        "R² held-in",
        "",
        "higher",
        CONTINUOUS,
        "Coefficient of determination of the predicted signal on held-in channels, averaged over channels.",
    ),
    MetricSpec(
        "r2_heldout",
        "R² held-out",
        "",
        "higher",
        CONTINUOUS,
        "As R² held-in, for held-out channels predicted from the others.",
    ),
    MetricSpec(
        "latent_coherence_max",
        "max latent coherence",
        "",
        None,
        CONTINUOUS,
        "Largest magnitude-squared coherence between any posterior latent and any recorded channel at any "
        "frequency above 0 Hz.",
    ),
    # --- decoding behaviour (datasets with behaviour) ---
    MetricSpec(
        "behavior_r2",
        "behaviour R²",
        "",
        "higher",
        BOTH,
        "R² on the evaluation trials, averaged over behaviour dimensions, of a ridge regression from the model's "
        "predicted rates of all channels to the behaviour, its penalty cross-validated on the training trials "
        "(the velocity-R² protocol of the Neural Latents Benchmark, Pei et al. 2021).",
    ),
    MetricSpec(
        "behavior_r2_recorded",
        "behaviour R² (recorded)",
        "",
        "higher",
        BOTH,
        "The same decoder fitted to the recorded activity instead of the model's rates (Gaussian-smoothed counts, "
        "or the signal itself), a baseline for behaviour R² (protocol of Pei et al. 2021).",
    ),
    # --- free-running generation against the recording ---
    MetricSpec(
        "d_stsp",
        "D_stsp",
        "nats",
        "lower",
        BOTH,
        "State-space divergence: Kullback-Leibler divergence between the occupancy histograms of recorded and "
        "freely generated activity (Koppe et al. 2019), in the recorded channels themselves below 6 channels as "
        "published, else in the recording's leading principal components (see D_stsp principal components).",
    ),
    MetricSpec(
        "d_stsp_coverage",
        "D_stsp coverage",
        "",
        "higher",
        BOTH,
        "Fraction of the generated steps inside the box the D_stsp histograms span (the recorded range, widened "
        "by 0.1 s.d. per side). The published measure drops the steps outside it, so at 0 the free run never "
        "visits the recording's states and D_stsp reads that of a uniform histogram, which can look good. "
        "Empty from 6 dimensions (Gaussian mixtures, no box).",
    ),
    MetricSpec(
        "d_stsp_pca_dims",
        "D_stsp principal components",
        "",
        None,
        BOTH,
        "0: D_stsp compared the recorded channels themselves (the published protocol); k: it compared the "
        "recording's top k principal components (analysis.dstsp_space).",
    ),
    MetricSpec(
        "d_h",
        "D_H",
        "",
        "lower",
        BOTH,
        "Hellinger distance between the smoothed, normalised power spectra of recorded and generated activity, "
        "averaged over channels; 0 is identical, 1 is disjoint (Mikhaeil et al. 2022).",
    ),
    MetricSpec(
        "pse",
        "power-spectrum error",
        "",
        "lower",
        BOTH,
        "Normalised squared error between recorded and generated power spectra, Σ(p − q)² / Σ(p² + q²), averaged "
        "over channels; in [0, 1] (Schmidt et al. 2021).",
    ),
    MetricSpec(
        "pse_low",
        "PSE low band",
        "",
        "lower",
        BOTH,
        "The power-spectrum error over frequencies up to analysis.spectrum_split_hz; absent where that band "
        "holds under 0.1 % of the recorded power.",
    ),
    MetricSpec(
        "pse_high",
        "PSE high band",
        "",
        "lower",
        BOTH,
        "The power-spectrum error over frequencies above analysis.spectrum_split_hz; absent where that band "
        "holds under 0.1 % of the recorded power (e.g. above a smoothing filter's cut-off).",
    ),
    MetricSpec(
        "recorded_peak_hz",
        "recorded spectral peak",
        "Hz",
        None,
        BOTH,
        "Frequency above 0 Hz of the maximum of the channel-averaged Welch power spectrum of the recorded activity "
        "(Gaussian-smoothed counts, or the signal) on the evaluation trials.",
    ),
    MetricSpec(
        "generated_peak_hz",
        "generated spectral peak",
        "Hz",
        None,
        BOTH,
        "Spectral peak of the generated activity: frequency above 0 Hz of the maximum of the channel-averaged Welch "
        "power spectrum of the model's free run, compared with the recorded spectral peak.",
    ),
    MetricSpec(
        "generation_diverged",
        "free run diverged",
        "",
        None,
        BOTH,
        "True when the freely running model produced non-finite values; its generation metrics are then left out.",
    ),
    MetricSpec(
        "rate_pearson_r",
        "rate r (generated)",
        "",
        "higher",
        COUNTS,
        "Pearson correlation over neurons between recorded and generated mean firing rates.",
    ),
    MetricSpec(
        "rate_mean_relative_error",
        "rate rel. error (generated)",
        "",
        "lower",
        COUNTS,
        "Mean over neurons of |generated − recorded| / recorded mean firing rate.",
    ),
    MetricSpec(
        "isi_cv_mean_abs_difference",
        "ISI CV difference",
        "",
        "lower",
        COUNTS,
        "Mean over neurons of the absolute difference between recorded and generated coefficients of variation "
        "of the inter-spike intervals.",
    ),
    MetricSpec(
        "pairwise_correlation_r",
        "pairwise corr. r (generated)",
        "",
        "higher",
        COUNTS,
        "Pearson correlation between the recorded and generated pairwise spike-count correlations over neuron pairs.",
    ),
    # --- the fitted dynamics ---
    MetricSpec(
        "n_fixed_points",
        "fixed points",
        "",
        None,
        BOTH,
        "Fixed points of the latent map at zero input: exact for affine and piecewise-linear maps, from a "
        "numerical search otherwise.",
    ),
    MetricSpec(
        "n_stable_fixed_points",
        "stable fixed points",
        "",
        None,
        BOTH,
        "Fixed points whose Jacobian eigenvalues all lie inside the unit circle.",
    ),
    MetricSpec(
        "fixed_points_estimated_total",
        "fixed points (estimated)",
        "",
        None,
        BOTH,
        "How many fixed points the map has by the numerical search's estimate (Chao 1984, from how many starts "
        "reached each point); equal to the count for exact solvers.",
    ),
    MetricSpec(
        "fixed_points_new_in_last_round",
        "new in last search round",
        "",
        None,
        BOTH,
        "Fixed points the numerical search's last round of fresh starts found that earlier rounds had not "
        "(0: the search had saturated); 0 for exact solvers.",
    ),
    MetricSpec(
        "slowest_time_constant_s",
        "slowest τ",
        "s",
        None,
        BOTH,
        "Longest time constant −Δt / ln|λ| among the Jacobian eigenvalues at the first fixed point.",
    ),
    MetricSpec(
        "distill_n_neurons",
        "distilled neurons",
        "",
        None,
        BOTH,
        "Neurons of the smallest low-rank tanh RNN that reproduces the latent flow within analysis.distill_tol "
        "(orthogonal matching pursuit).",
    ),
    MetricSpec(
        "distill_rel_mse",
        "distillation rel. MSE",
        "",
        "lower",
        BOTH,
        "Relative mean squared error of the distilled network's flow on the states the model visits.",
    ),
    MetricSpec(
        "distill_fixed_points_same",
        "distilled fixed points agree",
        "",
        None,
        BOTH,
        "True when the distilled network has the model's fixed points with the same stability.",
    ),
    # --- rotations (models that linearise their own map along the trial) ---
    MetricSpec(
        "expansion_speed_median",
        "median ½‖F(e*) − e*‖²",
        "",
        "lower",
        BOTH,
        "Median over the expansion points e* of ½‖F(e*) − e*‖² at zero input: how slow the points the model "
        "linearises around are (0 at a fixed point).",
    ),
    MetricSpec(
        "expansion_to_fixed_point_median",
        "expansion point → fixed point",
        "",
        "lower",
        BOTH,
        "Median distance from an expansion point to the nearest fixed point, relative to the RMS norm of the "
        "posterior latents.",
    ),
    MetricSpec(
        "jpca_plane_angle_deg",
        "jPCA ∠ eigen-plane",
        "°",
        "lower",
        BOTH,
        "Principal angle between the first jPCA plane and the best-matching eigen-plane of the Jacobian at the "
        "central expansion point; two random planes make the angle reported beside it.",
    ),
    MetricSpec(
        "jpca_r2_skew",
        "jPCA rotational R²",
        "",
        None,
        BOTH,
        "Share of the derivative of the condition-averaged latent trajectories explained by a skew-symmetric "
        "(purely rotational) linear fit (jPCA, Churchland et al. 2012).",
    ),
    # --- bookkeeping ---
    MetricSpec(
        "n_eval_trials",
        "evaluation trials",
        "",
        None,
        BOTH,
        "Trials of the evaluation split the metrics are computed on.",
    ),
)


def metric_registry(families=()) -> dict[str, MetricSpec]:
    """Every known metric by key: the analysis's and those the given families' diagnostics declare."""
    out = {m.key: m for m in ANALYSIS_METRICS}
    for family in families:
        for spec in getattr(family, "diagnostic_metrics", ()):
            out.setdefault(spec.key, spec)
    return out


__all__ = ["ANALYSIS_METRICS", "metric_registry"]
