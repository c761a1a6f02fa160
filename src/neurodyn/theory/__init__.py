"""Theory of trained reservoir networks (Rivkind & Barak, PRL 2017, "Local dynamics in trained
recurrent neural networks").

:mod:`.reservoir` — finite networks (Eq. 1) trained by breaking the loop (Eqs. 2–3, 16), their
closed-loop Jacobian (Eq. 4), spectrum, outliers and finite-N open-loop gain (Eqs. 5–6).
:mod:`.mft` — the mean-field theory: σ² (Eq. 8), β₀, β₁ (Eq. 11), G_OL and λ_out (Eqs. 13–15),
and the M-target generalisation with its all-poles and Nyquist stability tests (Eqs. 16–18).
:mod:`.command` — ``neurodyn theory mft``.
"""

from neurodyn.theory.mft import (
    DEFAULT_QUADRATURE,
    LocalDynamics,
    MeanField,
    MultiTargetMeanField,
    NoFadingMemoryError,
    Quadrature,
    feedback_rule,
    gaussian_expectation,
    hermite_rule,
    mean_field,
    mean_field_targets,
    nyquist_unstable_count,
    rate_variance,
    solve_sigma2,
    split_normal_rule,
)
from neurodyn.theory.reservoir import (
    DEFAULT_RELU_THRESHOLD,
    FixedPointError,
    Nonlinearity,
    Reservoir,
    TrainedReservoir,
    eigenvalues,
    make_nonlinearity,
    outlier_eigenvalues,
    sample_feedback,
)

__all__ = [
    "DEFAULT_QUADRATURE",
    "DEFAULT_RELU_THRESHOLD",
    "FixedPointError",
    "LocalDynamics",
    "MeanField",
    "MultiTargetMeanField",
    "NoFadingMemoryError",
    "Nonlinearity",
    "Quadrature",
    "Reservoir",
    "TrainedReservoir",
    "eigenvalues",
    "feedback_rule",
    "gaussian_expectation",
    "hermite_rule",
    "make_nonlinearity",
    "mean_field",
    "mean_field_targets",
    "nyquist_unstable_count",
    "outlier_eigenvalues",
    "rate_variance",
    "sample_feedback",
    "solve_sigma2",
    "split_normal_rule",
]
