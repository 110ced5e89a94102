"""CORR + Oracle-LA on CIFAR-10-LT (RECORDS README, "CORR + Oracle-LA" row).

ResNet-18, 800 epochs, rho 100, q 0.3, the true training prior in place of
RECORDS' estimate (``oracle_la.variant='constant_prior_disambiguation'``; the
other readings are ``post_hoc`` and ``la_loss``, ALGORITHMS.md 6). Published
top-1: 29.97 (rho 100: q 0.3 / 0.5 / 0.7 = 29.97 / 15.80 / 11.75; rho 50:
36.27 / 17.61 / 12.77). Which variant reproduces it is an experiment.

  python launch.py --config=configs/cifar10_oracle_la.py --workdir=runs/c10_oracle_la
"""

from configs import cifar10_corr


def get_config():
  """CORR + Oracle-LA, CIFAR-10-LT, rho 100, q 0.3."""
  config = cifar10_corr.get_config()
  config.rebalance = 'oracle_la'
  return config
