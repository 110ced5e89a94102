"""Train step across devices: 1 vs 8 devices, pmap vs jit, replicas, traces.
"""

import dataclasses
import functools

import chex
import jax
import numpy as np
import pytest

from configs import test as test_config
from ltpll_jax import models
from ltpll_jax import parallel
from ltpll_jax import steps
from ltpll_jax import train
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.methods import rebalance as rebalance_lib

BATCH = 16


@functools.lru_cache(maxsize=1)
def _dataset():
  config = test_config.get_config()
  return dataset_lib.build_dataset(config.data, config.seed)


def _setup(num_devices, mode, rebalance='records'):
  ds = _dataset()
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  coll = parallel.collectives(mode)
  model = models.create_model('tiny', num_classes=10,
                              axis_name=coll.axis_name)
  lr_fn = steps.create_learning_rate_fn(base_lr=0.1, min_lr=0.0, epochs=2,
                                        steps_per_epoch=5)
  tx = steps.create_optimizer(learning_rate_fn=lr_fn, momentum=0.9,
                              weight_decay=1e-3)
  state = steps.create_train_state(
      jax.random.key(0), model, ds.train_images.shape[1:], tx,
      steps.initial_confidence(ds.candidate_mask))
  state = parallel.replicate(state, mesh)
  data = parallel.replicate(train.device_data(ds), mesh)
  cfg = steps.StepConfig(
      num_classes=10, rebalancer=rebalance_lib.Rebalancer(rebalance))
  step_fn = functools.partial(steps.train_step, model=model, cfg=cfg,
                              coll=coll, learning_rate_fn=lr_fn)
  return state, data, step_fn, mesh


def _run(num_devices, mode, num_steps=2):
  state, data, step_fn, mesh = _setup(num_devices, mode)
  p_step = parallel.wrap(step_fn, mode, mesh, num_static=1)
  rng = jax.random.key(1)
  for i in range(num_steps):
    index = np.arange(i * BATCH, (i + 1) * BATCH, dtype=np.int32)
    state, out = p_step(state, data, {'index': index}, rng, True)
  return state, out


def _host(state):
  return {
      'params': state.params, 'batch_stats': state.batch_stats,
      'confidence': state.confidence, 'feat_mean': state.feat_mean,
  }


@pytest.fixture(scope='module')
def one_device():
  return jax.device_get(_run(1, 'pmap'))


@pytest.mark.parametrize('mode', ['pmap', 'jit'])
def test_eight_devices_match_one(one_device, mode):
  assert jax.device_count() == 8
  state, out = _run(8, mode)
  ref_state, ref_out = one_device
  chex.assert_trees_all_close(jax.device_get(_host(state)),
                              _host(ref_state), rtol=1e-4, atol=1e-5)
  assert float(out['loss']) == pytest.approx(float(ref_out['loss']),
                                             rel=1e-4)
  # The confidence rows of both batches were rewritten, and only those.
  changed = np.any(np.asarray(state.confidence) !=
                   steps.initial_confidence(_dataset().candidate_mask), 1)
  assert changed[:2 * BATCH].mean() > 0.9 and not changed[2 * BATCH:].any()
  assert np.any(np.asarray(state.feat_mean) != 0)


def test_pmap_replicas_identical():
  state, out = _run(8, 'pmap')
  for leaf in jax.tree.leaves((_host(state), out)):
    shards = [np.asarray(s.data) for s in leaf.addressable_shards]
    assert len(shards) == 8
    for shard in shards[1:]:
      np.testing.assert_array_equal(shard, shards[0])


def test_feature_mean_first_value_is_tenth_of_batch_mean():
  state, data, step_fn, mesh = _setup(1, 'jit')
  index = np.arange(BATCH, dtype=np.int32)
  # Recompute the batch's features exactly as the step does.
  cfg = steps.StepConfig(num_classes=10)

  @jax.jit
  def batch_features(state):
    weak, strong = steps.make_views(
        data['images'][index],
        steps.sample_keys(jax.random.key(1), state.step, index), cfg)
    (_, features), _ = state.apply_fn(
        {'params': state.params, 'batch_stats': state.batch_stats},
        jax.numpy.concatenate([weak, strong]), train=True,
        mutable=['batch_stats'])
    return features

  features = np.asarray(batch_features(state))
  expected = 0.1 * np.mean((features[:BATCH] + features[BATCH:]) / 2, 0)
  before = np.asarray(state.confidence)
  p_step = parallel.wrap(step_fn, 'jit', mesh, num_static=1)
  new_state, _ = p_step(state, data, {'index': index}, jax.random.key(1),
                        False)
  np.testing.assert_allclose(np.asarray(new_state.feat_mean), expected,
                             rtol=1e-5, atol=1e-6)
  # Without updates the confidence table is untouched.
  np.testing.assert_array_equal(np.asarray(new_state.confidence), before)


@pytest.mark.parametrize('mode', ['pmap', 'jit'])
def test_one_compilation_per_phase(mode):
  state, data, step_fn, mesh = _setup(8, mode)
  chex.clear_trace_counter()

  @chex.assert_max_traces(n=2)
  def traced(*args):
    return step_fn(*args)

  p_step = parallel.wrap(traced, mode, mesh, num_static=1)
  rng = jax.random.key(0)
  for i, update in enumerate([False] * 3 + [True] * 3):
    index = np.arange(i * BATCH, (i + 1) * BATCH, dtype=np.int32)
    state, _ = p_step(state, data, {'index': index}, rng, update)
  assert int(state.step) == 6


def test_learning_rate_is_per_epoch_cosine():
  lr = steps.create_learning_rate_fn(base_lr=0.01, min_lr=1e-5, epochs=4,
                                     steps_per_epoch=3)
  got = [float(lr(s)) for s in range(12)]
  per_epoch = [1e-5 + (0.01 - 1e-5) * (1 + np.cos(np.pi * e / 4)) / 2
               for e in range(4)]
  np.testing.assert_allclose(got, np.repeat(per_epoch, 3), rtol=1e-6)


def test_optimizer_is_pytorch_sgd_with_coupled_decay():
  lr_fn = lambda _: 0.1
  tx = steps.create_optimizer(learning_rate_fn=lr_fn, momentum=0.9,
                              weight_decay=0.01)
  p = {'w': np.array([1.0, -2.0], np.float32)}
  g = {'w': np.array([0.5, 0.5], np.float32)}
  opt_state = tx.init(p)
  buf = np.zeros(2)
  w = p['w'].astype(np.float64)
  for _ in range(3):
    # PyTorch: d = g + wd * w; buf = 0.9 buf + d; w -= lr * buf.
    d = g['w'] + 0.01 * w
    buf = 0.9 * buf + d
    w = w - 0.1 * buf
    updates, opt_state = tx.update(g, opt_state, p)
    p = {'w': p['w'] + updates['w']}
  np.testing.assert_allclose(p['w'], w, rtol=1e-6)


def test_mixup_step_same_under_pmap_and_jit():
  results = []
  for mode in ('pmap', 'jit'):
    state, data, step_fn, mesh = _setup(8, mode)
    cfg = dataclasses.replace(step_fn.keywords['cfg'], mixup=True,
                              mixup_groups=1 if mode == 'pmap' else 8)
    p_step = parallel.wrap(functools.partial(step_fn, cfg=cfg), mode, mesh,
                           num_static=1)
    index = np.arange(BATCH, dtype=np.int32)
    state, out = p_step(state, data, {'index': index}, jax.random.key(3),
                        True)
    results.append((jax.device_get(_host(state)), jax.device_get(out)))
  chex.assert_trees_all_close(results[0], results[1], rtol=1e-4, atol=1e-5)
  assert results[0][1]['loss_mix'] > 0


def test_eval_ranks_debiased_logits(one_device):
  del one_device
  state, data, _, mesh = _setup(1, 'jit')
  state = state.replace(feat_mean=jax.numpy.linspace(0, 2, 16))
  cfg = steps.StepConfig(
      num_classes=10, rebalancer=rebalance_lib.Rebalancer('records'))
  model = models.create_model('tiny', num_classes=10)
  p_eval = parallel.wrap(functools.partial(steps.eval_step, model=model,
                                           cfg=cfg,
                                           coll=parallel.collectives('jit')),
                         'jit', mesh, donate_state=False)
  index = np.arange(64, dtype=np.int32)
  counts = p_eval(state, data, {'index': index, 'mask': index < 60}, None)
  images = (np.asarray(data['test_images'])[index] / 255.0 - 0.5) / 0.25
  logits, _ = state.apply_fn(
      {'params': state.params, 'batch_stats': state.batch_stats}, images,
      train=False)
  head = state.params['head']
  f = np.asarray(state.feat_mean, np.float64)
  z = f @ np.asarray(head['kernel']) + np.asarray(head['bias'])
  prior = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
  pred = np.argmax(np.asarray(logits) - np.log(prior + 1e-9), -1)
  labels = np.asarray(data['test_labels'])[index]
  correct = np.bincount(labels[:60][pred[:60] == labels[:60]], minlength=10)
  np.testing.assert_array_equal(np.asarray(counts['correct1']), correct)
  assert int(np.asarray(counts['seen']).sum()) == 60
