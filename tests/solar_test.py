"""SoLar's pure pieces: selection, queue, ramps, permutation, prior update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltpll_jax.methods import solar


def test_selection_on_crafted_batch():
  # 8 samples, 3 classes. Sinkhorn labels and losses chosen by hand.
  labels = jnp.array([0, 0, 0, 0, 1, 1, 2, 2])
  losses = jnp.array([0.9, 0.1, 0.5, 0.3, 0.2, 0.8, 0.7, 0.6])
  confidence = jnp.array([0.5, 0.5, 0.995, 0.5, 0.5, 0.5, 0.5, 0.5])
  prior = jnp.array([0.5, 0.3, 0.2])
  # batch 8, rho 0.5: quotas ceil(8 * pi * 0.5) = [2, 2, 1], capped by
  # n_j = [4, 2, 2] and at least 1: class 0 keeps losses 0.1 and 0.3
  # (samples 1, 3), class 1 both (4, 5), class 2 the smaller (7); sample 2
  # joins by confidence > 0.99.
  chosen = solar.select_clean(losses, labels, confidence, prior, rho=0.5,
                              tau=0.99, batch_size=8)
  assert np.asarray(chosen).tolist() == [False, True, True, True, True, True,
                                         False, True]


def test_selection_quota_at_least_one_and_at_most_class_size():
  labels = jnp.array([0, 0, 0, 1])
  losses = jnp.array([3.0, 1.0, 2.0, 5.0])
  prior = jnp.array([0.999, 0.001])
  chosen = solar.select_clean(losses, labels, jnp.zeros(4), prior, rho=1.0,
                              tau=0.99, batch_size=4)
  # Class 0: ceil(4 * 0.999) = 4 capped to its 3 samples; class 1: the
  # quota ceil(0.004) = 1 keeps its only sample.
  assert np.asarray(chosen).all()
  chosen = solar.select_clean(losses, labels, jnp.zeros(4), prior, rho=0.2,
                              tau=0.99, batch_size=4)
  # Class 0: ceil(0.8) = 1 -> the smallest loss (sample 1); class 1: 1.
  assert np.asarray(chosen).tolist() == [False, True, False, True]


def test_selection_matches_loop_reference_on_random_batch():
  rng = np.random.default_rng(0)
  b, k = 256, 10
  labels = rng.integers(0, k, b)
  losses = rng.random(b)
  conf = rng.random(b)
  prior = rng.dirichlet(np.ones(k))
  got = np.asarray(solar.select_clean(jnp.asarray(losses),
                                      jnp.asarray(labels), jnp.asarray(conf),
                                      jnp.asarray(prior, jnp.float32),
                                      rho=0.4, tau=0.99, batch_size=b))
  expected = conf > 0.99
  for j in np.unique(labels):
    idx = np.flatnonzero(labels == j)
    quota = max(min(int(np.ceil(b * np.float32(prior[j]) * 0.4)), len(idx)),
                1)
    expected[idx[np.argsort(losses[idx], kind='stable')[:quota]]] = True
  np.testing.assert_array_equal(got, expected)


def test_queue_push_shifts_and_inserts():
  queue = jnp.arange(12.0).reshape(6, 2)
  rows = -jnp.ones((2, 2))
  out = np.asarray(solar.push_queue(queue, rows))
  np.testing.assert_array_equal(out[:2], -1)
  np.testing.assert_array_equal(out[2:], np.arange(8.0).reshape(4, 2))


def test_ramps():
  assert solar.ramp(0, 50) == 0.0
  assert solar.ramp(25, 50) == 0.5
  assert solar.ramp(80, 50) == 1.0
  assert solar.ramp(3, 0) == 1.0


def test_chosen_permutation_is_a_bijection_of_the_chosen():
  chosen = jnp.array([True, False, True, True, False, True, True])
  for seed in range(5):
    perm = np.asarray(solar.chosen_permutation(jax.random.key(seed), chosen))
    c = np.flatnonzero(np.asarray(chosen))
    assert sorted(perm[c].tolist()) == c.tolist()
    u = np.flatnonzero(~np.asarray(chosen))
    np.testing.assert_array_equal(perm[u], u)


def test_prior_update_by_hand():
  prior = np.array([0.5, 0.3, 0.2], np.float32)
  predictions = np.array([0, 0, 1, 2, 2, 2, 2, 2, 2, 2])
  got = solar.prior_update(prior, predictions, 0.1)
  np.testing.assert_allclose(got, 0.1 * np.array([0.2, 0.1, 0.7]) +
                             0.9 * prior, rtol=1e-6)


def test_masked_argmax_ignores_non_candidates():
  logits = jnp.array([[5.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
  mask = jnp.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
  assert np.asarray(solar.masked_argmax(logits, mask)).tolist() == [1, 2]


@pytest.mark.parametrize('stage', [1, 2])
def test_init_state(stage):
  state = solar.init_state(4, 8, stage=stage)
  np.testing.assert_allclose(np.asarray(state.prior), 0.25)
  assert state.queue.shape == (8, 4) and int(state.stage) == stage
