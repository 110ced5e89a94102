"""RECORDS, Oracle-LA, PRODEN and mixup against hand computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltpll_jax import methods
from ltpll_jax import steps
from ltpll_jax.methods import corr
from ltpll_jax.methods import mixup
from ltpll_jax.methods import proden
from ltpll_jax.methods import rebalance

RNG = np.random.default_rng(0)
ZW = RNG.normal(0, 2, (4, 5)).astype(np.float32)
ZS = RNG.normal(0, 2, (4, 5)).astype(np.float32)
CANDIDATES = np.array([[1, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0],
                       [0, 1, 0, 1, 1]], np.float32)
TARGETS = CANDIDATES / CANDIDATES.sum(1, keepdims=True)
PRIOR = np.array([0.5, 0.25, 0.15, 0.07, 0.03], np.float32)


def _softmax(z):
  z = np.asarray(z, np.float64)
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _records_rows(zw, zs, prior, mask):
  """ALGORITHMS.md 5.3 in float64: debias, mask, normalise, sqrt, normalise.
  """
  pw = _softmax(zw - np.log(prior + 1e-9))
  ps = _softmax(zs - np.log(prior + 1e-9))
  u = mask * ps * pw
  u = u / (u.sum(-1, keepdims=True) + 1e-9)
  v = np.sqrt(u)
  return v / (v.sum(-1, keepdims=True) + 1e-9)


def test_records_prior_by_hand():
  feat = np.array([1.0, 2.0, 0.5], np.float32)
  kernel = RNG.normal(size=(3, 5)).astype(np.float32)
  bias = RNG.normal(size=5).astype(np.float32)
  got = np.asarray(methods.records_prior(feat, kernel, bias))
  logits = [sum(feat[d] * kernel[d, k] for d in range(3)) + bias[k]
            for k in range(5)]
  np.testing.assert_allclose(got, _softmax(np.array(logits)), rtol=1e-6)


def test_records_rows_by_hand():
  rebal = rebalance.Rebalancer('records')
  cfg = steps.StepConfig(num_classes=5, rebalancer=rebal)
  rows = steps.learner_update(
      cfg, [rebal.update_logits(z, PRIOR) for z in (ZW, ZS)], CANDIDATES)
  np.testing.assert_allclose(np.asarray(rows),
                             _records_rows(ZW, ZS, PRIOR, CANDIDATES),
                             rtol=1e-5, atol=1e-7)
  assert np.all(np.asarray(rows)[CANDIDATES == 0] == 0)


def test_uniform_prior_records_equals_corr_on_candidates():
  uniform = np.full(5, 0.2, np.float32)
  rebal = rebalance.Rebalancer('records')
  cfg = steps.StepConfig(num_classes=5, rebalancer=rebal)
  records_rows = steps.learner_update(
      cfg, [rebal.update_logits(z, uniform) for z in (ZW, ZS)], CANDIDATES)
  corr_rows = methods.corr_update(ZW, ZS, CANDIDATES)
  np.testing.assert_allclose(np.asarray(records_rows), np.asarray(corr_rows),
                             atol=1e-6)


def test_records_masks_with_original_candidates_not_current_support():
  # A candidate whose confidence fell to zero comes back under RECORDS.
  rebal = rebalance.Rebalancer('records')
  assert rebal.rebalances_disambiguation
  assert not rebalance.Rebalancer('none').rebalances_disambiguation


@pytest.mark.parametrize('variant', rebalance.ORACLE_VARIANTS)
def test_oracle_la_variants_by_hand(variant):
  rebal = rebalance.Rebalancer('oracle_la', oracle_variant=variant, tau=1.0)
  cfg = steps.StepConfig(num_classes=5, rebalancer=rebal)
  log_pi = np.log(PRIOR.astype(np.float64))
  # Loss.
  loss, _ = steps.learner_loss(
      cfg, [rebal.loss_logits(z, PRIOR) for z in (ZW, ZS)], TARGETS)
  shift = log_pi if variant == 'la_loss' else 0.0
  expected_loss = corr.corr_loss(ZW + shift, ZS + shift, TARGETS)
  assert float(loss) == pytest.approx(float(expected_loss), rel=1e-5)
  # Confidence update.
  support = CANDIDATES if variant == 'constant_prior_disambiguation' else (
      TARGETS > 0)
  rows = steps.learner_update(
      cfg, [rebal.update_logits(z, PRIOR) for z in (ZW, ZS)], support)
  if variant == 'constant_prior_disambiguation':
    expected = _records_rows(ZW, ZS, PRIOR, CANDIDATES)
  else:
    pw, ps = _softmax(ZW), _softmax(ZS)
    v = np.sqrt(support * pw * ps)
    expected = v / (v.sum(-1, keepdims=True) + 1e-9)
  np.testing.assert_allclose(np.asarray(rows), expected, rtol=1e-5,
                             atol=1e-7)
  # Test-time ranking.
  test = np.asarray(rebal.test_logits(ZW, PRIOR))
  expected_test = {
      'post_hoc': ZW - log_pi,
      'constant_prior_disambiguation': ZW - np.log(PRIOR + 1e-9),
      'la_loss': ZW,
  }[variant]
  np.testing.assert_allclose(test, expected_test, rtol=1e-6, atol=1e-6)


def test_test_time_debias_changes_argmax_exactly():
  z = RNG.normal(size=(64, 5)).astype(np.float32)
  got = np.argmax(np.asarray(rebalance.Rebalancer('records').test_logits(
      z, PRIOR)), -1)
  np.testing.assert_array_equal(got,
                                np.argmax(z - np.log(PRIOR + 1e-9), -1))
  assert np.any(got != np.argmax(z, -1))  # The prior really moves some.


def test_proden_loss_and_update_by_hand():
  loss = float(proden.proden_loss(ZW, TARGETS))
  log_p = np.log(_softmax(ZW))
  expected = -np.mean([sum(TARGETS[i, k] * log_p[i, k] for k in range(5))
                       for i in range(4)])
  assert loss == pytest.approx(expected, rel=1e-5)
  rows = np.asarray(proden.proden_update(ZW, CANDIDATES))
  p = _softmax(ZW) * CANDIDATES
  np.testing.assert_allclose(rows, p / (p.sum(-1, keepdims=True) + 1e-9),
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(rows.sum(-1), 1, atol=1e-6)


def test_proden_records_debiases_weak_view():
  rebal = rebalance.Rebalancer('records')
  cfg = steps.StepConfig(num_classes=5, method='proden', rebalancer=rebal)
  assert cfg.num_views == 1
  rows = steps.learner_update(cfg, [rebal.update_logits(ZW, PRIOR)],
                              CANDIDATES)
  p = _softmax(ZW - np.log(PRIOR + 1e-9)) * CANDIDATES
  np.testing.assert_allclose(np.asarray(rows),
                             p / (p.sum(-1, keepdims=True) + 1e-9),
                             rtol=1e-5, atol=1e-7)


def test_mixup_lambda_at_least_half():
  keys = jax.random.split(jax.random.key(0), 4096)
  lam = np.asarray(jax.vmap(mixup.mixup_lambda)(keys))
  assert lam.min() >= 0.5 and lam.max() <= 1.0
  # Beta(4, 4) folded: mean of max(l, 1 - l) is about 0.6367.
  assert abs(lam.mean() - 0.6367) < 0.01


def test_mixup_with_lambda_one_equals_unmixed_terms():
  perm = np.array([2, 0, 3, 1])
  mixed = [mixup.mix(z, 1.0, perm) for z in (ZW, ZS)]
  y_mix = mixup.mix(TARGETS, 1.0, perm)
  np.testing.assert_array_equal(np.asarray(y_mix), TARGETS)
  a = corr.corr_loss_terms(*mixed, y_mix)
  b = corr.corr_loss_terms(ZW, ZS, TARGETS)
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_mixed_negative_mask_is_outside_union_of_candidates():
  perm = np.array([1, 2, 3, 0])
  y_mix = np.asarray(mixup.mix(TARGETS, 0.7, perm))
  union = (CANDIDATES + CANDIDATES[perm]) > 0
  np.testing.assert_array_equal(y_mix == 0, ~union)
  # The mixed negative-learning term uses exactly that mask.
  z = ZW
  sup, _ = corr.corr_loss_terms(z, z, y_mix)
  p = _softmax(z)
  expected = np.mean(np.sum(~union * -np.log(np.abs(1 - p) + 1e-9), -1)) * 2
  assert float(sup) == pytest.approx(expected, rel=1e-5)


def test_group_permutation_stays_in_groups():
  perm = np.asarray(mixup.group_permutation(jax.random.key(0), 12, 3))
  assert sorted(perm.tolist()) == list(range(12))
  for g in range(3):
    assert set(perm[4 * g:4 * g + 4].tolist()) == set(range(4 * g, 4 * g + 4))
  # pmap's view of group 1 (offset 1, one group) equals jit's second group.
  local = np.asarray(mixup.group_permutation(jax.random.key(0), 4, 1,
                                             group_offset=1))
  np.testing.assert_array_equal(local + 4, perm[4:8])


def test_mix_is_linear():
  x = jnp.arange(6.0).reshape(3, 2)
  got = np.asarray(mixup.mix(x, 0.75, jnp.array([2, 0, 1])))
  np.testing.assert_allclose(got, 0.75 * np.asarray(x) +
                             0.25 * np.asarray(x)[[2, 0, 1]])
