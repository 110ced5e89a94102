"""Throughput of the jitted `two_views` (weak + strong view) on random images.

Usage:
  .venv/bin/python benchmarks/augment.py [--batch 512] [--size 32] \
      [--channels 3] [--iters 20]

Runs on the default JAX backend. Prints the compile time, then the median
over `--iters` timed calls (after two warm-up calls, each waited on with
`block_until_ready`) as samples per second, where one sample is one weak
plus one strong view, next to the reference's Pillow pipeline.
"""

import argparse
import pathlib
import statistics
import sys
import time

# Run as a script from anywhere: make the repository importable.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from ltpll_jax.data import augment  # pylint: disable=g-import-not-at-top

# torchvision + PiCO RandAugment on PIL images, weak + strong view of one
# 32-px CIFAR image, measured on one CPU core of the development machine.
_PILLOW_MS_PER_SAMPLE = 1.06


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=512)
  parser.add_argument('--size', type=int, default=32)
  parser.add_argument('--channels', type=int, default=3, choices=(1, 3))
  parser.add_argument('--iters', type=int, default=20)
  args = parser.parse_args()

  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(
      0, 256, (args.batch, args.size, args.size, args.channels), np.uint8))
  key = jax.random.key(0)
  views = jax.jit(augment.two_views)

  start = time.perf_counter()
  compiled = views.lower(images, key).compile()
  compile_s = time.perf_counter() - start

  keys = jax.random.split(jax.random.key(1), args.iters + 2)
  for warm_key in keys[:2]:
    jax.block_until_ready(compiled(images, warm_key))
  times = []
  for iter_key in keys[2:]:
    start = time.perf_counter()
    jax.block_until_ready(compiled(images, iter_key))
    times.append(time.perf_counter() - start)
  batch_s = statistics.median(times)

  device = jax.devices()[0]
  print(f'backend: {jax.default_backend()} ({device.device_kind}), '
        f'{len(jax.devices())} device(s); using one')
  print(f'batch {args.batch} x {args.size}x{args.size}x{args.channels} '
        f'uint8, {args.iters} timed iterations')
  print(f'compile: {compile_s:.2f} s')
  print(f'median per batch: {batch_s * 1e3:.1f} ms '
        f'(min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f})')
  print(f'two_views: {args.batch / batch_s:,.0f} samples/s, '
        f'{batch_s / args.batch * 1e3:.3f} ms per sample (weak + strong)')
  print(f'reference Pillow pipeline: {1e3 / _PILLOW_MS_PER_SAMPLE:,.0f} '
        f'samples/s, {_PILLOW_MS_PER_SAMPLE:.2f} ms per sample on one CPU core '
        '(32 px)')


if __name__ == '__main__':
  main()
