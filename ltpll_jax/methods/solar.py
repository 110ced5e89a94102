"""SoLar's pure pieces: queue, clean-sample selection, ramps, prior update.

SoLar (Wang et al., "SoLar: Sinkhorn Label Refinery for Imbalanced Partial-
Label Learning", NeurIPS 2022) refines pseudo-labels with a Sinkhorn solver
whose class marginal is an estimated class prior, trains on the samples it
trusts and estimates the prior from masked predictions once per epoch. This
module follows the port in the RECORDS code base (ALGORITHMS.md section 7);
the step that wires these pieces is ``steps.solar_train_step``.

* **Queue**: a ``[L * B, K]`` buffer of past candidate-masked predictions,
  zero at the start of each stage; the Sinkhorn input is ``[queue; batch]``
  once it is full (after ``L`` steps of a stage) and the batch alone before.
* **Selection**: per class ``j``, among the samples whose Sinkhorn label is
  ``j``, the ``k_j = max(min(ceil(B pi_j rho(e)), n_j), 1)`` with the
  smallest Sinkhorn loss, plus every sample whose Sinkhorn row puts more than
  ``tau`` of the prediction's mass (``sum_k Q_ik p_ik > tau``). Vectorised
  with ranks and masks: no data-dependent shapes.
* **Ramps** over ``warmup_epochs`` (50): ``rho(e) = rho_0 + (rho_1 - rho_0)
  min(e / W, 1)`` and ``eta(e) = eta_max min(e / W, 1)``.
* **Prior**: ``pi <- gamma hist(argmax_k p_ik s_ik) / N + (1 - gamma) pi``.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class SolarState(NamedTuple):
  """SoLar's part of ``TrainState.method_state``.

  Attributes:
    prior: ``[K]`` float32 class-prior estimate (the Sinkhorn's marginal).
    queue: ``[L * B, K]`` float32 past candidate-masked predictions, newest
      first.
    stage: int32 scalar, 1 (prior pre-estimation) or 2 (final training).
  """
  prior: jax.Array
  queue: jax.Array
  stage: jax.Array


def init_state(num_classes: int, queue_rows: int, *, stage: int = 1,
               prior=None) -> SolarState:
  """A fresh queue with a uniform (or the given) prior."""
  if prior is None:
    prior = np.full(num_classes, 1.0 / num_classes, np.float32)
  return SolarState(prior=jnp.asarray(prior, jnp.float32),
                    queue=jnp.zeros((queue_rows, num_classes), jnp.float32),
                    stage=jnp.asarray(stage, jnp.int32))


def push_queue(queue: jax.Array, rows: jax.Array) -> jax.Array:
  """Shifts the queue down by ``len(rows)`` and puts ``rows`` first.

  Args:
    queue: ``[Q, K]``.
    rows: ``[B, K]`` (``B <= Q``), this step's global batch.

  Returns:
    ``[Q, K]``: ``rows`` then the first ``Q - B`` old rows.
  """
  return jnp.concatenate([rows, queue[:queue.shape[0] - rows.shape[0]]])


def ramp(epoch, warmup_epochs: int) -> jax.Array:
  """``min(epoch / warmup_epochs, 1)`` (1 without warm-up); ``epoch`` may be
  traced."""
  if warmup_epochs <= 0:
    return jnp.ones((), jnp.float32)
  return jnp.minimum(jnp.asarray(epoch, jnp.float32) / warmup_epochs, 1.0)


def select_clean(losses: jax.Array, labels: jax.Array, confidence: jax.Array,
                 prior: jax.Array, *, rho: float, tau: float,
                 batch_size: int) -> jax.Array:
  """SoLar's chosen set: per-class small-loss samples plus confident ones.

  Args:
    losses: ``[B]`` Sinkhorn-label losses ``ell_sk``.
    labels: ``[B]`` int Sinkhorn labels ``argmax_k Q_ik``.
    confidence: ``[B]`` ``sum_k Q_ik p_ik``.
    prior: ``[K]`` class prior.
    rho: the selection ratio of this epoch.
    tau: the confidence threshold (0.99).
    batch_size: the ``B`` of ``ceil(B pi_j rho)`` (the global batch).

  Returns:
    ``[B]`` bool mask of the chosen samples.
  """
  num_classes = prior.shape[0]
  one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.int32)
  per_class = jnp.sum(one_hot, axis=0)                         # n_j
  quota = jnp.ceil(batch_size * prior * rho).astype(jnp.int32)
  quota = jnp.maximum(jnp.minimum(quota, per_class), 1)          # k_j
  # Rank of each sample among those with the same label, by loss (ties by
  # position): sort by (label, loss) and count earlier same-label entries.
  order = jnp.lexsort((losses, labels))
  sorted_labels = labels[order]
  first_of_class = jnp.searchsorted(sorted_labels, sorted_labels, side='left')
  rank_sorted = jnp.arange(labels.shape[0]) - first_of_class
  rank = jnp.zeros_like(rank_sorted).at[order].set(rank_sorted)
  small_loss = rank < quota[labels]
  return small_loss | (confidence > tau)


def chosen_permutation(key: jax.Array, chosen: jax.Array) -> jax.Array:
  """A uniformly random bijection of the chosen rows onto themselves.

  Unchosen rows map to themselves. Two independent random orders of the
  chosen rows are paired position by position.

  Args:
    key: PRNG key.
    chosen: ``[B]`` bool.

  Returns:
    ``[B]`` int32 partner index of every row.
  """
  k1, k2 = jax.random.split(key)
  inf = jnp.inf
  order1 = jnp.argsort(jnp.where(chosen, jax.random.uniform(k1, chosen.shape),
                                 inf))
  order2 = jnp.argsort(jnp.where(chosen, jax.random.uniform(k2, chosen.shape),
                                 inf))
  partner = jnp.arange(chosen.shape[0]).at[order1].set(order2)
  return jnp.where(chosen, partner, jnp.arange(chosen.shape[0])).astype(
      jnp.int32)


def prior_update(prior: np.ndarray, predictions: np.ndarray, gamma: float
                ) -> np.ndarray:
  """``gamma * histogram(predictions) / N + (1 - gamma) * prior``.

  Args:
    prior: ``[K]`` current prior.
    predictions: ``[N]`` int masked-argmax predictions on the training set.
    gamma: momentum of the update (stage 1: 0.1 or 0.05; stage 2: 0.01).

  Returns:
    ``[K]`` float32 new prior.
  """
  hist = np.bincount(predictions, minlength=len(prior)) / len(predictions)
  return (gamma * hist + (1.0 - gamma) * np.asarray(prior)).astype(np.float32)


def masked_argmax(logits: jax.Array, candidates: jax.Array) -> jax.Array:
  """``argmax_k softmax(z)_k s_k``: ``[B, K]`` logits and mask -> ``[B]``."""
  return jnp.argmax(jax.nn.softmax(logits, -1) * candidates, axis=-1)
