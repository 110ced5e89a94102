"""Tests for ltpll_jax.data.voc on small folders in the VOC PLL layout.

The real archive is not public, so each test writes random images of several
sizes, aspect ratios and modes with the two CSV files, exactly where the
loader expects them, and checks the loader against Pillow references.
"""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from configs import voc_records
from ltpll_jax import train
from ltpll_jax import validation
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.data import voc
from ltpll_jax.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Written out independently of voc.CLASSES: the order is the contract.
VOC_CLASSES = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor']
# 23 training images: two steps of batch 8 in one epoch.
TRAIN_COUNTS = [3, 2] + [1] * 18
TEST_COUNTS = [1] * 20
# (width, height); several odd differences, wider and taller than 128.
SIZES = ((40, 40), (31, 20), (20, 33), (150, 97), (9, 64), (57, 58),
         (64, 9), (128, 101), (77, 140))
TRAIN_HEADER = ['name', 'label', 'label set']
# An extra column the loader must ignore.
TEST_HEADER = ['name', 'label', 'source']


def _write_csv(path, header, rows):
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)


def _read_csv(path):
  with open(path, newline='') as f:
    header, *rows = list(csv.reader(f))
  return header, rows


def _write_split(root, split, counts, rng):
  """Writes one split; returns its rows as (name, label, candidate mask)."""
  csv_rel, images_rel = ((voc.TRAIN_CSV, voc.TRAIN_IMAGES) if split == 'train'
                         else (voc.TEST_CSV, voc.TEST_IMAGES))
  images = root / images_rel
  (images / 'sub').mkdir(parents=True)
  labels = rng.permutation(np.repeat(np.arange(20), counts))
  rows, csv_rows = [], []
  for i, label in enumerate(labels):
    width, height = SIZES[i % len(SIZES)]
    image = Image.fromarray(
        rng.integers(0, 256, (height, width, 3), np.uint8))
    name = f'{split}_{i:03d}.png'
    if i == 1:
      image = image.convert('L')
    elif i == 2:
      image = image.convert('P')
    elif i == 3:
      name = f'{split}_{i:03d}.jpg'
    elif i == 4:
      name = f'sub/{split}_{i:03d}.png'
    image.save(images / name)
    mask = rng.random(20) < 0.2
    mask[label] = True
    names = [VOC_CLASSES[c] for c in rng.permutation(np.flatnonzero(mask))]
    rows.append((name, int(label), mask))
    extra = ' '.join(names) if split == 'train' else 'voc2007'
    csv_rows.append([name, VOC_CLASSES[label], extra])
  _write_csv(root / csv_rel, TRAIN_HEADER if split == 'train'
             else TEST_HEADER, csv_rows)
  return rows


def _write_voc(root, seed=0):
  """A VOC PLL folder under ``root``; returns {'train': rows, 'test': rows}.
  """
  rng = np.random.default_rng(seed)
  return {'train': _write_split(root, 'train', TRAIN_COUNTS, rng),
          'test': _write_split(root, 'test', TEST_COUNTS, rng)}


def _pillow_reference(path):
  """Black square, image pasted centred (extra pixel bottom/right), resize.
  """
  with Image.open(path) as image:
    image = image.convert('RGB')
    side = max(image.size)
    square = Image.new('RGB', (side, side))
    square.paste(image, ((side - image.width) // 2,
                         (side - image.height) // 2))
    return np.asarray(square.resize((128, 128), Image.Resampling.BILINEAR))


@pytest.fixture(scope='module')
def voc_folder(tmp_path_factory):
  root = tmp_path_factory.mktemp('voc')
  return root, _write_voc(root)


@pytest.fixture(scope='module')
def voc_raw(voc_folder):
  return voc.load_voc(str(voc_folder[0]))


def test_class_order_counts_and_candidates(voc_folder, voc_raw):
  _, rows = voc_folder
  assert list(voc_raw.class_names) == VOC_CLASSES
  assert voc_raw.num_classes == 20 and voc_raw.name == 'voc'
  assert np.bincount(voc_raw.train_labels, minlength=20).tolist() == (
      TRAIN_COUNTS)
  assert voc_raw.train_labels.tolist() == [r[1] for r in rows['train']]
  assert voc_raw.test_labels.tolist() == [r[1] for r in rows['test']]
  np.testing.assert_array_equal(voc_raw.train_candidates,
                                np.stack([r[2] for r in rows['train']]))
  assert voc_raw.train_candidates.dtype == bool
  assert voc_raw.train_images.shape == (23, 128, 128, 3)
  assert voc_raw.test_images.shape == (20, 128, 128, 3)
  assert voc_raw.train_images.dtype == voc_raw.test_images.dtype == np.uint8


def test_every_image_matches_pillow_reference(voc_folder, voc_raw):
  root, rows = voc_folder
  for split, images_rel, images in (
      ('train', voc.TRAIN_IMAGES, voc_raw.train_images),
      ('test', voc.TEST_IMAGES, voc_raw.test_images)):
    for (name, _, _), got in zip(rows[split], images):
      np.testing.assert_array_equal(
          got, _pillow_reference(root / images_rel / name), err_msg=name)
  # Row 1 was saved as grayscale: its three channels agree.
  gray = voc_raw.train_images[1]
  assert (gray[..., 0] == gray[..., 1]).all()
  assert (gray[..., 1] == gray[..., 2]).all()


@pytest.mark.parametrize('transpose', [False, True])
def test_padding_geometry_odd_difference(transpose):
  # 101 x 128 needs no resize: the padding shows unchanged. 27 rows of
  # padding: 13 on top, 14 at the bottom (or left/right when transposed).
  rng = np.random.default_rng(1)
  pixels = rng.integers(1, 256, (101, 128, 3), np.uint8)
  if transpose:
    pixels = pixels.transpose(1, 0, 2)
  out = voc.square_resize(Image.fromarray(pixels))
  if transpose:
    out = out.transpose(1, 0, 2)
    pixels = pixels.transpose(1, 0, 2)
  assert out.shape == (128, 128, 3) and out.dtype == np.uint8
  assert (out[:13] == 0).all() and (out[114:] == 0).all()
  np.testing.assert_array_equal(out[13:114], pixels)


def test_build_dataset_keeps_given_candidates(voc_folder, voc_raw):
  root, rows = voc_folder
  config = voc_records.get_config()
  config.data.data_dir = str(root)
  ds = dataset_lib.build_dataset(config.data, config.seed, raw=voc_raw)
  np.testing.assert_array_equal(ds.kept_indices, np.arange(23))
  np.testing.assert_array_equal(ds.candidate_mask, voc_raw.train_candidates)
  np.testing.assert_array_equal(ds.train_images, voc_raw.train_images)
  manifest = ds.manifest()
  assert manifest['candidates'] == 'given'
  assert manifest['subsampled'] is False
  assert 'partial_rate' not in manifest and 'imbalance_ratio' not in manifest
  assert manifest['class_counts'] == TRAIN_COUNTS
  assert manifest['all_contain_true'] is True
  mean = np.mean([r[2].sum() for r in rows['train']])
  assert manifest['mean_candidates'] == pytest.approx(mean)
  json.dumps(manifest)


def _edit_row(root, csv_rel, row, column, value):
  header, rows = _read_csv(root / csv_rel)
  rows[row][header.index(column)] = value
  _write_csv(root / csv_rel, header, rows)


def _drop_column(root, csv_rel, column):
  header, rows = _read_csv(root / csv_rel)
  keep = [i for i, h in enumerate(header) if h != column]
  _write_csv(root / csv_rel, [header[i] for i in keep],
             [[r[i] for i in keep] for r in rows])


def _truncate(path):
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


def _outside_image(root):
  path = root / 'outside' / 'x.png'
  path.parent.mkdir()
  Image.new('RGB', (8, 8)).save(path)
  return path


def _symlink_file(root, rows):
  target = _outside_image(root)
  os.symlink(target, root / voc.TRAIN_IMAGES / 'link.png')
  _edit_row(root, voc.TRAIN_CSV, 7, 'name', 'link.png')


def _symlink_folder(root, rows):
  target = _outside_image(root)
  os.symlink(target.parent, root / voc.TRAIN_IMAGES / 'linked')
  _edit_row(root, voc.TRAIN_CSV, 8, 'name', 'linked/x.png')


def _fifo(root, rows):
  # Opening a FIFO blocks: a loader that opened it would hang here.
  os.mkfifo(root / voc.TRAIN_IMAGES / 'pipe.png')
  _edit_row(root, voc.TRAIN_CSV, 9, 'name', 'pipe.png')


def _wrong_label_set(root, rows):
  label = rows['train'][5][1]
  _edit_row(root, voc.TRAIN_CSV, 5, 'label set',
            VOC_CLASSES[(label + 1) % 20])


def _train_line(line):
  return f'{voc.TRAIN_CSV} line {line}'


def _test_line(line):
  return f'{voc.TEST_CSV} line {line}'


# (mutation of the folder, expected message parts, whether images may have
# been decoded). Rows are 0-based, CSV lines 1-based after the header: row r
# is line r + 2.
BAD_INPUTS = {
    'missing_train_csv': (
        lambda root, rows: os.remove(root / voc.TRAIN_CSV),
        ['config.data.data_dir', f'missing {voc.TRAIN_CSV}', 'looked for',
         'layout'], False),
    'missing_test_images': (
        lambda root, rows: shutil.rmtree(root / voc.TEST_IMAGES),
        [f'missing {voc.TEST_IMAGES}/', 'looked for'], False),
    'empty_csv': (
        lambda root, rows: (root / voc.TRAIN_CSV).write_text(''),
        [voc.TRAIN_CSV, 'empty file', "'label set'"], False),
    'header_only_csv': (
        lambda root, rows: _write_csv(root / voc.TEST_CSV, TEST_HEADER, []),
        [voc.TEST_CSV, 'no data rows'], False),
    'missing_label_set_column': (
        lambda root, rows: _drop_column(root, voc.TRAIN_CSV, 'label set'),
        [voc.TRAIN_CSV, "missing column 'label set'"], False),
    'missing_test_label_column': (
        lambda root, rows: _drop_column(root, voc.TEST_CSV, 'label'),
        [voc.TEST_CSV, "missing column 'label'"], False),
    'unknown_label': (
        lambda root, rows: _edit_row(root, voc.TRAIN_CSV, 2, 'label', 'dgo'),
        [_train_line(4), "unknown class 'dgo'", "column 'label'"],
        False),
    'unknown_candidate': (
        lambda root, rows: _edit_row(root, voc.TRAIN_CSV, 0, 'label set',
                                     'cat dgo'),
        [_train_line(2), "unknown class 'dgo'", "column 'label set'"],
        False),
    'unknown_test_label': (
        lambda root, rows: _edit_row(root, voc.TEST_CSV, 19, 'label',
                                     'tv'),
        [_test_line(21), "unknown class 'tv'"], False),
    'empty_label_set': (
        lambda root, rows: _edit_row(root, voc.TRAIN_CSV, 1, 'label set',
                                     ''),
        [_train_line(3), 'empty candidate set'], False),
    'true_label_outside_set': (
        _wrong_label_set,
        [_train_line(7), 'is not in its candidate set'], False),
    'empty_name': (
        lambda root, rows: _edit_row(root, voc.TRAIN_CSV, 11, 'name', ''),
        [_train_line(13), 'empty image name'], False),
    'dotdot_name': (
        lambda root, rows: _edit_row(root, voc.TRAIN_CSV, 3, 'name',
                                     '../../test/images/test_000.png'),
        [_train_line(5), 'points outside', "'..'"], False),
    'absolute_name': (
        lambda root, rows: _edit_row(
            root, voc.TRAIN_CSV, 6, 'name',
            str(root / voc.TEST_IMAGES / 'test_000.png')),
        [_train_line(8), 'points outside', 'absolute'], False),
    'symlink_file': (
        _symlink_file, [_train_line(9), 'symbolic link'], False),
    'symlink_folder': (
        _symlink_folder, [_train_line(10), 'symbolic link'], False),
    'fifo': (_fifo, [_train_line(11), 'not a regular file'], False),
    'missing_image': (
        lambda root, rows: _edit_row(root, voc.TEST_CSV, 4, 'name',
                                     'nothere.png'),
        [_test_line(6), 'nothere.png', 'does not exist'], False),
    'not_an_image': (
        lambda root, rows: (root / voc.TEST_IMAGES /
                            'test_000.png').write_bytes(b'not an image'),
        [_test_line(2), 'cannot decode image', 'test_000.png'], True),
    'truncated_png': (
        lambda root, rows: _truncate(root / voc.TRAIN_IMAGES /
                                     'train_010.png'),
        [_train_line(12), 'train_010.png', 'truncated'], True),
    'truncated_jpeg': (
        lambda root, rows: _truncate(root / voc.TRAIN_IMAGES /
                                     'train_003.jpg'),
        [_train_line(5), 'train_003.jpg', 'truncated'], True),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_names_file_and_line(tmp_path, monkeypatch, case):
  mutate, parts, may_decode = BAD_INPUTS[case]
  rows = _write_voc(tmp_path)
  mutate(tmp_path, rows)
  opened = []
  real_open = Image.open
  monkeypatch.setattr(Image, 'open',
                      lambda *a, **k: opened.append(a) or real_open(*a, **k))
  with pytest.raises(InputError) as err:
    voc.load_voc(str(tmp_path))
  message = str(err.value)
  assert '\n' not in message
  for part in parts:
    assert part in message, (part, message)
  if not may_decode:
    # CSV rows and names are checked before any image is opened.
    assert not opened


def test_missing_folder_says_where_and_layout(tmp_path):
  with pytest.raises(InputError) as err:
    voc.load_voc(str(tmp_path / 'absent'))
  message = str(err.value)
  assert str(tmp_path / 'absent') in message
  assert voc.TRAIN_CSV in message and voc.TEST_CSV in message


def test_validation(voc_folder, tmp_path):
  config = voc_records.get_config()
  config.data.data_dir = str(voc_folder[0])
  validation.validate_config(config, num_devices=8)
  config.data.source = 'tfds'
  with pytest.raises(InputError, match="data.source='tfds'"):
    validation.validate_config(config)
  config.data.source = 'local'
  config.data.data_dir = str(tmp_path)
  with pytest.raises(InputError, match='data.data_dir.*PLL/train_var'):
    validation.validate_config(config)


def _launch(workdir, data_dir):
  cmd = [sys.executable, 'launch.py', '--config=configs/voc_records.py',
         f'--workdir={workdir}', '--only_data',
         f'--config.data.data_dir={data_dir}']
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=120)


def test_launch_only_data(voc_folder, tmp_path):
  root, rows = voc_folder
  result = _launch(tmp_path / 'ok', root)
  assert result.returncode == 0, result.stderr
  with open(tmp_path / 'ok' / 'dataset.json') as f:
    manifest = json.load(f)
  assert manifest['class_counts'] == TRAIN_COUNTS
  assert manifest['num_train'] == 23 and manifest['num_test'] == 20
  assert manifest['mean_candidates'] == pytest.approx(
      np.mean([r[2].sum() for r in rows['train']]))
  assert manifest['candidates'] == 'given'
  assert manifest['image_shape'] == [128, 128, 3]
  result = _launch(tmp_path / 'bad', tmp_path / 'absent')
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and 'data.data_dir' in lines[0]
  assert not (tmp_path / 'bad' / 'dataset.json').exists()


def test_voc_records_trains_two_steps(voc_folder, tmp_path):
  config = voc_records.get_config()
  config.data.data_dir = str(voc_folder[0])
  config.model.name = 'tiny'
  config.optim.batch_size = 8
  config.optim.epochs = 1
  config.eval_batch_size = 16
  config.log_every_steps = 1
  config.checkpoint_every_epochs = 1
  validation.validate_config(config, num_devices=8)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 2  # 23 images // 8, one epoch.
  with open(tmp_path / 'results.json') as f:
    results = json.load(f)
  assert results['epochs_run'] == 1
  assert len(results['last']['per_class']) == 20
  assert 0 <= results['last']['top1'] <= 100
  assert np.asarray(state.confidence).shape == (23, 20)
