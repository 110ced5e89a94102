"""Model shapes, parameter counts, initialisation and the BatchNorm mask."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltpll_jax import models


def _init(name, shape, **kwargs):
  model = models.create_model(name, num_classes=10, **kwargs)
  return model, model.init(jax.random.key(0), jnp.zeros(shape), train=False)


def test_resnet18_matches_the_published_network():
  model, variables = _init('resnet18', (2, 32, 32, 3))
  params = variables['params']
  # The CIFAR ResNet-18 with a 10-class head has 11,173,962 parameters.
  assert sum(x.size for x in jax.tree.leaves(params)) == 11_173_962
  # 3x3 stride-1 stem, no max-pool: the last stage still sees 4x4 maps.
  assert params['Conv_0']['kernel'].shape == (3, 3, 3, 64)
  assert params['head']['kernel'].shape == (512, 10)
  logits, features = model.apply(variables, jnp.ones((2, 32, 32, 3)),
                                 train=False)
  assert logits.shape == (2, 10) and features.shape == (2, 512)
  assert bool(jnp.all(features >= 0))


def test_initialisation_follows_pytorch():
  _, variables = _init('resnet18', (2, 32, 32, 3))
  params = variables['params']
  # Kaiming normal, fan-out: std sqrt(2 / (64 * 9)) for the stem.
  stem = np.asarray(params['Conv_0']['kernel'])
  assert stem.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.1)
  # Linear: weight and bias uniform in +-1/sqrt(512).
  bound = 1 / np.sqrt(512)
  kernel = np.abs(np.asarray(params['head']['kernel']))
  assert kernel.max() <= bound and kernel.max() > 0.99 * bound
  assert np.abs(np.asarray(params['head']['bias'])).max() <= bound
  # Uniform on [-b, b] has standard deviation b / sqrt(3).
  assert kernel.std() < bound and np.asarray(
      params['head']['kernel']).std() == pytest.approx(bound / np.sqrt(3),
                                                       rel=0.05)
  bn = variables['batch_stats']['BatchNorm_0']
  np.testing.assert_array_equal(np.asarray(bn['var']), 1.0)


@pytest.mark.parametrize('name,shape,feat', [
    ('small_cnn', (3, 28, 28, 1), 64), ('tiny', (3, 16, 16, 3), 16)])
def test_small_models(name, shape, feat):
  model, variables = _init(name, shape)
  logits, features = model.apply(variables, jnp.ones(shape), train=False)
  assert logits.shape == (3, 10) and features.shape == (3, feat)
  assert 'head' in variables['params']


def test_width_override():
  _, variables = _init('small_cnn', (1, 28, 28, 1), width=8)
  assert variables['params']['head']['kernel'].shape == (32, 10)
  _, variables = _init('tiny', (1, 16, 16, 3), width=4)
  assert variables['params']['head']['kernel'].shape == (8, 10)


def test_batchnorm_mask_uses_only_masked_rows():
  model, variables = _init('tiny', (4, 16, 16, 3))
  x = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
  mask = jnp.array([True, True, False, False])
  (out_masked, _), state_masked = model.apply(
      variables, x, train=True, mask=mask, mutable=['batch_stats'])
  # Changing the unmasked rows changes neither the masked rows' outputs nor
  # the running statistics.
  x2 = x.at[2:].set(100.0)
  (out2, _), state2 = model.apply(variables, x2, train=True, mask=mask,
                                  mutable=['batch_stats'])
  np.testing.assert_allclose(np.asarray(out_masked[:2]),
                             np.asarray(out2[:2]), rtol=1e-5, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6),
               state_masked, state2)
  # And equal a forward on the masked rows alone.
  (out_sub, _), _ = model.apply(variables, x[:2], train=True,
                                mutable=['batch_stats'])
  np.testing.assert_allclose(np.asarray(out_masked[:2]),
                             np.asarray(out_sub), rtol=1e-4, atol=1e-5)
