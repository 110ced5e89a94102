"""Mixup for the RECORDS + Mixup variant (ALGORITHMS.md 5.4).

Each step draws one ``lambda ~ Beta(4, 4)``, folded to ``max(lambda,
1 - lambda)`` in [0.5, 1], and one permutation of the batch; the *same*
lambda and permutation mix the weak images, the strong images and the
confidence snapshot. ``config.mixup_weight`` (the published ``--alpha``,
default 1) weights the mixup loss; it is not the Beta parameter.

Mixing happens within each device's share of the batch (under ``jit`` the
global batch is cut into as many groups as there are devices), so a run gives
the same numbers under ``pmap`` and ``jit`` on the same number of devices.
"""

import jax
import jax.numpy as jnp

BETA = 4.0


def mixup_lambda(key: jax.Array, beta: float = BETA) -> jax.Array:
  """``max(l, 1 - l)`` with ``l ~ Beta(beta, beta)``: a scalar in [0.5, 1]."""
  lam = jax.random.beta(key, beta, beta)
  return jnp.maximum(lam, 1.0 - lam)


def group_permutation(key: jax.Array, batch: int, groups: int,
                      group_offset: jax.Array | int = 0) -> jax.Array:
  """A permutation of ``range(batch)`` that stays within equal groups.

  Args:
    key: the step's mixup key (the same on every device).
    batch: rows the caller holds.
    groups: how many equal groups those rows form (1 under pmap, the device
      count under jit).
    group_offset: index of the caller's first group among all groups (the
      device index under pmap), so each group draws its own permutation.

  Returns:
    ``[batch]`` int32 indices.
  """
  size = batch // groups

  def one(g):
    perm = jax.random.permutation(jax.random.fold_in(key, group_offset + g),
                                  size)
    return perm + g * size

  return jax.vmap(one)(jnp.arange(groups)).reshape(-1).astype(jnp.int32)


def mix(x: jax.Array, lam: jax.Array, perm: jax.Array) -> jax.Array:
  """``lam * x + (1 - lam) * x[perm]`` along the leading axis."""
  return lam * x + (1.0 - lam) * x[perm]
