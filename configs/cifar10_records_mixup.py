"""CORR + RECORDS with Mixup on CIFAR-10-LT (RECORDS README, best row).

ResNet-18, 800 epochs, rho 100, q 0.3. Published top-1: 79.79 (rho 100:
q 0.3 / 0.5 / 0.7 = 79.79 / 74.07 / 62.25; rho 50: 84.25 / 82.50 / 71.24).

  python launch.py --config=configs/cifar10_records_mixup.py --workdir=runs/c10_records_mixup
"""

from configs import cifar10_records


def get_config():
  """CORR + RECORDS + Mixup, CIFAR-10-LT, rho 100, q 0.3."""
  config = cifar10_records.get_config()
  config.mixup = True
  return config
