"""Tests for ltpll_jax.data.sources: local files, TFDS (mocked), synthetic."""

import gzip
import os
import pickle
import time

import numpy as np
import pytest

from ltpll_jax.data import sources
from ltpll_jax.errors import DataUnavailableError, InputError

FMNIST_DIR = sources.FASHION_MNIST_DEFAULT_DIR


def _cifar_rows(images):
  """[N, 32, 32, 3] -> CIFAR's [N, 3072] rows (R plane, G plane, B plane)."""
  return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _dump(path, obj):
  with open(path, 'wb') as f:
    pickle.dump(obj, f)


def _write_cifar10(root, per_batch=3):
  folder = os.path.join(root, 'cifar-10-batches-py')
  os.makedirs(folder)
  rng = np.random.default_rng(0)
  images, labels = [], []
  for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
    x = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, per_batch).tolist()
    _dump(os.path.join(folder, name), {b'data': _cifar_rows(x),
                                       b'labels': y})
    images.append(x)
    labels.append(y)
  return images, labels


def test_local_cifar10_reads_archive_order(tmp_path):
  images, labels = _write_cifar10(str(tmp_path))
  for data_dir in (str(tmp_path), str(tmp_path / 'cifar-10-batches-py')):
    raw = sources.load_local('cifar10', data_dir)
    np.testing.assert_array_equal(raw.train_images,
                                  np.concatenate(images[:5]))
    np.testing.assert_array_equal(raw.train_labels,
                                  np.concatenate(labels[:5]))
    np.testing.assert_array_equal(raw.test_images, images[5])
    assert raw.train_images.dtype == np.uint8
    assert raw.train_images.shape == (15, 32, 32, 3)
    assert raw.num_classes == 10 and raw.class_names[0] == 'airplane'


def test_local_cifar100_fine_and_coarse(tmp_path):
  folder = tmp_path / 'cifar-100-python'
  folder.mkdir()
  x = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), np.uint8)
  fine, coarse = [3, 99, 0, 42], [1, 19, 0, 7]
  _dump(folder / 'train', {b'data': _cifar_rows(x), b'fine_labels': fine,
                           b'coarse_labels': coarse})
  _dump(folder / 'test', {b'data': _cifar_rows(x[:2]),
                          b'fine_labels': fine[:2], b'coarse_labels': [1, 1]})
  names = [f'n{i}'.encode() for i in range(100)]
  _dump(folder / 'meta', {b'fine_label_names': names})
  raw = sources.load_local('cifar100', str(tmp_path))
  np.testing.assert_array_equal(raw.train_images, x)
  assert raw.train_labels.tolist() == fine
  assert raw.train_coarse_labels.tolist() == coarse
  assert raw.test_labels.tolist() == fine[:2]
  assert raw.class_names[99] == 'n99' and raw.num_classes == 100


def _write_idx(path, array, compress):
  header = bytes([0, 0, 8, array.ndim]) + b''.join(
      int(d).to_bytes(4, 'big') for d in array.shape)
  opener = gzip.open if compress else open
  with opener(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize('compress', [True, False])
def test_local_fashion_mnist_idx(tmp_path, compress):
  rng = np.random.default_rng(2)
  arrays = {
      'train-images-idx3-ubyte': rng.integers(0, 256, (6, 28, 28)),
      'train-labels-idx1-ubyte': rng.integers(0, 10, 6),
      't10k-images-idx3-ubyte': rng.integers(0, 256, (2, 28, 28)),
      't10k-labels-idx1-ubyte': rng.integers(0, 10, 2),
  }
  for name, array in arrays.items():
    _write_idx(str(tmp_path / (name + ('.gz' if compress else ''))), array,
               compress)
  raw = sources.load_local('fashion_mnist', str(tmp_path))
  assert raw.train_images.shape == (6, 28, 28, 1)
  np.testing.assert_array_equal(raw.train_images[..., 0],
                                arrays['train-images-idx3-ubyte'])
  np.testing.assert_array_equal(raw.test_labels,
                                arrays['t10k-labels-idx1-ubyte'])


def test_truncated_idx_rejected(tmp_path):
  path = tmp_path / 'x.gz'
  _write_idx(str(path), np.zeros((3, 4)), True)
  data = gzip.decompress(path.read_bytes())
  path.write_bytes(gzip.compress(data[:-2]))
  with pytest.raises(InputError, match='does not match its header'):
    sources.read_idx(str(path))


def test_missing_local_file_names_file_and_place(tmp_path):
  _write_cifar10(str(tmp_path))
  os.remove(tmp_path / 'cifar-10-batches-py' / 'data_batch_3')
  with pytest.raises(InputError) as err:
    sources.load_local('cifar10', str(tmp_path))
  message = str(err.value)
  assert 'data_batch_3' in message and 'config.data.data_dir' in message
  assert str(tmp_path / 'cifar-10-batches-py' / 'data_batch_3') in message


@pytest.mark.skipif(not os.path.exists(
    os.path.join(FMNIST_DIR, 'train-images-idx3-ubyte.gz')),
                    reason='Debian dataset-fashion-mnist not installed')
def test_real_fashion_mnist():
  raw = sources.load_local('fashion_mnist', '')
  assert raw.train_images.shape == (60000, 28, 28, 1)
  assert raw.test_images.shape == (10000, 28, 28, 1)
  assert np.bincount(raw.train_labels).tolist() == [6000] * 10
  assert np.bincount(raw.test_labels).tolist() == [1000] * 10
  # Real images, not blanks: Fashion-MNIST's mean intensity is about 0.286.
  assert abs(raw.train_images.mean() / 255 - 0.286) < 0.01


def _mock_cifar100(num):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  # Ids deliberately out of order: the loader must sort them.
  order = np.random.default_rng(3).permutation(num)

  def as_dataset(self, split, *args, **kwargs):
    del args, kwargs
    prefix = str(split)
    n = num if prefix == 'train' else 2
    ex = {
        'id': np.array([f'{prefix}_{i:05d}'.encode() for i in order[:n]]),
        'image': np.stack([np.full((32, 32, 3), i, np.uint8)
                           for i in order[:n]]),
        'label': (order[:n] % 100).astype(np.int64),
        'coarse_label': (order[:n] % 100 // 5).astype(np.int64),
    }
    return tf.data.Dataset.from_tensor_slices(ex)

  return as_dataset


def test_tfds_mock_sorts_by_id(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(sources, 'network_reachable', lambda *a, **k: True)
  with tfds.testing.mock_data(as_dataset_fn=_mock_cifar100(12),
                              data_dir=str(tmp_path)):
    raw = sources.load_tfds('cifar100', tfds_dir=str(tmp_path))
  # Sorted by id: image i is filled with value i and has label i % 100.
  assert raw.train_images[:, 0, 0, 0].tolist() == list(range(12))
  assert raw.train_labels.tolist() == list(range(12))
  assert raw.train_coarse_labels.tolist() == [i // 5 for i in range(12)]
  assert raw.num_classes == 100 and raw.train_images.dtype == np.uint8


def test_tfds_mock_random_data(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(sources, 'network_reachable', lambda *a, **k: True)
  with tfds.testing.mock_data(num_examples=7, data_dir=str(tmp_path)):
    raw = sources.load_tfds('fashion_mnist', tfds_dir=str(tmp_path))
  assert raw.train_images.shape == (7, 28, 28, 1)
  assert raw.train_labels.min() >= 0 and raw.train_labels.max() < 10


def test_tfds_offline_fails_fast_with_advice(tmp_path, monkeypatch):
  monkeypatch.setattr(sources, 'network_reachable', lambda *a, **k: False)
  start = time.time()
  with pytest.raises(DataUnavailableError) as err:
    sources.load_tfds('cifar10', tfds_dir=str(tmp_path))
  assert time.time() - start < 30
  message = str(err.value)
  assert 'config.data.source=local' in message
  assert 'config.data.tfds_dir' in message and 'www.cs.toronto.edu' in message


def test_tfds_without_download_fails(tmp_path):
  with pytest.raises(DataUnavailableError, match='config.data.download'):
    sources.load_tfds('cifar10', tfds_dir=str(tmp_path), download=False)


def test_network_probe_gives_up_quickly():
  start = time.time()
  assert not sources.network_reachable('host.invalid', 443, timeout=3)
  assert time.time() - start < 5


def test_synthetic_shapes_and_determinism():
  a = sources.make_synthetic(num_classes=4, train_per_class=5, image_size=8,
                             channels=1, num_superclasses=2)
  b = sources.make_synthetic(num_classes=4, train_per_class=5, image_size=8,
                             channels=1, num_superclasses=2)
  c = sources.make_synthetic(num_classes=4, train_per_class=5, image_size=8,
                             channels=1, num_superclasses=2, seed=1)
  assert a.train_images.shape == (20, 8, 8, 1)
  assert np.bincount(a.train_labels).tolist() == [5] * 4
  assert a.train_coarse_labels.tolist() == (a.train_labels // 2).tolist()
  np.testing.assert_array_equal(a.train_images, b.train_images)
  assert not np.array_equal(a.train_images, c.train_images)
