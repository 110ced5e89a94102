"""CORR + RECORDS with Mixup on Fashion-MNIST-LT.

The CPU setting of ``fmnist_corr.py`` (rho 100, q 0.3, small CNN, 20
epochs); not a published setting, so there is no published number.

  python launch.py --config=configs/fmnist_records_mixup.py --workdir=runs/fmnist_records_mixup
"""

from configs import fmnist_corr


def get_config():
  """CORR + RECORDS with Mixup, Fashion-MNIST-LT, rho 100, q 0.3."""
  config = fmnist_corr.get_config()
  config.rebalance = 'records'
  config.mixup = True
  return config
