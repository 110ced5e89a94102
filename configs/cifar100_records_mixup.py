"""CORR + RECORDS with Mixup on CIFAR-100-LT with *uniform* candidates.

ResNet-18, 800 epochs, rho 100, q 0.05, uniform candidates over the 99 other
classes. The published CIFAR-100 table most likely used the hierarchical (NU)
generator: see ``cifar100_nu_records_mixup.py`` for the number to compare with.

  python launch.py --config=configs/cifar100_records_mixup.py --workdir=runs/c100_records_mixup
"""

from configs import cifar100_corr


def get_config():
  """CORR + RECORDS + Mixup, CIFAR-100-LT (uniform), rho 100, q 0.05."""
  config = cifar100_corr.get_config()
  config.rebalance = 'records'
  config.mixup = True
  return config
