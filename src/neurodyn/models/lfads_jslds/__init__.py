"""LFADS with an optional co-trained JSLDS: the RNN cells, the JSLDS step and losses, and the family."""

from neurodyn.models.lfads_jslds.model import LFADSJSLDS

__all__ = ["LFADSJSLDS"]
