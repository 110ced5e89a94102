"""SoLar on CIFAR-100-LT-NU (RECORDS README CIFAR-100 table, SoLar row).

As ``cifar100_solar.py`` with hierarchical candidates (8q inside the true
label's superclass, q outside) and the class-size shuffle. Published top-1:
41.71 (rho 100: q 0.03 / 0.05 / 0.07 = 42.51 / 41.71 / 39.15; rho 50: 47.93
/ 46.85 / 45.10).

  python launch.py --config=configs/cifar100_nu_solar.py --workdir=runs/c100nu_solar
"""

from configs import cifar100_solar


def get_config():
  """SoLar, CIFAR-100-LT-NU, rho 100, q 0.05."""
  config = cifar100_solar.get_config()
  config.data.candidates = 'hierarchical'
  return config
