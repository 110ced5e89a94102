"""Epoch time of one CIFAR-10-LT cell on whatever accelerator JAX sees.

Trains the cell of ``--config`` (default CORR + RECORDS, rho 100, q 0.3) for
``--epochs`` epochs with the real step functions, evaluating on the test set
after each epoch as a real run does, and prints the time of every epoch and
the projection for the config's full schedule (800 epochs). With
``--synthetic`` (the default when CIFAR-10 is not available) it uses random
CIFAR-shaped data of the same sizes: 50,000 balanced training images cut to
the 12,406 of CIFAR-10-LT rho 100, and 10,000 test images. Timings do not
depend on the pixel values.

  python benchmarks/accelerator_epoch.py --epochs=3
  python benchmarks/accelerator_epoch.py --config=configs/cifar10_records_mixup.py \\
      --epochs=3 --real --config.data.source=local --config.data.data_dir=DATA
"""

import sys
import time

from absl import app
from absl import flags
import jax
from ml_collections import config_flags
import numpy as np

sys.path.insert(0, '.')

# pylint: disable=g-import-not-at-top,wrong-import-position
from ltpll_jax import parallel
from ltpll_jax import train
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.data import sources
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', 'configs/cifar10_records.py',
                                'Experiment config.', lock_config=True)
flags.DEFINE_integer('epochs', 3, 'Epochs to time (the first compiles).')
flags.DEFINE_bool('real', False, 'Use the config data set instead of '
                  'synthetic CIFAR-shaped data.')
flags.DEFINE_integer('max_steps_per_epoch', 0,
                     'Cut epochs short (0: full epochs); for smoke tests.')


def synthetic_cifar10(seed: int = 0) -> sources.RawData:
  """Random uint8 data shaped like CIFAR-10 (labels balanced, interleaved).
  """
  rng = np.random.default_rng(seed)
  return sources.RawData(
      'cifar10', rng.integers(0, 256, (50000, 32, 32, 3), dtype=np.uint8),
      np.tile(np.arange(10), 5000), rng.integers(0, 256, (10000, 32, 32, 3),
                                                 dtype=np.uint8),
      np.tile(np.arange(10), 1000), 10, sources.CIFAR10_CLASSES)


def main(argv):
  del argv
  config = FLAGS.config
  raw = None if FLAGS.real else synthetic_cifar10()
  ds = dataset_lib.build_dataset(config.data, config.seed, raw=raw)
  num_train, num_classes = ds.candidate_mask.shape
  run = train.create_run(config, dataset=ds.name, num_train=num_train,
                         num_classes=num_classes)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  state = train.create_state(run, init_rng, ds.train_images.shape[1:],
                             ds.candidate_mask)
  data = parallel.replicate(train.device_data(ds), run.mesh)
  batch = config.optim.batch_size
  spe = num_train // batch
  steps = min(spe, FLAGS.max_steps_per_epoch or spe)
  eval_batch = -(-config.eval_batch_size // jax.device_count()) * (
      jax.device_count())
  print(f'{jax.device_count()} x {jax.devices()[0].device_kind} '
        f'({jax.default_backend()}); {ds.name}: {num_train} training images, '
        f'{spe} steps of {batch} per epoch'
        f'{"" if steps == spe else f" (timing {steps})"}; '
        f'{config.method} + {config.rebalance}'
        f'{" + mixup" if config.mixup else ""}, {config.model.name}')
  times = []
  for epoch in range(FLAGS.epochs):
    start = time.perf_counter()
    batches = train.train_batches(config.seed, num_train, batch, epoch * spe,
                                  epoch * spe + steps)
    for step, _, index in batches:
      state, out = run.train_step(state, data, {'index': index}, train_rng,
                                  *run.statics(epoch, step - epoch * spe))
    jax.block_until_ready(out)
    train_s = time.perf_counter() - start
    result = train.evaluate(run.eval_step, state, data, len(ds.test_labels),
                            eval_batch, ds.class_counts)
    total = time.perf_counter() - start
    times.append(train_s * spe / steps + (total - train_s))
    print(f'epoch {epoch + 1}: train {train_s:.1f} s '
          f'({steps * batch / train_s:.1f} samples/s), eval '
          f'{total - train_s:.1f} s, loss {float(out["loss"]):.3f}, '
          f'top-1 {result["top1"]:.2f}', flush=True)
  steady = np.median(times[1:]) if len(times) > 1 else times[0]
  full = train.stages_of(config)
  epochs = sum(s.epochs for s in full)
  print(f'epoch time (after compilation): {steady:.1f} s; projected for '
        f'{epochs} epochs: {steady * epochs / 3600:.1f} h')


if __name__ == '__main__':
  app.run(main)
