"""RECORDS' weak, strong and test views in JAX (ALGORITHMS.md section 2).

The published code augments PIL images with torchvision and PiCO's
RandAugment. Each view here is a pure function of a uint8 image and a typed
`jax.random` key, built from the Pillow-exact ops of `image_ops` and
`color_ops`, so a batch is augmented on device with `two_views`:

* weak: RandomResizedCrop(S, scale (0.2, 1), ratio (3/4, 4/3), bilinear),
  horizontal flip (p 0.5), ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8,
  RandomGrayscale (p 0.2), ToTensor;
* strong: the same crop and flip (independent draws), RandomAugment(3, 5):
  3 of 14 ops with replacement, each with a magnitude uniform in its range,
  then Cutout of side U(0, 0.5) * S, always; ToTensor;
* test: ToTensor.

S is the input's own side (32 for CIFAR, 28 for Fashion-MNIST, 128 for VOC).
Random numbers come from JAX, so a view matches the reference in
distribution, not draw for draw; for the same draws (`_sample_weak`,
`_sample_strong`) it equals the reference pipeline byte for byte, which the
tests check by replaying the draws through Pillow. `normalize` and
`normalization` hold the published Normalize constants, including the CIFAR
test-set quirk.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ltpll_jax.data import color_ops
from ltpll_jax.data import image_ops
from ltpll_jax.data import tone_ops

# RandomResizedCrop defaults used by the reference.
_CROP_SCALE = (0.2, 1.0)
_CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
_CROP_ATTEMPTS = 10

# torchvision ColorJitter(0.4, 0.4, 0.4, 0.1), applied with p = 0.8, in the
# order brightness, contrast, saturation, hue of torchvision's fn_idx.
_JITTER_OPS = (color_ops.brightness, color_ops.contrast, color_ops.color,
               color_ops.hue)
_JITTER_RANGES = ((0.6, 1.4), (0.6, 1.4), (0.6, 1.4), (-0.1, 0.1))
_JITTER_PROB = 0.8
_GRAYSCALE_PROB = 0.2

# PiCO's `augment_list()`, in its order, with the magnitude ranges.
_RANDAUGMENT = (
    (tone_ops.autocontrast, 0.0, 1.0),
    (color_ops.brightness, 0.05, 0.95),
    (color_ops.color, 0.05, 0.95),
    (color_ops.contrast, 0.05, 0.95),
    (tone_ops.equalize, 0.0, 1.0),
    (lambda image, v: image, 0.0, 1.0),
    (tone_ops.posterize, 4.0, 8.0),
    (image_ops.rotate, -30.0, 30.0),
    (color_ops.sharpness, 0.05, 0.95),
    (image_ops.shear_x, -0.3, 0.3),
    (image_ops.shear_y, -0.3, 0.3),
    (tone_ops.solarize, 0.0, 256.0),
    (image_ops.translate_x, -0.3, 0.3),
    (image_ops.translate_y, -0.3, 0.3),
)
_RANDAUGMENT_OPS = 3
_CUTOUT_MAX = 0.5

# Published Normalize constants (ALGORITHMS.md 1.5, 1.6). One-element
# tuples broadcast over any channel count.
_STATS = {
    'cifar10': ((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)),
    'cifar100': ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    'fashion_mnist': ((0.2860,), (0.3530,)),
    'voc': ((0.2554, 0.2243, 0.2070), (0.2414, 0.2207, 0.2104)),
    'synthetic': ((0.5,), (0.25,)),
}


def _check_image(image: jax.Array) -> int:
  """Returns the side of a square [S, S, C] image, C in {1, 3}."""
  if image.ndim != 3 or image.shape[0] != image.shape[1]:
    raise ValueError(f'expected a square [S, S, C] image, got {image.shape}')
  if image.shape[2] not in (1, 3):
    raise ValueError(f'expected 1 or 3 channels, got {image.shape[2]}')
  return image.shape[0]


def sample_crop(key: jax.Array, height: int,
                width: int) -> tuple[jax.Array, ...]:
  """torchvision `RandomResizedCrop.get_params` (scale (0.2, 1), 3/4..4/3).

  Ten candidate boxes are drawn at once and the first that fits is taken;
  if none fits, the centre crop of torchvision's fallback (the whole image
  when it is square). Widths and heights round half to even, as Python's
  `round`.

  Args:
    key: typed PRNG key.
    height: static image height H.
    width: static image width W.

  Returns:
    (top, left, crop_height, crop_width), int32 scalars with
    0 < crop_height <= H, 0 < crop_width <= W and the box inside the image.
  """
  k_area, k_ratio, k_top, k_left = jax.random.split(key, 4)
  area = height * width
  target = area * jax.random.uniform(k_area, (_CROP_ATTEMPTS,),
                                     minval=_CROP_SCALE[0],
                                     maxval=_CROP_SCALE[1])
  aspect = jnp.exp(jax.random.uniform(k_ratio, (_CROP_ATTEMPTS,),
                                      minval=math.log(_CROP_RATIO[0]),
                                      maxval=math.log(_CROP_RATIO[1])))
  widths = jnp.round(jnp.sqrt(target * aspect)).astype(jnp.int32)
  heights = jnp.round(jnp.sqrt(target / aspect)).astype(jnp.int32)
  fits = (widths > 0) & (widths <= width) & (heights > 0) & (heights <= height)
  first = jnp.argmax(fits)
  # torchvision's fallback, a static centre crop.
  in_ratio = width / height
  if in_ratio < _CROP_RATIO[0]:
    fb_w, fb_h = width, int(round(width / _CROP_RATIO[0]))
  elif in_ratio > _CROP_RATIO[1]:
    fb_w, fb_h = int(round(height * _CROP_RATIO[1])), height
  else:
    fb_w, fb_h = width, height
  found = fits.any()
  crop_w = jnp.where(found, widths[first], fb_w)
  crop_h = jnp.where(found, heights[first], fb_h)
  top = jnp.where(found, jax.random.randint(k_top, (), 0, height - crop_h + 1),
                  (height - fb_h) // 2)
  left = jnp.where(found, jax.random.randint(k_left, (), 0, width - crop_w + 1),
                   (width - fb_w) // 2)
  return top, left, crop_h, crop_w


class _WeakParams(NamedTuple):
  """The random draws of one weak view."""
  crop: tuple[jax.Array, ...]  # (top, left, height, width), int32 scalars.
  flip: jax.Array  # bool scalar.
  jitter: jax.Array  # bool scalar: apply ColorJitter.
  jitter_order: jax.Array  # [4] int32, a permutation of the four ops.
  jitter_factors: jax.Array  # [4] float32: brightness, contrast, sat., hue.
  grayscale: jax.Array  # bool scalar.


class _StrongParams(NamedTuple):
  """The random draws of one strong view."""
  crop: tuple[jax.Array, ...]  # (top, left, height, width), int32 scalars.
  flip: jax.Array  # bool scalar.
  ops: jax.Array  # [3] int32 indices into `_RANDAUGMENT`.
  magnitudes: jax.Array  # [3] float32.
  cutout: jax.Array  # [3] float32: size fraction v, centre x, centre y.


def _sample_weak(key: jax.Array, size: int) -> _WeakParams:
  """All random draws of a weak view of a [size, size, C] image."""
  k_crop, k_flip, k_on, k_order, k_factors, k_gray = jax.random.split(key, 6)
  low, high = (jnp.asarray(r, jnp.float32) for r in zip(*_JITTER_RANGES))
  return _WeakParams(
      crop=sample_crop(k_crop, size, size),
      flip=jax.random.bernoulli(k_flip, 0.5),
      jitter=jax.random.bernoulli(k_on, _JITTER_PROB),
      jitter_order=jax.random.permutation(k_order, len(_JITTER_OPS)),
      jitter_factors=jax.random.uniform(k_factors, (len(_JITTER_OPS),),
                                        minval=low, maxval=high),
      grayscale=jax.random.bernoulli(k_gray, _GRAYSCALE_PROB))


def _sample_strong(key: jax.Array, size: int) -> _StrongParams:
  """All random draws of a strong view of a [size, size, C] image."""
  k_crop, k_flip, k_ops, k_mags, k_cut = jax.random.split(key, 5)
  ops = jax.random.randint(k_ops, (_RANDAUGMENT_OPS,), 0, len(_RANDAUGMENT))
  low = jnp.asarray([lo for _, lo, _ in _RANDAUGMENT], jnp.float32)[ops]
  high = jnp.asarray([hi for _, _, hi in _RANDAUGMENT], jnp.float32)[ops]
  fractions = jax.random.uniform(k_mags, (_RANDAUGMENT_OPS,))
  side, cx, cy = jax.random.uniform(k_cut, (3,))
  # PiCO draws the centre with `np.random.uniform(w)`, which is numpy's
  # uniform(low=w, high=1.0): uniform on (1, w], not [0, w).
  centre_x, centre_y = size + (1 - size) * cx, size + (1 - size) * cy
  return _StrongParams(
      crop=sample_crop(k_crop, size, size),
      flip=jax.random.bernoulli(k_flip, 0.5),
      ops=ops,
      magnitudes=low + (high - low) * fractions,
      cutout=jnp.stack([_CUTOUT_MAX * side, centre_x, centre_y]))


def _crop_and_flip(image: jax.Array, crop: tuple[jax.Array, ...],
                   flip: jax.Array) -> jax.Array:
  """RandomResizedCrop to the image's side, then the horizontal flip."""
  image = image_ops.resized_crop(image, *crop, image.shape[0])
  return jnp.where(flip, image_ops.flip_left_right(image), image)


def color_jitter(image: jax.Array, order: jax.Array,
                 factors: jax.Array) -> jax.Array:
  """torchvision's ColorJitter on a PIL image, for given draws.

  Equals applying brightness, contrast, saturation and hue (ops 0..3) in
  the order `order`. Under vmap every op a slot might run is computed, and
  hue costs more than the rest together, so hue runs once, between the
  blend ops that precede it and those that follow; a blend op outside its
  turn gets factor 1, which is an exact identity.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    order: [4] int32, a permutation of 0..3.
    factors: [4] float32: brightness, contrast, saturation, hue factors.

  Returns:
    [H, W, C] float32, integer values.
  """
  hue_at = jnp.argmax(order == 3)
  # The three blend ops in their relative order (a stable sort moves hue last).
  blend_order = order[jnp.argsort(order == 3, stable=True)]
  blend_ops = _JITTER_OPS[:3]

  def blend_slots(before_hue):
    # A loop, not an unrolled chain: XLA would otherwise fuse each slot into
    # the next and recompute it per element.
    def slot(k, image):
      op = blend_order[k]
      factor = jnp.where((k < hue_at) == before_hue, factors[op], 1.0)
      return jax.lax.switch(op, blend_ops, image, factor)

    return slot

  image = jax.lax.fori_loop(0, 3, blend_slots(True), image)
  image = color_ops.hue(image, factors[3])
  return jax.lax.fori_loop(0, 3, blend_slots(False), image)


def random_augment(image: jax.Array, ops: jax.Array, magnitudes: jax.Array,
                   cutout: jax.Array) -> jax.Array:
  """PiCO's RandomAugment(3, 5) for given draws: the ops, then Cutout.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    ops: [n] int32 indices into PiCO's 14-op list (`_RANDAUGMENT`).
    magnitudes: [n] float32, one per op.
    cutout: [3] float32: Cutout's size fraction, centre x and centre y.

  Returns:
    [H, W, C] float32, integer values.
  """
  branches = tuple(op for op, _, _ in _RANDAUGMENT)

  # A loop for the reason given in `color_jitter`.
  def slot(n, image):
    return jax.lax.switch(ops[n], branches, image, magnitudes[n])

  image = jax.lax.fori_loop(0, ops.shape[0], slot, image)
  return image_ops.cutout(image, *cutout)


def test_view(image: jax.Array) -> jax.Array:
  """ToTensor: uint8 [H, W, C] -> float32 [H, W, C] in [0, 1].

  Args:
    image: [H, W, C] uint8.

  Returns:
    [H, W, C] float32, image / 255 rounded once, as torchvision.
  """
  return color_ops.byte_fraction(image)


def weak_view(image: jax.Array, key: jax.Array) -> jax.Array:
  """The weak view: crop, flip, colour jitter (p 0.8), grayscale (p 0.2).

  Args:
    image: [S, S, C] uint8, C in {1, 3}.
    key: typed PRNG key.

  Returns:
    [S, S, C] float32 in [0, 1] (ToTensor, before normalisation).
  """
  params = _sample_weak(key, _check_image(image))
  x = _crop_and_flip(image.astype(jnp.float32), params.crop, params.flip)
  x = jnp.where(params.jitter,
                color_jitter(x, params.jitter_order, params.jitter_factors), x)
  x = jnp.where(params.grayscale, color_ops.grayscale(x), x)
  return test_view(x)


def strong_view(image: jax.Array, key: jax.Array) -> jax.Array:
  """The strong view: crop, flip, RandomAugment(3, 5) with Cutout.

  Args:
    image: [S, S, C] uint8, C in {1, 3}.
    key: typed PRNG key.

  Returns:
    [S, S, C] float32 in [0, 1] (ToTensor, before normalisation).
  """
  params = _sample_strong(key, _check_image(image))
  x = _crop_and_flip(image.astype(jnp.float32), params.crop, params.flip)
  return test_view(
      random_augment(x, params.ops, params.magnitudes, params.cutout))


def two_views(images: jax.Array,
              key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Weak and strong views of a batch, one independent key per sample.

  Args:
    images: [B, S, S, C] uint8.
    key: typed PRNG key; split into B keys, each split into a weak and a
      strong key.

  Returns:
    (weak, strong), each [B, S, S, C] float32 in [0, 1].
  """

  def one(image, sample_key):
    k_weak, k_strong = jax.random.split(sample_key)
    return weak_view(image, k_weak), strong_view(image, k_strong)

  return jax.vmap(one)(images, jax.random.split(key, images.shape[0]))


def normalize(x: jax.Array, mean: tuple[float, ...],
              std: tuple[float, ...]) -> jax.Array:
  """torchvision Normalize: (x - mean) / std over the last axis.

  Equal to torchvision's to within one float32 ulp (XLA multiplies by
  1 / std rather than dividing).

  Args:
    x: [..., C] float.
    mean: C floats, or one float for every channel.
    std: C floats, or one float for every channel.

  Returns:
    [..., C] float32.
  """
  return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def register_normalization(dataset: str, mean: tuple[float, ...],
                           std: tuple[float, ...]) -> None:
  """Sets the Normalize constants of a user-registered data set (C floats
  each, or one float for every channel)."""
  _STATS[dataset] = (tuple(mean), tuple(std))


def normalization(dataset: str, *, train: bool,
                  cifar_test_quirk: bool = True
                 ) -> tuple[tuple[float, ...], tuple[float, ...]]:
  """The published Normalize constants of a data set.

  The published code normalises the TEST images of both CIFAR-10 and
  CIFAR-100 with the CIFAR-100 constants (ALGORITHMS.md 1.5). With
  `cifar_test_quirk=False`, CIFAR-10 test images use the CIFAR-10 ones.
  'fashion_mnist' and 'synthetic' give one-element tuples, which `normalize`
  broadcasts over the channels.

  Args:
    dataset: 'cifar10', 'cifar100', 'fashion_mnist', 'voc' or 'synthetic'.
    train: whether the constants are for training views.
    cifar_test_quirk: replicate the CIFAR test-normalisation quirk.

  Returns:
    (mean, std), tuples of floats.

  Raises:
    ValueError: for an unknown data set name.
  """
  if dataset not in _STATS:
    raise ValueError(f'unknown dataset {dataset!r}; expected one of '
                     f'{sorted(_STATS)}')
  if dataset == 'cifar10' and not train and cifar_test_quirk:
    return _STATS['cifar100']
  return _STATS[dataset]
