"""TrainState: everything a training run mutates, as one pytree.

Checkpointing this pytree is enough to resume exactly: the RNG is derived
from (seed, step) and the data order from (seed, epoch), so nothing else
needs saving.
"""

from typing import Any

from flax.training import train_state
import jax

PyTree = Any


class TrainState(train_state.TrainState):
  """Flax TrainState plus the partial-label learner's state.

  Attributes (beyond ``step``, ``params``, ``opt_state``, and the static
  ``apply_fn``/``tx``):
    batch_stats: BatchNorm running statistics (pytree).
    confidence: ``[N, K]`` float32 per-sample confidence over the candidate
      labels; rows sum to 1 and are zero off the candidates.
    feat_mean: ``[D]`` float32 momentum mean of the batch-mean features
      (RECORDS). It starts at zero and is not bias-corrected, so its first
      value is ``(1 - m)`` times the first batch statistic, exactly the
      published "empty, then (1 - m) g" start; no separate flag is needed.
    method_state: pytree owned by the method (SoLar's class prior, queue and
      stage); an empty dict for methods without one.
  """
  batch_stats: PyTree
  confidence: jax.Array
  feat_mean: jax.Array
  method_state: PyTree
