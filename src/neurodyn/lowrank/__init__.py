"""Low-rank RNNs as neural ODEs with one hidden layer: closed-form embedding and the smallest network.

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review). A rank-r
RNN's latent dynamics ż = −z + Nᵀφ(M z + I v) (Eqs. 7, 10) is a linear combination of random basis
functions, so embedding a target flow is least squares (Eqs. 9–11, :mod:`.embedding`) and the
smallest network comes from orthogonal matching pursuit (Algorithm 1, :mod:`.omp`).
"""

from neurodyn.lowrank.embedding import (
    BASIS_KINDS,
    NONLINEARITIES,
    LowRankFlow,
    activation,
    design_matrix,
    embed_flow,
    even_part,
    fit_readout,
    odd_part,
    relative_mse,
    sample_basis,
)
from neurodyn.lowrank.omp import OMPResult, omp_lowrank

__all__ = [
    "BASIS_KINDS",
    "NONLINEARITIES",
    "LowRankFlow",
    "OMPResult",
    "activation",
    "design_matrix",
    "embed_flow",
    "even_part",
    "fit_readout",
    "odd_part",
    "omp_lowrank",
    "relative_mse",
    "sample_basis",
]
