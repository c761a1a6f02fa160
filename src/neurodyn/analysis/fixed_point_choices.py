"""The names the exact piecewise-linear fixed-point finder (:mod:`neurodyn.analysis.fixed_points.piecewise`)
accepts: its nonlinearities and enumeration strategies.

A module of its own, without numpy or torch, so that the ``neurodyn fixed-points`` command offers
these choices without loading the finder.
"""

NONLINEARITIES = ("relu", "clipped")
STRATEGIES = ("auto", "canonical", "dedup")
