"""SoLar on Fashion-MNIST-LT (the CPU setting of ``fmnist_corr.py``).

SoLar's schedule scaled to the 20-epoch CPU run: a 3-epoch prior
pre-estimation stage (about the published 100 of 800), then 20 epochs of a
fresh model; the ramps of rho (0.2 -> 0.6) and eta span 5 epochs instead of
50; gamma 0.1 / 0.01; Sinkhorn over a 64-batch queue. Not a published
setting, so there is no published number.

  python launch.py --config=configs/fmnist_solar.py --workdir=runs/fmnist_solar
"""

from configs import fmnist_corr


def get_config():
  """SoLar, Fashion-MNIST-LT, rho 100, q 0.3."""
  config = fmnist_corr.get_config()
  config.method = 'solar'
  config.solar.est_epochs = 3
  config.solar.warmup_epochs = 5
  return config
