"""PRODEN + RECORDS (RECORDS as a plug-in to a second learner) on
Fashion-MNIST-LT.

The CPU setting of ``fmnist_corr.py`` (rho 100, q 0.3, small CNN, 20
epochs); not a published setting, so there is no published number.

  python launch.py --config=configs/fmnist_proden_records.py --workdir=runs/fmnist_proden_records
"""

from configs import fmnist_corr


def get_config():
  """PRODEN + RECORDS, Fashion-MNIST-LT, rho 100, q 0.3."""
  config = fmnist_corr.get_config()
  config.method = 'proden'
  config.rebalance = 'records'
  return config
