"""Test-set metrics: per-class counts on device, summaries on the host.

`eval_counts` runs inside the (jitted or pmapped) eval step and returns integer
counts per true class; the caller sums them over batches and devices. The host
side turns the summed counts into the results dict `R` of DESIGN.md section 9:
exact sample-weighted top-1/top-5, per-class accuracies, and many/medium/few
accuracies under two conventions (ALGORITHMS.md sections 1.7 and 12):

* rank-based, as in the SoLar code: the K // 3 largest classes are "many", the
  K // 3 smallest are "few" (see `rank_splits`);
* threshold-based: "many" > 100 training images, "few" < 20.

A split's accuracy is the mean of the per-class accuracies in the group.
"""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MANY_THRESHOLD = 100
FEW_THRESHOLD = 20


def eval_counts(logits: jax.Array, labels: jax.Array, mask: jax.Array, *,
                num_classes: int) -> dict[str, jax.Array]:
  """Per-class top-1 / top-5 hits and sample counts for one eval batch.

  Pure and jittable, with no collectives: under pmap the caller psums the
  result over the device axis.

  Args:
    logits: [B, K] float scores; the predicted class is the first maximum
      (`jnp.argmax`), the top-5 set comes from `jax.lax.top_k`.
    labels: [B] int true labels.
    mask: [B] bool, False for the padding rows of the last batch; those rows
      count nowhere, whatever their label.
    num_classes: K.

  Returns:
    A dict of [K] int32 arrays, indexed by TRUE class: `correct1` (top-1
    hits), `correct5` (true label among the top min(5, K) scores, so always a
    hit when K <= 5) and `seen` (valid rows).
  """
  k = min(5, num_classes)
  labels = labels.astype(jnp.int32)
  hit1 = jnp.argmax(logits, axis=-1) == labels
  _, top = jax.lax.top_k(logits, k)
  hit5 = jnp.any(top == labels[:, None], axis=-1)
  # A one-hot sum instead of a scatter-add: the padding rows may carry any
  # label (even an out-of-range one) and the reduction stays deterministic.
  onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.int32)
  onehot = onehot * mask.astype(jnp.int32)[:, None]
  return {
      'correct1': jnp.sum(onehot * hit1.astype(jnp.int32)[:, None], axis=0),
      'correct5': jnp.sum(onehot * hit5.astype(jnp.int32)[:, None], axis=0),
      'seen': jnp.sum(onehot, axis=0),
  }


def rank_splits(
    train_counts: Sequence[int] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Many / medium / few classes by rank of training count (SoLar rule).

  With s the counts sorted ascending (0-based), many = count > s[K - M - 1]
  and few = count < s[L]; medium is the rest. SoLar hard-codes M = L = 3 for
  CIFAR-10 and 33 for CIFAR-100; here M = L = K // 3 for every K, which gives
  those two and 6 for a 20-class set such as PASCAL VOC. Ties at a boundary
  make a group smaller than K // 3 (the comparisons are strict, as in SoLar).

  Args:
    train_counts: [K] training images per class.

  Returns:
    (many, medium, few): three disjoint [K] bool masks covering every class.
    CIFAR-10 rho 100 gives 3/4/3 classes, CIFAR-100 rho 100 33/34/33.
  """
  counts = np.asarray(train_counts)
  num_classes = counts.shape[0]
  m = num_classes // 3
  if m == 0:
    none = np.zeros(num_classes, bool)
    return none, np.ones(num_classes, bool), none.copy()
  s = np.sort(counts)
  many = counts > s[num_classes - m - 1]
  few = counts < s[m]
  return many, ~many & ~few, few


def threshold_splits(
    train_counts: Sequence[int] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Many / medium / few classes by the common LT thresholds.

  Args:
    train_counts: [K] training images per class.

  Returns:
    (many, medium, few): [K] bool masks, many = count > 100, few = count < 20,
    medium = the rest. Any of them may be empty.
  """
  counts = np.asarray(train_counts)
  many = counts > MANY_THRESHOLD
  few = counts < FEW_THRESHOLD
  return many, ~many & ~few, few


def _percent(num: float, den: float) -> float | None:
  return None if den == 0 else float(100.0 * num / den)


def _group_mean(per_class: list[float | None],
                group: np.ndarray) -> float | None:
  # Classes without a test image have no accuracy and drop out of the mean.
  accs = [a for a, g in zip(per_class, group) if g and a is not None]
  return float(np.mean(accs)) if accs else None


def summarize(correct1: Any, correct5: Any, seen: Any, train_counts: Any, *,
              batch_top1: Sequence[float] | None = None) -> dict[str, Any]:
  """The results dict R of DESIGN.md section 9 from summed eval counts.

  Args:
    correct1: [K] top-1 hits per true class, summed over the test set.
    correct5: [K] top-5 hits per true class.
    seen: [K] test images per class.
    train_counts: [K] training images per class, for the splits.
    batch_top1: optional per-batch top-1 accuracies in percent, one per test
      batch; their plain mean is the figure the RECORDS code publishes.

  Returns:
    A JSON-serialisable dict of Python floats (percent) with keys `top1`,
    `top5` (sample-weighted over every seen image), `per_class` (K floats,
    None for a class without test images), `many`, `medium`, `few` (rank
    splits) and `many_threshold`, `medium_threshold`, `few_threshold`
    (threshold splits), each the mean of the per-class accuracies in the
    group, None where the group has no class with test images; plus
    `top1_batch_mean` when `batch_top1` is given. `top1`/`top5` are None when
    nothing was seen.

  Raises:
    ValueError: if the four arrays are not all of shape [K].
  """
  correct1, correct5, seen, train_counts = (
      np.asarray(x) for x in (correct1, correct5, seen, train_counts))
  shape = train_counts.shape
  if len(shape) != 1 or any(
      x.shape != shape for x in (correct1, correct5, seen)):
    raise ValueError(
        'correct1, correct5, seen and train_counts must all have shape [K]; '
        f'got {correct1.shape}, {correct5.shape}, {seen.shape}, {shape}')
  total = int(seen.sum())
  per_class = [_percent(int(c), int(n)) for c, n in zip(correct1, seen)]
  r = {
      'top1': _percent(int(correct1.sum()), total),
      'top5': _percent(int(correct5.sum()), total),
      'per_class': per_class,
  }
  for suffix, groups in (('', rank_splits(train_counts)),
                         ('_threshold', threshold_splits(train_counts))):
    for name, group in zip(('many', 'medium', 'few'), groups):
      r[name + suffix] = _group_mean(per_class, group)
  if batch_top1 is not None:
    r['top1_batch_mean'] = (
        float(np.mean(np.asarray(batch_top1, np.float64)))
        if len(batch_top1) else None)
  return r


def format_row(r: dict[str, Any]) -> str:
  """One console line, e.g. 'top1 72.31 | many 90.1 medium 70.2 few 55.3'.

  Args:
    r: a results dict from `summarize`.

  Returns:
    The line; missing values print as 'n/a'.
  """

  def fmt(key, digits):
    value = r.get(key)
    return 'n/a' if value is None else f'{value:.{digits}f}'

  return (f"top1 {fmt('top1', 2)} | many {fmt('many', 1)} "
          f"medium {fmt('medium', 1)} few {fmt('few', 1)}")
