"""Pillow-exact per-channel tone curves: ImageOps' LUT ops.

Images are `[H, W, C] float32` holding integers 0..255 (C = 3 for RGB, 1 for
mode 'L'), as in `image_ops.py`. `ImageOps.autocontrast`, `equalize`,
`posterize` and `solarize` build a 256-entry table per channel in Python and
apply it with `Image.point`; the ops here give the same bytes. dm-pix has
none of them, so all are written by hand.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _as_int(image: jax.Array) -> jax.Array:
  return image.astype(jnp.int32)


def _floor_div(num: jax.Array, den: jax.Array) -> jax.Array:
  """num // den for int32 0 <= num < 2**24, 0 < den < 2**24; float division.

  Integer division is slow on CPUs; the float32 quotient is within one of
  the answer (XLA may even divide via the reciprocal), and one exact
  integer check per side fixes it.
  """
  q = jnp.floor(num.astype(jnp.float32) / den.astype(jnp.float32))
  q = q.astype(jnp.int32)
  return q + (num >= (q + 1) * den).astype(jnp.int32) - (
      num < q * den).astype(jnp.int32)


def _apply_lut(image: jax.Array, lut: jax.Array) -> jax.Array:
  """Per-channel table look-up, as `Image.point` with a 256 * C table.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    lut: [C, 256] int32, already clipped to 0..255.

  Returns:
    [H, W, C] float32.
  """
  per_channel = jax.vmap(lambda table, ch: table[ch], in_axes=(0, 2),
                         out_axes=2)
  return per_channel(lut, _as_int(image)).astype(jnp.float32)


def posterize(image: jax.Array, v: jax.Array) -> jax.Array:
  """`ImageOps.posterize(img, max(1, int(v)))`: keep the top bits.

  Written by hand: dm-pix has no posterize.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    v: scalar, bits = max(1, int(v)) (RandAugment draws v in [4, 8]).

  Returns:
    [H, W, C] float32, integer values.
  """
  bits = jnp.clip(jnp.trunc(v), 1, 8).astype(jnp.int32)
  mask = 256 - (1 << (8 - bits))
  return (_as_int(image) & mask).astype(jnp.float32)


def solarize(image: jax.Array, threshold: jax.Array) -> jax.Array:
  """`ImageOps.solarize(img, threshold)`: invert values >= threshold.

  Written by hand: dm-pix has no solarize.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    threshold: scalar (RandAugment draws it in [0, 256]).

  Returns:
    [H, W, C] float32, integer values.
  """
  return jnp.where(image < threshold, image, 255.0 - image)


# Most x values in one (lo, hi) pair where PIL's autocontrast LUT is low.
_MAX_EXCEPTIONS_PER_PAIR = 17


@functools.cache
def _autocontrast_exceptions() -> np.ndarray:
  """Keys lo << 16 | hi << 8 | x where PIL's float64 LUT is one level low.

  PIL computes int(x * scale + offset) with scale = 255.0 / (hi - lo) and
  offset = -lo * scale in float64. Where 255 (x - lo) / (hi - lo) is an
  integer, rounding can leave the sum just below it, so the truncated value
  is one less than the exact floor (x = hi becomes 254 for hi - lo = 25,
  for instance): 12094 of the 2.8 million (lo, hi, x) triples, at most 17
  per (lo, hi). Elsewhere the exact value is at least 1 / 255 from an
  integer and float64 is exact. This replays PIL's float64 arithmetic once,
  on the host.

  Returns:
    Sorted int32 keys, followed by `_MAX_EXCEPTIONS_PER_PAIR` sentinels
    (-1) so that a fixed-size window after any position stays in bounds.
  """
  keys = []
  for span in range(1, 256):
    scale = 255.0 / span
    lo = np.arange(0, 256 - span)[:, None]
    x = lo + np.arange(span + 1)[None, :]
    exact_int = (255 * (x - lo)) % span == 0
    pil = (x * scale + (-lo * scale)).astype(np.int64)
    low = exact_int & (pil != (255 * (x - lo)) // span)
    lo_b = np.broadcast_to(lo, x.shape)
    keys.append((lo_b[low] << 16) | ((lo_b[low] + span) << 8) | x[low])
  keys = np.sort(np.concatenate(keys))
  sentinel = np.full(_MAX_EXCEPTIONS_PER_PAIR, -1)
  return np.concatenate([keys, sentinel]).astype(np.int32)


def autocontrast(image: jax.Array, v: jax.Array | None = None) -> jax.Array:
  """`ImageOps.autocontrast(img)`: per channel, stretch [lo, hi] to [0, 255].

  Written by hand: dm-pix has no autocontrast. The LUT is the exact rational
  floor(255 (x - lo) / (hi - lo)) in int32, lowered by one level where PIL's
  float64 arithmetic truncates below the integer (`_autocontrast_exceptions`),
  so it equals PIL's LUT entry for entry. A constant channel is unchanged.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    v: unused magnitude, accepted for the RandAugment op signature.

  Returns:
    [H, W, C] float32, integer values.
  """
  del v
  pixels = _as_int(image)
  lo, hi = pixels.min(axis=(0, 1)), pixels.max(axis=(0, 1))
  stretched = _floor_div(255 * (pixels - lo), jnp.maximum(hi - lo, 1))
  # The exceptions of one (lo, hi) pair are contiguous in the sorted keys:
  # one search per channel, then a fixed window of candidates, compared
  # with the pixels directly rather than through a per-pixel table gather.
  keys = jnp.asarray(_autocontrast_exceptions())
  pair = (lo << 16) | (hi << 8)
  start = jnp.searchsorted(keys[:-_MAX_EXCEPTIONS_PER_PAIR], pair)
  window = keys[start[:, None] + jnp.arange(_MAX_EXCEPTIONS_PER_PAIR)]
  low_x = jnp.where((window >> 8) == (pair[:, None] >> 8), window & 255, -1)
  # Unrolled: XLA's CPU code for an `any` over a minor axis of 17 is 4x
  # slower than 17 vectorised compares.
  low = jnp.zeros(pixels.shape, bool)
  for k in range(_MAX_EXCEPTIONS_PER_PAIR):
    low = low | (pixels == low_x[:, k])
  out = jnp.where(hi > lo, jnp.clip(stretched - low, 0, 255), pixels)
  return out.astype(jnp.float32)


def equalize(image: jax.Array, v: jax.Array | None = None) -> jax.Array:
  """`ImageOps.equalize(img)`: per-channel histogram equalisation.

  PIL: step = (N - count of the highest value) // 255 and
  lut[i] = (step // 2 + #pixels below i) // step, clipped to 255; a channel
  with one value or step = 0 is unchanged. Integer arithmetic, so exact.
  Written by hand: dm-pix has no equalize.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    v: unused magnitude, accepted for the RandAugment op signature.

  Returns:
    [H, W, C] float32, integer values.
  """
  del v
  pixels = _as_int(image).reshape(-1, image.shape[-1]).T
  hist = jax.vmap(lambda p: jnp.bincount(p, length=256))(pixels)
  below = jnp.cumsum(hist, axis=1) - hist
  lo, hi = pixels.min(axis=1), pixels.max(axis=1)
  step = (pixels.shape[1] - jnp.take_along_axis(hist, hi[:, None], 1)) // 255
  lut = (step // 2 + below) // jnp.maximum(step, 1)
  keep = (step == 0) | (lo == hi)[:, None]
  identity = jnp.arange(256, dtype=jnp.int32)[None, :]
  return _apply_lut(image, jnp.where(keep, identity, jnp.minimum(lut, 255)))
