"""Stochastic low-rank RNNs fitted by variational sequential Monte Carlo: the pure core and the family."""

from neurodyn.models.smc_lowrank.model import SMCLowRank

__all__ = ["SMCLowRank"]
