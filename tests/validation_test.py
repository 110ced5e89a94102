"""Tests for ltpll_jax.validation beyond the launcher's end-to-end cases."""

import pytest

from configs import default
from configs import test as test_config
from ltpll_jax import validation
from ltpll_jax.errors import InputError


def test_default_and_test_configs_are_valid():
  validation.validate_config(test_config.get_config(), num_devices=8)
  config = default.get_config()
  # The default (CIFAR-10 from TFDS) is valid without touching the network.
  validation.validate_config(config, num_devices=1)


@pytest.mark.parametrize('mutate,message', [
    (lambda c: setattr(c.optim, 'batch_size', 12),
     'optim.batch_size=12 is invalid: must be divisible by the 8 devices'),
    (lambda c: setattr(c.data, 'imbalance_ratio', float('nan')),
     'data.imbalance_ratio'),
    (lambda c: setattr(c.data.synthetic, 'num_superclasses', 0) or
     setattr(c.data, 'candidates', 'hierarchical'), 'no superclasses'),
    (lambda c: setattr(c.data.synthetic, 'channels', 2),
     'data.synthetic.channels'),
    (lambda c: setattr(c, 'parallel', 'pjit'), "'pmap', 'jit'"),
    (lambda c: setattr(c.optim, 'epochs', 0), 'optim.epochs'),
    (lambda c: setattr(c.records, 'momentum', 1.5), 'records.momentum'),
    (lambda c: setattr(c.data, 'num_classes', 20) or
     setattr(c.data, 'name', 'voc'), "data.source='tfds'"),
])
def test_bad_values(mutate, message):
  config = test_config.get_config()
  mutate(config)
  with pytest.raises(InputError, match=message.replace('[', r'\[')):
    validation.validate_config(config, num_devices=8)


def test_missing_tfds_dir_rejected(tmp_path):
  config = default.get_config()
  config.data.tfds_dir = str(tmp_path / 'missing')
  with pytest.raises(InputError, match='data.tfds_dir'):
    validation.validate_config(config)
