"""CORR + RECORDS on CIFAR-10-LT (RECORDS README, "CORR + RECORDS" row).

ResNet-18, 800 epochs, rho 100, q 0.3: CORR with RECORDS' dynamic
rebalancing of the disambiguation and the test logits. Published top-1:
77.66 (rho 100: q 0.3 / 0.5 / 0.7 = 77.66 / 72.90 / 57.46; rho 50: 82.57 /
80.28 / 67.24).

  python launch.py --config=configs/cifar10_records.py --workdir=runs/c10_records
"""

from configs import cifar10_corr


def get_config():
  """CORR + RECORDS, CIFAR-10-LT, rho 100, q 0.3."""
  config = cifar10_corr.get_config()
  config.rebalance = 'records'
  return config
