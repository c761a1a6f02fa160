"""Low-rank RNNs as neural ODEs with one hidden layer: closed-form embedding and the smallest network.

Reference: "A new look at low-rank recurrent neural networks" (anonymous, under review). A rank-r
RNN's latent dynamics ż = −z + Nᵀφ(M z + I v) (Eqs. 7, 10) is a linear combination of random basis
functions, so embedding a target flow is least squares (Eqs. 9–11, :mod:`.embedding`) and the
smallest network comes from orthogonal matching pursuit (Algorithm 1, :mod:`.omp`).

The names below are imported from those modules on first use (they load numpy and scipy), so that
importing a light module of the package, :mod:`.choices`, stays light.
"""

_CHOICES = ("BASIS_KINDS", "NONLINEARITIES", "SELECTIONS")
_EMBEDDING = (
    "LowRankFlow",
    "activation",
    "design_matrix",
    "embed_flow",
    "even_part",
    "fit_readout",
    "odd_part",
    "relative_mse",
    "sample_basis",
)
_OMP = ("OMPResult", "omp_lowrank")


def __getattr__(name: str):
    if name in _CHOICES:
        from neurodyn.lowrank import choices as module
    elif name in _EMBEDDING:
        from neurodyn.lowrank import embedding as module
    elif name in _OMP:
        from neurodyn.lowrank import omp as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_CHOICES, *_EMBEDDING, *_OMP])


__all__ = sorted([*_CHOICES, *_EMBEDDING, *_OMP])
