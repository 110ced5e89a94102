"""CORR on CIFAR-100-LT with *uniform* candidates (ALGORITHMS.md 12).

ResNet-18, 800 epochs, rho 100, q 0.05, uniform candidates over all 99 other
classes. The published CIFAR-100 table most likely used the hierarchical (NU)
generator instead: see ``cifar100_nu_corr.py`` for the number to compare with.

  python launch.py --config=configs/cifar100_corr.py --workdir=runs/c100_corr
"""

from configs import default


def get_config():
  """CORR, CIFAR-100-LT, uniform candidates, rho 100, q 0.05."""
  config = default.get_config()
  config.data.name = 'cifar100'
  config.data.num_classes = 100
  config.data.partial_rate = 0.05
  return config
