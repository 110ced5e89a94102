"""Error-free float32 arithmetic, to replay Pillow's float64 steps on device.

JAX runs here with 32-bit floats, but Pillow forms some values in C doubles
(HSV hue, rotation matrices). Where the double result decides a rounding,
these helpers give it exactly from float32 operations: Knuth's two-sum,
Dekker's two-product with a bit-mask split, and "double-float" numbers
(hi + lo, about 44 significant bits).

Three compiler rewrites would silently break such code, and are avoided:
* XLA simplifies (x + c) - c to x when c is a literal, so constants that
  enter an error-free sum go through `opaque`;
* XLA turns x / c into x * (1 / c), so nothing here divides by a constant;
* XLA's CPU backend contracts a * b + c into one fused multiply-add, so a
  product that C rounds before adding goes through `rounded`. (Elsewhere
  in these helpers contraction is harmless: the other products that feed
  an error term are exact.)
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class DoubleFloat(NamedTuple):
  """An unevaluated sum hi + lo of float32 arrays with |lo| <= ulp(hi) / 2."""
  hi: jax.Array
  lo: jax.Array


def opaque(value: float) -> jax.Array:
  """A float32 scalar that XLA cannot constant-fold (see the module doc)."""
  return jax.lax.optimization_barrier(jnp.float32(value))


def rounded(product: jax.Array) -> jax.Array:
  """A product rounded to float32 before any later addition.

  `product + 0` with an opaque zero: XLA cannot fold it, and the backend
  can at most contract the product into this addition, which gives exactly
  the rounded product, so it cannot reach the caller's addition.
  """
  return product + opaque(0.0)


def two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Knuth's error-free sum: s = fl(a + b) and s + err == a + b exactly.

  Neither operand may be a literal constant (use `opaque`).
  """
  s = a + b
  b_virtual = s - a
  err = (a - (s - b_virtual)) + (b - b_virtual)
  return s, err


def _split(a: jax.Array) -> tuple[jax.Array, jax.Array]:
  """a = hi + lo exactly, hi keeping the top 12 significant bits.

  A bit mask, not Veltkamp's 4097 * a trick, so FMA contraction cannot
  change it.
  """
  bits = jax.lax.bitcast_convert_type(a, jnp.uint32)
  hi = jax.lax.bitcast_convert_type(bits & np.uint32(0xFFFFF000), jnp.float32)
  return hi, a - hi


def two_prod(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Dekker's error-free product: p = fl(a b) and p + err == a b exactly."""
  # `rounded`, or a_hi * b_hi - p could become fma(-a, b, a_hi * b_hi).
  p = rounded(a * b)
  a_hi, a_lo = _split(a)
  b_hi, b_lo = _split(b)
  err = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
  return p, err


def _renormalize(s: jax.Array, e: jax.Array) -> DoubleFloat:
  hi, lo = two_sum(s, e)
  return DoubleFloat(hi, lo)


def df(value: float) -> DoubleFloat:
  """A Python float as an opaque double-float constant."""
  hi = np.float32(value)
  return DoubleFloat(opaque(hi), opaque(np.float32(value - float(hi))))


def df_add(a: DoubleFloat, b: DoubleFloat) -> DoubleFloat:
  """a + b in double-float arithmetic."""
  s, e = two_sum(a.hi, b.hi)
  return _renormalize(s, e + (a.lo + b.lo))


def df_mul(a: DoubleFloat, b: DoubleFloat) -> DoubleFloat:
  """a * b in double-float arithmetic."""
  p, e = two_prod(a.hi, b.hi)
  return _renormalize(p, e + (a.hi * b.lo + a.lo * b.hi))


def df_neg(a: DoubleFloat) -> DoubleFloat:
  """-a (exact)."""
  return DoubleFloat(-a.hi, -a.lo)


def df_sin_cos(theta: DoubleFloat) -> tuple[DoubleFloat, DoubleFloat]:
  """sin and cos of |theta| <= pi / 4, to about 1e-13 absolute.

  Taylor series in Horner form; at pi / 4 the first omitted terms (x^19/19!,
  x^20/20!) are below 1e-19.
  """
  sq = df_mul(theta, theta)

  def series(first_power):
    # sum_k (-1)^k x^(2k) / (2k + first_power)!, innermost term first.
    powers = range(first_power + 18, first_power - 1, -2)
    acc = df(0.0)
    for n in powers:
      coef = (-1) ** ((n - first_power) // 2) / float(np.prod(
          np.arange(1, n + 1, dtype=np.float64)))
      acc = df_add(df(coef), df_mul(sq, acc))
    return acc

  return df_mul(theta, series(1)), series(0)


def df_floor(x: DoubleFloat) -> jax.Array:
  """floor(hi + lo) as int32, for |hi| < 2**23.

  hi - floor(hi) is exact, and lo is compared with it rather than added to
  it, so a sum just below an integer is not rounded up to it.
  """
  k = jnp.floor(x.hi)
  frac = x.hi - k
  step = jnp.where(x.lo < -frac, -1.0, jnp.where(x.lo >= 1.0 - frac, 1.0, 0.0))
  return (k + step).astype(jnp.int32)
