"""Builds and checks a run's data set and writes its description files.

Shared by ``launch.py --only_data`` and the training loop, so both write the
same ``config.json`` and ``dataset.json``.
"""

import os

import ml_collections
import numpy as np

from ltpll_jax import workdir as workdir_lib
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.errors import InputError


def check_dataset(ds: dataset_lib.PLLDataset) -> None:
  """Raises InputError when the data set cannot be trained on."""
  counts = ds.class_counts
  if np.any(counts == 0):
    empty = np.flatnonzero(counts == 0).tolist()
    raise InputError(f'data set {ds.name!r}: classes {empty} have no '
                     'training image')
  contains = ds.candidate_mask[np.arange(len(ds.train_labels)),
                               ds.train_labels]
  if not contains.all():
    raise InputError(f'data set {ds.name!r}: {int((~contains).sum())} '
                     'candidate sets miss their true label')


def summary(manifest: dict) -> str:
  """A few human-readable lines describing the data set."""
  counts = manifest['class_counts']
  return (f"{manifest['name']}: {manifest['num_train']} training images in "
          f"{manifest['num_classes']} classes (largest {max(counts)}, "
          f"smallest {min(counts)}), {manifest['num_test']} test images; "
          f"mean candidate-set size {manifest['mean_candidates']:.3f}; "
          f"every set holds its true label: {manifest['all_contain_true']}")


def prepare_data(config: ml_collections.ConfigDict, workdir: str, *,
                 write: bool = True) -> dataset_lib.PLLDataset:
  """Builds the data set, checks it, writes config.json and dataset.json.

  Args:
    config: the experiment config.
    workdir: the run's folder.
    write: write the files and print the summary (process 0 of a multi-host
      run only; every host builds the same data set).
  """
  ds = dataset_lib.build_dataset(config.data, config.seed)
  check_dataset(ds)
  if write:
    manifest = ds.manifest()
    os.makedirs(workdir, exist_ok=True)
    workdir_lib.write_config(config, workdir)
    workdir_lib.write_json(os.path.join(workdir, 'dataset.json'), manifest)
    print(summary(manifest))
  return ds
