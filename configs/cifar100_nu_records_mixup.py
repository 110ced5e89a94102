"""CORR + RECORDS with Mixup on CIFAR-100-LT-NU (RECORDS README CIFAR-100
table).

ResNet-18, 800 epochs, rho 100, q 0.05, hierarchical candidates (8q inside
the true label's superclass, q outside) with the class-size shuffle of
Python ``random.seed(123)``. Published top-1:
45.22
(rho 100: q 0.03 / 0.05 / 0.07 = 46.57 / 45.22 / 44.73; rho 50: 52.08 / 50.58
/ 47.91).

  python launch.py --config=configs/cifar100_nu_records_mixup.py --workdir=runs/c100nu_records_mixup
"""

from configs import cifar100_records_mixup


def get_config():
  """CORR + RECORDS with Mixup, CIFAR-100-LT-NU, rho 100, q 0.05."""
  config = cifar100_records_mixup.get_config()
  config.data.candidates = 'hierarchical'
  return config
