"""CPU-friendly test configuration, shared by the tests and smoke runs.

A small synthetic long-tailed partial-label data set (10 classes, 16x16 RGB,
rho 10, q 0.3), a tiny network and a handful of steps: it needs nothing
downloaded and runs in seconds on a CPU.

  python launch.py --config=configs/test.py --workdir=/tmp/ltpll_test
"""

from configs import default


def get_config():
  """The tiny test configuration."""
  config = default.get_config()
  config.data.name = 'synthetic'
  config.data.num_classes = 10
  config.data.imbalance_ratio = 10.0
  config.data.partial_rate = 0.3
  config.data.rng_mode = 'seeded'
  config.data.synthetic.train_per_class = 40
  config.data.synthetic.test_per_class = 10
  config.data.synthetic.image_size = 16
  config.model.name = 'tiny'
  config.optim.epochs = 2
  config.optim.batch_size = 16
  config.eval_batch_size = 64
  config.checkpoint_every_epochs = 1
  config.log_every_steps = 1
  config.seed = 0
  return config
