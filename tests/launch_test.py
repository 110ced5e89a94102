"""End-to-end tests of launch.py's --only_data path and its bad-input exits.

Each case runs the real command in a subprocess and checks the exit status and
the one-line message on stderr.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _launch(workdir, *overrides, config='configs/test.py', only_data=True):
  cmd = [sys.executable, 'launch.py', f'--config={config}',
         f'--workdir={workdir}'] + (['--only_data'] if only_data else [])
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run(cmd + list(overrides), cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)


def test_only_data_writes_config_and_manifest(tmp_path):
  result = _launch(tmp_path, '--config.data.partial_rate=0.5')
  assert result.returncode == 0, result.stderr
  with open(tmp_path / 'config.json') as f:
    assert json.load(f)['data']['partial_rate'] == 0.5
  with open(tmp_path / 'dataset.json') as f:
    manifest = json.load(f)
  assert manifest['partial_rate'] == 0.5 and manifest['all_contain_true']
  assert not (tmp_path / 'checkpoints').exists()


@pytest.mark.parametrize('overrides,key', [
    (['--config.data.name=imagenet'], 'data.name'),
    (['--config.data.partial_rate=1.5'], 'data.partial_rate'),
    (['--config.data.partial_rate=-0.01'], 'data.partial_rate'),
    (['--config.data.imbalance_ratio=0.5'], 'data.imbalance_ratio'),
    (['--config.data.candidates=pico'], 'data.candidates'),
    (['--config.data.rng_mode=torch'], 'data.rng_mode'),
    (['--config.data.name=fashion_mnist', '--config.data.source=local',
      '--config.data.candidates=hierarchical'], 'data.candidates'),
    (['--config.data.name=cifar10', '--config.data.source=local',
      '--config.data.data_dir=/nonexistent/cifar'], 'data.data_dir'),
    (['--config.data.num_classes=7', '--config.data.name=cifar10'],
     'data.num_classes'),
    (['--config.method=dividemix'], 'method'),
    (['--config.rebalance=la'], 'rebalance'),
    (['--config.optim.lr=0'], 'optim.lr'),
    (['--config.data.typo=1'], 'typo'),
])
def test_bad_input_exits_2_naming_the_key(tmp_path, overrides, key):
  result = _launch(tmp_path, *overrides)
  assert result.returncode == 2, (result.stdout, result.stderr)
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ')
  assert key in lines[0]
  assert not (tmp_path / 'dataset.json').exists()


def test_missing_local_file_says_where(tmp_path):
  result = _launch(tmp_path, '--config.data.name=cifar10',
                   '--config.data.source=local',
                   f'--config.data.data_dir={tmp_path}')
  assert result.returncode == 2
  assert f'{tmp_path}/cifar-10-batches-py/data_batch_1' in result.stderr


def test_missing_config_file_exits_2(tmp_path):
  result = _launch(tmp_path, config='configs/does_not_exist.py')
  assert result.returncode == 2
  assert 'does_not_exist.py' in result.stderr
