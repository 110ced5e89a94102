"""Base learners by name, so RECORDS and Oracle-LA can wrap any of them.

A base learner is a self-training partial-label method: a loss on per-view
logits against the confidence rows, and a confidence update from (possibly
rebalanced) per-view logits restricted to a support mask. ``steps.py`` runs
the views, the rebalancing, mixup and the bookkeeping around it. Register
your own with ``register_learner`` (see the README's extension guide) and
select it with ``config.method``.
"""

import dataclasses
from typing import Any, Callable

import jax

from ltpll_jax.methods import corr
from ltpll_jax.methods import proden

# (logits per view, each [B, K]; targets [B, K]) -> (loss, named terms).
LossFn = Callable[[list[jax.Array], jax.Array],
                  tuple[jax.Array, dict[str, Any]]]
# (logits per view; support [B, K]; double_normalize) -> new rows [B, K].
UpdateFn = Callable[[list[jax.Array], jax.Array, bool], jax.Array]


@dataclasses.dataclass(frozen=True)
class Learner:
  """A self-training base learner.

  Attributes:
    name: the ``config.method`` value.
    num_views: 2 for a weak and a strong view, 1 for the weak view only.
    loss: ``(logits_per_view, targets) -> (loss, terms)``; targets are the
      confidence rows read before this step's update (stop-gradient).
    update: ``(logits_per_view, support, double_normalize) -> rows``: new
      confidence rows, zero off ``support`` and summing to 1;
      ``double_normalize`` is True under RECORDS-style rebalancing (the
      learner may ignore it).
  """
  name: str
  num_views: int
  loss: LossFn
  update: UpdateFn


def _corr_loss(logits, targets):
  sup, con = corr.corr_loss_terms(logits[0], logits[1], targets)
  return sup + con, {'loss_sup': sup, 'loss_con': con}


def _corr_update(logits, support, double_normalize):
  return corr.corr_update(logits[0], logits[1], support,
                          double_normalize=double_normalize)


LEARNERS: dict[str, Learner] = {
    'corr': Learner('corr', 2, _corr_loss, _corr_update),
    'proden': Learner(
        'proden', 1, lambda logits, t: (proden.proden_loss(logits[0], t), {}),
        lambda logits, support, _: proden.proden_update(logits[0], support)),
}


def register_learner(learner: Learner) -> Learner:
  """Makes ``learner`` selectable as ``config.method=learner.name``."""
  if learner.num_views not in (1, 2):
    raise ValueError(f'num_views must be 1 or 2, got {learner.num_views}')
  LEARNERS[learner.name] = learner
  return learner


def get_learner(name: str) -> Learner:
  if name not in LEARNERS:
    raise ValueError(f'unknown base learner {name!r}; known: '
                     f'{sorted(LEARNERS)}')
  return LEARNERS[name]
