"""JSLDS: co-training an RNN with a Jacobian switching linear dynamical system.

Reference: Smith, Linderman & Sussillo 2021, "Reverse engineering recurrent neural networks with
Jacobian switching linear dynamical systems" (NeurIPS). An expansion network proposes, at every
step, a point e*_t = E(a_{t−1}) around which the RNN's update is linearised; co-training keeps
e*_t near fixed points of the RNN and the linearised system a_t close to the RNN's states h_t,
so that the trained RNN is explained by a switching linear system by construction.

The cells (GRU / tanh in plain ops) and the JSLDS itself (expansion network, JVP step, rollout,
losses) belong to the ``lfads_jslds`` model family (:mod:`neurodyn.models.lfads_jslds`); this study
adds :mod:`.tasks` (3-bit memory, context-dependent integration), :mod:`.train`, :mod:`.evaluate`
(relative error, fixed-point linearisation baseline), :mod:`.analysis` (selection vectors) and
:mod:`.command` (``neurodyn jslds train | analyse``).
"""
