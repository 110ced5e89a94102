"""CORR + RECORDS on CIFAR-100-LT-NU (RECORDS README CIFAR-100 table).

ResNet-18, 800 epochs, rho 100, q 0.05, hierarchical candidates (8q inside
the true label's superclass, q outside) with the class-size shuffle of
Python ``random.seed(123)``. Published top-1:
40.59
(rho 100: q 0.03 / 0.05 / 0.07 = 42.25 / 40.59 / 38.65; rho 50: 48.06 / 45.56
/ 42.51).

  python launch.py --config=configs/cifar100_nu_records.py --workdir=runs/c100nu_records
"""

from configs import cifar100_records


def get_config():
  """CORR + RECORDS, CIFAR-100-LT-NU, rho 100, q 0.05."""
  config = cifar100_records.get_config()
  config.data.candidates = 'hierarchical'
  return config
