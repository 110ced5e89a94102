"""Pillow-exact geometric ops (where pixels go) on uint8-valued images.

Every op takes an image `[H, W, C] float32` whose values are integers in
0..255 (C = 3 for RGB, C = 1 for mode 'L') and returns one of the same kind:
it reproduces what Pillow does to a uint8 image, including Pillow's rounding,
truncation and clipping at the end of the op. Magnitudes may be traced, so all
ops are jittable and vmappable; nothing branches in Python on a traced value.

The ops that change pixel values live in `tone_ops.py` (per-channel curves:
autocontrast, equalize, posterize, solarize) and `color_ops.py` (the
`ImageEnhance` blends, grayscale and the HSV hue shift).

Pillow facts this module relies on (Pillow 13 C sources, `libImaging/`):
* `Image.transform(..., AFFINE)` with NEAREST maps output pixel (x, y) to input
  (a (x + .5) + b (y + .5) + c, d (x + .5) + e (y + .5) + f) and takes the
  pixel whose index is the floor of that, black outside. When b = d = 0
  (translations) it uses float64 (`ImagingScaleAffine`); otherwise
  (rotations, shears) 16.16 fixed point (`affine_fixed`): every coefficient
  is rounded to a multiple of 2**-16 and the sum is shifted right by 16.
* `Image.resize(BILINEAR)` uses a triangle filter with coefficients rounded to
  22-bit fixed point and two passes (horizontal first), each rounded to uint8.
"""

import functools

import dm_pix as pix
import jax
import jax.numpy as jnp
import numpy as np

from ltpll_jax.data import exact_math

# PIL's 16.16 fixed-point unit and resampling precision (Resample.c).
_FIX_ONE = 1 << 16
_RESAMPLE_BITS = 22


def _as_int(image: jax.Array) -> jax.Array:
  return image.astype(jnp.int32)


def _fix(value: jax.Array) -> jax.Array:
  """Pillow's `FIX(v) = floor(v * 65536 + 0.5)` as int32.

  Exact for a float32 |v| < 128: scaling by 2**16 is exact, and below 2**23
  so is adding 0.5.
  """
  return jnp.floor(value * _FIX_ONE + 0.5).astype(jnp.int32)


def _sample_fixed(image: jax.Array, coeffs: tuple[jax.Array, ...]) -> jax.Array:
  """Nearest sampling with 16.16 coefficients (a0, a1, a2, a3, a4, a5).

  Input pixel of output (x, y) is ((a2 + x a0 + y a1) >> 16,
  (a5 + x a3 + y a4) >> 16), as Pillow's `affine_fixed`; black outside.
  """
  a0, a1, a2, a3, a4, a5 = coeffs
  height, width = image.shape[:2]
  y, x = jnp.mgrid[:height, :width]
  xin = (a2 + x * a0 + y * a1) >> 16
  yin = (a5 + x * a3 + y * a4) >> 16
  inside = (xin >= 0) & (xin < width) & (yin >= 0) & (yin < height)
  out = image[jnp.clip(yin, 0, height - 1), jnp.clip(xin, 0, width - 1)]
  return jnp.where(inside[..., None], out, 0.0)


def shear_x(image: jax.Array, v: jax.Array) -> jax.Array:
  """`img.transform(size, AFFINE, (1, v, 0, 0, 1, 0))`, nearest, black fill.

  Written by hand: dm-pix's `affine_transform` samples pixel corners with
  round-to-nearest, PIL floors pixel-centre coordinates in 16.16 fixed point.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    v: scalar shear coefficient (RandAugment draws it in [-0.3, 0.3]).

  Returns:
    [H, W, C] float32, integer values.
  """
  # a2 = FIX(0.5 + 0.5 v) = 32768 + FIX(v / 2); the split keeps it exact.
  a2 = _FIX_ONE // 2 + _fix(v * 0.5)
  return _sample_fixed(image, (_FIX_ONE, _fix(v), a2, 0, _FIX_ONE,
                               _FIX_ONE // 2))


def shear_y(image: jax.Array, v: jax.Array) -> jax.Array:
  """`img.transform(size, AFFINE, (1, 0, 0, v, 1, 0))`, nearest, black fill.

  Written by hand for the reason given in `shear_x`.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    v: scalar shear coefficient.

  Returns:
    [H, W, C] float32, integer values.
  """
  a5 = _FIX_ONE // 2 + _fix(v * 0.5)
  return _sample_fixed(image, (_FIX_ONE, 0, _FIX_ONE // 2, _fix(v), _FIX_ONE,
                               a5))


def _shift(v: jax.Array, size: int) -> jax.Array:
  """Integer shift floor(v * size + 0.5) of PIL's float64 translation."""
  return jnp.floor(v * size + 0.5).astype(jnp.int32)


def translate_x(image: jax.Array, v: jax.Array) -> jax.Array:
  """`img.transform(size, AFFINE, (1, 0, v * width, 0, 1, 0))`, black fill.

  PIL samples input column floor(x + 0.5 + v * width) (float64 scale path),
  which is x plus a whole-pixel shift even when v * width is fractional.
  Written by hand: dm-pix has no integer-shift translate with black fill.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    v: scalar, the shift as a fraction of the width.

  Returns:
    [H, W, C] float32, integer values.
  """
  a2 = _shift(v, image.shape[1]) * _FIX_ONE
  return _sample_fixed(image, (_FIX_ONE, 0, a2, 0, _FIX_ONE, 0))


def translate_y(image: jax.Array, v: jax.Array) -> jax.Array:
  """`img.transform(size, AFFINE, (1, 0, 0, 0, 1, v * height))`, black fill.

  Written by hand for the reason given in `translate_x`.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    v: scalar, the shift as a fraction of the height.

  Returns:
    [H, W, C] float32, integer values.
  """
  a5 = _shift(v, image.shape[0]) * _FIX_ONE
  return _sample_fixed(image, (_FIX_ONE, 0, 0, 0, _FIX_ONE, a5))


def _fix_df(x: exact_math.DoubleFloat) -> jax.Array:
  """`FIX(x)` of a double-float value."""
  scaled = exact_math.DoubleFloat(x.hi * _FIX_ONE, x.lo * _FIX_ONE)
  return exact_math.df_floor(exact_math.df_add(scaled, exact_math.df(0.5)))


def _rotation_coeffs(degrees: jax.Array, height: int,
                     width: int) -> tuple[jax.Array, ...]:
  """PIL's 16.16 coefficients (a0, .., a5) of `rotate(degrees)`."""
  rad = exact_math.df_mul(
      exact_math.DoubleFloat(jnp.asarray(degrees, jnp.float32), jnp.float32(0)),
      exact_math.df(-np.pi / 180.0))
  sin, cos = exact_math.df_sin_cos(rad)
  neg_sin = exact_math.df_neg(sin)

  def offset(along_x, along_y, centre):
    # c + a / 2 + b / 2, with c = centre - a w / 2 - b h / 2.
    total = exact_math.df_add(
        exact_math.df_mul(along_x, exact_math.df(0.5 - width / 2)),
        exact_math.df_mul(along_y, exact_math.df(0.5 - height / 2)))
    return _fix_df(exact_math.df_add(total, exact_math.df(centre)))

  return (_fix_df(cos), _fix_df(sin), offset(cos, sin, width / 2),
          _fix_df(neg_sin), _fix_df(cos), offset(neg_sin, cos, height / 2))


def rotate(image: jax.Array, degrees: jax.Array) -> jax.Array:
  """`img.rotate(degrees)`: about the centre, nearest, black fill, no expand.

  PIL's inverse map is [[cos t, sin t], [-sin t, cos t]] with
  t = -radians(degrees), about (w / 2, h / 2), rounded to 16.16 fixed point
  from float64 values. float32 cos / sin would put a coefficient one 2**-16
  unit off now and then (roughly 1e-5 of the pixels then come from a
  neighbour), so the coefficients are formed in double-float arithmetic
  (`exact_math`), which matches PIL's float64 ones. Written by hand:
  dm-pix's `rotate` interpolates about pixel corners.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    degrees: scalar angle, counter-clockwise, |degrees| <= 45.

  Returns:
    [H, W, C] float32, integer values.
  """
  coeffs = _rotation_coeffs(degrees, *image.shape[:2])
  return _sample_fixed(image, coeffs)


def flip_left_right(image: jax.Array) -> jax.Array:
  """`img.transpose(FLIP_LEFT_RIGHT)`; uses `dm_pix.flip_left_right`.

  Args:
    image: [H, W, C].

  Returns:
    [H, W, C], columns reversed.
  """
  return pix.flip_left_right(image)


def cutout(image: jax.Array, v: jax.Array, cx: jax.Array,
           cy: jax.Array) -> jax.Array:
  """PiCO's `Cutout(img, v)` with its centre given: a filled grey square.

  side = v * width; (x0, y0) = int(max(0, centre - side / 2)); far corner
  min(size, x0 + side); PIL's `ImageDraw.rectangle` truncates the corners to
  int and fills both ends inclusive. v <= 0 leaves the image unchanged. The
  fill is (125, 123, 114) for RGB; for a 1-channel image it is 123, the
  PIL luma of that colour (PIL itself rejects a 3-tuple ink on mode 'L', so
  the reference code has no defined value there). Written by hand: dm-pix
  has no cutout.

  Args:
    image: [H, W, C] float32, integer values 0..255, C in {1, 3}.
    v: scalar size fraction (PiCO draws it in [0, 0.5)).
    cx: scalar centre column (PiCO draws it in (1, W]).
    cy: scalar centre row (PiCO draws it in (1, H]).

  Returns:
    [H, W, C] float32, integer values.
  """
  height, width, channels = image.shape
  side = v * width
  x0 = jnp.trunc(jnp.maximum(0.0, cx - side / 2.0))
  y0 = jnp.trunc(jnp.maximum(0.0, cy - side / 2.0))
  x1 = jnp.trunc(jnp.minimum(width, x0 + side))
  y1 = jnp.trunc(jnp.minimum(height, y0 + side))
  rows = jnp.arange(height, dtype=jnp.float32)[:, None]
  cols = jnp.arange(width, dtype=jnp.float32)[None, :]
  box = (rows >= y0) & (rows <= y1) & (cols >= x0) & (cols <= x1) & (v > 0)
  fill = jnp.asarray((125.0, 123.0, 114.0) if channels == 3 else (123.0,))
  return jnp.where(box[..., None], fill, image)


@functools.cache
def _bilinear_table(max_in: int, out: int) -> tuple[np.ndarray, np.ndarray]:
  """PIL's BILINEAR resampling coefficients for every input length.

  Replays `precompute_coeffs` and `normalize_coeffs_8bpc` of Resample.c in
  float64 on the host, so the 22-bit fixed-point weights are PIL's own.

  Args:
    max_in: largest input length.
    out: output length.

  Returns:
    first: [max_in + 1, out] int32, first input index of each output.
    weights: [max_in + 1, out, K] int32 fixed-point weights (K taps; unused
      taps are 0). Row n is for input length n (row 0 is unused).
  """
  ksize = int(np.ceil(max(max_in / out, 1.0))) * 2 + 1
  first = np.zeros((max_in + 1, out), np.int32)
  weights = np.zeros((max_in + 1, out, ksize), np.int32)
  for n in range(1, max_in + 1):
    scale = float(n) / out
    support = max(scale, 1.0)
    for xx in range(out):
      centre = (xx + 0.5) * scale
      lo = max(int(centre - support + 0.5), 0)
      hi = min(int(centre + support + 0.5), n)
      w = [max(0.0, 1.0 - abs((x - centre + 0.5) * (1.0 / support)))
           for x in range(lo, hi)]
      # PIL sums left to right and skips the division when the sum is 0.
      total = functools.reduce(lambda a, b: a + b, w, 0.0)
      w = np.array([wi / total if total != 0.0 else wi for wi in w])
      first[n, xx] = lo
      weights[n, xx, :hi - lo] = np.trunc(
          w * (1 << _RESAMPLE_BITS) + np.where(w < 0, -0.5, 0.5))
  return first, weights


def _resample_axis0(image: jax.Array, start: jax.Array, length: jax.Array,
                    out: int) -> jax.Array:
  """One PIL resampling pass along axis 0 of an int32 image, over a window.

  Args:
    image: [N, M, C] int32.
    start: scalar int, first index of the window along axis 0.
    length: scalar int in 1..N, window length.
    out: output length.

  Returns:
    [out, M, C] int32 in 0..255, rounded as PIL.
  """
  first, weights = _bilinear_table(image.shape[0], out)
  first = jnp.asarray(first)[length]
  weights = jnp.asarray(weights)[length]
  idx = start + first[:, None] + jnp.arange(weights.shape[1])[None, :]
  taps = image[jnp.clip(idx, 0, image.shape[0] - 1)]
  # An elementwise int32 multiply-add over the (at most 3) taps; values stay
  # below 2**31, so no integer dot or wider type is needed.
  acc = (taps * weights[:, :, None, None]).sum(axis=1)
  acc = acc + (1 << (_RESAMPLE_BITS - 1))
  return jnp.clip(acc >> _RESAMPLE_BITS, 0, 255)


def resized_crop(image: jax.Array, top: jax.Array, left: jax.Array,
                 height: jax.Array, width: jax.Array, size: int) -> jax.Array:
  """`img.crop((left, top, left + width, top + height)).resize(size, BILINEAR)`.

  Two fixed-point passes, horizontal then vertical, each rounded to uint8,
  with PIL's own coefficients, whose windows stop at the crop's edges (taps
  past them carry zero weight). A pass over an unchanged length is the
  identity, as PIL skips it. Written by hand: `jax.image.resize` / dm-pix
  interpolate in float and know no traced crop window.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    top: scalar int, first row of the crop.
    left: scalar int, first column of the crop.
    height: scalar int in 1..H, crop height.
    width: scalar int in 1..W, crop width.
    size: static output side S.

  Returns:
    [S, S, C] float32, integer values.
  """
  x = _as_int(image).swapaxes(0, 1)
  x = _resample_axis0(x, left, width, size).swapaxes(0, 1)
  return _resample_axis0(x, top, height, size).astype(jnp.float32)
