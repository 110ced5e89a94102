"""Tests for ltpll_jax.data.longtail: counts, candidates, RNG modes."""

import random

import numpy as np
import pytest

from ltpll_jax.data import longtail

CIFAR100_RHO100 = [
    500, 477, 455, 434, 415, 396, 378, 361, 344, 328, 314, 299, 286, 273, 260,
    248, 237, 226, 216, 206, 197, 188, 179, 171, 163, 156, 149, 142, 135, 129,
    123, 118, 112, 107, 102, 98, 93, 89, 85, 81, 77, 74, 70, 67, 64, 61, 58, 56,
    53, 51, 48, 46, 44, 42, 40, 38, 36, 35, 33, 32, 30, 29, 27, 26, 25, 24, 23,
    22, 21, 20, 19, 18, 17, 16, 15, 15, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9,
    9, 8, 8, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5]
CIFAR100_RHO50 = [
    500, 480, 462, 444, 426, 410, 394, 379, 364, 350, 336, 323, 311, 299, 287,
    276, 265, 255, 245, 235, 226, 218, 209, 201, 193, 186, 178, 172, 165, 158,
    152, 146, 141, 135, 130, 125, 120, 115, 111, 107, 102, 98, 95, 91, 87, 84,
    81, 78, 75, 72, 69, 66, 64, 61, 59, 56, 54, 52, 50, 48, 46, 44, 43, 41, 39,
    38, 36, 35, 34, 32, 31, 30, 29, 27, 26, 25, 24, 23, 22, 22, 21, 20, 19, 18,
    18, 17, 16, 16, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 10]


def _balanced_labels(num_classes, per_class, seed=0):
  """A shuffled balanced label vector, like an archive's label order."""
  labels = np.repeat(np.arange(num_classes), per_class)
  return np.random.default_rng(seed).permutation(labels)


def _cifar100_coarse(labels):
  # Any 20 x 5 grouping is a valid superclass structure for these tests.
  return labels // 5


def _reference_published(labels, num_classes, rho, q, hierarchical=False,
                         coarse=None, seed=123):
  """The published construction written from ALGORITHMS.md 1.1-1.3 alone.

  Global legacy numpy RNG seeded 0, per-class loop, counts from int() of a
  float, a Python-random shuffle of the counts, one uniform matrix, and a
  per-row comparison loop; deliberately different code from the module.
  """
  np.random.seed(0)
  img_max = len(labels) / num_classes
  counts = []
  for c in range(num_classes):
    counts.append(int(img_max * ((1 / rho)**(c / (num_classes - 1.0)))))
  if hierarchical:
    random.seed(seed)
    random.shuffle(counts)
  kept = []
  for c, n_c in zip(np.unique(labels), counts):
    idx = np.where(labels == c)[0]
    np.random.shuffle(idx)
    kept.extend(idx[:n_c].tolist())
  y = labels[np.array(kept)]
  t = np.eye(num_classes)
  t[np.where(~np.eye(num_classes, dtype=bool))] = (8 * q if hierarchical
                                                   else q)
  if hierarchical:
    fine_to_coarse = {}
    for f, g in zip(labels, coarse):
      fine_to_coarse[int(f)] = int(g)
    mask = np.zeros_like(t)
    for i in range(num_classes):
      for j in range(num_classes):
        if fine_to_coarse[i] == fine_to_coarse[j]:
          mask[i, j] = 1
    t = t * mask
    t[t == 0] = q
  u = np.random.uniform(0, 1, size=(len(y), num_classes))
  out = np.zeros((len(y), num_classes), dtype=bool)
  for j in range(len(y)):
    out[j, :] = u[j, :] < t[y[j], :]
  return np.array(kept), out


@pytest.mark.parametrize('num_classes,per_class,rho,expected_total', [
    (10, 5000, 100, 12406), (10, 5000, 50, 13996),
    (100, 500, 100, 10847), (100, 500, 50, 12608)])
def test_cifar_class_counts(num_classes, per_class, rho, expected_total):
  labels = _balanced_labels(num_classes, per_class)
  kept, mask = longtail.make_long_tailed_pll(labels, num_classes, rho, 0.1)
  counts = np.bincount(labels[kept], minlength=num_classes)
  assert counts.sum() == expected_total == len(kept) == len(mask)
  expected = {
      (10, 100): [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
      (10, 50): [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100],
      (100, 100): CIFAR100_RHO100, (100, 50): CIFAR100_RHO50,
  }[(num_classes, rho)]
  assert counts.tolist() == expected
  # Class blocks come in class order, class 0 first.
  assert np.all(np.diff(labels[kept]) >= 0)


def test_fashion_mnist_counts():
  assert longtail.exponential_class_counts(60000, 10, 100) == [
      6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]


def test_rho_one_is_balanced():
  assert longtail.exponential_class_counts(50000, 10, 1) == [5000] * 10


@pytest.mark.parametrize('q', [0.0, 0.3, 0.7, 1.0])
def test_published_uniform_matches_reference(q):
  labels = _balanced_labels(10, 5000, seed=3)
  kept, mask = longtail.make_long_tailed_pll(labels, 10, 100, q)
  ref_kept, ref_mask = _reference_published(labels, 10, 100, q)
  np.testing.assert_array_equal(kept, ref_kept)
  np.testing.assert_array_equal(mask, ref_mask)
  assert kept.dtype == np.int64 and mask.dtype == bool


@pytest.mark.parametrize('rho,q,seed', [(100, 0.05, 123), (50, 0.03, 7)])
def test_published_hierarchical_matches_reference(rho, q, seed):
  labels = _balanced_labels(100, 500, seed=5)
  coarse = _cifar100_coarse(labels)
  kept, mask = longtail.make_long_tailed_pll(
      labels, 100, rho, q, candidates='hierarchical', seed=seed,
      coarse_labels=coarse)
  ref_kept, ref_mask = _reference_published(
      labels, 100, rho, q, hierarchical=True, coarse=coarse, seed=seed)
  np.testing.assert_array_equal(kept, ref_kept)
  np.testing.assert_array_equal(mask, ref_mask)


def test_published_ignores_seed_for_uniform():
  labels = _balanced_labels(10, 500)
  a = longtail.make_long_tailed_pll(labels, 10, 10, 0.3, seed=1)
  b = longtail.make_long_tailed_pll(labels, 10, 10, 0.3, seed=2)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])


def test_hierarchical_shuffles_class_sizes_by_seed():
  labels = _balanced_labels(100, 500)
  coarse = _cifar100_coarse(labels)
  counts = []
  for seed in (123, 124):
    kept, _ = longtail.make_long_tailed_pll(
        labels, 100, 100, 0.05, candidates='hierarchical', seed=seed,
        coarse_labels=coarse)
    counts.append(np.bincount(labels[kept], minlength=100))
  # The same multiset of sizes, assigned to classes differently.
  assert sorted(counts[0]) == sorted(counts[1]) == sorted(CIFAR100_RHO100)
  assert not np.array_equal(counts[0], counts[1])
  assert counts[0][0] != 500 or counts[0][99] != 5


@pytest.mark.parametrize('rng_mode', ['published', 'seeded'])
@pytest.mark.parametrize('num_classes,per_class,rho,q,candidates,expected', [
    (10, 5000, 100, 0.3, 'uniform', 1 + 9 * 0.3),
    (10, 5000, 50, 0.7, 'uniform', 1 + 9 * 0.7),
    (100, 500, 100, 0.05, 'uniform', 1 + 99 * 0.05),
    (100, 500, 100, 0.05, 'hierarchical', 1 + 127 * 0.05),
    (100, 500, 50, 0.07, 'hierarchical', 1 + 127 * 0.07)])
def test_candidate_sets(rng_mode, num_classes, per_class, rho, q, candidates,
                        expected):
  labels = _balanced_labels(num_classes, per_class)
  kept, mask = longtail.make_long_tailed_pll(
      labels, num_classes, rho, q, candidates=candidates, rng_mode=rng_mode,
      seed=11, coarse_labels=_cifar100_coarse(labels))
  assert mask[np.arange(len(kept)), labels[kept]].all()
  assert abs(mask.sum(1).mean() - expected) / expected < 0.02


def test_hierarchical_flip_rates_inside_and_outside_superclass():
  labels = _balanced_labels(100, 500)
  coarse = _cifar100_coarse(labels)
  q = 0.05
  kept, mask = longtail.make_long_tailed_pll(
      labels, 100, 1, q, candidates='hierarchical', coarse_labels=coarse)
  y = labels[kept]
  same = (y[:, None] // 5) == (np.arange(100)[None, :] // 5)
  not_true = np.arange(100)[None, :] != y[:, None]
  inside = mask[same & not_true].mean()
  outside = mask[~same].mean()
  assert abs(inside - 8 * q) < 0.01
  assert abs(outside - q) < 0.002


def test_transition_matrix_hierarchical_by_hand():
  t = longtail.transition_matrix(4, 0.1, superclass_of=np.array([0, 0, 1, 1]))
  expected = np.array([[1, .8, .1, .1], [.8, 1, .1, .1],
                       [.1, .1, 1, .8], [.1, .1, .8, 1]])
  np.testing.assert_allclose(t, expected)


def test_deterministic_and_seeded_mode_depends_on_seed():
  labels = _balanced_labels(10, 300)
  run = lambda seed: longtail.make_long_tailed_pll(
      labels, 10, 10, 0.3, rng_mode='seeded', seed=seed)
  a, b, c = run(1), run(1), run(2)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  assert not np.array_equal(a[0], c[0])
  assert not np.array_equal(a[1], c[1])
  # Same class counts whatever the seed: only the choice of images changes.
  np.testing.assert_array_equal(np.bincount(labels[a[0]]),
                                np.bincount(labels[c[0]]))


def test_seeded_differs_from_published():
  labels = _balanced_labels(10, 300)
  a = longtail.make_long_tailed_pll(labels, 10, 10, 0.3, rng_mode='seeded')
  b = longtail.make_long_tailed_pll(labels, 10, 10, 0.3)
  assert not np.array_equal(a[1], b[1])


def test_kept_indices_are_unique_and_in_range():
  labels = _balanced_labels(10, 300)
  kept, _ = longtail.make_long_tailed_pll(labels, 10, 10, 0.3)
  assert len(np.unique(kept)) == len(kept)
  assert kept.min() >= 0 and kept.max() < len(labels)


@pytest.mark.parametrize('kwargs,match', [
    (dict(partial_rate=1.5), 'partial_rate'),
    (dict(partial_rate=-0.1), 'partial_rate'),
    (dict(imbalance_ratio=0.5), 'imbalance_ratio'),
    (dict(candidates='pico'), 'candidates'),
    (dict(rng_mode='torch'), 'rng_mode'),
    (dict(candidates='hierarchical'), 'coarse_labels'),
    (dict(num_classes=5), 'labels must lie'),
])
def test_bad_arguments(kwargs, match):
  args = dict(labels=_balanced_labels(10, 20), num_classes=10,
              imbalance_ratio=10, partial_rate=0.3)
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    longtail.make_long_tailed_pll(**args)


def test_inconsistent_superclasses_rejected():
  labels = np.array([0, 0, 1, 1])
  with pytest.raises(ValueError, match='more than one superclass'):
    longtail.superclass_map(labels, np.array([0, 1, 1, 1]), 2)
