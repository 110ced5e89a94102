"""The long-tailed partial-label data set a run trains on, and its manifest.

``build_dataset`` turns ``config.data`` into host numpy arrays: a raw source
(``sources.py``, ``voc.py``), the long-tailed subset with candidate sets
(``longtail.py``; PASCAL VOC brings its own candidate sets and is used whole),
and a manifest (``dataset.json``) that lets a user check the data before
spending accelerator time on it.
"""

import dataclasses
import hashlib
from typing import Any, Callable, Optional

import ml_collections
import numpy as np

from ltpll_jax.data import augment
from ltpll_jax.data import longtail
from ltpll_jax.data import sources
from ltpll_jax.data import voc

# Data sets the project knows, with their number of classes (None: any).
NUM_CLASSES = {'cifar10': 10, 'cifar100': 100, 'fashion_mnist': 10,
               'voc': 20, 'synthetic': None}
# Data sets whose samples carry a superclass (hierarchical candidates).
WITH_SUPERCLASSES = {'cifar100', 'synthetic'}
# Loaders of data sets registered by users: (config.data, seed) -> RawData.
CUSTOM_LOADERS: dict[str, Callable[[ml_collections.ConfigDict, int],
                                   sources.RawData]] = {}


def register_dataset(name: str,
                     loader: Callable[[ml_collections.ConfigDict, int],
                                      sources.RawData], *,
                     num_classes: Optional[int],
                     mean: tuple[float, ...] = (0.5,),
                     std: tuple[float, ...] = (0.25,),
                     has_superclasses: bool = False) -> None:
  """Makes ``config.data.name=name`` load through ``loader``.

  The loader returns a balanced ``sources.RawData`` (any uint8 NHWC images
  with square sides and int labels in ``[0, num_classes)``); the long tail
  and the candidate sets are then made as for the built-in data sets (or
  taken from ``RawData.train_candidates`` when it brings its own).

  Args:
    name: the ``config.data.name`` value.
    loader: ``(config.data, seed) -> RawData``.
    num_classes: K (checked against ``config.data.num_classes``), or None.
    mean: per-channel Normalize mean of images in [0, 1] (one value for all
      channels, or C values).
    std: per-channel Normalize standard deviation.
    has_superclasses: whether ``RawData.train_coarse_labels`` is set, which
      allows ``data.candidates='hierarchical'``.
  """
  augment.register_normalization(name, mean, std)
  NUM_CLASSES[name] = num_classes
  if has_superclasses:
    WITH_SUPERCLASSES.add(name)
  CUSTOM_LOADERS[name] = loader


def register_tfds_dataset(name: str, *, num_classes: int,
                          tfds_name: Optional[str] = None,
                          mean: tuple[float, ...] = (0.5,),
                          std: tuple[float, ...] = (0.25,)) -> None:
  """Registers a TFDS image-classification data set (``image``, ``label``
  features, ``train`` and ``test`` splits, square images) as
  ``config.data.name=name``."""
  register_dataset(
      name, lambda data, seed: sources.load_tfds(
          tfds_name or name, tfds_dir=data.tfds_dir, download=data.download),
      num_classes=num_classes, mean=mean, std=std)


@dataclasses.dataclass(frozen=True)
class PLLDataset:
  """Training and test arrays of one long-tailed partial-label data set.

  Attributes:
    name: data-set name.
    train_images: ``[n, H, W, C]`` uint8, class blocks in the published order
      (given candidate sets: the source's order).
    train_labels: ``[n]`` int32 true labels (evaluation and diagnostics only).
    candidate_mask: ``[n, K]`` bool candidate sets.
    test_images: ``[M, H, W, C]`` uint8 (balanced test set).
    test_labels: ``[M]`` int32.
    class_names: K names.
    kept_indices: ``[n]`` int64 positions of the training images in the
      source's archive order.
    config: the ``config.data`` values the set was built from (for the
      manifest).
  """
  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  candidate_mask: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  class_names: tuple[str, ...]
  kept_indices: np.ndarray
  config: dict[str, Any]

  @property
  def num_classes(self) -> int:
    return self.candidate_mask.shape[1]

  @property
  def class_counts(self) -> np.ndarray:
    """``[K]`` int64 training images per true class."""
    return np.bincount(self.train_labels, minlength=self.num_classes)

  def manifest(self) -> dict[str, Any]:
    """JSON-ready description: what ``dataset.json`` holds."""
    mask = self.candidate_mask
    sizes = mask.sum(1)
    contains = mask[np.arange(len(mask)), self.train_labels]
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(self.kept_indices, '<i8').tobytes())
    digest.update(np.packbits(mask, axis=None).tobytes())
    counts = self.class_counts
    return {
        'name': self.name,
        'num_classes': self.num_classes,
        'class_names': list(self.class_names),
        'class_counts': counts.tolist(),
        'num_train': int(len(mask)),
        'num_test': int(len(self.test_labels)),
        'test_class_counts': np.bincount(
            self.test_labels, minlength=self.num_classes).tolist(),
        'image_shape': list(self.train_images.shape[1:]),
        'imbalance_ratio_observed': float(counts.max() / max(counts.min(), 1)),
        'mean_candidates': float(sizes.mean()),
        'min_candidates': int(sizes.min()),
        'max_candidates': int(sizes.max()),
        'mean_candidates_per_class': [
            float(sizes[self.train_labels == c].mean()) if counts[c] else None
            for c in range(self.num_classes)],
        'all_contain_true': bool(contains.all()),
        'subset_sha256': digest.hexdigest(),
        **self.config,
    }


def load_raw(data: ml_collections.ConfigDict, seed: int) -> sources.RawData:
  """The balanced base data set named by ``config.data``."""
  if data.name in CUSTOM_LOADERS:
    return CUSTOM_LOADERS[data.name](data, seed)
  if data.name == 'synthetic':
    syn = data.synthetic
    return sources.make_synthetic(
        num_classes=data.num_classes, train_per_class=syn.train_per_class,
        test_per_class=syn.test_per_class, image_size=syn.image_size,
        channels=syn.channels, seed=seed,
        num_superclasses=syn.num_superclasses)
  if data.name == 'voc':
    return voc.load_voc(data.data_dir)
  if data.source == 'local':
    return sources.load_local(data.name, data.data_dir)
  return sources.load_tfds(data.name, tfds_dir=data.tfds_dir,
                           download=data.download)


def build_dataset(data: ml_collections.ConfigDict, seed: int,
                  raw: Optional[sources.RawData] = None) -> PLLDataset:
  """Builds the long-tailed partial-label training set and the test set.

  Args:
    data: ``config.data``.
    seed: ``config.seed`` (see ``longtail.make_long_tailed_pll`` for how each
      RNG mode uses it).
    raw: the base data set, if already loaded (tests pass in-memory arrays).

  Returns:
    The data set; its manifest records the construction parameters. When the
    source gives the candidate sets (``raw.train_candidates``), every
    training image is kept in the source's order with those sets;
    ``imbalance_ratio``, ``partial_rate``, ``candidates`` and ``rng_mode``
    are then unused, and the manifest says ``candidates: 'given'``.
  """
  raw = raw if raw is not None else load_raw(data, seed)
  if raw.train_candidates is not None:
    kept = np.arange(len(raw.train_labels), dtype=np.int64)
    # Used as they are: VOC's images are 0.5 GB, not worth a copy.
    images = raw.train_images
    mask = np.asarray(raw.train_candidates, bool)
    params = {'source': data.source, 'candidates': 'given',
              'subsampled': False, 'seed': seed}
  else:
    kept, mask = longtail.make_long_tailed_pll(
        raw.train_labels, raw.num_classes, data.imbalance_ratio,
        data.partial_rate, candidates=data.candidates,
        rng_mode=data.rng_mode, seed=seed,
        coarse_labels=raw.train_coarse_labels)
    images = raw.train_images[kept]
    params = {'source': data.source, 'imbalance_ratio': data.imbalance_ratio,
              'partial_rate': data.partial_rate,
              'candidates': data.candidates, 'rng_mode': data.rng_mode,
              'seed': seed}
  return PLLDataset(
      name=raw.name,
      train_images=images,
      train_labels=raw.train_labels[kept].astype(np.int32),
      candidate_mask=mask,
      test_images=raw.test_images,
      test_labels=raw.test_labels.astype(np.int32),
      class_names=raw.class_names,
      kept_indices=kept,
      config=params)
