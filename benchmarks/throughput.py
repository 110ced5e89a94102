"""Training throughput of a config's train step on the current backend.

Builds the step exactly as ``train.py`` does, on random data of the config's
image shape and training-set size (no download needed), and reports:

* compile time of the step;
* training samples per second (a sample is one image with both its views,
  as the reference counts), median over timed steps;
* where the time goes: the augmentation alone and the model's forward and
  backward pass alone, each jitted on its own.

  python benchmarks/throughput.py --config=configs/cifar10_corr.py
  python benchmarks/throughput.py --config=configs/fmnist_corr.py --steps=20
"""

import statistics
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np

sys.path.insert(0, '.')

# pylint: disable=g-import-not-at-top,wrong-import-position
from ltpll_jax import models
from ltpll_jax import parallel
from ltpll_jax import steps
from ltpll_jax import train
import timing
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config.',
                                lock_config=True)
flags.DEFINE_integer('steps', 10, 'Timed steps (after one warm-up step).')
flags.DEFINE_integer('num_train', 0,
                     'Training-set size (0: the config data set\'s own).')
flags.mark_flags_as_required(['config'])

# Image shape and long-tailed training-set size of each data set.
SHAPES = {'cifar10': ((32, 32, 3), 12406), 'cifar100': ((32, 32, 3), 10847),
          'fashion_mnist': ((28, 28, 1), 14886), 'voc': ((128, 128, 3), 5000),
          'synthetic': ((16, 16, 3), 400)}


def main(argv):
  del argv
  config = FLAGS.config
  shape, num_train = SHAPES[config.data.name]
  num_train = FLAGS.num_train or num_train
  k = config.data.num_classes
  batch = config.optim.batch_size
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (num_train,) + shape, dtype=np.uint8)
  candidates = rng.random((num_train, k)) < config.data.partial_rate
  labels = rng.integers(0, k, num_train).astype(np.int32)
  candidates[np.arange(num_train), labels] = True

  run = train.create_run(config, dataset=config.data.name,
                         num_train=num_train, num_classes=k)
  state = train.create_state(run, jax.random.key(0), shape, candidates)
  data = parallel.replicate({'images': images, 'candidates': candidates,
                             'labels': labels,
                             'class_prior': np.full(k, 1 / k, np.float32)},
                            run.mesh)
  key = jax.random.key(1)

  index = np.arange(batch, dtype=np.int32)
  start = time.perf_counter()
  state, out = run.train_step(state, data, {'index': index}, key,
                                *run.statics(1, 10**6))
  jax.block_until_ready(out)
  compile_s = time.perf_counter() - start
  times = []
  for i in range(FLAGS.steps):
    index = rng.permutation(num_train)[:batch].astype(np.int32)
    start = time.perf_counter()
    state, out = run.train_step(state, data, {'index': index}, key,
                                *run.statics(1, 10**6))
    jax.block_until_ready(out)
    times.append(time.perf_counter() - start)
  step_s = statistics.median(times)

  batch_images = jnp.asarray(images[:batch])
  aug = jax.jit(lambda x, kk: steps.make_views(
      x, jax.random.split(kk, x.shape[0]), run.step_cfg))
  aug_s = timing.median_seconds(aug, batch_images, key,
                               n=max(3, FLAGS.steps // 2))
  views = jnp.concatenate(aug(batch_images, key))
  plain = models.create_model(config.model.name, num_classes=k,
                              width=config.model.width)
  variables = {'params': state.params, 'batch_stats': state.batch_stats}

  @jax.jit
  def fwd_bwd(variables, x):
    def loss(params):
      (logits, _), _ = plain.apply(
          {'params': params, 'batch_stats': variables['batch_stats']}, x,
          train=True, mutable=['batch_stats'])
      return jnp.mean(jax.nn.logsumexp(logits, -1))
    return jax.grad(loss)(variables['params'])

  model_s = timing.median_seconds(fwd_bwd, variables, views,
                                 n=max(3, FLAGS.steps // 2))
  print(f'config: {config.data.name} / {config.model.name} / '
        f'{config.method}+{config.rebalance}'
        f'{"+mixup" if config.mixup else ""}, batch {batch}, '
        f'{config.parallel} on {jax.device_count()} '
        f'{jax.devices()[0].platform} device(s)')
  print(f'compile (first step): {compile_s:.1f} s')
  print(f'train step: {step_s * 1e3:.1f} ms median over {FLAGS.steps} '
        f'steps = {batch / step_s:.1f} samples/s')
  print(f'  augmentation alone (weak + strong): {aug_s * 1e3:.1f} ms')
  print(f'  model forward + backward alone ({2 * batch} images): '
        f'{model_s * 1e3:.1f} ms')


if __name__ == '__main__':
  app.run(main)
