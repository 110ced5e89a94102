"""Tests for ltpll_jax.data.dataset and the --only_data preparation."""

import dataclasses
import json

import numpy as np
import pytest

from configs import test as test_config
from ltpll_jax import prepare
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.data import longtail
from ltpll_jax.data import sources
from ltpll_jax.errors import InputError


def _config():
  return test_config.get_config()


def test_build_dataset_matches_longtail():
  config = _config()
  raw = dataset_lib.load_raw(config.data, config.seed)
  ds = dataset_lib.build_dataset(config.data, config.seed)
  kept, mask = longtail.make_long_tailed_pll(
      raw.train_labels, 10, config.data.imbalance_ratio,
      config.data.partial_rate, rng_mode='seeded', seed=config.seed)
  np.testing.assert_array_equal(ds.kept_indices, kept)
  np.testing.assert_array_equal(ds.candidate_mask, mask)
  np.testing.assert_array_equal(ds.train_images, raw.train_images[kept])
  np.testing.assert_array_equal(ds.train_labels, raw.train_labels[kept])
  assert ds.train_labels.dtype == np.int32
  assert ds.class_counts.tolist() == longtail.exponential_class_counts(
      400, 10, 10)


def test_manifest_contract():
  config = _config()
  manifest = dataset_lib.build_dataset(config.data, config.seed).manifest()
  # The keys DESIGN.md section 9 fixes for dataset.json.
  for key in ('class_counts', 'num_train', 'mean_candidates',
              'all_contain_true'):
    assert key in manifest
  assert manifest['num_train'] == sum(manifest['class_counts'])
  assert manifest['all_contain_true'] is True
  assert manifest['seed'] == config.seed
  assert 1 <= manifest['mean_candidates'] <= 10
  json.dumps(manifest)  # JSON-ready: raises on numpy scalars.


def test_manifest_hash_tracks_subset():
  config = _config()
  a = dataset_lib.build_dataset(config.data, 0).manifest()['subset_sha256']
  b = dataset_lib.build_dataset(config.data, 0).manifest()['subset_sha256']
  c = dataset_lib.build_dataset(config.data, 1).manifest()['subset_sha256']
  assert a == b != c


def test_hierarchical_on_synthetic_superclasses():
  config = _config()
  config.data.candidates = 'hierarchical'
  config.data.partial_rate = 0.1
  ds = dataset_lib.build_dataset(config.data, config.seed)
  # Two superclasses of five classes: flips inside the true superclass are
  # eight times as likely as outside.
  y = ds.train_labels
  same = (y[:, None] // 5) == (np.arange(10)[None] // 5)
  assert ds.candidate_mask[np.arange(len(y)), y].all()
  assert ds.candidate_mask[same].sum() > ds.candidate_mask[~same].sum()


def test_prepare_writes_files(tmp_path):
  config = _config()
  prepare.prepare_data(config, str(tmp_path))
  with open(tmp_path / 'dataset.json') as f:
    manifest = json.load(f)
  with open(tmp_path / 'config.json') as f:
    written = json.load(f)
  assert written['data']['name'] == 'synthetic'
  assert manifest['class_counts'][0] == 40


def test_check_dataset_rejects_empty_class():
  raw = sources.make_synthetic(num_classes=3, train_per_class=2)
  raw = dataclasses.replace(raw, train_labels=raw.train_labels % 2)
  config = _config()
  config.data.num_classes = 3
  config.data.imbalance_ratio = 1.0
  ds = dataset_lib.build_dataset(config.data, 0, raw=raw)
  with pytest.raises(InputError, match=r'classes \[2\] have no training'):
    prepare.check_dataset(ds)
