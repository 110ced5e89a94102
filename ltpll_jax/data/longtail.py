"""Long-tailed subsampling and partial-label (candidate set) generation.

Everything here is numpy and deterministic; it runs once on the host before
training. The construction follows ALGORITHMS.md section 1:

* **Exponential profile** (LDAM-DRW style): with ``n_max = N_full / K`` and
  ``imb_factor = 1 / rho``, class ``c`` keeps
  ``int(n_max * imb_factor ** (c / (K - 1)))`` images (Python floats,
  truncated).
* **Hierarchical candidates** (CIFAR-100-LT-NU) first permute that list of
  counts across classes, so the head classes are a random subset of indices.
* **Subsampling**: for each class in increasing order, shuffle its indices
  (ascending archive order) in place and keep the first ``n_c``; the data set is
  the concatenation of the class blocks, class 0 first.
* **Candidates**: the true label is always a candidate; every other class ``k``
  joins when ``u[j, k] < T[y_j, k]``, with one ``[n, K]`` matrix ``u`` of
  Uniform[0, 1) draws made once in row-major order. ``T`` is ``q`` off the
  diagonal (uniform) or ``8q`` inside the true label's superclass and ``q``
  outside it (hierarchical, expected size ``1 + (S - 1) 8q + (K - S) q``).

Two RNG modes:

* ``published``: bit-for-bit the subsets of the published code. numpy's legacy
  ``RandomState`` seeded with **0** whatever ``seed`` is (the reference's data
  set constructor calls ``np.random.seed(0)``): the K per-class shuffles, then
  one ``uniform(0, 1, size=(n, K))``. The hierarchical class-size shuffle uses
  Python's ``random`` seeded with ``seed`` (123 in the published runs).
* ``seeded``: a ``numpy.random.Generator`` from ``seed`` drives all three
  draws, for new experiments and seed sweeps.
"""

import dataclasses
import random
from typing import Callable, Optional, Sequence

import numpy as np

CANDIDATE_GENERATORS = ('uniform', 'hierarchical')
RNG_MODES = ('published', 'seeded')
# In-superclass flip probability multiplier of the RECORDS NU generator.
HIERARCHICAL_RATIO = 8.0


def exponential_class_counts(num_full: int, num_classes: int,
                             imbalance_ratio: float) -> list[int]:
  """Per-class image counts of the exponential long-tail profile.

  Args:
    num_full: size of the balanced training set (50000 for CIFAR).
    num_classes: K.
    imbalance_ratio: rho >= 1, the head-to-tail count ratio.

  Returns:
    A list of K ints, head (class 0) first.
  """
  if imbalance_ratio < 1:
    raise ValueError(f'imbalance_ratio must be >= 1, got {imbalance_ratio}')
  # Python floats throughout: the published counts come from int() of a
  # float64 and must not pick up numpy's rounding of the power.
  img_max = num_full / num_classes
  imb_factor = 1.0 / float(imbalance_ratio)
  if num_classes == 1:
    return [int(img_max)]
  return [int(img_max * imb_factor**(c / (num_classes - 1.0)))
          for c in range(num_classes)]


def transition_matrix(num_classes: int, partial_rate: float, *,
                      superclass_of: Optional[np.ndarray] = None
                     ) -> np.ndarray:
  """Flip probabilities T[y, k] of class k joining true label y's candidates.

  Args:
    num_classes: K.
    partial_rate: q in [0, 1].
    superclass_of: ``[K]`` int superclass of each class for the hierarchical
      generator, or None for the uniform one.

  Returns:
    ``[K, K]`` float64 with ones on the diagonal.
  """
  off_diagonal = ~np.eye(num_classes, dtype=bool)
  t = np.eye(num_classes)
  if superclass_of is None:
    t[off_diagonal] = partial_rate
    return t
  # As published: 8q everywhere off the diagonal, masked to the true label's
  # superclass, and the entries that became zero reset to q.
  t[off_diagonal] = HIERARCHICAL_RATIO * partial_rate
  same = superclass_of[:, None] == superclass_of[None, :]
  t = t * same
  t[t == 0] = partial_rate
  return t


def superclass_map(labels: np.ndarray, coarse_labels: np.ndarray,
                   num_classes: int) -> np.ndarray:
  """The superclass of every fine class, checked for consistency.

  Args:
    labels: ``[N]`` fine labels.
    coarse_labels: ``[N]`` superclass labels aligned with ``labels``.
    num_classes: K.

  Returns:
    ``[K]`` int64 superclass index of each fine class.

  Raises:
    ValueError: a fine class has no sample or more than one superclass.
  """
  labels = np.asarray(labels)
  coarse_labels = np.asarray(coarse_labels)
  if coarse_labels.shape != labels.shape:
    raise ValueError(f'coarse_labels shape {coarse_labels.shape} does not '
                     f'match labels shape {labels.shape}')
  pairs = np.unique(np.stack([labels, coarse_labels], axis=1), axis=0)
  fine, counts = np.unique(pairs[:, 0], return_counts=True)
  if len(fine) != num_classes:
    missing = sorted(set(range(num_classes)) - set(fine.tolist()))
    raise ValueError(f'classes {missing} have no sample, so their '
                     'superclass is unknown')
  if np.any(counts > 1):
    bad = fine[counts > 1].tolist()
    raise ValueError(f'classes {bad} map to more than one superclass')
  return pairs[:, 1].astype(np.int64)


@dataclasses.dataclass
class _Draws:
  """The three random draws, so both RNG modes share one construction."""
  shuffle_counts: Callable[[list[int]], list[int]]
  shuffle_class: Callable[[np.ndarray], np.ndarray]
  uniform: Callable[[tuple[int, int]], np.ndarray]


def _published_draws(seed: int) -> _Draws:
  legacy = np.random.RandomState(0)  # pylint: disable=no-member
  python_rng = random.Random(seed)

  def shuffle_counts(counts):
    counts = list(counts)
    python_rng.shuffle(counts)
    return counts

  def shuffle_class(idx):
    legacy.shuffle(idx)
    return idx

  return _Draws(shuffle_counts, shuffle_class,
                lambda shape: legacy.uniform(0, 1, size=shape))


def _seeded_draws(seed: int) -> _Draws:
  rng = np.random.default_rng(seed)
  return _Draws(lambda counts: rng.permutation(counts).tolist(),
                rng.permutation, rng.random)


def make_long_tailed_pll(labels: Sequence[int] | np.ndarray,
                         num_classes: int,
                         imbalance_ratio: float,
                         partial_rate: float,
                         *,
                         candidates: str = 'uniform',
                         rng_mode: str = 'published',
                         seed: int = 0,
                         coarse_labels: Optional[np.ndarray] = None
                        ) -> tuple[np.ndarray, np.ndarray]:
  """Long-tailed subset of a balanced training set, with candidate sets.

  Args:
    labels: ``[N]`` true labels of the full training set in archive order.
    num_classes: K.
    imbalance_ratio: rho >= 1.
    partial_rate: q in [0, 1].
    candidates: 'uniform' or 'hierarchical'.
    rng_mode: 'published' or 'seeded' (see the module docstring).
    seed: Python-random seed of the hierarchical class-size shuffle in
      'published' mode; the seed of everything in 'seeded' mode.
    coarse_labels: ``[N]`` superclass of every sample, aligned with
      ``labels``; required for 'hierarchical'.

  Returns:
    ``(kept_indices, candidate_mask)``: ``[n]`` int64 indices into ``labels``
    in the order the data set is built (class blocks, class 0 first), and a
    ``[n, K]`` bool mask whose row j holds sample ``kept_indices[j]``'s
    candidates (its true label always among them).

  Raises:
    ValueError: an argument is out of range or inconsistent.
  """
  labels = np.asarray(labels, dtype=np.int64)
  if labels.ndim != 1 or labels.size == 0:
    raise ValueError(f'labels must be a non-empty 1-D vector, got shape '
                     f'{labels.shape}')
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f'labels must lie in [0, {num_classes}), got '
                     f'[{labels.min()}, {labels.max()}]')
  if not 0.0 <= partial_rate <= 1.0:
    raise ValueError(f'partial_rate must be in [0, 1], got {partial_rate}')
  if candidates not in CANDIDATE_GENERATORS:
    raise ValueError(f'candidates must be one of {CANDIDATE_GENERATORS}, '
                     f'got {candidates!r}')
  if rng_mode not in RNG_MODES:
    raise ValueError(f'rng_mode must be one of {RNG_MODES}, got {rng_mode!r}')
  superclass_of = None
  if candidates == 'hierarchical':
    if coarse_labels is None:
      raise ValueError("candidates='hierarchical' needs coarse_labels")
    superclass_of = superclass_map(labels, coarse_labels, num_classes)

  draws = (_published_draws(seed) if rng_mode == 'published'
           else _seeded_draws(seed))
  counts = exponential_class_counts(len(labels), num_classes, imbalance_ratio)
  if candidates == 'hierarchical':
    counts = draws.shuffle_counts(counts)

  blocks = []
  for c in range(num_classes):
    idx = np.flatnonzero(labels == c).astype(np.int64)
    blocks.append(draws.shuffle_class(idx)[:counts[c]])
  kept = np.concatenate(blocks)

  kept_labels = labels[kept]
  t = transition_matrix(num_classes, partial_rate,
                        superclass_of=superclass_of)
  u = draws.uniform((len(kept), num_classes))
  # T has ones on the diagonal and u < 1, so the true label always joins.
  mask = u < t[kept_labels]
  return kept, mask
