"""PRODEN (the classic self-training learner; weak view only) on
Fashion-MNIST-LT.

The CPU setting of ``fmnist_corr.py`` (rho 100, q 0.3, small CNN, 20
epochs); not a published setting, so there is no published number.

  python launch.py --config=configs/fmnist_proden.py --workdir=runs/fmnist_proden
"""

from configs import fmnist_corr


def get_config():
  """PRODEN, Fashion-MNIST-LT, rho 100, q 0.3."""
  config = fmnist_corr.get_config()
  config.method = 'proden'
  return config
