"""Rebalancing of the disambiguation and test logits: RECORDS and Oracle-LA.

**RECORDS** (Hong et al., ICLR 2023, ALGORITHMS.md section 5) estimates the
training-set class prior from a momentum mean ``F`` of batch-mean features
passed through the *current* linear head, bias included:

  pi_hat = softmax(W^T F + b),

and subtracts ``log(pi_hat + 1e-9)`` from the logits that the confidence
update sees (never from the loss), masking the update with the original
candidate set and normalising twice. Test predictions use
``z - log(pi_hat + 1e-9)`` with the end-of-epoch ``F``.

**Oracle-LA** (Menon et al., 2021; ALGORITHMS.md section 6) uses the true
training prior ``pi_c = n_c / N`` instead. The published code has no such
baseline, so three readings are offered (``config.oracle_la.variant``):

* ``post_hoc``: plain CORR training; test logits ``z - tau log pi``.
* ``constant_prior_disambiguation`` (default): the RECORDS code path with
  ``pi_hat`` replaced by the constant ``pi``; test logits
  ``z - log(pi + 1e-9)``.
* ``la_loss``: the loss sees ``z + tau log pi`` (logit-adjusted loss); the
  confidence update and the test predictions use the raw ``z``.

``pi`` is positive for every class: a data set with an empty class is
rejected before training (``prepare.check_dataset``), so ``log pi`` is finite
where the spec writes it without an epsilon.
"""

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

LOG_EPS = 1e-9
REBALANCERS = ('none', 'records', 'oracle_la')
ORACLE_VARIANTS = ('post_hoc', 'constant_prior_disambiguation', 'la_loss')


def records_prior(feat_mean: jax.Array, kernel: jax.Array,
                  bias: jax.Array) -> jax.Array:
  """RECORDS' class-prior estimate ``softmax(F W + b)``.

  Args:
    feat_mean: ``[D]`` momentum feature mean.
    kernel: ``[D, K]`` linear head weight.
    bias: ``[K]`` linear head bias.

  Returns:
    ``[K]`` prior, stop-gradient.
  """
  logits = jax.lax.stop_gradient(
      jnp.dot(feat_mean, kernel, precision=jax.lax.Precision.HIGHEST) + bias)
  return jax.nn.softmax(logits, axis=-1)


def debias(logits: jax.Array, prior: jax.Array) -> jax.Array:
  """``z - log(prior + 1e-9)``: ``[..., K]`` logits, ``[K]`` prior."""
  return logits - jnp.log(prior + LOG_EPS)


@dataclasses.dataclass(frozen=True)
class Rebalancer:
  """What a rebalancing scheme does at each place logits are used.

  Attributes:
    name: 'none', 'records' or 'oracle_la'.
    oracle_variant: the Oracle-LA reading (see the module docstring).
    tau: Oracle-LA's temperature for ``post_hoc`` and ``la_loss``.
  """
  name: str = 'none'
  oracle_variant: str = 'constant_prior_disambiguation'
  tau: float = 1.0

  def __post_init__(self):
    if self.name not in REBALANCERS:
      raise ValueError(f'unknown rebalance {self.name!r}; known: '
                       f'{REBALANCERS}')
    if self.name == 'oracle_la' and self.oracle_variant not in ORACLE_VARIANTS:
      raise ValueError(f'unknown Oracle-LA variant {self.oracle_variant!r}; '
                       f'known: {ORACLE_VARIANTS}')

  @property
  def uses_feature_mean(self) -> bool:
    return self.name == 'records'

  @property
  def rebalances_disambiguation(self) -> bool:
    """Debiased logits and the original candidates in the update."""
    return self.name == 'records' or (
        self.name == 'oracle_la' and
        self.oracle_variant == 'constant_prior_disambiguation')

  def prior(self, params, feat_mean: jax.Array,
            class_prior: jax.Array) -> Optional[jax.Array]:
    """The ``[K]`` prior this scheme adjusts with, or None."""
    if self.name == 'records':
      head = params['head']
      return records_prior(feat_mean, head['kernel'], head['bias'])
    if self.name == 'oracle_la':
      return class_prior
    return None

  def loss_logits(self, logits: jax.Array, prior) -> jax.Array:
    """Logits the training loss sees (LA loss: ``z + tau log pi``)."""
    if self.name == 'oracle_la' and self.oracle_variant == 'la_loss':
      return logits + self.tau * jnp.log(prior)
    return logits

  def update_logits(self, logits: jax.Array, prior) -> jax.Array:
    """Logits the confidence update sees."""
    if self.rebalances_disambiguation:
      return debias(logits, prior)
    return logits

  def test_logits(self, logits: jax.Array, prior) -> jax.Array:
    """Logits ranked at test time."""
    if self.rebalances_disambiguation:
      return debias(logits, prior)
    if self.name == 'oracle_la' and self.oracle_variant == 'post_hoc':
      return logits - self.tau * jnp.log(prior)
    return logits
