"""CORR on CIFAR-10-LT (RECORDS README, "CORR" row; ALGORITHMS.md 9.1).

ResNet-18, 800 epochs, rho 100, q 0.3, uniform candidates, the published
subsets (numpy seed 0). Published top-1: 66.38 (rho 100: q 0.3 / 0.5 / 0.7 =
66.38 / 50.09 / 38.11; rho 50: 76.12 / 56.45 / 41.56). Needs an accelerator
(about 13 s per step on a 2-core CPU).

  python launch.py --config=configs/cifar10_corr.py --workdir=runs/c10_corr
  # other cells:
  python launch.py --config=configs/cifar10_corr.py --workdir=runs/c10_corr_q05 \\
      --config.data.partial_rate=0.5 --config.data.imbalance_ratio=50
"""

from configs import default


def get_config():
  """CORR, CIFAR-10-LT, rho 100, q 0.3."""
  return default.get_config()
