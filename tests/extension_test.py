"""The README's extension examples, run as written, each training two steps.

The code blocks of README.md that start with ``# example: NAME`` are
extracted and executed, so the guide cannot drift from the code.
"""

import json
import os
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds

import _helpers  # pylint: disable=g-bad-import-order
from ltpll_jax import train
from ltpll_jax import validation
from ltpll_jax.data import sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _examples():
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = f.read()
  blocks = re.findall(r'```python\n(# example: (\w+)\n.*?)```', text, re.S)
  return {name: code for code, name in blocks}


def _run_example(name):
  exec(compile(_examples()[name], f'README:{name}', 'exec'), {})  # pylint: disable=exec-used


def _two_steps(tmp_path, **overrides):
  config = _helpers.test_config_with(**overrides)
  validation.validate_config(config, num_devices=8)
  state = train.train_and_evaluate(config, str(tmp_path), stop_after_steps=2)
  assert int(state.step) == 2
  with open(tmp_path / 'metrics.jsonl') as f:
    losses = [json.loads(line)['train_loss'] for line in f]
  assert len(losses) == 2 and all(np.isfinite(losses))
  return state


def test_readme_has_all_examples():
  assert set(_examples()) == {'model', 'dataset', 'tfds', 'learner'}


def test_model_example(tmp_path):
  _run_example('model')
  state = _two_steps(tmp_path, **{'model.name': 'mlp'})
  assert state.params['head']['kernel'].shape == (64, 10)


def test_dataset_example(tmp_path):
  _run_example('dataset')
  state = _two_steps(tmp_path, **{'data.name': 'blobs',
                                  'data.num_classes': 4,
                                  'data.imbalance_ratio': 5.0})
  with open(tmp_path / 'dataset.json') as f:
    manifest = json.load(f)
  assert manifest['class_counts'] == [100, 58, 34, 20]
  assert state.confidence.shape == (212, 4)


def test_tfds_example(tmp_path, monkeypatch):
  _run_example('tfds')
  monkeypatch.setattr(sources, 'network_reachable', lambda *a, **k: True)
  with tfds.testing.mock_data(num_examples=200, data_dir=str(tmp_path)):
    _two_steps(tmp_path / 'run', **{'data.name': 'mnist',
                                    'data.tfds_dir': str(tmp_path),
                                    'data.imbalance_ratio': 2.0})


@pytest.mark.parametrize('rebalance', ['none', 'records'])
def test_learner_example_under_records(tmp_path, rebalance):
  _run_example('learner')
  state = _two_steps(tmp_path, **{'method': 'sharpen',
                                  'rebalance': rebalance,
                                  'corr.update_start_epoch': 0})
  conf = np.asarray(state.confidence)
  np.testing.assert_allclose(conf.sum(1), 1.0, atol=1e-5)
  assert (np.asarray(state.feat_mean) != 0).any() == (rebalance == 'records')
