"""Tests for ltpll_jax.sinkhorn: SoLar's published variant and the solver.

The published variant is checked against a line-by-line numpy transcription
of the reference PyTorch function (float32, with its NaN recursion); the
log-domain solver against ott-jax 0.6 on the same entropic problem.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from ott.geometry import geometry
from ott.problems.linear import linear_problem
from ott.solvers.linear import sinkhorn as ott_sinkhorn
import pytest

from ltpll_jax import sinkhorn

# One compiled program per shape and static setting, shared by the tests.
_solar = jax.jit(sinkhorn.solar_sinkhorn_with_info,
                 static_argnames=('power', 'num_iters'))
_solve = jax.jit(sinkhorn.sinkhorn, static_argnames=(
    'max_iters', 'min_iters', 'check_every'))

# float32 numpy and XLA sum in different orders; over 50 iterations plan
# entries differ by at most 7e-7 relative, 2e-7 absolute (a few ulps) in
# the cases below. The tolerance leaves a factor of about 10.
_NUMPY_RTOL = 1e-5
_NUMPY_ATOL = 1e-6


def _long_tailed_problem(seed, n, k, *, ratio=100.0, partial_rate=0.3):
  """M = p * s for labels drawn from an exp-profile prior; returns (M, pi).

  Labels follow the prior and are always candidates, so the class marginal
  is feasible, as in training data.
  """
  rng = np.random.default_rng(seed)
  prior = ratio ** (-np.arange(k) / (k - 1))
  prior /= prior.sum()
  labels = rng.choice(k, n, p=prior)
  cand = rng.random((n, k)) < partial_rate
  cand[np.arange(n), labels] = True
  logits = 2.0 * rng.normal(size=(n, k))
  logits[np.arange(n), labels] += 1.0
  p = np.exp(logits - logits.max(axis=1, keepdims=True))
  p /= p.sum(axis=1, keepdims=True)
  return (p * cand).astype(np.float32), prior.astype(np.float32)


def _published_numpy(pred, eta, r_in, num_iters=50, depth=0):
  """The reference `sinkhorn(pred, eta, r_in)`, transcribed to numpy float32.

  Returns (plan [N, K], nan_detected). Recursion is limited to one level, so
  a case that would recurse forever in the reference fails loudly here.
  """
  pred = np.asarray(pred, np.float32)
  n = pred.shape[0]
  ps = pred.T
  c = np.ones((n, 1), np.float32) / np.float32(n)
  r = np.asarray(r_in, np.float32).reshape(-1, 1)
  ps = ps ** np.float32(eta)
  r_init = r.copy()
  inv_n = 1.0 / n
  err = 1e6
  counter = 1
  with np.errstate(all='ignore'):
    for _ in range(num_iters):
      if err < 1e-1:
        break
      r = r_init * (1 / (ps @ c))
      c_new = inv_n / (r.T @ ps).T
      if counter % 10 == 0:
        err = np.sum(c_new) + np.sum(r)
        if np.isnan(err):
          assert depth == 0, 'the reference would recurse again'
          pred_new = (pred + np.float32(1e-5) * (pred == 0)).astype(np.float32)
          relaxed, _ = _published_numpy(pred_new, eta, r_in, num_iters,
                                        depth + 1)
          return relaxed * (pred != 0), True
      c = c_new
      counter += 1
    ps = ps * np.squeeze(c, 1)
    ps = ps.T * np.squeeze(r, 1)
    return ps * n, False


def test_published_marginals_on_long_tailed_problem():
  n, k = 2000, 10
  m, prior = _long_tailed_problem(0, n, k)
  out = _solar(m, prior)
  plan = np.asarray(out.plan)
  assert not out.fallback_used and out.gave_up_rows == 0
  np.testing.assert_allclose(plan.sum(axis=1), 1.0, atol=1e-5)
  # Exactly zero off the candidates.
  assert np.all(plan[m == 0] == 0)
  # After 50 iterations on this problem the class proportions are within
  # 2e-3 relative (1e-3 in L1) of pi; the tolerance leaves a factor 5. They
  # are still ~0.3 relative off after 10 iterations.
  totals = plan.sum(axis=0) / n
  np.testing.assert_allclose(totals, prior, rtol=1e-2)
  assert np.abs(totals - prior).sum() < 5e-3
  early = np.asarray(_solar(m, prior, num_iters=10).plan).sum(axis=0) / n
  assert np.abs(early - prior).sum() > 5 * np.abs(totals - prior).sum()


@pytest.mark.parametrize('n,k,power,num_iters', [
    (37, 5, 3.0, 50), (64, 4, 2.0, 50), (23, 3, 3.0, 13)])
def test_published_matches_numpy_transcription(n, k, power, num_iters):
  m, prior = _long_tailed_problem(n, n, k, ratio=10.0, partial_rate=0.5)
  out = _solar(m, prior, power=power, num_iters=num_iters)
  expected, nan_detected = _published_numpy(m, power, prior, num_iters)
  assert not nan_detected and not out.fallback_used
  np.testing.assert_allclose(out.plan, expected, rtol=_NUMPY_RTOL,
                             atol=_NUMPY_ATOL)


def test_fallback_on_underflowing_row_matches_reference():
  m, prior = _long_tailed_problem(1, 31, 5, ratio=10.0, partial_rate=0.5)
  # (1e-30)^3 is 0 in float32: the row's col scaling becomes 1/0 = inf.
  m[3] = np.where(m[3] > 0, 1e-30, 0.0)
  m[3, :2] = 1e-30
  expected, nan_detected = _published_numpy(m, 3.0, prior)
  assert nan_detected
  out = _solar(m, prior)
  plan = np.asarray(out.plan)
  assert out.fallback_used and out.gave_up_rows == 0
  assert np.all(np.isfinite(plan))
  np.testing.assert_allclose(plan, expected, rtol=_NUMPY_RTOL,
                             atol=_NUMPY_ATOL)
  # The relaxed pass gives that row's mass to the filled zeros, which the
  # final mask removes: the published fallback leaves it all zero.
  assert np.all(plan[3] == 0)
  assert np.all(plan[m == 0] == 0)


def test_fallback_on_unsupported_class_matches_reference():
  m, prior = _long_tailed_problem(2, 40, 5, ratio=10.0, partial_rate=0.5)
  m[:, 4] = 0.0  # No row has class 4 as a candidate: pi_4 / 0 = inf.
  m[m.sum(axis=1) == 0, 0] = 0.5
  expected, nan_detected = _published_numpy(m, 3.0, prior)
  assert nan_detected
  out = _solar(m, prior)
  plan = np.asarray(out.plan)
  assert out.fallback_used and out.gave_up_rows == 0
  np.testing.assert_allclose(plan, expected, rtol=_NUMPY_RTOL,
                             atol=_NUMPY_ATOL)
  assert np.all(plan[:, 4] == 0)
  # The published fallback no longer has rows summing to 1: class 4's
  # share pi_4 of the mass is removed with the mask.
  np.testing.assert_allclose(plan.sum(), 40 * (1 - prior[4]), rtol=1e-3)


def test_gives_up_to_masked_uniform_rows():
  m, prior = _long_tailed_problem(3, 31, 5, ratio=10.0, partial_rate=0.5)
  m[5, 2] = np.nan  # A NaN input survives the relaxed pass.
  m[6] = 0.0  # An all-zero row becomes uniform over all classes.
  out = _solar(m, prior)
  assert out.fallback_used and out.gave_up_rows == 31
  support = (m != 0).astype(np.float32)
  support[6] = 1.0
  expected = support / support.sum(axis=1, keepdims=True)
  np.testing.assert_allclose(out.plan, expected, rtol=1e-6)


def test_published_compiles_once():
  chex.clear_trace_counter()
  fn = jax.jit(chex.assert_max_traces(sinkhorn.solar_sinkhorn, n=1))
  m, prior = _long_tailed_problem(4, 31, 5, ratio=10.0)
  for seed in range(3):
    noise = np.random.default_rng(seed).random(m.shape).astype(np.float32)
    plan = fn(m * noise, prior)
    assert np.all(np.isfinite(plan))
  m_bad = m.copy()
  m_bad[:, 1] = 0.0  # Takes the fallback path: still no new trace.
  m_bad[m_bad.sum(axis=1) == 0, 0] = 0.5
  assert np.all(np.isfinite(fn(m_bad, prior)))


def _random_ot_problem(seed, n, k):
  rng = np.random.default_rng(seed)
  cost = rng.random((n, k)).astype(np.float32)
  a = rng.random(n).astype(np.float32) + 0.5
  b = rng.random(k).astype(np.float32) + 0.5
  return cost, a / a.sum(), b / b.sum()


@pytest.mark.parametrize('epsilon', [1.0, 0.05])
def test_solver_matches_ott(epsilon):
  cost, a, b = _random_ot_problem(5, 40, 6)
  geom = geometry.Geometry(cost_matrix=jnp.asarray(cost), epsilon=epsilon)
  problem = linear_problem.LinearProblem(geom, jnp.asarray(a), jnp.asarray(b))
  ref = ott_sinkhorn.Sinkhorn(threshold=1e-6, max_iterations=2000)(problem)
  out = _solve(np.log(a), np.log(b), cost, epsilon=epsilon, threshold=1e-6,
               max_iters=2000)
  assert ref.converged and out.converged
  # Same update order and error: the runs stop at the same check (allow
  # one check of slack for float ties at the threshold).
  assert abs(int(out.n_iters) - int(ref.n_iters)) <= 10
  # Plan entries are ~4e-3; the two agree to ~3e-8 (float32 rounding).
  np.testing.assert_allclose(out.plan, ref.matrix, atol=1e-6)
  np.testing.assert_allclose(out.f, ref.f, atol=1e-5)
  np.testing.assert_allclose(out.g, ref.g, atol=1e-5)
  np.testing.assert_allclose(out.plan.sum(axis=1), a, atol=1e-6)
  np.testing.assert_allclose(out.plan.sum(axis=0), b, atol=1e-6)


def test_solver_stops_early_when_converged():
  cost, a, b = _random_ot_problem(6, 40, 6)
  # Converges after 80 iterations (8 checks) of the 1000 allowed.
  out = _solve(np.log(a), np.log(b), cost, epsilon=0.03, threshold=1e-5,
               max_iters=1000)
  n_checks = int(out.n_iters) // 10
  assert out.converged and 30 <= out.n_iters <= 200
  errors = np.asarray(out.errors)
  assert 0 <= errors[n_checks - 1] <= 1e-5
  assert np.all(errors[:n_checks - 1] > 1e-5)
  assert np.all(np.diff(errors[:n_checks]) < 0)  # Linear convergence.
  assert np.all(errors[n_checks:] == -1)
  # min_iters keeps it going past convergence.
  longer = _solve(np.log(a), np.log(b), cost, epsilon=0.03, threshold=1e-5,
                  max_iters=1000, min_iters=200)
  assert longer.n_iters == 200 and longer.converged


def test_solver_not_converged_when_budget_too_small():
  cost, a, b = _random_ot_problem(7, 40, 6)
  out = _solve(np.log(a), np.log(b), cost, epsilon=0.01, threshold=1e-6,
               max_iters=20)
  assert not out.converged and out.n_iters == 20
  assert np.all(np.asarray(out.errors) > 1e-6)


def test_solver_infinite_costs_and_zero_weights():
  cost, a, b = _random_ot_problem(8, 12, 5)
  cost[np.arange(12), np.arange(12) % 5] = np.inf  # Forbidden pairs.
  a[0] = 0.0  # A row without mass.
  b[4] = 0.0  # A column without mass.
  a, b = a / a.sum(), b / b.sum()
  with np.errstate(divide='ignore'):
    out = _solve(np.log(a), np.log(b), cost, epsilon=0.1, threshold=1e-6,
                 max_iters=1000)
  plan = np.asarray(out.plan)
  assert out.converged and np.all(np.isfinite(plan))
  assert np.all(plan[np.isinf(cost)] == 0)
  assert np.all(plan[0] == 0) and np.all(plan[:, 4] == 0)
  assert out.f[0] == -np.inf and out.g[4] == -np.inf
  np.testing.assert_allclose(plan.sum(axis=1), a, atol=1e-6)
  np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-6)


def test_solver_infeasible_column_gets_no_mass_and_does_not_converge():
  cost, a, b = _random_ot_problem(9, 12, 5)
  cost[:, 2] = np.inf  # Column 2 has weight but no allowed row.
  out = _solve(np.log(a), np.log(b), cost, epsilon=0.1, threshold=1e-6,
               max_iters=100)
  assert not out.converged and out.n_iters == 100
  assert np.all(np.isfinite(out.plan)) and np.all(out.plan[:, 2] == 0)
  assert out.g[2] == -np.inf


def test_published_equals_solver_with_epsilon_one_over_power():
  n, k, power = 500, 10, 3.0
  m, prior = _long_tailed_problem(10, n, k)
  with np.errstate(divide='ignore'):
    cost = -np.log(m)  # +inf off the candidates.
  # 50 published iterations = 50 solver iterations (g then f); min_iters
  # forces all of them.
  out = _solve(np.full(n, -np.log(n), np.float32), np.log(prior), cost,
               epsilon=1 / power, threshold=0.0, max_iters=50, min_iters=50)
  assert out.n_iters == 50
  published = np.asarray(_solar(m, prior, power=power).plan)
  # Log and scaling domains round differently; over 50 iterations the
  # entries agree to 5e-6 relative, 2e-6 absolute (entries up to 1).
  np.testing.assert_allclose(n * np.asarray(out.plan), published, rtol=5e-5,
                             atol=1e-6)
  assert np.all(np.asarray(out.plan)[m == 0] == 0)


def test_solver_compiles_once_and_validates_budget():
  chex.clear_trace_counter()

  def solve(log_a, log_b, cost, epsilon):
    return sinkhorn.sinkhorn(log_a, log_b, cost, epsilon=epsilon,
                             max_iters=100)

  fn = jax.jit(chex.assert_max_traces(solve, n=1))
  for seed in range(3):
    cost, a, b = _random_ot_problem(seed, 12, 5)
    out = fn(np.log(a), np.log(b), cost, epsilon=0.2)
    assert out.converged
  with pytest.raises(ValueError, match='multiple'):
    sinkhorn.sinkhorn(np.log(a), np.log(b), cost, epsilon=0.2, max_iters=25)
