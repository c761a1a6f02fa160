"""The names the low-rank library accepts: nonlinearities φ, candidate bases and the selection rules of
orthogonal matching pursuit (:mod:`.embedding`, :mod:`.omp`).

A module of its own, without numpy or scipy, so that the ``neurodyn lowrank`` commands offer these
choices without loading the library.
"""

NONLINEARITIES = ("tanh", "relu")
BASIS_KINDS = ("gaussian", "grid")
SELECTIONS = ("omp", "ols")
# the scale of OMP's candidate basis: standardised to the samples, or the raw input_scale/weight_scale
BASIS_SCALES = ("data", "fixed")
