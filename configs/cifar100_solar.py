"""SoLar on CIFAR-100-LT with *uniform* candidates.

A 20-epoch prior pre-estimation stage (gamma 0.05), then 800 epochs (gamma
0.01), the selection ratio ramping 0.2 -> 0.5, rho 100, q 0.05, uniform
candidates. The published CIFAR-100 table most likely used the hierarchical
(NU) generator: see ``cifar100_nu_solar.py`` for the number to compare with.

  python launch.py --config=configs/cifar100_solar.py --workdir=runs/c100_solar
"""

from configs import cifar100_corr


def get_config():
  """SoLar, CIFAR-100-LT (uniform), rho 100, q 0.05."""
  config = cifar100_corr.get_config()
  config.method = 'solar'
  config.solar.est_epochs = 20
  config.solar.rho_start, config.solar.rho_end = 0.2, 0.5
  config.solar.gamma_stage1, config.solar.gamma_stage2 = 0.05, 0.01
  return config
