"""CORR + Oracle-LA (constant true prior in the disambiguation) on
Fashion-MNIST-LT.

The CPU setting of ``fmnist_corr.py`` (rho 100, q 0.3, small CNN, 20
epochs); not a published setting, so there is no published number.

  python launch.py --config=configs/fmnist_oracle_la.py --workdir=runs/fmnist_oracle_la
"""

from configs import fmnist_corr


def get_config():
  """CORR + Oracle-LA, Fashion-MNIST-LT, rho 100, q 0.3."""
  config = fmnist_corr.get_config()
  config.rebalance = 'oracle_la'
  return config
