"""Tests for ltpll_jax.metrics: eval counts, splits and the results dict."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltpll_jax import metrics

CIFAR10_RHO100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
CIFAR100_RHO100 = [int(500 * 0.01 ** (c / 99)) for c in range(100)]
R_KEYS = {'top1', 'top5', 'per_class', 'many', 'medium', 'few',
          'many_threshold', 'medium_threshold', 'few_threshold'}


def _padded_batch():
  """Five real rows and two padding rows that would score if counted."""
  logits = np.array([
      [5., 1., 0., 0.],  # label 0, right.
      [0., 1., 3., 0.],  # label 1, predicted 2.
      [0., 2., 1., 0.],  # label 1, right.
      [2., 2., 0., 0.],  # label 1, a tie: the first maximum (0) wins.
      [0., 0., 0., 1.],  # label 3, right.
      [0., 0., 9., 0.],  # padding, label 2 and "right".
      [0., 0., 9., 0.],  # padding, label 2 and "right".
  ], np.float32)
  labels = np.array([0, 1, 1, 1, 3, 2, 2], np.int32)
  mask = np.array([True] * 5 + [False] * 2)
  return logits, labels, mask


def test_eval_counts_padded_batch():
  logits, labels, mask = _padded_batch()
  out = metrics.eval_counts(jnp.asarray(logits), jnp.asarray(labels),
                            jnp.asarray(mask), num_classes=4)
  np.testing.assert_array_equal(out['correct1'], [1, 1, 0, 1])
  np.testing.assert_array_equal(out['seen'], [1, 3, 0, 1])
  # K = 4 < 5: the top-5 set is every class, so every real row is a hit.
  np.testing.assert_array_equal(out['correct5'], [1, 3, 0, 1])
  for value in out.values():
    assert value.dtype == jnp.int32 and value.shape == (4,)


def test_eval_counts_top5_k10():
  rng = np.random.default_rng(0)
  num_classes = 10
  # Row i ranks the classes in the order perms[i] (best first); its label
  # sits at rank ranks[i] (1 = best). The last row is padding.
  ranks = [1, 5, 6, 10, 2, 1]
  mask = np.array([True] * 5 + [False])
  perms = [rng.permutation(num_classes) for _ in ranks]
  logits = np.zeros((len(ranks), num_classes), np.float32)
  labels = np.zeros(len(ranks), np.int32)
  for i, (perm, rank) in enumerate(zip(perms, ranks)):
    logits[i, perm] = np.arange(num_classes, 0, -1)
    labels[i] = perm[rank - 1]
  want1 = np.zeros(num_classes, int)
  want5 = np.zeros(num_classes, int)
  seen = np.zeros(num_classes, int)
  for rank, label, valid in zip(ranks, labels, mask):
    if valid:
      seen[label] += 1
      want1[label] += rank == 1
      want5[label] += rank <= 5
  assert want1.sum() == 1 and want5.sum() == 3 and seen.sum() == 5
  out = metrics.eval_counts(jnp.asarray(logits), jnp.asarray(labels),
                            jnp.asarray(mask), num_classes=num_classes)
  np.testing.assert_array_equal(out['correct1'], want1)
  np.testing.assert_array_equal(out['correct5'], want5)
  np.testing.assert_array_equal(out['seen'], seen)


def test_eval_counts_jit_and_pmap_psum():
  logits, labels, mask = _padded_batch()
  eager = metrics.eval_counts(jnp.asarray(logits), jnp.asarray(labels),
                              jnp.asarray(mask), num_classes=4)
  jitted = jax.jit(functools.partial(metrics.eval_counts, num_classes=4))(
      logits, labels, mask)
  for key in eager:
    np.testing.assert_array_equal(jitted[key], eager[key])

  # The documented use: per-device counts, psummed by the caller. Eight
  # devices each take one row of the batch padded to eight rows.
  n = jax.local_device_count()
  pad = -len(labels) % n

  def shard(x):
    x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
    return x.reshape((n, -1) + x.shape[1:])

  step = jax.pmap(
      lambda l, y, m: jax.lax.psum(
          metrics.eval_counts(l, y, m, num_classes=4), 'batch'),
      axis_name='batch')
  summed = step(shard(logits), shard(labels), shard(mask))
  for key in eager:
    np.testing.assert_array_equal(summed[key][0], eager[key])


def _idx(mask):
  return np.flatnonzero(mask).tolist()


def test_splits_cifar10():
  many, medium, few = metrics.rank_splits(CIFAR10_RHO100)
  assert (_idx(many), _idx(medium), _idx(few)) == (
      [0, 1, 2], [3, 4, 5, 6], [7, 8, 9])
  many, medium, few = metrics.threshold_splits(CIFAR10_RHO100)
  assert (_idx(many), _idx(medium), _idx(few)) == (
      list(range(8)), [8, 9], [])


def test_splits_cifar100_and_20_classes():
  many, medium, few = metrics.rank_splits(CIFAR100_RHO100)
  assert (_idx(many), _idx(medium), _idx(few)) == (
      list(range(33)), list(range(33, 67)), list(range(67, 100)))
  many, medium, few = metrics.threshold_splits(CIFAR100_RHO100)
  assert (_idx(many), _idx(medium), _idx(few)) == (
      list(range(35)), list(range(35, 70)), list(range(70, 100)))
  # Rank splits follow the counts, not the class index.
  counts = np.random.default_rng(1).permutation(np.arange(20) * 7 + 3)
  many, medium, few = metrics.rank_splits(counts)
  order = np.argsort(-counts)
  assert sorted(_idx(many)) == sorted(order[:6].tolist())
  assert sorted(_idx(few)) == sorted(order[-6:].tolist())
  assert medium.sum() == 8


def test_summarize_cifar10():
  seen = np.full(10, 100)
  correct1 = np.array([95, 90, 85, 70, 60, 50, 40, 30, 20, 10])
  correct5 = np.array([100, 100, 99, 98, 97, 90, 80, 70, 60, 50])
  r = metrics.summarize(correct1, correct5, seen, CIFAR10_RHO100)
  assert set(r) == R_KEYS
  assert r['top1'] == pytest.approx(55.0)
  assert r['top5'] == pytest.approx(84.4)
  assert r['per_class'] == pytest.approx(correct1.tolist())
  assert r['many'] == pytest.approx(90.0)
  assert r['medium'] == pytest.approx(55.0)
  assert r['few'] == pytest.approx(20.0)
  assert r['many_threshold'] == pytest.approx(65.0)
  assert r['medium_threshold'] == pytest.approx(15.0)
  assert r['few_threshold'] is None
  assert json.loads(json.dumps(r, allow_nan=False)) == r
  assert all(type(a) is float for a in r['per_class'])
  assert metrics.format_row(r) == (
      'top1 55.00 | many 90.0 medium 55.0 few 20.0')


def test_summarize_uneven_and_missing_class():
  # Class 0 has twice the test images; class 9 has none.
  seen = np.array([200] + [100] * 8 + [0])
  correct1 = np.array([100, 90, 85, 70, 60, 50, 40, 30, 20, 0])
  r = metrics.summarize(correct1, correct1, seen, CIFAR10_RHO100)
  assert r['per_class'][0] == pytest.approx(50.0)
  assert r['per_class'][9] is None
  # Sample-weighted: 545 / 1000, not the mean of per-class accuracies.
  assert r['top1'] == pytest.approx(54.5)
  assert r['many'] == pytest.approx((50 + 90 + 85) / 3)
  assert r['few'] == pytest.approx(25.0)
  assert r['medium_threshold'] == pytest.approx(20.0)
  json.dumps(r, allow_nan=False)


def test_summarize_cifar100():
  seen = np.full(100, 100)
  correct1 = 100 - np.arange(100)
  r = metrics.summarize(correct1, seen, seen, CIFAR100_RHO100)
  assert r['top1'] == pytest.approx(50.5)
  assert r['top5'] == pytest.approx(100.0)
  assert r['many'] == pytest.approx(84.0)
  assert r['medium'] == pytest.approx(50.5)
  assert r['few'] == pytest.approx(17.0)
  assert r['many_threshold'] == pytest.approx(83.0)
  assert r['medium_threshold'] == pytest.approx(48.0)
  assert r['few_threshold'] == pytest.approx(15.5)


def test_batch_mean_differs_from_sample_weighted():
  # 10 test images in batches of 4: 4/4 right, 2/4 right, 0/2 right (the
  # last batch padded to 4). Per-batch mean 50 %, sample-weighted 60 %.
  labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
  preds = np.array([0, 1, 2, 0, 1, 0, 0, 2, 0, 1])
  fn = jax.jit(functools.partial(metrics.eval_counts, num_classes=3))
  totals = {'correct1': 0, 'correct5': 0, 'seen': 0}
  batch_top1 = []
  for start in range(0, 10, 4):
    y = labels[start:start + 4]
    p = preds[start:start + 4]
    valid = len(y)
    y = np.pad(y, (0, 4 - valid))
    p = np.pad(p, (0, 4 - valid))
    mask = np.arange(4) < valid
    out = fn(jax.nn.one_hot(p, 3), y, mask)
    totals = jax.tree.map(lambda a, b: a + np.asarray(b), totals, out)
    batch_top1.append(100.0 * int(out['correct1'].sum()) / valid)
  assert batch_top1 == [100.0, 50.0, 0.0]
  r = metrics.summarize(totals['correct1'], totals['correct5'],
                        totals['seen'], [10, 5, 1], batch_top1=batch_top1)
  assert set(r) == R_KEYS | {'top1_batch_mean'}
  assert r['top1'] == pytest.approx(60.0)
  assert r['top1_batch_mean'] == pytest.approx(50.0)
  assert type(r['top1_batch_mean']) is float


def test_summarize_rejects_bad_shapes():
  with pytest.raises(ValueError, match='shape'):
    metrics.summarize(np.zeros(3), np.zeros(3), np.zeros(4), np.ones(3))


def test_format_row_missing_values():
  r = {'top1': None, 'many': 1.0, 'medium': None, 'few': 2.04}
  assert metrics.format_row(r) == 'top1 n/a | many 1.0 medium n/a few 2.0'
