"""Tests for ltpll_jax.report and ltpll_jax.writer: results, plots, logs."""

import json
import os
import subprocess
import sys

from matplotlib import image as mpl_image
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from ltpll_jax import metrics
from ltpll_jax import report
from ltpll_jax import writer

CIFAR10_RHO100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
CIFAR100_RHO100 = [int(500 * 0.01 ** (c / 99)) for c in range(100)]
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
R_KEYS = {'top1', 'top5', 'per_class', 'many', 'medium', 'few',
          'many_threshold', 'medium_threshold', 'few_threshold'}


def _r(offset=0):
  seen = np.full(10, 100)
  correct1 = np.array([95, 90, 85, 70, 60, 50, 40, 30, 20, 10]) - offset
  return metrics.summarize(correct1, seen, seen, CIFAR10_RHO100)


def test_write_results_round_trip(tmp_path):
  last, best = _r(5), _r(0)
  path = report.write_results(str(tmp_path / 'run'), last, best,
                              np.int64(17), 20, seeds=[1])
  assert path == str(tmp_path / 'run' / 'results.json')
  with open(path) as f:
    got = json.load(f)
  assert set(got) == {'last', 'best', 'best_epoch', 'epochs_run', 'seeds'}
  assert set(got['last']) == R_KEYS and set(got['best']) == R_KEYS
  assert got['last'] == last and got['best'] == best
  assert got['best_epoch'] == 17 and type(got['best_epoch']) is int
  assert got['epochs_run'] == 20 and got['seeds'] == [1]
  assert got['last']['few_threshold'] is None
  assert got['best']['top1'] == pytest.approx(55.0)
  assert got['last']['top1'] == pytest.approx(50.0)
  # The temp file was renamed over results.json, not left behind.
  assert os.listdir(tmp_path / 'run') == ['results.json']


def _check_png(path, min_width=300, min_height=200):
  with open(path, 'rb') as f:
    assert f.read(8) == PNG_SIGNATURE
  img = mpl_image.imread(path)
  assert img.ndim == 3 and img.shape[2] in (3, 4)
  assert img.shape[0] >= min_height and img.shape[1] >= min_width
  # Something was drawn: not a single flat colour.
  assert img[..., :3].std() > 0.01
  return img


def test_plot_per_class_cifar10_and_cifar100(tmp_path):
  r = _r()
  names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
           'horse', 'ship', 'truck']
  path10 = str(tmp_path / 'plots' / 'deep' / 'per_class10.png')
  report.plot_per_class(path10, r['per_class'], CIFAR10_RHO100, names,
                        title='CIFAR-10-LT')
  _check_png(path10)

  # A class without test images (None) and a shuffled size order.
  rng = np.random.default_rng(0)
  counts = rng.permutation(CIFAR100_RHO100)
  acc = list(rng.uniform(0, 100, 100))
  acc[3] = None
  path100 = str(tmp_path / 'plots' / 'per_class100.png')
  report.plot_per_class(path100, acc, counts)
  img = _check_png(path100)
  # 100 classes get a wider figure than 10.
  assert img.shape[1] > mpl_image.imread(path10).shape[1]


def test_plot_prior(tmp_path):
  counts = np.asarray(CIFAR10_RHO100, float)
  true_prior = counts / counts.sum()
  flat = np.full(10, 0.1)
  snapshots = [(1, flat), (50, 0.5 * flat + 0.5 * true_prior),
               (800, true_prior)]
  path = str(tmp_path / 'plots' / 'prior.png')
  report.plot_prior(path, counts, snapshots)
  _check_png(path)
  with pytest.raises(ValueError, match='epoch 2'):
    report.plot_prior(path, counts, [(2, np.ones(3) / 3)])


def test_total_variation():
  assert report.total_variation([0.5, 0.5, 0.0], [0.2, 0.3, 0.5]) == (
      pytest.approx(0.5))
  assert report.total_variation([1, 0], [0, 1]) == pytest.approx(1.0)
  p = np.array([0.7, 0.2, 0.1])
  assert report.total_variation(p, p) == 0.0
  with pytest.raises(ValueError):
    report.total_variation([1.0], [0.5, 0.5])


def test_results_table():
  table = report.results_table({'CORR': _r(5), 'CORR + RECORDS': _r(0)})
  lines = table.split('\n')
  assert lines[0] == (
      '| method | overall | many | medium | few | few (<20) |')
  assert len(lines) == 4
  assert lines[2] == '| CORR | 50.00 | 85.00 | 50.00 | 15.00 | - |'
  assert lines[3] == '| CORR + RECORDS | 55.00 | 90.00 | 55.00 | 20.00 | - |'


def _events(workdir):
  acc = event_accumulator.EventAccumulator(str(workdir))
  acc.Reload()
  return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
          for tag in acc.Tags()['scalars']}


def test_metric_writer_jsonl_and_tensorboard(tmp_path):
  workdir = tmp_path / 'run'
  written = [(0, 0, {'train/loss': 2.5, 'train/acc': 12.25}),
             (48, 0, {'train/loss': np.float32(1.75), 'test/top1': 31.5}),
             (96, None, {'train/loss': float('nan')})]
  with writer.MetricWriter(str(workdir)) as w:
    for step, epoch, scalars in written:
      w.write_scalars(step, scalars, epoch=epoch)
    # Flushed after each write: readable while the writer is still open.
    with open(workdir / 'metrics.jsonl') as f:
      assert len(f.readlines()) == 3
    with pytest.raises(ValueError, match='reserved'):
      w.write_scalars(1, {'step': 1.0})

  with open(workdir / 'metrics.jsonl') as f:
    lines = [json.loads(line) for line in f]
  assert lines == [
      {'step': 0, 'epoch': 0, 'train/loss': 2.5, 'train/acc': 12.25},
      {'step': 48, 'epoch': 0, 'train/loss': 1.75, 'test/top1': 31.5},
      {'step': 96, 'train/loss': None},
  ]

  events = _events(workdir)
  assert set(events) == {'train/loss', 'train/acc', 'test/top1'}
  assert events['train/acc'] == [(0, 12.25)]
  assert events['test/top1'] == [(48, 31.5)]
  loss = events['train/loss']
  assert [s for s, _ in loss] == [0, 48, 96]
  assert loss[0][1] == 2.5 and loss[1][1] == 1.75 and np.isnan(loss[2][1])

  # A second writer (a resumed run) appends to the same files' folder.
  with writer.MetricWriter(str(workdir)) as w:
    w.write_scalars(144, {'train/loss': 0.5}, epoch=3)
  with open(workdir / 'metrics.jsonl') as f:
    assert json.loads(f.readlines()[-1]) == {
        'step': 144, 'epoch': 3, 'train/loss': 0.5}
  assert _events(workdir)['train/loss'][-1] == (144, 0.5)


def test_metric_writer_does_not_import_tensorflow(tmp_path):
  code = (
      'import sys\n'
      'from ltpll_jax import writer\n'
      f'w = writer.MetricWriter({str(tmp_path)!r})\n'
      "w.write_scalars(1, {'x': 1.0})\n"
      'w.close()\n'
      "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, '-c', code], cwd=root,
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  assert any(n.startswith('events.out.tfevents.')
             for n in os.listdir(tmp_path))


def test_metric_writer_disabled_writes_nothing(tmp_path):
  workdir = tmp_path / 'run'
  w = writer.MetricWriter(str(workdir), enabled=False)
  w.write_scalars(1, {'train/loss': 1.0}, epoch=0)
  w.flush()
  w.close()
  assert not workdir.exists()
