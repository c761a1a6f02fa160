"""PLRNNs fitted by EM with line-attractor regularisation: the pure core, ReLU moments and the family."""

from neurodyn.models.plrnn_em.model import PLRNNEM

__all__ = ["PLRNNEM"]
