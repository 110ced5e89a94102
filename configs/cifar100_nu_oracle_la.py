"""CORR + Oracle-LA on CIFAR-100-LT-NU (RECORDS README CIFAR-100 table).

ResNet-18, 800 epochs, rho 100, q 0.05, hierarchical candidates (8q inside
the true label's superclass, q outside) with the class-size shuffle of
Python ``random.seed(123)``. Published top-1:
3.32
(rho 100: q 0.03 / 0.05 / 0.07 = 11.37 / 3.32 / 1.98; rho 50: 22.56 / 5.59 /
3.12).

  python launch.py --config=configs/cifar100_nu_oracle_la.py --workdir=runs/c100nu_oracle_la
"""

from configs import cifar100_oracle_la


def get_config():
  """CORR + Oracle-LA, CIFAR-100-LT-NU, rho 100, q 0.05."""
  config = cifar100_oracle_la.get_config()
  config.data.candidates = 'hierarchical'
  return config
