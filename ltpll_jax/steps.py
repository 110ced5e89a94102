"""Train and eval steps: pure functions that wire data, model and method.

``train_step(state, data, batch, rng, update_targets)`` is written once for
both parallel modes: it sees its share of the batch (all of it under ``jit``)
and reduces through a ``parallel.Collectives``. It

1. gathers its images from the on-device data set and augments each one with
   a key folded from (seed, step, sample index), so the views do not depend
   on how the batch is split over devices;
2. runs one forward over the concatenated views (weak and strong for CORR,
   weak for PRODEN, plus their mixed copies with mixup), so BatchNorm
   statistics are shared (ALGORITHMS.md 4.3, 5.4);
3. computes the base learner's loss on targets read before any update (and,
   from the update-start epoch, the mixup loss on the mixed targets);
4. updates the feature mean (RECORDS, every step) and then, from the
   update-start epoch (the static flag ``update_targets``), the confidence
   rows from the rebalanced pre-step logits, gathered across devices and
   written identically everywhere;
5. applies the pmean'd gradients.

``eval_step`` returns per-class counts summed over devices, ranking the
rebalanced test logits.
"""

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ltpll_jax import metrics as metrics_lib
from ltpll_jax import parallel
from ltpll_jax.data import augment
from ltpll_jax.methods import mixup as mixup_lib
from ltpll_jax.methods import rebalance as rebalance_lib
from ltpll_jax.methods import registry
from ltpll_jax.state import TrainState

Batch = dict[str, jax.Array]
Data = dict[str, jax.Array]
# SoLar brings its own step (solar_steps.py) and uses the two views.
SOLAR = 'solar'


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Static (hashable) settings of the steps, derived from the config.

  Attributes:
    num_classes: K.
    method: a registered base learner ('corr', 'proden', ...) or 'solar'.
    rebalancer: how the disambiguation and test logits are rebalanced.
    mixup: add the mixup loss (ALGORITHMS.md 5.4).
    mixup_weight: its weight (the published ``--alpha``).
    mixup_groups: groups the step's rows are mixed within (1 under pmap,
      the device count under jit).
    train_mean, train_std: per-channel normalisation of the training views.
    test_mean, test_std: normalisation of the test images.
    feat_momentum: momentum of the feature-mean EMA.
  """
  num_classes: int
  method: str = 'corr'
  rebalancer: rebalance_lib.Rebalancer = rebalance_lib.Rebalancer()
  mixup: bool = False
  mixup_weight: float = 1.0
  mixup_groups: int = 1
  train_mean: tuple[float, ...] = (0.5,)
  train_std: tuple[float, ...] = (0.25,)
  test_mean: tuple[float, ...] = (0.5,)
  test_std: tuple[float, ...] = (0.25,)
  feat_momentum: float = 0.9

  def __post_init__(self):
    if self.method != SOLAR:
      registry.get_learner(self.method)

  @property
  def num_views(self) -> int:
    """Augmented views per sample: weak + strong, or weak only."""
    if self.method == SOLAR:
      return 2
    return registry.get_learner(self.method).num_views


def sample_keys(rng: jax.Array, step: jax.Array, index: jax.Array
               ) -> jax.Array:
  """One key per sample from (rng, step, sample index): ``[b]`` keys."""
  step_rng = jax.random.fold_in(jax.random.fold_in(rng, step), 0)
  return jax.vmap(lambda i: jax.random.fold_in(step_rng, i))(index)


def mixup_key(rng: jax.Array, step: jax.Array) -> jax.Array:
  """The step's mixup key, the same on every device."""
  return jax.random.fold_in(jax.random.fold_in(rng, step), 1)


def make_views(images: jax.Array, keys: jax.Array, cfg: StepConfig
              ) -> list[jax.Array]:
  """Normalised augmented views of uint8 ``[b, H, W, C]`` images.

  Returns:
    ``[weak, strong]`` for CORR, ``[weak]`` for PRODEN, each ``[b, H, W, C]``.
  """

  def one(image, key):
    weak_key, strong_key = jax.random.split(key)
    views = [augment.weak_view(image, weak_key)]
    if cfg.num_views == 2:
      views.append(augment.strong_view(image, strong_key))
    return views

  views = jax.vmap(one)(images, keys)
  return [augment.normalize(v, cfg.train_mean, cfg.train_std) for v in views]


def initial_confidence(candidates: np.ndarray) -> np.ndarray:
  """Uniform over each candidate set: ``[N, K]`` float32 ``s / |S|``."""
  candidates = np.asarray(candidates, np.float32)
  return candidates / candidates.sum(1, keepdims=True)


def learner_loss(cfg: StepConfig, logits: list[jax.Array],
                 targets: jax.Array) -> tuple[jax.Array, dict[str, Any]]:
  """The base learner's loss on per-view logits, with its named terms."""
  return registry.get_learner(cfg.method).loss(logits, targets)


def learner_update(cfg: StepConfig, logits: list[jax.Array],
                   support: jax.Array) -> jax.Array:
  """The base learner's new confidence rows from (rebalanced) logits."""
  return registry.get_learner(cfg.method).update(
      logits, support, cfg.rebalancer.rebalances_disambiguation)


def train_step(state: TrainState, data: Data, batch: Batch, rng: jax.Array,
               update_targets: bool, *, model: nn.Module, cfg: StepConfig,
               coll: parallel.Collectives,
               learning_rate_fn: Callable[[jax.Array], jax.Array]
              ) -> tuple[TrainState, dict[str, jax.Array]]:
  """One self-training step (CORR or PRODEN family); see the module doc.

  Args:
    state: the replicated train state.
    data: on-device data set: ``images [N, H, W, C] uint8``, ``candidates
      [N, K] bool``, ``labels [N] int32`` (diagnostics only), ``class_prior
      [K]`` (the true training prior, for Oracle-LA).
    batch: ``{'index': [b] int32}`` rows of this device's share.
    rng: the run's training key.
    update_targets: static; whether the confidence is updated (and the mixup
      loss is on) this step.
    model: the network.
    cfg: static settings.
    coll: cross-device reductions.
    learning_rate_fn: step -> learning rate (for logging).

  Returns:
    The new state and pmean'd scalar metrics.
  """
  index = batch['index']
  b = index.shape[0]
  rebal = cfg.rebalancer
  views = make_views(data['images'][index],
                     sample_keys(rng, state.step, index), cfg)
  targets = state.confidence[index]
  class_prior = data['class_prior']
  mixing = cfg.mixup
  if mixing:
    lam_key, perm_key = jax.random.split(mixup_key(rng, state.step))
    lam = mixup_lib.mixup_lambda(lam_key)
    perm = mixup_lib.group_permutation(
        perm_key, b, cfg.mixup_groups,
        group_offset=coll.device_index() * cfg.mixup_groups)
    views = views + [mixup_lib.mix(v, lam, perm) for v in views]
    mixed_targets = mixup_lib.mix(targets, lam, perm)
  n = cfg.num_views

  def loss_fn(params):
    (logits, features), new_vars = model.apply(
        {'params': params, 'batch_stats': state.batch_stats},
        jnp.concatenate(views), train=True, mutable=['batch_stats'])
    chunks = jnp.split(logits, len(views))
    shifted = [rebal.loss_logits(z, class_prior) for z in chunks]
    loss, terms = learner_loss(cfg, shifted[:n], targets)
    if mixing and update_targets:
      mix_loss, _ = learner_loss(cfg, shifted[n:], mixed_targets)
      loss = loss + cfg.mixup_weight * mix_loss
      terms['loss_mix'] = mix_loss
    # The feature summary averages the unmixed views of each sample.
    feature = jnp.mean(jnp.stack(jnp.split(features[:n * b], n)), axis=0)
    stats = new_vars.get('batch_stats', {})
    return loss, (stats, chunks[:n], feature, terms)

  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params)
  batch_stats, view_logits, feature, terms = aux
  grads = coll.pmean(grads)
  batch_stats = coll.pmean(batch_stats)

  feat_mean = state.feat_mean
  if rebal.uses_feature_mean:
    # Zero-initialised EMA without bias correction: the first value is
    # (1 - m) times the first batch mean, as published.
    batch_mean = coll.pmean(jnp.mean(jax.lax.stop_gradient(feature), 0))
    feat_mean = (cfg.feat_momentum * feat_mean +
                 (1.0 - cfg.feat_momentum) * batch_mean)

  confidence = state.confidence
  if update_targets:
    # The prior uses the updated feature mean and the pre-step head.
    prior = rebal.prior(state.params, feat_mean, class_prior)
    if rebal.rebalances_disambiguation:
      support = data['candidates'][index]
    else:
      support = targets > 0
    rows = learner_update(
        cfg, [rebal.update_logits(z, prior) for z in view_logits], support)
    confidence = confidence.at[coll.all_gather(index)].set(
        coll.all_gather(rows))

  state = state.apply_gradients(grads=grads, batch_stats=batch_stats,
                                confidence=confidence, feat_mean=feat_mean)
  train_acc = jnp.mean(jnp.argmax(view_logits[0], -1) == data['labels'][index])
  out = coll.pmean({'loss': loss, 'train_acc': train_acc.astype(jnp.float32),
                    **terms})
  out['learning_rate'] = learning_rate_fn(state.step - 1)
  return state, out


def eval_step(state: TrainState, data: Data, batch: Batch, rng: jax.Array,
              *, model: nn.Module, cfg: StepConfig,
              coll: parallel.Collectives) -> dict[str, jax.Array]:
  """Per-class test counts of one (padded) evaluation batch.

  Args:
    state: the replicated train state.
    data: on-device data with ``test_images``, ``test_labels`` and
      ``class_prior``.
    batch: ``{'index': [e] int32, 'mask': [e] bool}``; padded rows have mask
      False.
    rng: unused (keeps the signature of ``train_step``).
    model: the network.
    cfg: static settings.
    coll: cross-device reductions.

  Returns:
    ``correct1``, ``correct5``, ``seen``: ``[K]`` int32, summed over devices.
  """
  del rng
  index = batch['index']
  images = jax.vmap(augment.test_view)(data['test_images'][index])
  images = augment.normalize(images, cfg.test_mean, cfg.test_std)
  logits, _ = model.apply(
      {'params': state.params, 'batch_stats': state.batch_stats}, images,
      train=False)
  prior = cfg.rebalancer.prior(state.params, state.feat_mean,
                               data['class_prior'])
  logits = cfg.rebalancer.test_logits(logits, prior)
  counts = metrics_lib.eval_counts(logits, data['test_labels'][index],
                                   batch['mask'], num_classes=cfg.num_classes)
  return coll.psum(counts)


def create_learning_rate_fn(*, base_lr: float, min_lr: float, epochs: int,
                            steps_per_epoch: int
                           ) -> Callable[[jax.Array], jax.Array]:
  """Per-epoch cosine: ``lr_e = min + (base - min)(1 + cos(pi e / E)) / 2``.

  The rate is set at the start of epoch ``e = step // steps_per_epoch`` and
  held for the epoch, as the published code does.
  """

  def schedule(step):
    epoch = jnp.asarray(step) // steps_per_epoch
    return min_lr + (base_lr - min_lr) * 0.5 * (
        1.0 + jnp.cos(jnp.pi * epoch / epochs))

  return schedule


def create_optimizer(*, learning_rate_fn, momentum: float,
                     weight_decay: float) -> optax.GradientTransformation:
  """SGD with momentum and *coupled* L2 on all parameters (PyTorch SGD)."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.sgd(learning_rate_fn, momentum=momentum))


def create_train_state(rng: jax.Array, model: nn.Module,
                       image_shape: tuple[int, ...],
                       tx: optax.GradientTransformation,
                       confidence: np.ndarray,
                       method_state: Any = None) -> TrainState:
  """Initialises parameters, optimiser, confidence and feature mean."""
  variables = model.init(rng, jnp.zeros((2,) + tuple(image_shape)),
                         train=False)
  _, features = model.apply(variables, jnp.zeros((1,) + tuple(image_shape)),
                            train=False)
  return TrainState.create(
      apply_fn=model.apply, params=variables['params'], tx=tx,
      batch_stats=variables.get('batch_stats', {}),
      confidence=jnp.asarray(confidence, jnp.float32),
      feat_mean=jnp.zeros(features.shape[-1], jnp.float32),
      method_state={} if method_state is None else method_state)
