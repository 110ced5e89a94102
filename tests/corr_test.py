"""CORR loss and confidence update against hand computations in numpy."""

import jax
import numpy as np
import pytest

from ltpll_jax import methods
from ltpll_jax.methods import corr


def _softmax(z):
  z = np.asarray(z, np.float64)
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _reference_loss(zw, zs, t):
  """ALGORITHMS.md 4.3 steps 3-6, written out in float64 loops."""
  b, k = t.shape
  sup = con = 0.0
  for z in (zw, zs):
    p = _softmax(z)
    log_p = np.log(p)
    for i in range(b):
      for j in range(k):
        if t[i, j] == 0:
          sup += -np.log(abs(1 - p[i, j]) + 1e-9)
        else:
          con += t[i, j] * (np.log(t[i, j]) - log_p[i, j])
  return sup / b + con / b


def _reference_update(zw, zs, m):
  pw, ps = _softmax(zw), _softmax(zs)
  v = np.sqrt(m * ps * pw)
  return v / (v.sum(-1, keepdims=True) + 1e-9)


RNG = np.random.default_rng(0)
ZW = RNG.normal(0, 2, (4, 5)).astype(np.float32)
ZS = RNG.normal(0, 2, (4, 5)).astype(np.float32)
TARGETS = np.array([
    [1, 0, 0, 0, 0],            # single candidate
    [.2, .2, .2, .2, .2],       # all candidates
    [.5, .5, 0, 0, 0],
    [0, .1, 0, .6, .3]], np.float32)


def test_loss_matches_hand_computation():
  got = float(methods.corr_loss(ZW, ZS, TARGETS))
  assert got == pytest.approx(_reference_loss(ZW, ZS, TARGETS), rel=1e-5)


def test_loss_terms_single_and_all_candidate_rows():
  # An all-candidate row has no negative term; a one-hot row's KL is -log p.
  sup, con = corr.corr_loss_terms(ZW[1:2], ZS[1:2], TARGETS[1:2])
  assert float(sup) == 0.0
  sup, con = corr.corr_loss_terms(ZW[:1], ZS[:1], TARGETS[:1])
  expected = -np.log(_softmax(ZW[:1])[0, 0]) - np.log(_softmax(ZS[:1])[0, 0])
  assert float(con) == pytest.approx(expected, rel=1e-5)


def test_saturated_negative_term_is_bounded():
  # p = 1 on a non-candidate: -log(|1 - 1| + 1e-9) = 20.72 per view.
  z = np.array([[0., 100.]], np.float32)
  sup, _ = corr.corr_loss_terms(z, z, np.array([[1., 0.]], np.float32))
  assert float(sup) == pytest.approx(2 * -np.log(1e-9), rel=1e-4)


def test_loss_gradient_only_through_logits():
  grad = jax.grad(methods.corr_loss, argnums=2)(ZW, ZS, TARGETS)
  np.testing.assert_array_equal(np.asarray(grad), 0)


@pytest.mark.parametrize('support', [
    (TARGETS > 0).astype(np.float32),
    np.ones_like(TARGETS),
    np.eye(5, dtype=np.float32)[[0, 1, 2, 3]]])
def test_update_matches_hand_computation(support):
  rows = np.asarray(methods.corr_update(ZW, ZS, support))
  np.testing.assert_allclose(rows, _reference_update(ZW, ZS, support),
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-6)
  assert np.all(rows[support == 0] == 0)


def test_single_candidate_row_becomes_one_hot():
  rows = methods.corr_update(ZW[:1], ZS[:1], TARGETS[:1] > 0)
  np.testing.assert_allclose(np.asarray(rows), [[1, 0, 0, 0, 0]], atol=1e-7)


def test_underflow_row_becomes_zero_as_published():
  # Both candidates have p ~ e^-200 in each view: the float32 product is 0,
  # so the published update writes an all-zero row (no NaN).
  z = np.array([[100., -100., -100.]], np.float32)
  support = np.array([[0., 1., 1.]], np.float32)
  rows = np.asarray(methods.corr_update(z, z, support))
  np.testing.assert_array_equal(rows, 0.0)
  # That row then adds nothing to the consistency term and every class
  # enters the negative mask.
  sup, con = corr.corr_loss_terms(z, z, rows)
  assert float(con) == 0.0 and np.isfinite(float(sup))


def test_double_normalisation_equals_single_up_to_eps():
  support = (TARGETS > 0).astype(np.float32)
  a = corr.corr_update(ZW, ZS, support)
  b = corr.corr_update(ZW, ZS, support, double_normalize=True)
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
