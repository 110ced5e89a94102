"""CORR on Fashion-MNIST-LT: real data, offline, minutes on a CPU.

Not a published setting: the CPU stand-in for CIFAR-10-LT. Fashion-MNIST from
Debian's ``dataset-fashion-mnist`` IDX files (``data.source='local'``), rho
100 (6000 ... 60 images per class, 14,886 in all), q 0.3, uniform candidates
and the published protocol (weak + strong views, CORR from epoch 1, SGD with
momentum 0.9 and weight decay 1e-3, per-epoch cosine), with what fits a
2-core CPU: the small 3-layer CNN at width 16 (about 1,100 samples/s, 15 s
an epoch), 20 epochs and lr 0.05.

  python launch.py --config=configs/fmnist_corr.py --workdir=runs/fmnist_corr

Measured here (2 CPU cores, 5.5 minutes): top-1 43.10 last / 45.20 best,
few-shot 0.0 (the tail classes collapse onto the head, as in the paper).

The CPU reproduction table (``benchmarks/reproduce.py --grid=fmnist``: the
seven fmnist_*.py methods x q 0.3 / 0.5 / 0.7 x 2 seeds in 64 minutes here)
runs every one of these configs for 5 epochs (SoLar: 1 + 5 epochs, ramps over
2), with everything else as here.
"""

from configs import default


def get_config():
  """CORR, Fashion-MNIST-LT, rho 100, q 0.3, small CNN."""
  config = default.get_config()
  config.data.name = 'fashion_mnist'
  config.data.num_classes = 10
  config.data.source = 'local'
  config.data.imbalance_ratio = 100.0
  config.data.partial_rate = 0.3
  config.model.name = 'small_cnn'
  config.optim.lr = 0.05
  config.optim.epochs = 20
  config.checkpoint_every_epochs = 5
  return config
