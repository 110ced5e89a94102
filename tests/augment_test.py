"""Weak / strong / test views, batching and normalisation constants.

The views are checked end to end: for a key, the random draws are taken from
the view's own sampler and replayed through the Pillow / torchvision / PiCO
reference of `image_ops_test.py`; the two must agree exactly (ToTensor
included), since every op is exact (see that module's docstring).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import image_ops_test as reference
from ltpll_jax.data import augment

_RNG = np.random.default_rng(1)
IMAGES = {
    (32, 3): _RNG.integers(0, 256, (32, 32, 3), np.uint8),
    (28, 1): _RNG.integers(0, 256, (28, 28, 1), np.uint8),
    (128, 3): _RNG.integers(0, 256, (128, 128, 3), np.uint8),
}


@functools.cache
def _jit(fn, *static):
  return jax.jit(fn, static_argnums=static)


def _weak_params(key, size):
  params = _jit(augment._sample_weak, 1)(key, size)
  return jax.tree.map(np.asarray, params)


def _strong_params(key, size):
  params = _jit(augment._sample_strong, 1)(key, size)
  return jax.tree.map(np.asarray, params)


def _to_tensor(image: Image.Image) -> np.ndarray:
  """torchvision ToTensor (HWC kept): float32 division by 255."""
  return reference.from_pil(image).astype(np.float32) / np.float32(255.0)


def pil_weak(array: np.ndarray, p) -> np.ndarray:
  """The reference weak transform, with the draws `p` of `_sample_weak`."""
  image = reference.pil_resized_crop(reference.to_pil(array), *map(int, p.crop),
                                     array.shape[0])
  if p.flip:
    image = image.transpose(Image.FLIP_LEFT_RIGHT)
  if p.jitter:
    for op in p.jitter_order:
      image = reference.PIL_JITTER[op](image, float(p.jitter_factors[op]))
  if p.grayscale:
    image = reference.pil_grayscale(image)
  return _to_tensor(image)


def pil_strong(array: np.ndarray, p) -> np.ndarray:
  """The reference strong transform, with the draws of `_sample_strong`."""
  image = reference.pil_resized_crop(reference.to_pil(array), *map(int, p.crop),
                                     array.shape[0])
  if p.flip:
    image = image.transpose(Image.FLIP_LEFT_RIGHT)
  for op, v in zip(p.ops, p.magnitudes):
    image = reference.PIL_RANDAUGMENT[op][1](image, float(v))
  return _to_tensor(reference.pil_cutout(image, *map(float, p.cutout)))


def _keys(n, offset=0):
  return [jax.random.key(offset + i) for i in range(n)]


@pytest.mark.parametrize('shape, num_keys', [((32, 3), 16), ((28, 1), 6),
                                             ((128, 3), 3)])
def test_weak_view_matches_pillow_pipeline(shape, num_keys):
  array = IMAGES[shape]
  weak = _jit(augment.weak_view)
  drawn = []
  for key in _keys(num_keys):
    p = _weak_params(key, shape[0])
    drawn.append(p)
    ours = np.asarray(weak(jnp.asarray(array), key))
    np.testing.assert_array_equal(ours, pil_weak(array, p))
  if shape == (32, 3):
    # The keys exercise every branch of the pipeline.
    assert any(p.jitter and p.grayscale for p in drawn)
    assert any(not p.jitter for p in drawn)
    assert any(p.flip for p in drawn) and not all(p.flip for p in drawn)
    assert {int(p.jitter_order[0]) for p in drawn} == {0, 1, 2, 3}


@pytest.mark.parametrize('shape, num_keys', [((32, 3), 24), ((28, 1), 6),
                                             ((128, 3), 3)])
def test_strong_view_matches_pillow_pipeline(shape, num_keys):
  array = IMAGES[shape]
  strong = _jit(augment.strong_view)
  ops = set()
  for key in _keys(num_keys):
    p = _strong_params(key, shape[0])
    ops.update(int(op) for op in p.ops)
    ours = np.asarray(strong(jnp.asarray(array), key))
    np.testing.assert_array_equal(ours, pil_strong(array, p))
  if shape == (32, 3):
    assert ops == set(range(14)), 'the keys should draw all 14 ops'


def test_strong_draws_follow_pico():
  draws = jax.jit(jax.vmap(lambda k: augment._sample_strong(k, 32)))(
      jax.random.split(jax.random.key(0), 4000))
  ops, mags = np.asarray(draws.ops), np.asarray(draws.magnitudes)
  counts = np.bincount(ops.ravel(), minlength=14)
  assert counts.min() > 0.8 * ops.size / 14  # uniform over the 14 ops
  for index, (_, low, high) in enumerate(augment._RANDAUGMENT):
    chosen = mags[ops == index]
    assert chosen.min() >= low and chosen.max() <= high
    assert chosen.max() - chosen.min() > 0.9 * (high - low)
  v, cx, cy = np.asarray(draws.cutout).T
  assert v.min() >= 0 and v.max() < 0.5 and v.max() > 0.49
  # PiCO's np.random.uniform(w) is uniform on (1, w].
  for centre in (cx, cy):
    assert centre.min() > 1.0 and centre.max() <= 32.0
    assert abs(centre.mean() - 16.5) < 0.5


@pytest.mark.parametrize('size', [32, 128])
def test_crop_sampler_statistics(size):
  sample = jax.vmap(lambda k: jnp.stack(augment.sample_crop(k, size, size)))
  boxes = jax.jit(sample)(jax.random.split(jax.random.key(size), 4096))
  top, left, height, width = np.asarray(boxes).T
  assert (height > 0).all() and (width > 0).all()
  assert (height <= size).all() and (width <= size).all()
  assert (top >= 0).all() and (left >= 0).all()
  assert (top + height <= size).all() and (left + width <= size).all()
  # Sides are rounded to integers, so bounds widen by half a pixel per side.
  area = height * width / size**2
  slack = 1.0 / np.sqrt(0.2 * size**2)
  assert area.min() >= 0.2 * (1 - slack)**2 and area.max() <= 1.0
  aspect = width / height
  assert aspect.min() >= 0.75 * (1 - slack) / (1 + slack)
  assert aspect.max() <= 4 / 3 * (1 + slack) / (1 - slack)
  # Both ends of the ranges are reached, and the draws are spread out.
  assert area.min() < 0.22 and area.max() > 0.97
  assert np.mean(aspect > 1.15) > 0.15 and np.mean(aspect < 0.87) > 0.15
  assert 0.5 < area.mean() < 0.7
  assert len(np.unique(top)) > size // 2 and len(np.unique(left)) > size // 2


@pytest.mark.parametrize('shape', list(IMAGES))
@pytest.mark.parametrize('view', ['weak', 'strong'])
def test_views_shape_range_and_keys(view, shape):
  fn = _jit(getattr(augment, f'{view}_view'))
  image = jnp.asarray(IMAGES[shape])
  key, other = jax.random.key(3), jax.random.key(4)
  out = fn(image, key)
  assert out.shape == image.shape and out.dtype == jnp.float32
  assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
  np.testing.assert_array_equal(out, fn(image, key))
  assert not np.array_equal(out, fn(image, other))


def test_view_rejects_bad_shapes():
  with pytest.raises(ValueError, match='square'):
    augment.weak_view(jnp.zeros((32, 28, 3), jnp.uint8), jax.random.key(0))
  with pytest.raises(ValueError, match='channels'):
    augment.strong_view(jnp.zeros((32, 32, 4), jnp.uint8), jax.random.key(0))


def test_test_view_is_to_tensor():
  array = IMAGES[(32, 3)]
  out = np.asarray(jax.jit(augment.test_view)(jnp.asarray(array)))
  np.testing.assert_array_equal(out, array.astype(np.float32) /
                                np.float32(255.0))


def test_two_views_compiles_once_and_uses_one_key_per_sample():

  @jax.jit
  @chex.assert_max_traces(n=1)
  def views(images, key):
    return augment.two_views(images, key)

  array = IMAGES[(32, 3)]
  images = jnp.asarray(np.stack([array] * 4))
  outputs = [views(images, jax.random.key(seed)) for seed in range(3)]
  for weak, strong in outputs:
    assert weak.shape == strong.shape == images.shape
    assert weak.dtype == strong.dtype == jnp.float32
    # Identical images, independent keys: every sample is different.
    for i in range(1, 4):
      assert not np.array_equal(weak[0], weak[i])
      assert not np.array_equal(strong[0], strong[i])
  assert not np.array_equal(outputs[0][0], outputs[1][0])
  # Sample i uses key split(key, B)[i], split again into weak and strong.
  weak, strong = outputs[2]
  for i, sample_key in enumerate(jax.random.split(jax.random.key(2), 4)):
    k_weak, k_strong = jax.random.split(sample_key)
    np.testing.assert_array_equal(
        weak[i], _jit(augment.weak_view)(images[i], k_weak))
    np.testing.assert_array_equal(
        strong[i], _jit(augment.strong_view)(images[i], k_strong))


def test_normalization_constants():
  assert augment.normalization('cifar10', train=True) == (
      (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
  cifar100 = ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
  assert augment.normalization('cifar100', train=True) == cifar100
  assert augment.normalization('cifar100', train=False) == cifar100
  assert augment.normalization('voc', train=False) == (
      (0.2554, 0.2243, 0.2070), (0.2414, 0.2207, 0.2104))
  assert augment.normalization('fashion_mnist', train=True) == ((0.2860,),
                                                                (0.3530,))
  assert augment.normalization('synthetic', train=False) == ((0.5,), (0.25,))


def test_cifar_test_normalization_quirk():
  cifar10, cifar100 = (augment.normalization(name, train=True)
                       for name in ('cifar10', 'cifar100'))
  # Published: CIFAR-10 test images use the CIFAR-100 constants.
  assert augment.normalization('cifar10', train=False) == cifar100
  assert augment.normalization('cifar10', train=False,
                               cifar_test_quirk=False) == cifar10
  assert augment.normalization('cifar100', train=False,
                               cifar_test_quirk=False) == cifar100


def test_normalization_rejects_unknown_names():
  with pytest.raises(ValueError, match='cifar10.*voc'):
    augment.normalization('imagenet', train=True)


def test_normalize():
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 4, 4, 3)),
                  jnp.float32)
  mean, std = augment.normalization('cifar10', train=True)
  np.testing.assert_allclose(augment.normalize(x, mean, std),
                             (np.asarray(x) - mean) / np.asarray(std),
                             rtol=1e-6)
  # One-element constants broadcast over any channel count.
  grey = x[..., :1]
  np.testing.assert_allclose(augment.normalize(grey, (0.5,), (0.25,)),
                             (np.asarray(grey) - 0.5) / 0.25, rtol=1e-6)
