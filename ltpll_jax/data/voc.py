"""PASCAL VOC 2007, partial-label version, from RECORDS' CSV folder layout.

The RECORDS authors distribute the data as a Google-Drive archive (it cannot
be downloaded automatically). Extracted, ``config.data.data_dir`` holds::

  PLL/train_var/images_PLL.csv   columns: name, label, label set
  PLL/train_var/images/          training images
  PLL/test/images_uniform.csv    columns: name, label
  PLL/test/images/               test images

``name`` is an image path relative to its images folder, ``label`` the true
class name and ``label set`` (training CSV only; the column name holds a
space) the candidate class names separated by spaces. The candidate sets come
with the data, so neither the long-tailed subsampling nor a candidate
generator applies: ``RawData.train_candidates`` carries them, and
``dataset.build_dataset`` keeps every training image in file order.

Every image is converted to RGB, zero-padded to a centred square (the extra
pixel of an odd difference at the bottom/right) and resized to 128x128 with
Pillow's bilinear filter: what the reference's torchvision ``Pad`` and
``Resize`` do on PIL images (ALGORITHMS.md 1.6). The reference skips the RGB
conversion; without it a grayscale image would not stack with the others.

Bad input raises ``InputError`` with one line naming the file and, for a CSV
row, its line number (the header is line 1). Image names that leave their
folder (``..``, absolute paths, symbolic links anywhere below the folder) are
rejected from their directory entries alone, before any image is opened.
"""

import concurrent.futures
import csv
import os
import stat

import numpy as np
from PIL import Image

from ltpll_jax.data import sources
from ltpll_jax.errors import InputError

CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
           'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike',
           'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')
IMAGE_SIZE = 128

TRAIN_CSV = 'PLL/train_var/images_PLL.csv'
TRAIN_IMAGES = 'PLL/train_var/images'
TEST_CSV = 'PLL/test/images_uniform.csv'
TEST_IMAGES = 'PLL/test/images'
LAYOUT = (f'<data_dir>/{TRAIN_CSV} (columns name, label, label set), '
          f'<data_dir>/{TRAIN_IMAGES}/, <data_dir>/{TEST_CSV} (columns '
          f'name, label), <data_dir>/{TEST_IMAGES}/')
_CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
_MAX_WORKERS = 8


def layout_paths(data_dir: str) -> dict[str, str]:
  """The four paths the loader reads under ``data_dir``.

  Returns:
    ``{'train_csv', 'train_images', 'test_csv', 'test_images'}`` -> path.
  """
  return {key: os.path.join(data_dir, rel) for key, rel in (
      ('train_csv', TRAIN_CSV), ('train_images', TRAIN_IMAGES),
      ('test_csv', TEST_CSV), ('test_images', TEST_IMAGES))}


def check_layout(data_dir: str) -> None:
  """Raises InputError unless ``data_dir`` holds the VOC PLL layout.

  Only checks that the CSV files and image folders exist; their contents are
  checked by ``load_voc``.
  """
  hint = ("the VOC PLL data is the RECORDS authors' Google-Drive archive "
          f'(no automatic download); extracted, its layout is {LAYOUT}')
  if not data_dir:
    raise InputError('config.data.data_dir is empty: set it to the folder '
                     f'that holds PLL/; {hint}')
  if not os.path.isdir(data_dir):
    problem = 'is not a folder' if os.path.exists(data_dir) else (
        'does not exist')
    raise InputError(f'config.data.data_dir={data_dir!r} {problem} (looked '
                     f'for {os.path.abspath(data_dir)}); {hint}')
  for key, path in layout_paths(data_dir).items():
    is_dir = key.endswith('images')
    if not (os.path.isdir(path) if is_dir else os.path.isfile(path)):
      where = os.path.relpath(path, data_dir) + ('/' if is_dir else '')
      inside_pll = os.path.basename(os.path.normpath(data_dir)) == 'PLL'
      extra = (' (data_dir must be the folder that holds PLL/, not PLL '
               'itself)' if inside_pll else '')
      raise InputError(
          f'config.data.data_dir={data_dir!r}: missing {where} (looked for '
          f'{os.path.abspath(path)}){extra}; {hint}')


def _class_index(value: str, column: str, where: str) -> int:
  if value not in _CLASS_INDEX:
    raise InputError(f'{where}: unknown class {value!r} in column '
                     f'{column!r}; the VOC classes are {", ".join(CLASSES)}')
  return _CLASS_INDEX[value]


def _image_path(images_dir: str, name: str, where: str) -> str:
  """The path of image ``name``, checked to lie inside ``images_dir``.

  Every component is examined with ``lstat`` (which never follows a link), so
  a link is rejected without its target being touched, and a FIFO or device
  named like an image is rejected before anything could block on it.

  Returns:
    ``images_dir/name``, a regular file reached through real folders only.

  Raises:
    InputError: ``name`` is empty, absolute, holds ``..``, passes through a
      symbolic link, is missing, or is not a regular file.
  """
  outside = f"{where}: image name {name!r} points outside {images_dir}"
  if os.path.isabs(name):
    raise InputError(f'{outside} (an absolute path; names must be relative '
                     'to the image folder)')
  parts = [p for p in name.split('/') if p not in ('', '.')]
  if not parts:
    raise InputError(f"{where}: empty image name {name!r} in column 'name'")
  if '..' in parts:
    raise InputError(f"{outside} ('..' is not allowed in names)")
  path = images_dir
  for i, part in enumerate(parts):
    path = os.path.join(path, part)
    try:
      mode = os.lstat(path).st_mode
    except FileNotFoundError:
      raise InputError(f'{where}: image {path} does not exist') from None
    except (OSError, ValueError) as e:
      raise InputError(f'{where}: cannot read image {path}: '
                       f'{" ".join(str(e).split())}') from None
    if stat.S_ISLNK(mode):
      raise InputError(f'{outside} ({path} is a symbolic link; links are not '
                       'followed)')
    last = i == len(parts) - 1
    if last and not stat.S_ISREG(mode):
      raise InputError(f'{where}: image {path} is not a regular file')
    if not last and not stat.S_ISDIR(mode):
      raise InputError(f'{where}: image {path} does not exist '
                       f'({os.path.dirname(path)} is not a folder)')
  return path


def _read_csv(path: str, images_dir: str, *, with_candidates: bool
             ) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
  """Parses one CSV and checks every row before any image is decoded.

  Args:
    path: the CSV file.
    images_dir: the folder its ``name`` column is relative to.
    with_candidates: whether the ``label set`` column is read (train CSV).

  Returns:
    ``(paths, wheres, labels, candidates)``: checked image paths, the
    ``'<csv> line <n>'`` of each row (for decoding errors), ``[n]`` int64
    true labels, and ``[n, 20]`` bool candidate masks (``[n, 0]`` without
    ``with_candidates``).

  Raises:
    InputError: the first bad row, or a missing column or an empty file.
  """
  columns = ('name', 'label') + (('label set',) if with_candidates else ())
  wanted = ', '.join(map(repr, columns))
  paths, wheres, labels, masks = [], [], [], []
  line = 0
  try:
    # utf-8-sig: spreadsheet programs often start the file with a BOM.
    with open(path, newline='', encoding='utf-8-sig') as f:
      reader = csv.reader(f)
      header = next(reader, None)
      if header is None:
        raise InputError(f'{path}: empty file; expected a header line with '
                         f'columns {wanted}')
      header = [h.strip() for h in header]
      for column in columns:
        if column not in header:
          raise InputError(
              f'{path}: missing column {column!r} (found '
              f'{", ".join(map(repr, header))}); expected columns {wanted}')
      index = {column: header.index(column) for column in columns}
      for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
          continue
        where = f'{path} line {line}'
        cells = {}
        for column, i in index.items():
          if i >= len(row):
            raise InputError(f'{where}: no value in column {column!r} (the '
                             f'row has {len(row)} fields)')
          cells[column] = row[i]
        label = _class_index(cells['label'].strip(), 'label', where)
        if with_candidates:
          mask = np.zeros(len(CLASSES), bool)
          names = cells['label set'].split()
          if not names:
            raise InputError(f"{where}: empty candidate set in column "
                             "'label set'")
          for name in names:
            mask[_class_index(name, 'label set', where)] = True
          if not mask[label]:
            raise InputError(
                f'{where}: true label {CLASSES[label]!r} is not in its '
                f"candidate set {cells['label set']!r}")
          masks.append(mask)
        paths.append(_image_path(images_dir, cells['name'], where))
        wheres.append(where)
        labels.append(label)
  except csv.Error as e:
    raise InputError(f'{path} line {line + 1}: malformed CSV: {e}') from None
  except UnicodeDecodeError as e:
    raise InputError(f'{path}: not UTF-8 text ({e.reason} at byte '
                     f'{e.start})') from None
  except OSError as e:
    raise InputError(f'cannot read {path}: {e.strerror or e}') from None
  if not paths:
    raise InputError(f'{path}: no data rows after the header')
  width = len(CLASSES) if with_candidates else 0
  candidates = np.array(masks, bool).reshape(len(paths), width)
  return paths, wheres, np.asarray(labels, np.int64), candidates


def square_resize(image: Image.Image, size: int = IMAGE_SIZE) -> np.ndarray:
  """RGB, zero-padded to a centred square, bilinearly resized.

  Args:
    image: any Pillow image (grayscale and palette images become RGB).
    size: output side.

  Returns:
    ``[size, size, 3]`` uint8. For an odd size difference the extra row or
    column of zeros is at the bottom or right, as torchvision's ``Pad`` with
    ``(d // 2, d - d // 2)`` leaves it.
  """
  rgb = np.asarray(image.convert('RGB'))
  height, width = rgb.shape[:2]
  side = max(height, width)
  top, left = (side - height) // 2, (side - width) // 2
  square = np.zeros((side, side, 3), np.uint8)
  square[top:top + height, left:left + width] = rgb
  return np.asarray(Image.fromarray(square).resize(
      (size, size), Image.Resampling.BILINEAR))


def _no_follow(path: str, flags: int) -> int:
  # The path was checked link-free; O_NOFOLLOW keeps a link swapped in since
  # then from being followed.
  return os.open(path, flags | getattr(os, 'O_NOFOLLOW', 0))


def _decode(path: str, where: str) -> np.ndarray:
  try:
    with open(path, 'rb', opener=_no_follow) as f, Image.open(f) as image:
      return square_resize(image)
  except Image.UnidentifiedImageError:
    # Its message shows the file object's repr, not a reason.
    reason = 'not in an image format Pillow can read'
  # Pillow reports corrupt or truncated files with assorted exception types
  # (OSError, SyntaxError, struct.error, DecompressionBombError, ...).
  except Exception as e:  # pylint: disable=broad-except
    reason = ' '.join(str(e).split()) or type(e).__name__
  raise InputError(f'{where}: cannot decode image {path}: {reason}')


def _decode_all(paths: list[str], wheres: list[str]) -> np.ndarray:
  """Decodes every image; returns ``[n, 128, 128, 3]`` uint8.

  Pillow releases the GIL while decoding, so threads help. Results arrive in
  file order, so a bad image is reported at its own row; the images not yet
  started are then cancelled.
  """
  out = np.empty((len(paths), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
  workers = min(_MAX_WORKERS, os.cpu_count() or 1)
  pool = concurrent.futures.ThreadPoolExecutor(workers)
  try:
    for i, image in enumerate(pool.map(_decode, paths, wheres)):
      out[i] = image
  finally:
    pool.shutdown(wait=True, cancel_futures=True)
  return out


def load_voc(data_dir: str) -> sources.RawData:
  """Loads the VOC PLL folder: both CSVs are checked before any decoding.

  Args:
    data_dir: the folder that holds ``PLL/``.

  Returns:
    RawData with ``[n, 128, 128, 3]`` uint8 images in CSV order, the true
    labels, and the given ``[n, 20]`` bool candidate sets in
    ``train_candidates``.

  Raises:
    InputError: a missing file or folder, or bad CSV contents or images.
  """
  check_layout(data_dir)
  paths = layout_paths(data_dir)
  train_paths, train_wheres, train_labels, candidates = _read_csv(
      paths['train_csv'], paths['train_images'], with_candidates=True)
  test_paths, test_wheres, test_labels, _ = _read_csv(
      paths['test_csv'], paths['test_images'], with_candidates=False)
  return sources.RawData(
      name='voc', train_images=_decode_all(train_paths, train_wheres),
      train_labels=train_labels,
      test_images=_decode_all(test_paths, test_wheres),
      test_labels=test_labels, num_classes=len(CLASSES), class_names=CLASSES,
      train_candidates=candidates)
