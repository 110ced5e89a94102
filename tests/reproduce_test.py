"""benchmarks/reproduce.py: cells, skipping finished ones, the report."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'benchmarks'))

import reproduce  # pylint: disable=g-import-not-at-top,wrong-import-position


def _fake_results(out, cell, top1, few):
  row = {'top1': top1, 'many': 90.0, 'medium': 50.0, 'few': few}
  os.makedirs(out / cell['name'])
  with open(out / cell['name'] / 'results.json', 'w') as f:
    json.dump({'last': row, 'best': dict(row, top1=top1 + 1)}, f)


def test_fmnist_grid_covers_methods_rates_seeds():
  cells = reproduce.cells('fmnist')
  assert len(cells) == 7 * 3 * 2
  assert len({c['name'] for c in cells}) == len(cells)
  assert {c['q'] for c in cells} == {0.3, 0.5, 0.7}
  cmd = reproduce.command(cells[0], 'runs/x')
  assert cmd[:3] == ['python', 'launch.py', '--config=configs/fmnist_corr.py']
  assert '--config.data.partial_rate=0.3' in cmd and '--config.seed=0' in cmd


def test_report_means_and_stds(tmp_path):
  cells = reproduce.cells('test')
  for cell, top1, few in zip(cells, [40.0, 44.0, 50.0, 60.0],
                             [0.0, 2.0, 10.0, 20.0]):
    _fake_results(tmp_path, cell, top1, few)
  results = tmp_path / 'RESULTS.md'
  reproduce.write_report('test', str(tmp_path), str(results),
                         str(tmp_path / 'plot.png'))
  text = results.read_text()
  std = np.std([40.0, 44.0], ddof=1)
  assert f'| CORR | 2 | 42.00 ± {std:.2f} |' in text
  assert f'{np.mean([10, 20]):.2f} ± {np.std([10, 20], ddof=1):.2f}' in text
  assert text.count('python launch.py') == 4
  assert (tmp_path / 'plot.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_finished_cells_are_skipped(tmp_path, capsys):
  for cell in reproduce.cells('test'):
    _fake_results(tmp_path, cell, 10.0, 0.0)
  reproduce.run_cells('test', str(tmp_path), python='/bin/false')
  assert '4 cells done, 0 to run' in capsys.readouterr().out


def test_failed_cell_stops_with_its_log(tmp_path):
  with pytest.raises(SystemExit, match='failed; see'):
    reproduce.run_cells('test', str(tmp_path), python='/bin/false')


def test_cells_record_their_wall_time_and_the_report_sums_it(tmp_path):
  reproduce.run_cells('test', str(tmp_path), python='/bin/true')
  names = [c['name'] for c in reproduce.cells('test')]
  for name in names:
    assert float((tmp_path / f'{name}.seconds').read_text()) >= 0.0
  for name, seconds in zip(names, (60.0, 90.0, 30.0, 60.0)):
    (tmp_path / f'{name}.seconds').write_text(f'{seconds}\n')
  for cell in reproduce.cells('test'):
    _fake_results(tmp_path, cell, 10.0, 0.0)
  results = tmp_path / 'RESULTS.md'
  reproduce.write_report('test', str(tmp_path), str(results),
                         str(tmp_path / 'plot.png'))
  assert 'Wall time: 4 cells ran in 4 minutes' in results.read_text()
