"""PRODEN: the classic self-training partial-label learner.

PRODEN (Lv et al., "Progressive Identification of True Labels for Partial-
Label Learning", ICML 2020) trains with cross-entropy against a per-sample
confidence and re-estimates that confidence from the model's own prediction
restricted to the candidates:

  L = -1/B sum_i sum_k c_ik log p_ik,
  c_new_ik = m_ik p_ik / (sum_j m_ij p_ij + 1e-9).

Here it is the second base learner that RECORDS plugs into (the RECORDS paper
does the same). Choices where the published code is silent: PRODEN uses the
weak view only (one forward per step, as classic PRODEN trains on one
augmented view); the update uses the same forward's pre-step prediction,
stop-gradient, and the support ``m`` is the current one (``c > 0``) or, with
RECORDS, the original candidate set; the 1e-9 keeps an all-underflow row at
zero instead of NaN, as in CORR.
"""

import jax
import jax.numpy as jnp

NORM_EPS = 1e-9


def proden_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Batch-mean cross-entropy against soft targets.

  Args:
    logits: ``[B, K]``.
    targets: ``[B, K]`` confidence rows read before this step's update.

  Returns:
    Scalar loss.
  """
  targets = jax.lax.stop_gradient(targets)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.sum(targets * log_p, axis=-1))


def proden_update(logits: jax.Array, support_mask: jax.Array) -> jax.Array:
  """New confidence rows: the prediction restricted to the support.

  Args:
    logits: ``[B, K]`` (debiased ones under RECORDS).
    support_mask: ``[B, K]`` {0, 1}.

  Returns:
    ``[B, K]`` rows summing to 1 (up to 1e-9), zero off the support;
    stop-gradient.
  """
  p = jax.nn.softmax(jax.lax.stop_gradient(logits), axis=-1)
  u = support_mask.astype(p.dtype) * p
  return u / (jnp.sum(u, axis=-1, keepdims=True) + NORM_EPS)
