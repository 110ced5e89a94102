"""Wall time of the jitted SoLar Sinkhorn (50 iterations) at training sizes.

Usage:
  .venv/bin/python benchmarks/sinkhorn.py [--iters 30] [--num_iters 50] \
      [--no_log_domain]

Runs on the default JAX backend. For each size N x K, M is softmax
probabilities times a random candidate mask (true label always a candidate,
others with probability 0.3) and pi an exp-profile prior with imbalance 100.
Prints the median over ``--iters`` timed calls (after two warm-up calls,
each waited on with ``block_until_ready``) of
``sinkhorn.solar_sinkhorn`` (the published variant with its NaN guard),
next to the reference PyTorch function on 2 CPU threads where it was
measured, and of the log-domain ``sinkhorn.sinkhorn`` run for the same fixed
number of iterations (eps = 1/3 on -log M) for comparison.

Sizes: 16,640 = the full queue plus one batch (64 * 256 + 256); 12,406 and
10,847 are the CIFAR-10-LT / CIFAR-100-LT training sets of the reference's
timing; 50,000 a full CIFAR training set.
"""

import argparse
import functools
import pathlib
import sys

# Run as a script from anywhere: make the repository importable.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from ltpll_jax import sinkhorn  # pylint: disable=g-import-not-at-top
import timing  # pylint: disable=g-import-not-at-top

_SIZES = ((16_640, 10), (16_640, 100), (50_000, 100), (12_406, 10),
          (10_847, 100))
# The reference `sinkhorn` (PyTorch, CPU, 2 threads, 50 iterations) on this
# machine kind, in ms.
_REFERENCE_MS = {(12_406, 10): 4.3, (10_847, 100): 13.5}


def _problem(n: int, k: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
  """Candidate-masked probabilities ``[N, K]`` and a long-tailed prior."""
  rng = np.random.default_rng(seed)
  prior = 100.0 ** (-np.arange(k) / (k - 1))
  prior /= prior.sum()
  labels = rng.choice(k, n, p=prior)
  cand = rng.random((n, k)) < 0.3
  cand[np.arange(n), labels] = True
  logits = 2.0 * rng.normal(size=(n, k))
  logits[np.arange(n), labels] += 1.0
  p = np.exp(logits - logits.max(axis=1, keepdims=True))
  p /= p.sum(axis=1, keepdims=True)
  return (jnp.asarray((p * cand).astype(np.float32)),
          jnp.asarray(prior.astype(np.float32)))


def _median_ms(fn, args, iters: int) -> float:
  """Median wall time of ``fn(*args)`` in ms, after two warm-up calls."""
  return timing.median_seconds(fn, *args, n=iters, warmup=2) * 1e3


def _log_domain(masked_probs, prior, *, num_iters):
  """The general solver on the published problem, for a fixed count."""
  n = masked_probs.shape[0]
  out = sinkhorn.sinkhorn(
      jnp.full((n,), -jnp.log(n), jnp.float32), jnp.log(prior),
      -jnp.log(masked_probs), epsilon=1 / 3, threshold=0.0,
      max_iters=num_iters, min_iters=num_iters, check_every=num_iters)
  return out.plan * n


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--iters', type=int, default=30)
  parser.add_argument('--num_iters', type=int, default=50)
  parser.add_argument('--no_log_domain', action='store_true')
  args = parser.parse_args()

  solar = jax.jit(functools.partial(
      sinkhorn.solar_sinkhorn, num_iters=args.num_iters))
  log_domain = jax.jit(functools.partial(
      _log_domain, num_iters=args.num_iters))

  device = jax.devices()[0]
  print(f'backend: {jax.default_backend()} ({device.device_kind}), '
        f'{args.num_iters} Sinkhorn iterations, median of {args.iters} calls')
  print(f'{"N x K":>14} {"solar_sinkhorn":>15} {"reference":>10} '
        f'{"speed-up":>9} {"log-domain":>11}')
  for n, k in _SIZES:
    m, prior = _problem(n, k)
    solar_ms = _median_ms(solar, (m, prior), args.iters)
    ref_ms = _REFERENCE_MS.get((n, k))
    ref = f'{ref_ms:.1f}' if ref_ms else '-'
    speed_up = f'{ref_ms / solar_ms:.1f}x' if ref_ms else '-'
    log_ms = ('-' if args.no_log_domain else
              f'{_median_ms(log_domain, (m, prior), args.iters):.2f}')
    print(f'{n:>8,} x {k:<3} {solar_ms:>15.2f} {ref:>10} {speed_up:>9} '
          f'{log_ms:>11}')
  print('times in ms; reference = PyTorch CPU, 2 threads')


if __name__ == '__main__':
  main()
