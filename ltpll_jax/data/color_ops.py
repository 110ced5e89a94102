"""Pillow-exact colour ops: ImageEnhance, convert('L') and the HSV hue shift.

Images are `[H, W, C] float32` holding integers 0..255 (C = 3 for RGB, 1 for
mode 'L'), as in `image_ops.py`. Each op ends with Pillow's own rounding.

Pillow facts this module relies on (Pillow 13 C sources, `libImaging/`):
* `ImageEnhance.X(img).enhance(f)` is `Image.blend(degenerate, img, f)`,
  computed per byte in float32 as deg + f * (img - deg), with the product
  rounded before the sum, clipped to [0, 255] and truncated (Blend.c).
* `convert('L')` is (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16.
* RGB <-> HSV (Convert.c) mixes float32 and float64 steps; the functions
  below replay them in float32 with error-free sums where float64 matters,
  and are checked against Pillow on all 2**24 colours.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ltpll_jax.data import exact_math

# n / 255 in float32 for n = 0..255, rounded once as C and torch do. XLA
# rewrites a division by a constant into a multiplication by its reciprocal,
# which is off by one ulp for some n, so the quotients come from a table.
_BYTE_FRACTION = np.arange(256, dtype=np.float32) / np.float32(255.0)

# hsv2rgb's (r, g, b) for hue sectors 0..5, as indices into (v, p, q, t).
_HSV_SECTORS = np.array([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0],
                         [0, 1, 2]], np.int32)


def _luma(image: jax.Array) -> jax.Array:
  """PIL's `convert('L')` in int32: [H, W, 3] -> [H, W, 1]; 1 channel as is."""
  if image.shape[-1] == 1:
    return image.astype(jnp.int32)
  rgb = image.astype(jnp.int32)
  luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 +
          0x8000) >> 16
  return luma[..., None]


def grayscale(image: jax.Array) -> jax.Array:
  """`img.convert('L')` replicated to the input's channel count.

  This is torchvision's `rgb_to_grayscale(img, num_output_channels=C)` on a
  PIL image. Written by hand: dm-pix's `rgb_to_grayscale` uses float weights
  (0.2989, 0.587, 0.114) and does not round like PIL.

  Args:
    image: [H, W, C] float32, integer values 0..255, C in {1, 3}.

  Returns:
    [H, W, C] float32, integer values (a 1-channel image is unchanged).
  """
  luma = _luma(image).astype(jnp.float32)
  return jnp.broadcast_to(luma, image.shape)


def blend(degenerate: jax.Array, image: jax.Array,
          factor: jax.Array) -> jax.Array:
  """`Image.blend(degenerate, image, factor)` for uint8 images.

  Written by hand: dm-pix's adjust_* ops do not truncate like PIL.

  Args:
    degenerate: [H, W, C] float32 (or broadcastable), integer values.
    image: [H, W, C] float32, integer values 0..255.
    factor: scalar blend factor (0 gives `degenerate`, 1 gives `image`).

  Returns:
    [H, W, C] float32, integer values 0..255.
  """
  factor = jnp.asarray(factor, jnp.float32)
  # PIL rounds the product before adding; a fused multiply-add would move
  # sums such as 62.99999 vs 63.0 across the truncation.
  delta = exact_math.rounded(factor * (image - degenerate))
  return jnp.clip(jnp.trunc(degenerate + delta), 0.0, 255.0)


def brightness(image: jax.Array, factor: jax.Array) -> jax.Array:
  """`ImageEnhance.Brightness(img).enhance(factor)`: blend with black.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    factor: scalar.

  Returns:
    [H, W, C] float32, integer values.
  """
  return blend(jnp.zeros_like(image), image, factor)


def color(image: jax.Array, factor: jax.Array) -> jax.Array:
  """`ImageEnhance.Color(img).enhance(factor)`: blend with the grey image.

  For a 1-channel image PIL blends the image with itself: the identity.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    factor: scalar.

  Returns:
    [H, W, C] float32, integer values.
  """
  if image.shape[-1] == 1:
    return image
  return blend(grayscale(image), image, factor)


def contrast(image: jax.Array, factor: jax.Array) -> jax.Array:
  """`ImageEnhance.Contrast(img).enhance(factor)`: blend with the mean grey.

  The degenerate image is the constant int(mean(convert('L')) + 0.5), done
  in int32 as (2 * sum + n) // (2 n), which equals PIL's float64 value.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    factor: scalar.

  Returns:
    [H, W, C] float32, integer values.
  """
  luma = _luma(image)
  n = luma.size
  mean = (2 * luma.sum() + n) // (2 * n)
  return blend(mean.astype(jnp.float32), image, factor)


def smooth(image: jax.Array) -> jax.Array:
  """`img.filter(ImageFilter.SMOOTH)`: 3x3 [[1,1,1],[1,5,1],[1,1,1]] / 13.

  Replays Pillow's float32 sum in its order (offset 0.5 first, then the rows
  below, centre and above, each left to right, with float32 kernel weights
  1/13 and 5/13) and truncates; the one-pixel border is copied. Written by
  hand: dm-pix's filters pad the border and round differently.

  Args:
    image: [H, W, C] float32, integer values 0..255.

  Returns:
    [H, W, C] float32, integer values.
  """
  k1 = np.float32(1.0) / np.float32(13.0)
  k5 = np.float32(5.0) / np.float32(13.0)
  height, width = image.shape[:2]
  # Edge padding keeps every slice full-size (faster on CPU than updating an
  # interior window); the padded border values are discarded below.
  padded = jnp.pad(image, ((1, 1), (1, 1), (0, 0)), mode='edge')
  # Every term is a pixel times k1 or k5, which PIL rounds before summing
  # (a fused multiply-add would not).
  by_k1 = exact_math.rounded(padded * k1)
  by_k5 = exact_math.rounded(padded * k5)

  def row(dy, centre):
    r = slice(1 + dy, 1 + dy + height)
    return (by_k1[r, :width] + centre[r, 1:width + 1]) + by_k1[r, 2:]

  total = np.float32(0.5) + row(1, by_k1)
  total = total + row(0, by_k5)
  total = total + row(-1, by_k1)
  y, x = np.mgrid[:height, :width]
  border = (y == 0) | (y == height - 1) | (x == 0) | (x == width - 1)
  return jnp.where(border[..., None], image,
                   jnp.trunc(jnp.clip(total, 0.0, 255.0)))


def sharpness(image: jax.Array, factor: jax.Array) -> jax.Array:
  """`ImageEnhance.Sharpness(img).enhance(factor)`: blend with SMOOTH.

  The degenerate image is `smooth` (PIL's SMOOTH filter, border
  copied), so the border pixels never change.

  Args:
    image: [H, W, C] float32, integer values 0..255.
    factor: scalar.

  Returns:
    [H, W, C] float32, integer values.
  """
  return blend(smooth(image), image, factor)


def byte_fraction(values: jax.Array) -> jax.Array:
  """n / 255 in float32, correctly rounded, for integer n in 0..255.

  This is torchvision's `ToTensor` on uint8 data.

  Args:
    values: array of integers 0..255 (any dtype, any shape).

  Returns:
    float32 array of the same shape, in [0, 1].
  """
  return jnp.asarray(_BYTE_FRACTION)[values.astype(jnp.int32)]


def _sum3(c: float, x: jax.Array, y: jax.Array) -> jax.Array:
  """float32(c + x - y) rounded once, as C's float64 `c + x - y` then float."""
  d, e1 = exact_math.two_sum(x, -y)
  s, e2 = exact_math.two_sum(exact_math.opaque(c), d)
  return s + (e1 + e2)


def _div6(x: jax.Array) -> jax.Array:
  """float32(x / 6), correctly rounded (XLA's rewrite x * (1 / 6) is not).

  The residual x - 6 q is exact (6 q = 4 q + 2 q as an error-free sum and
  x - fl(6 q) by Sterbenz), and x / 6 is never near a rounding tie, so one
  correction step gives the correctly rounded quotient.
  """
  q = x * np.float32(1.0 / 6.0)
  prod, prod_err = exact_math.two_sum(4.0 * q, 2.0 * q)
  return q + ((x - prod) - prod_err) * np.float32(1.0 / 6.0)


def _floor_mul255(x: jax.Array) -> jax.Array:
  """floor(x * 255) of float32 x in [0, 1], as if the product were exact.

  C forms `x * 255.0` in float64, where it is exact. In float32 the product
  may round up to an integer k; then x * 256 - k (exact, by Sterbenz) is
  compared with x to decide between k and k - 1.
  """
  k = jnp.floor(x * 255.0)
  return k - ((x * 256.0 - k) < x).astype(k.dtype)


def rgb_to_hsv(image: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """PIL's `convert('HSV')` of an RGB image (Convert.c `rgb2hsv_row`).

  Args:
    image: [H, W, 3] float32, integer values 0..255.

  Returns:
    (h, s, v), each [H, W] int32 in 0..255.
  """
  r, g, b = (image[..., i].astype(jnp.int32) for i in range(3))
  maxc = jnp.maximum(r, jnp.maximum(g, b))
  minc = jnp.minimum(r, jnp.minimum(g, b))
  spread = (maxc - minc).astype(jnp.float32)
  safe = jnp.maximum(spread, 1.0)
  sat = spread / jnp.maximum(maxc, 1).astype(jnp.float32)
  rc, gc, bc = ((maxc - c).astype(jnp.float32) / safe for c in (r, g, b))
  hue = jnp.where(r == maxc, bc - gc,
                  jnp.where(g == maxc, _sum3(2.0, rc, bc), _sum3(4.0, gc, rc)))
  # C: float(fmod(double(h) / 6 + 1, 1)). For h >= 0 that is float(h / 6);
  # for h < 0 it is float(1 + h / 6), built from h / 6 and its residual.
  sixth = _div6(hue)
  prod, prod_err = exact_math.two_sum(4.0 * sixth, 2.0 * sixth)
  sixth_lo = ((hue - prod) - prod_err) * np.float32(1.0 / 6.0)
  one_plus, one_err = exact_math.two_sum(exact_math.opaque(1.0), sixth)
  wrapped = one_plus + (one_err + sixth_lo)
  hue = jnp.where(hue < 0, wrapped, sixth)
  grey = maxc == minc
  h = jnp.where(grey, 0, jnp.clip(_floor_mul255(hue), 0, 255))
  s = jnp.where(grey, 0, jnp.clip(_floor_mul255(sat), 0, 255))
  return h.astype(jnp.int32), s.astype(jnp.int32), maxc


def hsv_to_rgb(h: jax.Array, s: jax.Array, v: jax.Array) -> jax.Array:
  """PIL's `Image.merge('HSV', ...).convert('RGB')` (Convert.c `hsv2rgb`).

  C's float64 products are exact here and its `round` never sees a tie, so
  float32 gives the same bytes (checked on all 2**24 inputs).

  Args:
    h: [H, W] int32 in 0..255.
    s: [H, W] int32 in 0..255.
    v: [H, W] int32 in 0..255.

  Returns:
    [H, W, 3] float32, integer values.
  """
  sector = (6 * h) // 255
  frac = byte_fraction(6 * h - 255 * sector)
  fs = byte_fraction(s)
  vf = v.astype(jnp.float32)

  def scaled(mult):
    return jnp.clip(jnp.floor(vf * mult + 0.5), 0.0, 255.0)

  p = scaled(1.0 - fs)
  q = scaled(1.0 - fs * frac)
  t = scaled(1.0 - fs * (1.0 - frac))
  # Which of (v, p, q, t) is r, g, b in each sector, as in Convert.c. One
  # gather from a stack compiles to faster CPU code than chains of selects.
  choice = jnp.asarray(_HSV_SECTORS)[sector % 6]
  rgb = jnp.take_along_axis(jnp.stack([vf, p, q, t], -1), choice, axis=-1)
  return jnp.where((s == 0)[..., None], vf[..., None], rgb)


def hue(image: jax.Array, factor: jax.Array) -> jax.Array:
  """torchvision's PIL `adjust_hue(img, factor)`.

  Converts to PIL HSV, adds `np.uint8(factor * 255)` to H with uint8
  wrap-around (the product is truncated, then wraps: -0.1 adds 231),
  converts back. A 1-channel image is returned unchanged, as torchvision
  does for mode 'L'. Written by hand: dm-pix's `adjust_hue` works in float
  HSV.

  Args:
    image: [H, W, C] float32, integer values 0..255, C in {1, 3}.
    factor: scalar in [-0.5, 0.5].

  Returns:
    [H, W, C] float32, integer values.
  """
  if image.shape[-1] == 1:
    return image
  h, s, v = rgb_to_hsv(image)
  # torchvision truncates the float64 product; for a float32 factor the
  # float32 product never rounds up onto an integer (checked around every
  # k / 255), so it truncates alike.
  shift = jnp.trunc(jnp.asarray(factor, jnp.float32) * 255.0).astype(jnp.int32)
  return hsv_to_rgb((h + shift) & 255, s, v)

