"""JSLDS: co-training an RNN with a Jacobian switching linear dynamical system.

Reference: Smith, Linderman & Sussillo 2021, "Reverse engineering recurrent neural networks with
Jacobian switching linear dynamical systems" (NeurIPS). An expansion network proposes, at every
step, a point e*_t = E(a_{t−1}) around which the RNN's update is linearised; co-training keeps
e*_t near fixed points of the RNN and the linearised system a_t close to the RNN's states h_t,
so that the trained RNN is explained by a switching linear system by construction.

Modules: :mod:`.cells` (GRU / tanh cells in plain ops), :mod:`.core` (expansion network, JVP step,
rollout, loss), :mod:`.tasks` (3-bit memory, context-dependent integration), :mod:`.train`,
:mod:`.evaluate` (relative error, fixed-point linearisation baseline) and :mod:`.command`
(``neurodyn jslds train``).
"""

from neurodyn.jslds.cells import GRUCell, Readout, TanhRNNCell, make_cell
from neurodyn.jslds.core import (
    ExpansionNetwork,
    JSLDSWeights,
    cotraining_loss,
    jacobians_at,
    jslds_step,
    jslds_step_explicit,
    rollout,
    rollout_rnn,
    standard_loss,
)
from neurodyn.jslds.evaluate import (
    FixedPointSet,
    evaluate_model,
    find_fixed_points,
    linearisation_baseline,
    relative_error,
    task_metrics,
)
from neurodyn.jslds.tasks import (
    TaskBatch,
    context_integration,
    make_batch,
    three_bit_memory,
)
from neurodyn.jslds.train import TrainResult, paper_weights, train_task

__all__ = [
    "ExpansionNetwork",
    "FixedPointSet",
    "GRUCell",
    "JSLDSWeights",
    "Readout",
    "TanhRNNCell",
    "TaskBatch",
    "TrainResult",
    "context_integration",
    "cotraining_loss",
    "evaluate_model",
    "find_fixed_points",
    "jacobians_at",
    "jslds_step",
    "jslds_step_explicit",
    "linearisation_baseline",
    "make_batch",
    "make_cell",
    "paper_weights",
    "relative_error",
    "rollout",
    "rollout_rnn",
    "standard_loss",
    "task_metrics",
    "three_bit_memory",
    "train_task",
]
