"""Timing helper shared by the benchmarks."""

import statistics
import time
from typing import Any, Callable

import jax


def median_seconds(fn: Callable[..., Any], *args, n: int,
                   warmup: int = 1) -> float:
  """Median wall seconds of ``n`` calls of ``fn(*args)``.

  Each call is waited on with ``jax.block_until_ready``; ``warmup`` untimed
  calls come first (compilation and first-touch costs).
  """
  for _ in range(warmup):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(n):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return statistics.median(times)
