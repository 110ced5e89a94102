"""Raw data sources: uint8 NHWC images and integer labels, nothing else.

Three ways to get the balanced base data sets:

* ``tfds``: TensorFlow Datasets (``cifar10``, ``cifar100``, ``fashion_mnist``),
  downloading on first use. CIFAR training images are sorted by TFDS's ``id``
  feature (``train_01234``), which restores the original archive order that
  the published long-tailed subsets depend on. TFDS's Fashion-MNIST has no
  ``id`` feature, so its order is TFDS's own (deterministic, but not the IDX
  file order): its subsets differ from those of the local source.
* ``local``: the files users already have. torchvision's
  ``cifar-10-batches-py`` / ``cifar-100-python`` folders (Python pickles) and
  the Fashion-MNIST IDX files (``.gz`` or not; Debian's
  ``dataset-fashion-mnist`` puts them in ``/usr/share/datasets/fashion-mnist``).
  The PASCAL VOC PLL CSV folder has its own reader, ``voc.py``.
* ``synthetic``: a small generated data set (class-coloured noisy patterns) so
  tests and smoke runs need nothing downloaded.

Before a TFDS download starts, the download host is probed with a short
timeout; an offline machine gets a ``DataUnavailableError`` saying which
``data.source`` / ``data.data_dir`` / ``data.tfds_dir`` to use, within seconds
instead of after minutes of retries.
"""

import dataclasses
import gzip
import os
import pickle
import socket
import threading
from typing import Optional

import numpy as np

from ltpll_jax.errors import DataUnavailableError, InputError

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                   'frog', 'horse', 'ship', 'truck')
FASHION_MNIST_CLASSES = ('t-shirt/top', 'trouser', 'pullover', 'dress',
                         'coat', 'sandal', 'shirt', 'sneaker', 'bag',
                         'ankle boot')
FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist'

# Where TFDS downloads each data set from (probed before a download).
TFDS_HOSTS = {
    'cifar10': ('www.cs.toronto.edu', 443),
    'cifar100': ('www.cs.toronto.edu', 443),
    'fashion_mnist': ('fashion-mnist.s3-website.eu-central-1.amazonaws.com',
                      80),
}
PROBE_TIMEOUT_S = 10.0

_LOCAL_FILES = {
    'cifar10': ('cifar-10-batches-py',
                [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']),
    'cifar100': ('cifar-100-python', ['train', 'test', 'meta']),
    'fashion_mnist': ('', ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
                           't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']),
}
_LOCAL_HINT = {
    'cifar10': "torchvision's CIFAR10(download=True) folder",
    'cifar100': "torchvision's CIFAR100(download=True) folder",
    'fashion_mnist': ("the IDX files (apt-get install dataset-fashion-mnist "
                      f'puts them in {FASHION_MNIST_DEFAULT_DIR})'),
}


@dataclasses.dataclass(frozen=True)
class RawData:
  """A balanced base data set, training split in archive order.

  Attributes:
    name: data-set name ('cifar10', ...).
    train_images: ``[N, H, W, C]`` uint8.
    train_labels: ``[N]`` int64 fine labels.
    test_images: ``[M, H, W, C]`` uint8.
    test_labels: ``[M]`` int64.
    num_classes: K.
    class_names: K names, by class index.
    train_coarse_labels: ``[N]`` int64 superclass labels, or None.
    train_candidates: ``[N, K]`` bool candidate sets that come with the data
      (PASCAL VOC), or None. When set, the data set is already partial-label
      and long-tailed: ``dataset.build_dataset`` keeps every training image
      in order with these sets instead of subsampling and generating.
  """
  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int
  class_names: tuple[str, ...]
  train_coarse_labels: Optional[np.ndarray] = None
  train_candidates: Optional[np.ndarray] = None




def local_paths(name: str, data_dir: str) -> list[str]:
  """The files the local source reads for ``name`` under ``data_dir``.

  A CIFAR ``data_dir`` may be the folder that holds torchvision's
  ``cifar-10-batches-py`` (or ``cifar-100-python``) or that folder itself.
  Fashion-MNIST IDX files may be gzipped (``.gz``) or not; the returned path is
  the one that exists, else the ``.gz`` name.
  """
  sub, files = _LOCAL_FILES[name]
  base = data_dir
  if sub and os.path.basename(os.path.normpath(data_dir)) != sub:
    base = os.path.join(data_dir, sub)
  paths = []
  for f in files:
    path = os.path.join(base, f)
    if name == 'fashion_mnist' and not os.path.exists(path):
      path += '.gz'
    paths.append(path)
  return paths


def default_local_dir(name: str) -> str:
  return FASHION_MNIST_DEFAULT_DIR if name == 'fashion_mnist' else ''


def check_local_files(name: str, data_dir: str) -> None:
  """Raises InputError naming the first missing file and where it was sought.
  """
  if name not in _LOCAL_FILES:
    raise InputError(f'config.data.source=local does not support '
                     f'data.name={name!r}; local data sets: '
                     f'{sorted(_LOCAL_FILES)} (and voc)')
  data_dir = data_dir or default_local_dir(name)
  if not data_dir:
    raise InputError(f'config.data.data_dir is empty: set it to the folder '
                     f'that holds {_LOCAL_HINT[name]}')
  for path in local_paths(name, data_dir):
    if not os.path.isfile(path):
      raise InputError(
          f'config.data.data_dir={data_dir!r}: missing file '
          f'{os.path.basename(path)!r} (looked for {path}); expected '
          f'{_LOCAL_HINT[name]}')


def _unpickle(path: str) -> dict:
  with open(path, 'rb') as f:
    return pickle.load(f, encoding='bytes')


def _cifar_arrays(batch: dict, label_key: bytes) -> tuple[np.ndarray, ...]:
  # Rows are 3072 bytes: the red, green and blue 32x32 planes in turn.
  images = np.asarray(batch[b'data'], np.uint8).reshape(-1, 3, 32, 32)
  return (images.transpose(0, 2, 3, 1),
          np.asarray(batch[label_key], np.int64))


def load_local_cifar10(data_dir: str) -> RawData:
  """CIFAR-10 from torchvision's ``cifar-10-batches-py`` folder."""
  paths = local_paths('cifar10', data_dir)
  train = [_cifar_arrays(_unpickle(p), b'labels') for p in paths[:5]]
  test_x, test_y = _cifar_arrays(_unpickle(paths[5]), b'labels')
  return RawData('cifar10', np.concatenate([t[0] for t in train]),
                 np.concatenate([t[1] for t in train]), test_x, test_y, 10,
                 CIFAR10_CLASSES)


def load_local_cifar100(data_dir: str) -> RawData:
  """CIFAR-100 (fine labels, plus coarse ones) from ``cifar-100-python``."""
  train_p, test_p, meta_p = local_paths('cifar100', data_dir)
  train = _unpickle(train_p)
  train_x, train_y = _cifar_arrays(train, b'fine_labels')
  test_x, test_y = _cifar_arrays(_unpickle(test_p), b'fine_labels')
  names = tuple(n.decode() for n in _unpickle(meta_p)[b'fine_label_names'])
  coarse = np.asarray(train[b'coarse_labels'], np.int64)
  return RawData('cifar100', train_x, train_y, test_x, test_y, 100, names,
                 coarse)


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (optionally gzipped) into a numpy array.

  Raises:
    InputError: the file is not a well-formed unsigned-byte IDX file.
  """
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise InputError(f'{path}: not an unsigned-byte IDX file')
  ndim = data[3]
  header = 4 + 4 * ndim
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
                for i in range(ndim))
  if len(data) != header + int(np.prod(shape)):
    raise InputError(f'{path}: IDX size does not match its header {shape}')
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def load_local_fashion_mnist(data_dir: str) -> RawData:
  """Fashion-MNIST from its four IDX files; images come out ``[N, 28, 28, 1]``.
  """
  paths = local_paths('fashion_mnist', data_dir or FASHION_MNIST_DEFAULT_DIR)
  train_x, train_y, test_x, test_y = [read_idx(p) for p in paths]
  return RawData('fashion_mnist', train_x[..., None],
                 train_y.astype(np.int64), test_x[..., None],
                 test_y.astype(np.int64), 10, FASHION_MNIST_CLASSES)


_LOCAL_LOADERS = {
    'cifar10': load_local_cifar10,
    'cifar100': load_local_cifar100,
    'fashion_mnist': load_local_fashion_mnist,
}


def load_local(name: str, data_dir: str) -> RawData:
  """Loads ``name`` from local files, after checking they all exist."""
  check_local_files(name, data_dir)
  return _LOCAL_LOADERS[name](data_dir or default_local_dir(name))




def network_reachable(host: str, port: int,
                      timeout: float = PROBE_TIMEOUT_S) -> bool:
  """Whether a TCP connection to ``host:port`` opens within ``timeout``.

  Name resolution cannot be given a timeout, so the probe runs in a daemon
  thread that is abandoned when the time is up.
  """
  result = []

  def probe():
    try:
      socket.create_connection((host, port), timeout=timeout).close()
      result.append(True)
    except OSError:
      result.append(False)

  thread = threading.Thread(target=probe, daemon=True)
  thread.start()
  thread.join(timeout)
  return bool(result and result[0])


def _tfds_unavailable(name: str, tfds_dir: str, why: str) -> str:
  local = _LOCAL_HINT.get(name, 'the files your loader reads')
  return (f'cannot get data.name={name!r} from TFDS: {why}. Either put a '
          f'prepared TFDS copy in config.data.tfds_dir (now '
          f'{tfds_dir or "the TFDS default"}), or use '
          f'--config.data.source=local --config.data.data_dir=DIR with DIR '
          f'holding {local}')


def _tfds_split(builder, split: str) -> dict[str, np.ndarray]:
  """A whole split as numpy arrays, feature by feature."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # Chunks rather than batch_size=-1, which needs the split's size from the
  # data-set info (absent under tfds.testing.mock_data).
  chunks = list(tfds.as_numpy(builder.as_dataset(split=split).batch(8192)))
  return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def _sorted_by_id(split: dict) -> dict:
  if 'id' not in split:
    return split
  # ids look like 'train_01234': the number is the archive position.
  ids = [int(i.decode().rsplit('_', 1)[-1]) if isinstance(i, bytes)
         else int(str(i).rsplit('_', 1)[-1]) for i in split['id']]
  order = np.argsort(np.asarray(ids), kind='stable')
  return {k: np.asarray(v)[order] for k, v in split.items()}


def load_tfds(name: str, *, tfds_dir: str = '', download: bool = True
             ) -> RawData:
  """Loads ``name`` through TFDS, preparing it first if needed.

  Args:
    name: 'cifar10', 'cifar100' or 'fashion_mnist'.
    tfds_dir: TFDS ``data_dir`` ('' for TFDS's default).
    download: whether a missing data set may be downloaded.

  Returns:
    The data set with CIFAR training images in archive order.

  Raises:
    DataUnavailableError: not prepared, and no download possible.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # TF is here only to read files; it must not take the accelerators' memory.
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError:  # TF already initialised its devices: nothing to do.
    pass
  builder = tfds.builder(name, data_dir=tfds_dir or None)
  if not builder.is_prepared():
    if not download:
      raise DataUnavailableError(_tfds_unavailable(
          name, tfds_dir, 'it is not prepared and config.data.download is '
          'False'))
    # The download host of a data set registered by a user is unknown: TFDS
    # then finds out itself.
    host, port = TFDS_HOSTS.get(name, (None, None))
    if host and not network_reachable(host, port):
      raise DataUnavailableError(_tfds_unavailable(
          name, tfds_dir, f'it is not prepared and the download host '
          f'{host}:{port} cannot be reached'))
    builder.download_and_prepare()
  train = _sorted_by_id(_tfds_split(builder, 'train'))
  test = _tfds_split(builder, 'test')
  label = builder.info.features['label']
  num_classes = int(label.num_classes)
  names = tuple(label.names) if label.names else tuple(
      str(i) for i in range(num_classes))
  if name == 'fashion_mnist':
    names = FASHION_MNIST_CLASSES
  coarse = train.get('coarse_label')
  return RawData(name, np.asarray(train['image'], np.uint8),
                 np.asarray(train['label'], np.int64),
                 np.asarray(test['image'], np.uint8),
                 np.asarray(test['label'], np.int64), num_classes, names,
                 None if coarse is None else np.asarray(coarse, np.int64))




def make_synthetic(*, num_classes: int = 10, train_per_class: int = 100,
                   test_per_class: int = 20, image_size: int = 16,
                   channels: int = 3, seed: int = 0,
                   num_superclasses: int = 0) -> RawData:
  """A small learnable data set: class-specific patterns plus noise.

  Each class has a random low-frequency prototype; images are the prototype
  plus independent Gaussian noise, clipped to uint8. Training labels cycle
  through the classes (0, 1, ..., K-1, 0, ...), like an interleaved archive.

  Args:
    num_classes: K.
    train_per_class: balanced training images per class.
    test_per_class: test images per class.
    image_size: side of the square images.
    channels: 1 or 3.
    seed: numpy seed of the prototypes and noise.
    num_superclasses: if > 0, superclass of class c is
      ``c * num_superclasses // K`` (consecutive classes share a superclass).

  Returns:
    The data set (``train_coarse_labels`` set when ``num_superclasses`` > 0).
  """
  rng = np.random.default_rng(seed)
  coarse_grid = rng.uniform(40, 215, (num_classes, 4, 4, channels))
  # Nearest-neighbour upsampling of a 4x4 grid gives blocky prototypes that a
  # small network separates after a few hundred steps.
  reps = -(-image_size // 4)
  protos = coarse_grid.repeat(reps, 1).repeat(reps, 2)[
      :, :image_size, :image_size]

  def sample(per_class):
    labels = np.tile(np.arange(num_classes), per_class)
    noise = rng.normal(0, 40, (len(labels), image_size, image_size, channels))
    images = np.clip(np.rint(protos[labels] + noise), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)

  train_x, train_y = sample(train_per_class)
  test_x, test_y = sample(test_per_class)
  coarse = None
  if num_superclasses > 0:
    coarse = train_y * num_superclasses // num_classes
  return RawData('synthetic', train_x, train_y, test_x, test_y, num_classes,
                 tuple(f'class_{c}' for c in range(num_classes)), coarse)
