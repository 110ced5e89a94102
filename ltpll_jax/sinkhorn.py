"""Sinkhorn-Knopp: SoLar's published variant and a general log-domain solver.

Entropic optimal transport between weights ``a`` [N] and ``b`` [K] (each
summing to 1) under a cost ``C`` [N, K]:

  P* = argmin_{P 1 = a, P^T 1 = b} <P, C> - eps H(P),
  P*_nk = exp((f_n + g_k - C_nk) / eps),

with dual potentials ``f`` [N], ``g`` [K]. Sinkhorn alternates the two exact
marginal projections, here in the log domain and in ott-jax's order (``g``
first, then ``f``, so after each iteration the rows sum exactly to ``a``):

  g_k <- eps log b_k - eps logsumexp_n((f_n - C_nk) / eps),
  f_n <- eps log a_n - eps logsumexp_k((g_k - C_nk) / eps).

The error is the L1 distance of the plan's class (column) marginal to ``b``,
measured after the ``f`` update, every ``check_every`` iterations.

**SoLar's published variant** (ALGORITHMS.md 7.3 step 5) works on scalings.
With M [N, K] the candidate-masked probabilities, A = (M^T)^lambda elementwise
(K x N, non-candidates stay 0), col = 1/N, and ``num_iters`` = 50 times:

  row_k = pi_k / sum_n A_kn col_n,   col_n = (1/N) / sum_k row_k A_kn,

then Q_nk = N row_k A_kn col_n. It is the solver above with

  C = -log M (+inf off the candidates),  eps = 1 / lambda,
  a = 1/N,  b = pi,  col_n = exp(f_n / eps),  row_k = exp(g_k / eps),

since A_kn = M_nk^lambda = exp(-C_nk / eps); so lambda = 3 is eps = 1/3. One
published iteration (row, then col) is one iteration here (g, then f), and
the different start (col = 1/N instead of f = 0) only rescales the first row
update, so the iterates agree from then on. The published row marginal is
a_n = 1/N and the plan is rescaled by N, so each row of Q sums to 1 and the
class totals approach N pi_k.

The published code also stops when ``sum(col) + sum(row) < 0.1`` at every
10th iteration. Those are scaling vectors, not marginal errors, and their sum
is far above 0.1, so the rule never fires; it is left out and the 50
iterations run as a fixed ``lax.fori_loop``. Its NaN guard (a NaN ``err`` at
a check) recomputes the plan on ``M + 1e-5 [M == 0]`` and multiplies by
``[M != 0]`` (rows then sum to a little less than 1), recursively. Here:

* the trigger is a non-finite plan (NaN or inf), tested once after the loop
  (through the scaling vectors, see ``_finite``); NaN persists, so
  this is the published trigger, plus an inf that the published code would
  return as is;
* the relaxed pass runs at most once, under ``lax.cond``, so the usual case
  does not pay for it (a ``jnp.where`` between both passes would double the
  cost);
* rows still non-finite after it become uniform over their candidates
  (``M != 0``; over all classes for an all-zero row), where the published
  code would recurse again, possibly forever.

Non-finite plans come from a class no row supports (pi_k / 0 = inf, then
inf * 0 = NaN), a row whose candidates all underflow after the power (its
col is 1/0), fp32 overflow of a scaling, and NaN inputs. XLA on CPU flushes
float32 subnormals to zero, so an entry of M below about 2.3e-13 counts as
underflowed where PyTorch on CPU would keep a subnormal cube. The log-domain
solver has no underflow: a tiny M only gives a large finite cost.

Synopsis:

  plan = solar_sinkhorn(masked_probs, prior)  # [N, K], rows sum to 1
  plan, fallback_used, gave_up_rows = solar_sinkhorn_with_info(
      masked_probs, prior, power=3.0, num_iters=50)

  out = sinkhorn(log_a, log_b, cost, epsilon=1 / 3, threshold=1e-6)
  out.plan, out.f, out.g, out.converged, out.n_iters, out.errors
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

# Fill value for zero entries of M in the published NaN fallback.
RELAX_EPS = 1e-5


class SolarSinkhornOutput(NamedTuple):
  """Published-variant plan and how its NaN guard fired."""
  plan: jax.Array  # [N, K] float32, Q_nk; rows sum to 1 unless relaxed.
  fallback_used: jax.Array  # bool scalar: the relaxed pass was needed.
  gave_up_rows: jax.Array  # int32 scalar: rows set to masked-uniform.


class SinkhornState(NamedTuple):
  """Loop state of the log-domain solver."""
  f: jax.Array  # [N] f / epsilon, the log row scaling.
  g: jax.Array  # [K] g / epsilon, the log column scaling.
  errors: jax.Array  # [max_iters // check_every], -1 where not computed.
  error: jax.Array  # scalar, the last computed error (+inf before any).
  iteration: jax.Array  # int32 scalar, Sinkhorn iterations done.


class SinkhornOutput(NamedTuple):
  """Result of the log-domain solver."""
  plan: jax.Array  # [N, K] exp(log_plan).
  log_plan: jax.Array  # [N, K] (f_n + g_k - C_nk) / eps, -inf for no mass.
  f: jax.Array  # [N] row potential (-inf for rows without mass).
  g: jax.Array  # [K] column potential (-inf for columns without mass).
  errors: jax.Array  # [max_iters // check_every] L1 errors, -1 if not run.
  converged: jax.Array  # bool scalar: last error <= threshold.
  n_iters: jax.Array  # int32 scalar, iterations run.


def _power(x: jax.Array, power: float | jax.Array) -> jax.Array:
  """``x ** power``; an integral Python power uses repeated products."""
  if isinstance(power, (int, float)) and float(power).is_integer():
    return jax.lax.integer_pow(x, int(power))
  return jnp.power(x, power)


def _published_scalings(masked_probs: jax.Array, prior: jax.Array, *,
                         power: float | jax.Array,
                         num_iters: int) -> tuple[jax.Array, jax.Array]:
  """The published loop, unguarded: ``row`` ``[K]`` and ``col`` ``[N]``."""
  n = masked_probs.shape[0]
  # [K, N]: both products below then stream over contiguous rows of A; this
  # layout was the fastest of those tried (benchmarks/sinkhorn.py).
  a = _power(masked_probs.T, power)
  inv_n = jnp.float32(1.0 / n)

  # Full float32 products (ALGORITHMS.md 7.3): TPUs otherwise multiply in
  # one bfloat16 pass, which moves the plan by up to 1e-2.
  dot = functools.partial(jnp.dot, precision=jax.lax.Precision.HIGHEST)

  def body(_, carry):
    _, col = carry
    row = prior * (1.0 / dot(a, col))
    col = inv_n / dot(row, a)
    return row, col

  return jax.lax.fori_loop(
      0, num_iters, body, (prior, jnp.full((n,), inv_n, jnp.float32)))


def _plan(masked_probs: jax.Array, row: jax.Array, col: jax.Array, *,
          power: float | jax.Array) -> jax.Array:
  """Q_nk = N row_k A_kn col_n, ``[N, K]``, in the published order."""
  # Recomputing the power in [N, K] is cheaper than transposing A, and
  # gives the same numbers.
  a_t = _power(masked_probs, power)
  return a_t * col[:, None] * row * jnp.float32(masked_probs.shape[0])


def _finite(row: jax.Array, col: jax.Array) -> jax.Array:
  """Whether the plan is finite, from its scalings in O(N + K).

  For 0 <= M <= 1 this is the same as testing the plan: an inf or NaN
  scaling meets a zero or positive entry of A and makes NaN or inf, and
  with finite scalings every product is at most about 1/N, since
  col_n sum_k row_k A_kn = 1/N. Testing the plan itself costs 1-2 ms at
  16,640 x 100 on CPU.
  """
  return jnp.all(jnp.isfinite(row)) & jnp.all(jnp.isfinite(col))


def solar_sinkhorn_with_info(masked_probs: jax.Array, prior: jax.Array, *,
                             power: float = 3.0,
                             num_iters: int = 50) -> SolarSinkhornOutput:
  """SoLar's published Sinkhorn with its NaN guard, and guard statistics.

  Args:
    masked_probs: ``[N, K]`` float in [0, 1], M = p * s (probabilities
      times the candidate mask); computed in float32.
    prior: ``[K]`` float, the class marginal pi (sums to 1).
    power: lambda, the exponent (Python number; static). Integral values
      use repeated multiplication.
    num_iters: the fixed number of iterations (static).

  Returns:
    ``SolarSinkhornOutput``: ``plan`` ``[N, K]`` float32, Q with rows summing
    to 1 (a little less on the relaxed path) and zero wherever M is zero
    (but a given-up row without candidates is uniform over all classes),
    class totals approximately N pi; ``fallback_used`` bool scalar;
    ``gave_up_rows`` int32 scalar.
  """
  m = jnp.asarray(masked_probs, jnp.float32)
  prior = jnp.asarray(prior, jnp.float32)
  support = m != 0
  row, col = _published_scalings(m, prior, power=power, num_iters=num_iters)
  fallback_used = jnp.logical_not(_finite(row, col))

  def published(_):
    return _plan(m, row, col, power=power), jnp.int32(0)

  def relaxed(_):
    # The published fallback: fill exact zeros, rescale, mask them again.
    m_relaxed = m + jnp.float32(RELAX_EPS) * (m == 0)
    relaxed_plan = _plan(m_relaxed, *_published_scalings(
        m_relaxed, prior, power=power, num_iters=num_iters), power=power)
    # Give up on rows that are still not finite: uniform over the
    # candidates. They are judged before the mask: PyTorch's NaN * 0 stays
    # NaN, but XLA may turn a product with a 0/1 mask into a select.
    bad_rows = jnp.logical_not(jnp.all(jnp.isfinite(relaxed_plan), axis=1))
    counts = jnp.sum(support, axis=1, keepdims=True)
    uniform = jnp.where(counts > 0, support / jnp.maximum(counts, 1),
                        1.0 / m.shape[1]).astype(jnp.float32)
    relaxed_plan = jnp.where(support, relaxed_plan, 0.0)
    return (jnp.where(bad_rows[:, None], uniform, relaxed_plan),
            jnp.sum(bad_rows, dtype=jnp.int32))

  # Only a failed first pass pays for the second one.
  plan, gave_up_rows = jax.lax.cond(fallback_used, relaxed, published, None)
  return SolarSinkhornOutput(plan, fallback_used, gave_up_rows)


def solar_sinkhorn(masked_probs: jax.Array, prior: jax.Array, *,
                   power: float = 3.0, num_iters: int = 50) -> jax.Array:
  """SoLar's published Sinkhorn pseudo-labels (ALGORITHMS.md 7.3 step 5).

  Args:
    masked_probs: ``[N, K]`` float in [0, 1], M = p * s.
    prior: ``[K]`` float, the class marginal pi (sums to 1).
    power: lambda (Python number; static).
    num_iters: the fixed number of iterations (static).

  Returns:
    ``[N, K]`` float32 plan rows Q (see ``solar_sinkhorn_with_info``).
  """
  return solar_sinkhorn_with_info(
      masked_probs, prior, power=power, num_iters=num_iters).plan


def _log_plan(alpha: jax.Array, beta: jax.Array,
              log_kernel: jax.Array) -> jax.Array:
  """``alpha_n + beta_k + log_kernel_nk``; potentials are never +inf."""
  return alpha[:, None] + beta[None, :] + log_kernel


def _update(log_w: jax.Array, lse: jax.Array) -> jax.Array:
  """``log_w - lse``, and -inf (no mass) where nothing supports the entry."""
  return jnp.where(lse > -jnp.inf, log_w - lse, -jnp.inf)


def sinkhorn(log_a: jax.Array, log_b: jax.Array, cost: jax.Array, *,
             epsilon: float | jax.Array, max_iters: int = 1000,
             threshold: float = 1e-6, min_iters: int = 0,
             check_every: int = 10) -> SinkhornOutput:
  """Balanced entropic OT in the log domain, with ott-jax's conventions.

  Zero weights (``log_a``/``log_b`` = -inf) and forbidden pairs (``cost`` =
  +inf) get exactly zero mass, and their potentials are -inf. A row or
  column with positive weight but no allowed partner gets -inf as well
  instead of +inf (no NaN); the marginal error then stays positive and
  ``converged`` is False. Costs must be > -inf. The loop stops at
  ``max_iters`` or, after ``min_iters``, once the error is <= ``threshold``
  or NaN. ``jax.lax.while_loop`` is not reverse-differentiable.

  Args:
    log_a: ``[N]`` log row weights (sum of exp is 1).
    log_b: ``[K]`` log column weights (sum of exp is 1).
    cost: ``[N, K]`` cost matrix.
    epsilon: entropic regularisation (absolute, not relative to the cost).
    max_iters: iteration budget; a multiple of ``check_every`` (static).
    threshold: stop once the L1 marginal error is at most this.
    min_iters: iterations to run before the error may stop the loop.
    check_every: iterations between two error checks (static).

  Returns:
    ``SinkhornOutput`` with ``plan``/``log_plan`` ``[N, K]``, ``f`` ``[N]``,
    ``g`` ``[K]``, ``errors`` ``[max_iters // check_every]``, ``converged``
    and ``n_iters`` (a multiple of ``check_every``).

  Raises:
    ValueError: if ``max_iters`` is not a positive multiple of
      ``check_every``.
  """
  if check_every < 1 or max_iters < check_every or max_iters % check_every:
    raise ValueError(f'max_iters={max_iters} must be a positive multiple of '
                     f'check_every={check_every}.')
  cost = jnp.asarray(cost)
  dtype = cost.dtype
  log_a = jnp.asarray(log_a, dtype)
  log_b = jnp.asarray(log_b, dtype)
  # Work with log-scalings alpha = f / eps and beta = g / eps: one division
  # up front instead of one per entry and iteration.
  log_kernel = -cost / epsilon

  def one_iteration(_, potentials):
    alpha, _ = potentials
    beta = _update(log_b, jax.nn.logsumexp(
        alpha[:, None] + log_kernel, axis=0))
    alpha = _update(log_a, jax.nn.logsumexp(
        beta[None, :] + log_kernel, axis=1))
    return alpha, beta

  def body(state):
    alpha, beta = jax.lax.fori_loop(
        0, check_every, one_iteration, (state.f, state.g))
    # Rows match a exactly after the alpha update: measure the columns.
    column_marginal = jnp.exp(jax.nn.logsumexp(
        _log_plan(alpha, beta, log_kernel), axis=0))
    error = jnp.sum(jnp.abs(column_marginal - jnp.exp(log_b)))
    iteration = state.iteration + check_every
    errors = state.errors.at[iteration // check_every - 1].set(error)
    return SinkhornState(alpha, beta, errors, error, iteration)

  def cond(state):
    it = state.iteration
    return (it < max_iters) & ((it < min_iters) | (state.error > threshold))

  init = SinkhornState(
      f=jnp.zeros(cost.shape[0], dtype), g=jnp.zeros(cost.shape[1], dtype),
      errors=-jnp.ones(max_iters // check_every, dtype),
      error=jnp.array(jnp.inf, dtype), iteration=jnp.array(0, jnp.int32))
  state = jax.lax.while_loop(cond, body, init)
  log_plan = _log_plan(state.f, state.g, log_kernel)
  return SinkhornOutput(
      plan=jnp.exp(log_plan), log_plan=log_plan, f=epsilon * state.f,
      g=epsilon * state.g, errors=state.errors,
      converged=state.error <= threshold, n_iters=state.iteration)
