"""The image ops of `image_ops` / `color_ops` against Pillow, byte for byte.

Each JAX op runs on the same uint8 image and magnitude as Pillow, called the
way the reference calls it (PiCO's randaugment.py, torchvision's PIL
functional ops). The module also holds that Pillow reference (`PIL_*`),
which `augment_test.py` replays whole views through.

Tolerance: exact equality (0 grey levels, 0 pixels) for every op. No
tolerance is needed because the ops replay Pillow's arithmetic rather than
approximate it:
* integer ops (convert('L'), posterize, solarize, equalize, flip, Cutout,
  the contrast mean, the 22-bit fixed-point bilinear resize) are integer
  arithmetic in both;
* Image.blend (brightness, colour, contrast, sharpness) and the SMOOTH
  filter are float32 in Pillow's C code, replayed in float32 in the same
  order;
* shears and rotations are 16.16 fixed point in Pillow; their coefficients
  come from float64 in Pillow and from exact float32 / double-float
  arithmetic here (checked against Pillow's float64 for 2000 angles);
* autocontrast's float64 LUT and the HSV conversions (float32 / float64 mix)
  are replayed exactly (HSV is checked on all 2**24 colours).
The one residue: translation by v * width, formed in float64 by Pillow and
float32 here, could round across a half pixel when v * width lies within
1e-6 of one; the fixed magnitudes below are far from that.
"""

import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from PIL import ImageDraw
from PIL import ImageEnhance
from PIL import ImageOps

from ltpll_jax.data import color_ops
from ltpll_jax.data import exact_math
from ltpll_jax.data import image_ops
from ltpll_jax.data import tone_ops


# ----------------------------------------------------------------------------
# The Pillow reference, called as the published code calls it.


def to_pil(array: np.ndarray) -> Image.Image:
  """uint8 [H, W, 3] -> 'RGB', [H, W, 1] -> 'L'."""
  if array.shape[-1] == 1:
    return Image.fromarray(array[..., 0], 'L')
  return Image.fromarray(array, 'RGB')


def from_pil(image: Image.Image) -> np.ndarray:
  array = np.array(image)
  return array[..., None] if array.ndim == 2 else array


def pil_hue(image: Image.Image, factor: float) -> Image.Image:
  """torchvision.transforms._functional_pil.adjust_hue."""
  if image.mode in {'L', '1', 'I', 'F'}:
    return image
  h, s, v = image.convert('HSV').split()
  np_h = np.array(h, dtype=np.uint8)
  with np.errstate(over='ignore', invalid='ignore'):
    np_h += np.array(factor * 255).astype(np.uint8)
  h = Image.fromarray(np_h, 'L')
  return Image.merge('HSV', (h, s, v)).convert(image.mode)


def pil_grayscale(image: Image.Image) -> Image.Image:
  """torchvision rgb_to_grayscale(img, num_output_channels=channels)."""
  if image.mode == 'L':
    return image.convert('L')
  grey = np.array(image.convert('L'))
  return Image.fromarray(np.dstack([grey] * 3), 'RGB')


def pil_cutout(image: Image.Image, v: float, cx: float,
               cy: float) -> Image.Image:
  """PiCO's Cutout / CutoutAbs with the centre given instead of drawn.

  A 1-channel image gets fill 123 (Pillow rejects the RGB tuple on 'L').
  """
  if v <= 0.0:
    return image
  v = v * image.size[0]
  w, h = image.size
  x0 = int(max(0, cx - v / 2.0))
  y0 = int(max(0, cy - v / 2.0))
  x1 = min(w, x0 + v)
  y1 = min(h, y0 + v)
  image = image.copy()
  fill = (125, 123, 114) if image.mode == 'RGB' else 123
  ImageDraw.Draw(image).rectangle((x0, y0, x1, y1), fill)
  return image


def pil_resized_crop(image: Image.Image, top: int, left: int, height: int,
                     width: int, size: int) -> Image.Image:
  """torchvision resized_crop on a PIL image (crop, then bilinear resize)."""
  crop = image.crop((left, top, left + width, top + height))
  return crop.resize((size, size), Image.BILINEAR)


def _affine(image, coeffs):
  return image.transform(image.size, Image.AFFINE, coeffs)


# PiCO's augment_list(), in its order: (name, op(img, v)).
PIL_RANDAUGMENT = (
    ('autocontrast', lambda img, _: ImageOps.autocontrast(img)),
    ('brightness', lambda img, v: ImageEnhance.Brightness(img).enhance(v)),
    ('color', lambda img, v: ImageEnhance.Color(img).enhance(v)),
    ('contrast', lambda img, v: ImageEnhance.Contrast(img).enhance(v)),
    ('equalize', lambda img, _: ImageOps.equalize(img)),
    ('identity', lambda img, _: img),
    ('posterize', lambda img, v: ImageOps.posterize(img, max(1, int(v)))),
    ('rotate', lambda img, v: img.rotate(v)),
    ('sharpness', lambda img, v: ImageEnhance.Sharpness(img).enhance(v)),
    ('shear_x', lambda img, v: _affine(img, (1, v, 0, 0, 1, 0))),
    ('shear_y', lambda img, v: _affine(img, (1, 0, 0, v, 1, 0))),
    ('solarize', lambda img, v: ImageOps.solarize(img, v)),
    ('translate_x',
     lambda img, v: _affine(img, (1, 0, v * img.size[0], 0, 1, 0))),
    ('translate_y',
     lambda img, v: _affine(img, (1, 0, 0, 0, 1, v * img.size[1]))),
)

# torchvision ColorJitter's ops, in its fn_idx order.
PIL_JITTER = (
    lambda img, f: ImageEnhance.Brightness(img).enhance(f),
    lambda img, f: ImageEnhance.Contrast(img).enhance(f),
    lambda img, f: ImageEnhance.Color(img).enhance(f),
    pil_hue,
)


# ----------------------------------------------------------------------------
# Fixed test images and the JAX ops under test.


def _make_images() -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  y, x = np.mgrid[:32, :32]
  return {
      'random_rgb32': rng.integers(0, 256, (32, 32, 3), np.uint8),
      'random_rgb28': rng.integers(0, 256, (28, 28, 3), np.uint8),
      'random_l28': rng.integers(0, 256, (28, 28, 1), np.uint8),
      'low_contrast_rgb32': rng.integers(100, 131, (32, 32, 3), np.uint8),
      'gradient_rgb32': np.stack([x * 8, y * 8, (x + y) * 4],
                                 -1).astype(np.uint8),
      'gradient_l32': ((7 * x + 3 * y) % 256).astype(np.uint8)[..., None],
      'random_rgb128': rng.integers(0, 256, (128, 128, 3), np.uint8),
  }


IMAGES = _make_images()
SMALL = [name for name in IMAGES if not name.endswith('128')]

JAX_RANDAUGMENT = {
    'autocontrast': tone_ops.autocontrast,
    'brightness': color_ops.brightness,
    'color': color_ops.color,
    'contrast': color_ops.contrast,
    'equalize': tone_ops.equalize,
    'identity': lambda image, v: image,
    'posterize': tone_ops.posterize,
    'rotate': image_ops.rotate,
    'sharpness': color_ops.sharpness,
    'shear_x': image_ops.shear_x,
    'shear_y': image_ops.shear_y,
    'solarize': tone_ops.solarize,
    'translate_x': image_ops.translate_x,
    'translate_y': image_ops.translate_y,
}

# Magnitudes per op: the ends of PiCO's ranges and values inside them; for
# the enhancers also ColorJitter's 0.6 / 1.4 (the clipping branch of blend).
MAGNITUDES = {
    'autocontrast': [0.0],
    'brightness': [0.05, 0.5, 0.95, 0.6, 1.4],
    'color': [0.05, 0.5, 0.95, 0.6, 1.4],
    'contrast': [0.05, 0.5, 0.95, 0.6, 1.4],
    'equalize': [0.0],
    'identity': [0.0],
    'posterize': [4.0, 5.5, 7.0, 7.99, 8.0],
    'rotate': [30.0, -30.0, 17.3, -0.5, 0.0],
    'sharpness': [0.05, 0.5, 0.95, 1.4],
    'shear_x': [0.3, -0.3, 0.1234, -0.05, 0.0],
    'shear_y': [0.3, -0.3, 0.1234, -0.05, 0.0],
    'solarize': [0.0, 256.0, 128.0, 77.7],
    # Non-integer shifts: 0.1 * 32 = 3.2, 0.1 * 28 = 2.8, -0.17 * 32 = -5.44.
    'translate_x': [0.3, -0.3, 0.1, -0.17, 0.0567],
    'translate_y': [0.3, -0.3, 0.1, -0.17, 0.0567],
}


@functools.cache
def _jit(fn):
  return jax.jit(fn)


def run_jax(fn, array: np.ndarray, *args) -> np.ndarray:
  """Runs an op on a uint8 array (magnitudes traced) and checks the type."""
  out = _jit(fn)(jnp.asarray(array, jnp.float32),
                 *(jnp.float32(a) for a in args))
  out = np.asarray(out)
  assert out.dtype == np.float32 and out.shape == array.shape
  assert np.array_equal(out, np.round(out)), 'not integer valued'
  return out


def assert_same(ours: np.ndarray, pillow: np.ndarray):
  diff = np.abs(ours.astype(np.int64) - pillow.astype(np.int64))
  assert diff.max() == 0, (
      f'{np.count_nonzero(diff)} of {diff.size} values differ, '
      f'by up to {diff.max()}')


def _f32(value: float) -> float:
  """The float32 nearest `value`, as the Python float Pillow receives."""
  return float(np.float32(value))


# ----------------------------------------------------------------------------
# Tests.


@pytest.mark.parametrize('image_name', SMALL + ['random_rgb128'])
@pytest.mark.parametrize('op_name', list(JAX_RANDAUGMENT))
def test_randaugment_op_matches_pillow(op_name, image_name):
  array = IMAGES[image_name]
  for v in MAGNITUDES[op_name]:
    v = _f32(v)
    pil_op = dict(PIL_RANDAUGMENT)[op_name]
    ours = run_jax(JAX_RANDAUGMENT[op_name], array, v)
    assert_same(ours, from_pil(pil_op(to_pil(array), v)))


@pytest.mark.parametrize('image_name', SMALL)
@pytest.mark.parametrize('factor', [0.1, -0.1, 0.5, -0.5, 0.03, -0.07, 0.0])
def test_hue_matches_torchvision(image_name, factor):
  # Negative factors wrap around in uint8: -0.1 adds 231 to H.
  array = IMAGES[image_name]
  factor = _f32(factor)
  ours = run_jax(color_ops.hue, array, factor)
  assert_same(ours, from_pil(pil_hue(to_pil(array), factor)))


@pytest.mark.parametrize('image_name', SMALL)
def test_grayscale_and_flip_match_pillow(image_name):
  array = IMAGES[image_name]
  image = to_pil(array)
  assert_same(run_jax(color_ops.grayscale, array),
              from_pil(pil_grayscale(image)))
  assert_same(run_jax(image_ops.flip_left_right, array),
              from_pil(image.transpose(Image.FLIP_LEFT_RIGHT)))


@pytest.mark.parametrize('image_name',
                         ['random_rgb32', 'random_l28', 'random_rgb128'])
@pytest.mark.parametrize('v, cx, cy', [
    (0.5, 1.0, 1.0),  # clipped at the top-left corner
    (0.25, 32.0, 32.0),  # reaches past the bottom-right edge
    (0.37, 15.5, 3.2),
    (0.013, 10.4, 20.6),  # side < 1: one pixel, both corners inclusive
    (0.49, 27.9, 13.0),
    (0.0, 10.0, 10.0),  # v <= 0: unchanged
])
def test_cutout_matches_pico(image_name, v, cx, cy):
  array = IMAGES[image_name]
  v, cx, cy = _f32(v), _f32(cx), _f32(cy)
  ours = run_jax(image_ops.cutout, array, v, cx, cy)
  assert_same(ours, from_pil(pil_cutout(to_pil(array), v, cx, cy)))


def test_cutout_fills_grey():
  rgb = run_jax(image_ops.cutout, IMAGES['random_rgb32'], 0.25, 16.0, 16.0)
  grey = run_jax(image_ops.cutout, IMAGES['random_l28'], 0.25, 14.0, 14.0)
  np.testing.assert_array_equal(rgb[16, 16], [125, 123, 114])
  # 123 is PIL's luma of (125, 123, 114).
  assert grey[14, 14, 0] == (125 * 19595 + 123 * 38470 + 114 * 7471 +
                             0x8000) >> 16 == 123


@pytest.mark.parametrize('image_name',
                         ['random_rgb32', 'random_l28', 'random_rgb128'])
def test_resized_crop_matches_pillow(image_name):
  array = IMAGES[image_name]
  side = array.shape[0]
  rng = np.random.default_rng(side)
  boxes = [(0, 0, side, side), (0, 0, 1, 1), (side - 1, 3, 1, side - 3),
           (2, side - 1, side - 2, 1), (5, 7, side // 2, side // 3)]
  for _ in range(8):
    height, width = rng.integers(1, side + 1, 2)
    boxes.append((rng.integers(0, side - height + 1),
                  rng.integers(0, side - width + 1), height, width))
  resize = functools.partial(image_ops.resized_crop, size=side)
  for top, left, height, width in boxes:
    ours = np.asarray(_jit(resize)(jnp.asarray(array, jnp.float32), top, left,
                                   height, width))
    pillow = pil_resized_crop(to_pil(array), top, left, height, width, side)
    assert_same(ours, from_pil(pillow))


def test_resized_crop_compiles_once_for_all_boxes():
  @jax.jit
  @chex.assert_max_traces(n=1)
  def resize(image, top, left, height, width):
    return image_ops.resized_crop(image, top, left, height, width, 32)

  image = jnp.asarray(IMAGES['random_rgb32'], jnp.float32)
  for box in [(0, 0, 32, 32), (3, 4, 20, 25), (0, 31, 32, 1)]:
    resize(image, *(jnp.int32(b) for b in box))


def test_autocontrast_keeps_pillows_float64_rounding():
  # For hi - lo = 25, Pillow's float64 LUT maps hi to 254, not 255.
  array = np.tile(np.arange(26, dtype=np.uint8), 2)[None, :, None]
  array = np.broadcast_to(array, (52, 52, 1)).copy()
  ours = run_jax(tone_ops.autocontrast, array)
  pillow = from_pil(ImageOps.autocontrast(to_pil(array)))
  assert pillow.max() == 254
  assert_same(ours, pillow)


def test_equalize_clips_its_lut_like_pillow():
  # Step 1 and many distinct values push Pillow's LUT past 255.
  array = np.zeros((1, 300), np.uint8)
  array[0, :254] = np.arange(254)
  array[0, 254:] = 255
  array = np.broadcast_to(array[..., None], (300, 300, 1)).copy()
  assert_same(run_jax(tone_ops.equalize, array),
              from_pil(ImageOps.equalize(to_pil(array))))


@pytest.mark.parametrize('op', [tone_ops.autocontrast, tone_ops.equalize])
def test_constant_image_is_unchanged(op):
  array = np.full((16, 16, 3), 77, np.uint8)
  np.testing.assert_array_equal(run_jax(op, array), array)


def _all_colours() -> np.ndarray:
  codes = np.arange(1 << 24, dtype=np.uint32)
  return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255],
                  -1).astype(np.uint8).reshape(4096, 4096, 3)


def test_hsv_conversions_match_pillow_on_all_colours():
  colours = _all_colours()
  to_hsv = jax.jit(lambda x: jnp.stack(color_ops.rgb_to_hsv(x), -1))
  to_rgb = jax.jit(lambda x: color_ops.hsv_to_rgb(x[..., 0], x[..., 1],
                                                  x[..., 2]))
  for rows in np.split(np.arange(4096), 4):
    chunk = colours[rows]
    hsv = np.asarray(to_hsv(jnp.asarray(chunk, jnp.float32)))
    assert_same(hsv, np.array(Image.fromarray(chunk).convert('HSV')))
    rgb = np.asarray(to_rgb(jnp.asarray(chunk, jnp.int32)))
    assert_same(rgb, np.array(Image.fromarray(chunk, 'HSV').convert('RGB')))


def _pillow_rotation_coeffs(degrees: float, size: int) -> list[int]:
  """Image.rotate's matrix and libImaging's FIX(), in float64."""
  angle = -math.radians(degrees % 360.0)
  a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
  d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
  centre = size / 2
  c = a * -centre + b * -centre + centre
  f = d * -centre + e * -centre + centre

  def fix(value):
    return math.floor(value * 65536.0 + 0.5)

  return [fix(a), fix(b), fix(c + a * 0.5 + b * 0.5), fix(d), fix(e),
          fix(f + d * 0.5 + e * 0.5)]


@pytest.mark.parametrize('size', [28, 32, 128])
def test_rotation_coefficients_match_pillow_float64(size):
  angles = np.random.default_rng(size).uniform(-30, 30, 2000)
  angles = np.concatenate([[30.0, -30.0, 0.0, 1e-4], angles]).astype(
      np.float32)
  coeffs = jax.jit(jax.vmap(
      lambda v: jnp.stack(image_ops._rotation_coeffs(v, size, size))))
  ours = np.asarray(coeffs(jnp.asarray(angles)))
  pillow = np.array([_pillow_rotation_coeffs(float(v), size) for v in angles])
  assert_same(ours, pillow)


def test_error_free_sums_survive_xla():
  # XLA would fold (x + 1) - 1 to x if the 1 were a literal.
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, 1000), jnp.float32)
  s, err = jax.jit(lambda x: exact_math.two_sum(exact_math.opaque(1.0), x))(x)
  exact = 1.0 + np.asarray(x, np.float64)
  np.testing.assert_array_equal(np.float64(s) + np.float64(err), exact)
  assert np.any(np.asarray(err) != 0)


def test_double_float_sin_cos():
  theta = np.linspace(-np.pi / 4, np.pi / 4, 101)
  hi = theta.astype(np.float32)
  lo = (theta - hi).astype(np.float32)
  sin, cos = jax.jit(exact_math.df_sin_cos)(
      exact_math.DoubleFloat(jnp.asarray(hi), jnp.asarray(lo)))
  exact = np.float64(hi) + np.float64(lo)
  for got, want in ((sin, np.sin(exact)), (cos, np.cos(exact))):
    total = np.float64(got.hi) + np.float64(got.lo)
    assert np.abs(total - want).max() < 1e-12


def test_ops_vmap_over_images_and_magnitudes():
  images = jnp.asarray(np.stack([IMAGES['random_rgb32']] * 3), jnp.float32)
  angles = jnp.asarray([30.0, -12.5, 3.0])
  batched = jax.jit(jax.vmap(image_ops.rotate))(images, angles)
  for i, v in enumerate([30.0, -12.5, 3.0]):
    pillow = to_pil(IMAGES['random_rgb32']).rotate(v)
    assert_same(np.asarray(batched[i]), from_pil(pillow))
