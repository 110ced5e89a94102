"""End-to-end tests of the training loop on configs/test.py (synthetic data).
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import _helpers  # pylint: disable=g-bad-import-order
from ltpll_jax import checkpoints
from ltpll_jax import train
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.errors import InputError
from ltpll_jax.methods import corr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_config = _helpers.test_config_with


def _leaves_equal(a, b):
  flat_a, flat_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(flat_a) == len(flat_b)
  for x, y in zip(flat_a, flat_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_end_to_end_writes_every_file(tmp_path):
  workdir = str(tmp_path)
  state = train.train_and_evaluate(_config(), workdir)
  for name in ('config.json', 'dataset.json', 'metrics.jsonl',
               'results.json', 'evals.jsonl', 'plots/per_class.png'):
    assert os.path.isfile(os.path.join(workdir, name)), name
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(workdir))
  assert os.listdir(os.path.join(workdir, 'checkpoints'))
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  assert set(results) >= {'last', 'best', 'best_epoch', 'epochs_run'}
  assert results['epochs_run'] == 2
  for key in ('top1', 'top5', 'many', 'medium', 'few', 'per_class',
              'many_threshold', 'medium_threshold', 'few_threshold'):
    assert key in results['last']
  assert 0 <= results['last']['top1'] <= 100
  assert results['best']['top1'] >= results['last']['top1']
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  train_rows = [r for r in rows if 'train_loss' in r]
  assert [r['step'] for r in train_rows] == list(range(1, 19))
  assert all(np.isfinite(r['train_loss']) for r in train_rows)
  # Confidence rows: sum to 1, zero off the candidates, after the updates.
  conf = np.asarray(state.confidence)
  with open(os.path.join(workdir, 'dataset.json')) as f:
    num_train = json.load(f)['num_train']
  assert conf.shape == (num_train, 10)
  np.testing.assert_allclose(conf.sum(1), 1.0, atol=1e-5)
  assert int(state.step) == 18  # 159 images // 16 = 9 steps x 2 epochs.
  # The last evaluation's disambiguation figures, recomputed by hand.
  with open(os.path.join(workdir, 'evals.jsonl')) as f:
    last = [json.loads(line) for line in f][-1]
  config = _config()
  labels = dataset_lib.build_dataset(config.data, config.seed).train_labels
  assert last['mmc'] == pytest.approx(conf.max(1).mean(), rel=1e-6)
  assert last['disambiguation'] == pytest.approx(
      100 * np.mean(conf.argmax(1) == labels), rel=1e-6)
  assert len(last['disambiguation_per_class']) == 10


@pytest.mark.parametrize('parallel_mode', ['pmap', 'jit'])
def test_resume_is_bit_identical(tmp_path, parallel_mode):
  config = _config(parallel=parallel_mode)
  full = train.train_and_evaluate(config, str(tmp_path / 'full'))
  # 13 steps: stops mid-epoch 1 after a checkpoint; the restart resumes.
  train.train_and_evaluate(config, str(tmp_path / 'cut'), stop_after_steps=13)
  resumed = train.train_and_evaluate(config, str(tmp_path / 'cut'))
  _leaves_equal(full, resumed)
  with open(tmp_path / 'full' / 'results.json') as f:
    a = json.load(f)
  with open(tmp_path / 'cut' / 'results.json') as f:
    b = json.load(f)
  assert a == b


def test_second_run_on_workdir_refused(tmp_path):
  lock = checkpoints.WorkdirLock(str(tmp_path))
  try:
    with pytest.raises(InputError, match='in use'):
      train.train_and_evaluate(_config(), str(tmp_path))
  finally:
    lock.release()


def test_unreadable_checkpoint_falls_back(tmp_path):
  workdir = tmp_path / 'w'
  config = _config()
  train.train_and_evaluate(config, str(workdir), stop_after_steps=13)
  ckpt = workdir / 'checkpoints'
  steps = sorted(int(s) for s in os.listdir(ckpt) if s.isdigit())
  assert steps == [9, 13]
  # Damage the newest checkpoint's array data.
  for root, _, files in os.walk(ckpt / '13'):
    for name in files:
      if 'metadata' not in name.lower():
        with open(os.path.join(root, name), 'wb') as f:
          f.write(b'garbage')
  resumed = train.train_and_evaluate(config, str(workdir))
  full = train.train_and_evaluate(config, str(tmp_path / 'full'))
  _leaves_equal(full, resumed)
  assert os.path.isdir(workdir / 'checkpoints_unreadable' / '13')


def test_all_checkpoints_unreadable_stops(tmp_path):
  config = _config()
  train.train_and_evaluate(config, str(tmp_path), stop_after_steps=9)
  for root, _, files in os.walk(tmp_path / 'checkpoints'):
    for name in files:
      with open(os.path.join(root, name), 'wb') as f:
        f.write(b'garbage')
  with pytest.raises(checkpoints.CheckpointError, match='refusing'):
    train.train_and_evaluate(config, str(tmp_path))


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
    tmp_path, monkeypatch):
  real_update = corr.corr_update

  def poisoned(*args, **kwargs):
    return real_update(*args, **kwargs) * np.nan

  # Updates start in epoch 1 (steps 10-18) and write NaN rows; epoch 2 reads
  # them back as targets, so the loss of its first step (19) is NaN.
  monkeypatch.setattr(corr, 'corr_update', poisoned)
  with pytest.raises(train.NonFiniteLossError, match='at step 19') as err:
    train.train_and_evaluate(_config(**{'optim.epochs': 3}), str(tmp_path))
  assert 'last good checkpoint is step 18' in str(err.value)
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['18', '9']
  assert not os.path.exists(tmp_path / 'results.json')


def test_epoch_permutation_is_pure():
  a = train.epoch_permutation(3, 5, 100)
  np.testing.assert_array_equal(a, train.epoch_permutation(3, 5, 100))
  assert not np.array_equal(a, train.epoch_permutation(3, 6, 100))
  assert sorted(a.tolist()) == list(range(100))


def test_eval_batches_pad_and_mask():
  batches = list(train.eval_batches(10, 4))
  assert [b['mask'].sum() for b in batches] == [4, 4, 2]
  assert batches[-1]['index'].tolist() == [8, 9, 0, 0]


def _launch(workdir):
  """Starts launch.py on configs/test.py (3 epochs) in a subprocess."""
  # The same fast-compile settings and cache as this test session.
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             JAX_DISABLE_MOST_OPTIMIZATIONS='1',
             JAX_COMPILATION_CACHE_DIR=(
                 jax.config.jax_compilation_cache_dir or ''),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  return subprocess.Popen(
      [sys.executable, 'launch.py', '--config=configs/test.py',
       f'--workdir={workdir}', '--config.optim.epochs=3'],
      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
      text=True)


def _final_checkpoint(workdir):
  ckpt = os.path.join(workdir, 'checkpoints')
  step = max(int(s) for s in os.listdir(ckpt) if s.isdigit())
  restored = ocp.StandardCheckpointer().restore(
      os.path.join(ckpt, str(step), 'default'))
  return step, restored


def test_sigkill_and_restart_ends_bit_identical(tmp_path):
  full, cut = tmp_path / 'full', tmp_path / 'cut'
  assert _launch(full).wait(timeout=300) == 0
  proc = _launch(cut)
  marker = cut / 'checkpoints' / '9' / 'commit_success.txt'
  deadline = time.time() + 300
  while not marker.exists() and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  assert not (cut / 'results.json').exists()  # It really was interrupted.
  restart = _launch(cut)
  _, stderr = restart.communicate(timeout=300)
  assert restart.returncode == 0, stderr
  step_a, a = _final_checkpoint(full)
  step_b, b = _final_checkpoint(cut)
  assert step_a == step_b == 27
  _leaves_equal(a, b)
  with open(full / 'results.json') as f, open(cut / 'results.json') as g:
    assert json.load(f) == json.load(g)


@pytest.mark.parametrize('overrides', [
    {'rebalance': 'records', 'mixup': True},
    {'method': 'proden', 'rebalance': 'records'},
])
def test_records_runs_report_the_prior(tmp_path, overrides):
  train.train_and_evaluate(_config(**overrides), str(tmp_path))
  with open(tmp_path / 'results.json') as f:
    results = json.load(f)
  prior = np.asarray(results['estimated_prior'])
  assert prior.shape == (10,) and abs(prior.sum() - 1) < 1e-5
  true_prior = np.asarray(results['true_prior'])
  assert results['prior_tv_distance'] == pytest.approx(
      0.5 * np.abs(prior - true_prior).sum(), rel=1e-6)
  assert os.path.isfile(tmp_path / 'plots' / 'prior.png')
  with open(tmp_path / 'evals.jsonl') as f:
    assert all('prior' in json.loads(line) for line in f)


def _solar_config():
  return _config(**{'method': 'solar', 'solar.est_epochs': 1,
                    'solar.queue_batches': 3, 'solar.warmup_epochs': 1})


def test_solar_both_stages_and_resume_mid_stage_two(tmp_path):
  config = _solar_config()
  full = train.train_and_evaluate(config, str(tmp_path / 'full'))
  assert int(full.method_state.stage) == 2 and int(full.step) == 18
  with open(tmp_path / 'full' / 'evals.jsonl') as f:
    stages = [json.loads(line)['stage'] for line in f]
  assert stages == [1, 2, 2]
  with open(tmp_path / 'full' / 'results.json') as f:
    results = json.load(f)
  assert results['epochs_run'] == 2 and len(results['estimated_prior']) == 10
  # Interrupted in stage 2 (global step 22 of 27), then resumed.
  train.train_and_evaluate(config, str(tmp_path / 'cut'), stop_after_steps=22)
  resumed = train.train_and_evaluate(config, str(tmp_path / 'cut'))
  _leaves_equal(full, resumed)
  with open(tmp_path / 'cut' / 'results.json') as f:
    assert json.load(f) == results


def test_solar_resume_at_the_stage_boundary(tmp_path):
  config = _solar_config()
  full = train.train_and_evaluate(config, str(tmp_path / 'full'))
  # Stop right after stage 1: the checkpoint holds the stage-1 model; the
  # restart begins stage 2 from it, with the stage-1 prior.
  train.train_and_evaluate(config, str(tmp_path / 'cut'), stop_after_steps=9)
  resumed = train.train_and_evaluate(config, str(tmp_path / 'cut'))
  _leaves_equal(full, resumed)
