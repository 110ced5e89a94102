"""Config validation: every bad value gets one line naming key, value, allowed.

``validate_config`` runs before any data is loaded or anything is compiled.
It raises ``InputError`` (``launch.py`` prints the message and exits 2) at the
first problem it finds, checking in the order a user reads the config: data,
method, optimisation, bookkeeping.
"""

import math
import numbers
import os
from typing import Any, Optional, Sequence

import ml_collections

from ltpll_jax import models
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.data import longtail
from ltpll_jax.data import sources
from ltpll_jax.data import voc
from ltpll_jax.errors import InputError
from ltpll_jax.methods import rebalance
from ltpll_jax.methods import registry

PARALLEL = ('pmap', 'jit')
SOURCES = ('tfds', 'local')


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  node = config
  for part in key.split('.'):
    if part not in node:
      raise InputError(f'config.{key} is missing')
    node = node[part]
  return node


def _fail(key: str, value: Any, allowed: str) -> None:
  raise InputError(f'config.{key}={value!r} is invalid: {allowed}')


def _one_of(config, key: str, choices: Sequence[str]) -> str:
  value = _get(config, key)
  if value not in choices:
    _fail(key, value, f'must be one of {", ".join(map(repr, choices))}')
  return value


def _number(config, key: str, *, low: float, high: float = math.inf,
            low_inclusive: bool = True, integer: bool = False) -> float:
  """Checks ``config.key`` is a (finite, for float) number in the range."""
  value = _get(config, key)
  kind = numbers.Integral if integer else numbers.Real
  if isinstance(value, bool) or not isinstance(value, kind):
    _fail(key, value, 'must be an integer' if integer else 'must be a number')
  too_low = value < low if low_inclusive else value <= low
  if math.isnan(value) or too_low or value > high:
    lo = '[' if low_inclusive else '('
    hi = f'{high}]' if high != math.inf else 'inf)'
    _fail(key, value, f'must be in {lo}{low}, {hi}')
  return value


def validate_data(config: ml_collections.ConfigDict) -> None:
  """Checks ``config.data``: names, ranges, and local files present."""
  name = _one_of(config, 'data.name', tuple(dataset_lib.NUM_CLASSES))
  expected = dataset_lib.NUM_CLASSES[name]
  num_classes = _number(config, 'data.num_classes', low=2, integer=True)
  if expected is not None and num_classes != expected:
    _fail('data.num_classes', num_classes,
          f'data.name={name!r} has {expected} classes')
  source = _one_of(config, 'data.source', SOURCES)
  _number(config, 'data.imbalance_ratio', low=1)
  _number(config, 'data.partial_rate', low=0, high=1)
  candidates = _one_of(config, 'data.candidates',
                       longtail.CANDIDATE_GENERATORS)
  _one_of(config, 'data.rng_mode', longtail.RNG_MODES)
  if candidates == 'hierarchical':
    no_super = name not in dataset_lib.WITH_SUPERCLASSES or (
        name == 'synthetic' and config.data.synthetic.num_superclasses <= 0)
    if no_super:
      _fail('data.candidates', candidates,
            f'data.name={name!r} has no superclasses; hierarchical '
            'candidates need cifar100 (or synthetic with '
            'data.synthetic.num_superclasses > 0)')
  if name in dataset_lib.CUSTOM_LOADERS:
    return  # A registered data set checks its own input when it loads.
  if name == 'synthetic':
    syn = 'data.synthetic.'
    for key in ('train_per_class', 'test_per_class'):
      _number(config, syn + key, low=1, integer=True)
    _number(config, syn + 'image_size', low=4, integer=True)
    _one_of(config, syn + 'channels', (1, 3))
  elif name == 'voc':
    if source != 'local':
      _fail('data.source', source,
            "data.name='voc' is read from the RECORDS authors' CSV folder "
            "only: set data.source='local' and data.data_dir to the folder "
            'that holds PLL/')
    voc.check_layout(config.data.data_dir)
  elif source == 'local':
    sources.check_local_files(name, config.data.data_dir)
  elif config.data.tfds_dir and not os.path.isdir(config.data.tfds_dir):
    _fail('data.tfds_dir', config.data.tfds_dir, 'folder does not exist')


def validate_config(config: ml_collections.ConfigDict, *,
                    num_devices: Optional[int] = None) -> None:
  """Checks the whole config; raises InputError at the first bad value.

  Args:
    config: the experiment config.
    num_devices: devices the global batch is split over (None: not checked,
      e.g. for ``--only_data``).
  """
  _number(config, 'seed', low=0, integer=True)
  validate_data(config)
  _one_of(config, 'method', tuple(registry.LEARNERS) + ('solar',))
  method = _get(config, 'method')
  rebal = _one_of(config, 'rebalance', rebalance.REBALANCERS)
  if method == 'solar':
    if rebal != 'none':
      _fail('rebalance', rebal, "method='solar' rebalances with its own "
            "Sinkhorn prior: use 'none'")
    if _get(config, 'mixup'):
      _fail('mixup', True, "method='solar' always mixes its chosen samples; "
            'leave mixup False')
    sol = 'solar.'
    _number(config, sol + 'est_epochs', low=0, integer=True)
    for key in ('gamma_stage1', 'gamma_stage2', 'rho_start', 'rho_end', 'eta',
                'tau'):
      _number(config, sol + key, low=0, high=1)
    _number(config, sol + 'warmup_epochs', low=0, integer=True)
    _number(config, sol + 'power', low=0, low_inclusive=False)
    _number(config, sol + 'sinkhorn_iters', low=1, integer=True)
    _number(config, sol + 'queue_batches', low=0, integer=True)
  _one_of(config, 'oracle_la.variant', rebalance.ORACLE_VARIANTS)
  _number(config, 'oracle_la.tau', low=0)
  if not isinstance(_get(config, 'mixup'), bool):
    _fail('mixup', config.mixup, 'must be True or False')
  _number(config, 'mixup_weight', low=0)
  _one_of(config, 'model.name', tuple(models.MODELS))
  _number(config, 'model.width', low=0, integer=True)
  _one_of(config, 'parallel', PARALLEL)
  _number(config, 'optim.lr', low=0, low_inclusive=False)
  _number(config, 'optim.min_lr', low=0)
  _number(config, 'optim.momentum', low=0, high=1)
  _number(config, 'optim.weight_decay', low=0)
  _number(config, 'optim.epochs', low=1, integer=True)
  batch = _number(config, 'optim.batch_size', low=1, integer=True)
  if num_devices is not None and batch % num_devices:
    _fail('optim.batch_size', batch,
          f'must be divisible by the {num_devices} devices')
  _number(config, 'corr.update_start_epoch', low=0, integer=True)
  _number(config, 'records.momentum', low=0, high=1)
  for key in ('eval_every_epochs', 'checkpoint_every_epochs',
              'keep_checkpoints', 'log_every_steps', 'eval_batch_size'):
    _number(config, key, low=1, integer=True)
