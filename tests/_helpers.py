"""Shared test helpers."""

from configs import test as test_config


def test_config_with(**overrides):
  """``configs/test.py`` with dotted-key overrides, e.g. ``{'optim.lr': 1}``.
  """
  config = test_config.get_config()
  for key, value in overrides.items():
    node = config
    *path, leaf = key.split('.')
    for part in path:
      node = node[part]
    node[leaf] = value
  return config
