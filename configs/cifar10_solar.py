"""SoLar on CIFAR-10-LT (RECORDS README, "SoLar (w/ Mixup)" row).

The SoLar port of the RECORDS code base: a 100-epoch prior pre-estimation
stage (gamma 0.1), then a fresh ResNet-18 for 800 epochs (gamma 0.01), the
selection ratio ramping 0.2 -> 0.6 over 50 epochs, Sinkhorn lambda 3 over a
64-batch queue, rho 100, q 0.3. Published top-1: 75.38 (rho 100: q 0.3 / 0.5
/ 0.7 = 75.38 / 70.63 / 53.15; rho 50: 83.88 / 76.55 / 54.61).

  python launch.py --config=configs/cifar10_solar.py --workdir=runs/c10_solar
"""

from configs import cifar10_corr


def get_config():
  """SoLar, CIFAR-10-LT, rho 100, q 0.3."""
  config = cifar10_corr.get_config()
  config.method = 'solar'
  config.solar.est_epochs = 100
  config.solar.rho_start, config.solar.rho_end = 0.2, 0.6
  config.solar.gamma_stage1, config.solar.gamma_stage2 = 0.1, 0.01
  return config
