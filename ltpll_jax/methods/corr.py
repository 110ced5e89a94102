"""CORR as implemented inside the RECORDS code base (ALGORITHMS.md 4.3).

CORR (Wu et al., "Revisiting Consistency Regularization for Deep Partial
Label Learning", ICML 2022) trains on a weak and a strong view of every image
against a per-sample confidence ``t`` over the candidate labels:

  L_sup = 1/B sum_i sum_k n_ik [-log(|1 - p^w_ik| + 1e-9)
                                - log(|1 - p^s_ik| + 1e-9)],
  n_ik  = 1[t_ik == 0]    (non-candidates, from the *current* confidence),
  L_con = KL(t || p^w) + KL(t || p^s),  KL = 1/B sum_i sum_k t (log t - log p),
  L     = L_sup + L_con   (both weight 1 from the first step, no ramp-up).

The confidence update takes the geometric mean of the two views restricted to
a support mask and renormalises:

  u = m * p^s * p^w,   v = sqrt(u),   c_new = v / (sum_k v + 1e-9).

Plain CORR uses the current support ``m = 1[t > 0]``; RECORDS masks with the
original candidate set and normalises ``u`` once more before the square root
(``double_normalize``), which only matters for numerical range.

Everything is computed in probability space in float32, as the published
code does: when every candidate product underflows, the row becomes all zeros
(it then adds nothing to L_con and all its classes enter the negative mask).
This rare case is kept, not repaired, so results match the reference.
"""

import jax
import jax.numpy as jnp

LOG_EPS = 1e-9
NORM_EPS = 1e-9


def negative_learning_loss(logits: jax.Array, negatives: jax.Array
                          ) -> jax.Array:
  """Per-sample ``sum_k n_k * -log(|1 - p_k| + 1e-9)``.

  Args:
    logits: ``[B, K]`` float.
    negatives: ``[B, K]`` {0, 1} non-candidate mask.

  Returns:
    ``[B]`` float losses.
  """
  p = jax.nn.softmax(logits, axis=-1)
  return -jnp.sum(negatives * jnp.log(jnp.abs(1.0 - p) + LOG_EPS), axis=-1)


def soft_kl(targets: jax.Array, logits: jax.Array) -> jax.Array:
  """Per-sample ``KL(t || softmax(z)) = sum_k t (log t - log p)``, 0 log 0 = 0.

  Args:
    targets: ``[B, K]`` soft targets (rows sum to 1 or are all zero).
    logits: ``[B, K]`` float.

  Returns:
    ``[B]`` float; only the ``-t log p`` part depends on ``logits``.
  """
  log_p = jax.nn.log_softmax(logits, axis=-1)
  t_log_t = jnp.where(targets > 0, targets * jnp.log(
      jnp.where(targets > 0, targets, 1.0)), 0.0)
  return jnp.sum(t_log_t - targets * log_p, axis=-1)


def corr_loss_terms(logits_w: jax.Array, logits_s: jax.Array,
                    targets: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The batch-mean negative-learning and consistency terms.

  Args:
    logits_w: ``[B, K]`` weak-view logits.
    logits_s: ``[B, K]`` strong-view logits.
    targets: ``[B, K]`` confidence rows read before this step's update.

  Returns:
    ``(L_sup, L_con)`` scalars.
  """
  targets = jax.lax.stop_gradient(targets)
  negatives = (targets == 0).astype(logits_w.dtype)
  sup = (negative_learning_loss(logits_w, negatives) +
         negative_learning_loss(logits_s, negatives))
  con = soft_kl(targets, logits_w) + soft_kl(targets, logits_s)
  return jnp.mean(sup), jnp.mean(con)


def corr_loss(logits_w: jax.Array, logits_s: jax.Array,
              targets: jax.Array) -> jax.Array:
  """CORR's training loss ``L_sup + L_con`` (scalar); see the module doc."""
  sup, con = corr_loss_terms(logits_w, logits_s, targets)
  return sup + con


def corr_update(logits_w: jax.Array, logits_s: jax.Array,
                support_mask: jax.Array, *,
                double_normalize: bool = False) -> jax.Array:
  """New confidence rows: masked geometric mean of the two views.

  Args:
    logits_w: ``[B, K]`` weak-view logits (debiased ones for RECORDS).
    logits_s: ``[B, K]`` strong-view logits.
    support_mask: ``[B, K]`` {0, 1}: current support (CORR) or original
      candidates (RECORDS).
    double_normalize: normalise ``u`` before the square root (RECORDS).

  Returns:
    ``[B, K]`` rows summing to 1 (up to 1e-9) and zero off the support;
    stop-gradient.
  """
  p_w = jax.nn.softmax(jax.lax.stop_gradient(logits_w), axis=-1)
  p_s = jax.nn.softmax(jax.lax.stop_gradient(logits_s), axis=-1)
  u = support_mask.astype(p_w.dtype) * p_s * p_w
  if double_normalize:
    u = u / (jnp.sum(u, axis=-1, keepdims=True) + NORM_EPS)
  v = jnp.sqrt(u)
  return v / (jnp.sum(v, axis=-1, keepdims=True) + NORM_EPS)
