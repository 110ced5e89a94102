"""SoLar's train step and its end-of-epoch prediction step.

``solar_train_step(state, data, batch, rng, queue_full, first_epoch)`` follows
ALGORITHMS.md 7.3, written once for both parallel modes like
``steps.train_step``:

1. weak and strong views, forwarded *separately* (BatchNorm statistics are
   not shared, and the running statistics are updated by each forward);
2. ``M = p^w * s`` and the PRODEN target ``r = M / sum M`` (stop-gradient);
3. the Sinkhorn runs on the *global* batch's ``M`` (gathered across devices),
   behind the queue when it is full (the static ``queue_full``, known from
   the step count of the stage); the queue then takes the batch's rows;
4. per-sample losses on the weak view against the confidence table
   (``ell_rn``) and the Sinkhorn labels (``ell_sk``); the clean set is chosen
   on the global batch (``methods.solar.select_clean``);
5. in the stage's first epoch (static ``first_epoch``), or when nothing is
   chosen, the loss is the batch mean of ``ell_rn``; otherwise
   ``eta (L_sin + L_mix + L_cons) + (1 - eta) L_unrel`` with the mixup
   forward on the mixed chosen rows (BatchNorm statistics over those rows
   only, via the models' ``mask``);
6. after the step, the confidence rows become ``r``.

Global means are written as local sums over global counts, scaled by the
device count, so that the pmean of the gradients equals the gradient of the
global loss. Under pmap, the mixup partners are drawn among the chosen rows
of the same device, and the masked BatchNorm averages per-device masked
statistics (a small deviation from global masked statistics when devices
hold different numbers of chosen rows; a device with none lends all its
rows); under jit both are global.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from ltpll_jax import parallel
from ltpll_jax import sinkhorn
from ltpll_jax import steps
from ltpll_jax.data import augment
from ltpll_jax.methods import mixup as mixup_lib
from ltpll_jax.methods import solar
from ltpll_jax.state import TrainState


@dataclasses.dataclass(frozen=True)
class SolarConfig:
  """SoLar's static hyper-parameters (``config.solar``).

  Attributes:
    steps_per_epoch: to turn the stage's step count into its epoch.
    batch_size: the global batch B (the ``256`` of ``ceil(256 pi rho)``).
    rho_start, rho_end: the selection ratio's ramp.
    eta: the weight of the clean-set losses after the ramp.
    warmup_epochs: length of both ramps.
    tau: confidence threshold of the selection.
    power: Sinkhorn exponent lambda.
    sinkhorn_iters: Sinkhorn iterations.
  """
  steps_per_epoch: int
  batch_size: int
  rho_start: float = 0.2
  rho_end: float = 0.6
  eta: float = 0.9
  warmup_epochs: int = 50
  tau: float = 0.99
  power: float = 3.0
  sinkhorn_iters: int = 50


def _soft_ce(targets: jax.Array, logits: jax.Array) -> jax.Array:
  """Per-row ``-sum_k t_k log softmax(z)_k``: ``[B, K]`` -> ``[B]``."""
  return -jnp.sum(targets * jax.nn.log_softmax(logits, -1), -1)


def _forward(model, params, batch_stats, x, mask=None):
  (logits, _), new_vars = model.apply(
      {'params': params, 'batch_stats': batch_stats}, x, train=True,
      mask=mask, mutable=['batch_stats'])
  return logits, new_vars.get('batch_stats', {})


def solar_train_step(state: TrainState, data: steps.Data, batch: steps.Batch,
                     rng: jax.Array, queue_full: bool, first_epoch: bool, *,
                     model: nn.Module, cfg: steps.StepConfig,
                     solar_cfg: SolarConfig, coll: parallel.Collectives,
                     learning_rate_fn) -> tuple[TrainState, dict]:
  """One SoLar step; see the module docstring.

  Args:
    state: the replicated train state; ``method_state`` is a
      ``methods.solar.SolarState``.
    data: on-device data set (``images``, ``candidates``, ``labels``).
    batch: ``{'index': [b] int32}``.
    rng: the run's training key (already folded with the stage).
    queue_full: static; the queue holds a full window of past batches.
    first_epoch: static; the stage's first epoch (PRODEN loss only).
    model: the network (its BatchNorm accepts a row mask).
    cfg: the shared static step settings (normalisation, K).
    solar_cfg: SoLar's static settings.
    coll: cross-device reductions.
    learning_rate_fn: step -> learning rate (for logging).

  Returns:
    The new state and pmean'd scalar metrics.
  """
  index = batch['index']
  b = index.shape[0]
  sol = state.method_state
  keys = steps.sample_keys(rng, state.step, index)
  weak, strong = steps.make_views(data['images'][index], keys, cfg)
  candidates = data['candidates'][index].astype(jnp.float32)
  targets = state.confidence[index]
  num_devices = coll.psum(1)
  global_b = b * num_devices
  ramp = solar.ramp(state.step // solar_cfg.steps_per_epoch,
                    solar_cfg.warmup_epochs)
  rho = solar_cfg.rho_start + (solar_cfg.rho_end - solar_cfg.rho_start) * ramp
  eta = solar_cfg.eta * ramp
  mix_rng = steps.mixup_key(rng, state.step)
  # One lambda for all devices; mixup partners are drawn per device.
  lam = mixup_lib.mixup_lambda(jax.random.fold_in(mix_rng, 0))
  perm_key = jax.random.fold_in(jax.random.fold_in(mix_rng, 1),
                                coll.device_index())

  def global_mean(values, mask):
    """Mean of ``values`` over the global rows where ``mask``; 0 if none."""
    count = coll.psum(jnp.sum(mask))
    return num_devices * jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(
        count, 1), count

  def loss_fn(params):
    logits_w, stats = _forward(model, params, state.batch_stats, weak)
    logits_s, stats = _forward(model, params, stats, strong)
    p = jax.nn.softmax(jax.lax.stop_gradient(logits_w), -1)
    m = p * candidates
    proden_rows = m / jnp.sum(m, -1, keepdims=True)
    m_global = coll.all_gather(m)
    if queue_full:
      plan = sinkhorn.solar_sinkhorn_with_info(
          jnp.concatenate([sol.queue, m_global]), sol.prior,
          power=solar_cfg.power, num_iters=solar_cfg.sinkhorn_iters)
    else:
      plan = sinkhorn.solar_sinkhorn_with_info(
          m_global, sol.prior, power=solar_cfg.power,
          num_iters=solar_cfg.sinkhorn_iters)
    q_global = plan.plan[-global_b:]
    q = jax.lax.dynamic_slice_in_dim(q_global, coll.device_index() * b, b)
    ell_rn = _soft_ce(targets, logits_w)
    ell_sk = _soft_ce(q, logits_w)
    labels = jnp.argmax(q, -1)
    confident = jnp.sum(q * p, -1)
    chosen_global = solar.select_clean(
        coll.all_gather(jax.lax.stop_gradient(ell_sk)),
        coll.all_gather(labels), coll.all_gather(confident), sol.prior,
        rho=rho, tau=solar_cfg.tau, batch_size=global_b)
    chosen = jax.lax.dynamic_slice_in_dim(chosen_global,
                                          coll.device_index() * b, b)
    everyone = jnp.ones((b,), bool)
    warm_loss, _ = global_mean(ell_rn, everyone)
    train_acc = jnp.mean(jnp.argmax(logits_w, -1) == data['labels'][index])
    terms = {'loss_rn': warm_loss, 'train_acc': train_acc.astype(jnp.float32),
             'sinkhorn_fallback': plan.fallback_used.astype(jnp.float32),
             'sinkhorn_gave_up_rows': plan.gave_up_rows.astype(jnp.float32)}
    if first_epoch:
      return warm_loss, (stats, proden_rows, m_global, terms)
    l_sin, n_chosen = global_mean(ell_sk, chosen)
    l_cons, _ = global_mean(_soft_ce(q, logits_s), chosen)
    perm = solar.chosen_permutation(perm_key, chosen)
    mixed = mixup_lib.mix(weak, lam, perm)
    q_mix = mixup_lib.mix(q, lam, perm)
    # A device without chosen rows would feed NaN statistics (a mean over no
    # rows) into the cross-device BatchNorm; it lends all its rows instead.
    bn_mask = jnp.where(jnp.any(chosen), chosen, jnp.ones_like(chosen))
    logits_mix, stats = _forward(model, params, stats, mixed, mask=bn_mask)
    l_mix, _ = global_mean(_soft_ce(q_mix, logits_mix), chosen)
    l_unrel, _ = global_mean(ell_rn, ~chosen)
    full = eta * (l_sin + l_mix + l_cons) + (1.0 - eta) * l_unrel
    loss = jnp.where(n_chosen > 0, full, warm_loss)
    terms.update(loss_sin=l_sin, loss_mix=l_mix, loss_cons=l_cons,
                 loss_unrel=l_unrel,
                 chosen_fraction=n_chosen / global_b)
    return loss, (stats, proden_rows, m_global, terms)

  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params)
  batch_stats, proden_rows, m_global, terms = aux
  grads = coll.pmean(grads)
  batch_stats = coll.pmean(batch_stats)
  confidence = state.confidence.at[coll.all_gather(index)].set(
      coll.all_gather(proden_rows))
  sol = sol._replace(queue=solar.push_queue(sol.queue, m_global))
  state = state.apply_gradients(grads=grads, batch_stats=batch_stats,
                                confidence=confidence, method_state=sol)
  out = coll.pmean({'loss': loss, **terms})
  out['learning_rate'] = learning_rate_fn(state.step - 1)
  out['rho'] = rho
  return state, out


def solar_predict_step(state: TrainState, data: steps.Data,
                       batch: steps.Batch, rng: jax.Array, *,
                       model: nn.Module, cfg: steps.StepConfig,
                       coll: parallel.Collectives) -> jax.Array:
  """Masked-argmax predictions on training images (test transform, eval
  mode), for the end-of-epoch prior estimate.

  Args:
    state: the replicated train state.
    data: on-device data set.
    batch: ``{'index': [e] int32, 'mask': [e] bool}`` training rows.
    rng: unused.
    model: the network.
    cfg: static settings (the test normalisation).
    coll: cross-device reductions.

  Returns:
    ``[E]`` int32 predictions of the global batch (padded rows included).
  """
  del rng
  index = batch['index']
  images = jax.vmap(augment.test_view)(data['images'][index])
  images = augment.normalize(images, cfg.test_mean, cfg.test_std)
  logits, _ = model.apply(
      {'params': state.params, 'batch_stats': state.batch_stats}, images,
      train=False)
  pred = solar.masked_argmax(logits, data['candidates'][index])
  return coll.all_gather(pred.astype(jnp.int32))
