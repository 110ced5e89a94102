"""The training loop: ``train_and_evaluate(config, workdir)``.

Reads top to bottom: lock the workdir, writer, data (on device), model and
state, restore, wrap the steps once, then loop over steps (train, log,
evaluate, checkpoint), and finally write ``results.json`` and the plots.

The data order of epoch ``e`` is a pure function of (seed, e) and the
augmentation keys of (seed, step, sample), so a run resumed from a checkpoint
continues exactly as an uninterrupted one would.
"""

import dataclasses
import functools
import json
import os
import time
from typing import Any, Optional

import jax
import ml_collections
import numpy as np

from ltpll_jax import checkpoints
from ltpll_jax import metrics as metrics_lib
from ltpll_jax import models
from ltpll_jax import parallel
from ltpll_jax import prepare
from ltpll_jax import report
from ltpll_jax import steps as steps_lib
from ltpll_jax import writer as writer_lib
from ltpll_jax.data import augment
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.methods import rebalance as rebalance_lib
from ltpll_jax.errors import InputError
from ltpll_jax.state import TrainState


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or infinite."""


def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The shuffled example order of ``epoch``: a pure function of its inputs.
  """
  return np.random.default_rng([seed, epoch]).permutation(
      num_examples).astype(np.int32)


def is_time(step: int, every: int, total: int) -> bool:
  """Whether a periodic action fires after ``step`` (1-based); also fires on
  the last step."""
  return step % every == 0 or step == total


def step_config(config: ml_collections.ConfigDict, dataset: str,
                num_classes: int) -> steps_lib.StepConfig:
  """The static step settings of ``config`` for a data set."""
  train_mean, train_std = augment.normalization(dataset, train=True)
  test_mean, test_std = augment.normalization(
      dataset, train=False,
      cifar_test_quirk=config.data.published_test_normalization)
  return steps_lib.StepConfig(
      num_classes=num_classes, method=config.method,
      rebalancer=rebalance_lib.Rebalancer(
          config.rebalance, oracle_variant=config.oracle_la.variant,
          tau=config.oracle_la.tau),
      mixup=config.mixup, mixup_weight=config.mixup_weight,
      mixup_groups=jax.device_count() if config.parallel == 'jit' else 1,
      train_mean=tuple(train_mean), train_std=tuple(train_std),
      test_mean=tuple(test_mean), test_std=tuple(test_std),
      feat_momentum=config.records.momentum)


def device_data(ds: dataset_lib.PLLDataset) -> dict[str, np.ndarray]:
  """The arrays every device holds for the whole run."""
  counts = ds.class_counts
  return {
      'images': ds.train_images,
      'candidates': ds.candidate_mask,
      'labels': ds.train_labels,
      'class_prior': (counts / counts.sum()).astype(np.float32),
      'test_images': ds.test_images,
      'test_labels': ds.test_labels,
  }


def eval_batches(num_test: int, batch_size: int):
  """Padded evaluation batches: ``{'index': [E], 'mask': [E]}`` dicts."""
  for start in range(0, num_test, batch_size):
    index = np.arange(start, start + batch_size)
    mask = index < num_test
    yield {'index': np.where(mask, index, 0).astype(np.int32), 'mask': mask}


def evaluate(p_eval, state: TrainState, data: Any, num_test: int,
             batch_size: int, train_counts: np.ndarray) -> dict[str, Any]:
  """Top-1/top-5/per-class/split accuracies on the whole test set."""
  totals, batch_top1 = None, []
  for batch in eval_batches(num_test, batch_size):
    counts = jax.device_get(p_eval(state, data, batch, None))
    totals = counts if totals is None else jax.tree.map(np.add, totals,
                                                        counts)
    batch_top1.append(100.0 * counts['correct1'].sum() /
                      max(counts['seen'].sum(), 1))
  return metrics_lib.summarize(totals['correct1'], totals['correct5'],
                               totals['seen'], train_counts,
                               batch_top1=batch_top1)


@dataclasses.dataclass(frozen=True)
class Run:
  """What a run builds once from its config: devices, model, steps.

  Attributes:
    mesh: the 1-D device mesh.
    model: the network (BatchNorm reduces across devices under pmap).
    tx: the optimiser.
    learning_rate_fn: step -> learning rate.
    step_cfg: the steps' static settings.
    train_step: ``(state, data, batch, rng, update_targets) -> (state,
      metrics)``, wrapped once for the parallel mode.
    eval_step: ``(state, data, batch, rng) -> counts``, wrapped likewise.
  """
  mesh: Any
  model: Any
  tx: Any
  learning_rate_fn: Any
  step_cfg: steps_lib.StepConfig
  train_step: Any
  eval_step: Any


def create_run(config: ml_collections.ConfigDict, *, dataset: str,
               num_train: int, num_classes: int) -> Run:
  """Builds the model, optimiser and wrapped steps of ``config``."""
  mesh = parallel.make_mesh()
  coll = parallel.collectives(config.parallel)
  model = models.create_model(config.model.name, num_classes=num_classes,
                              axis_name=coll.axis_name,
                              width=config.model.width)
  lr_fn = steps_lib.create_learning_rate_fn(
      base_lr=config.optim.lr, min_lr=config.optim.min_lr,
      epochs=config.optim.epochs,
      steps_per_epoch=num_train // config.optim.batch_size)
  tx = steps_lib.create_optimizer(learning_rate_fn=lr_fn,
                                  momentum=config.optim.momentum,
                                  weight_decay=config.optim.weight_decay)
  cfg = step_config(config, dataset, num_classes)
  train_step = parallel.wrap(
      functools.partial(steps_lib.train_step, model=model, cfg=cfg, coll=coll,
                        learning_rate_fn=lr_fn),
      config.parallel, mesh, num_static=1)
  eval_step = parallel.wrap(
      functools.partial(steps_lib.eval_step, model=model, cfg=cfg, coll=coll),
      config.parallel, mesh, donate_state=False)
  return Run(mesh, model, tx, lr_fn, cfg, train_step, eval_step)


def create_state(run: Run, rng: jax.Array, image_shape: tuple[int, ...],
                 candidates: np.ndarray) -> TrainState:
  """A fresh TrainState, replicated on every device of the run's mesh."""
  state = steps_lib.create_train_state(rng, run.model, image_shape, run.tx,
                                       steps_lib.initial_confidence(
                                           candidates))
  return parallel.replicate(state, run.mesh)


class EvalHistory:
  """Evaluation results of a run, one JSON line each in ``evals.jsonl``.

  A resumed run keeps the rows of the epochs its checkpoint covers and drops
  the rest, which it will evaluate again.
  """

  def __init__(self, workdir: str, *, resume_epoch: int, enabled: bool):
    self.path = os.path.join(workdir, 'evals.jsonl')
    self.enabled = enabled
    self.rows = [r for r in _read_jsonl(self.path) if r['epoch'] < resume_epoch]
    if enabled:
      _write_jsonl(self.path, self.rows)

  def add(self, row: dict[str, Any]) -> None:
    self.rows.append(row)
    if self.enabled:
      with open(self.path, 'a') as f:
        f.write(json.dumps(row) + '\n')

  def best(self) -> dict[str, Any]:
    """The row with the highest top-1 (the earliest on ties)."""
    return max(self.rows, key=lambda r: r['top1'])


def _read_jsonl(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _write_jsonl(path: str, rows: list[dict[str, Any]]) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    for row in rows:
      f.write(json.dumps(row) + '\n')
  os.replace(tmp, path)


class StepLogger:
  """Keeps step metrics on device and fetches them every few steps.

  Fetching checks every pending loss: the first non-finite one stops the run
  with its step. Every ``every`` steps (and the last) go to the writer; a
  progress line with throughput and ETA goes to the console.
  """

  def __init__(self, writer: writer_lib.MetricWriter, *, every: int,
               total_steps: int, steps_per_epoch: int, batch_size: int,
               start_step: int):
    self.writer = writer
    self.every = every
    self.total_steps = total_steps
    self.steps_per_epoch = steps_per_epoch
    self.batch_size = batch_size
    self.pending = []
    self.last_time, self.last_step = time.time(), start_step

  def add(self, step: int, out: dict[str, jax.Array]) -> None:
    self.pending.append((step, out))

  def flush(self, last_checkpoint: Optional[int]) -> None:
    """Fetches, checks and writes the pending metrics; logs progress."""
    if not self.pending:
      return
    fetched = jax.device_get([out for _, out in self.pending])
    for (step, _), out in zip(self.pending, fetched):
      row = {k: float(v) for k, v in out.items()}
      if not np.isfinite(row['loss']):
        where = ('no checkpoint was written' if last_checkpoint is None else
                 f'the last good checkpoint is step {last_checkpoint}')
        raise NonFiniteLossError(f'training loss is {row["loss"]} at step '
                                 f'{step}; stopping ({where})')
      if is_time(step, self.every, self.total_steps):
        self.writer.write_scalars(
            step, {f'train_{k}': v for k, v in row.items()},
            epoch=(step - 1) // self.steps_per_epoch)
    step = self.pending[-1][0]
    now = time.time()
    rate = ((step - self.last_step) * self.batch_size /
            max(now - self.last_time, 1e-9))
    eta = (self.total_steps - step) * self.batch_size / max(rate, 1e-9)
    writer_lib.console().info(
        'epoch %d/%d step %d/%d loss %.4f train_acc %.3f | %.1f samples/s | '
        'ETA %s', (step - 1) // self.steps_per_epoch + 1,
        self.total_steps // self.steps_per_epoch, step, self.total_steps,
        row['loss'], row['train_acc'], rate, _format_eta(eta))
    self.pending = []
    self.last_time, self.last_step = now, step


def _truncate_metrics(path: str, max_step: int) -> None:
  """Drops metric lines that a resumed run will write again."""
  rows = _read_jsonl(path)
  if rows:
    _write_jsonl(path, [r for r in rows if r['step'] <= max_step])


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s'


def train_batches(seed: int, num_train: int, batch_size: int,
                  start_step: int, stop_step: int):
  """Yields ``(step, epoch, index)`` for steps ``[start_step, stop_step)``.

  ``index`` is this host's share of the global batch: rows of epoch
  ``step // (num_train // batch_size)``'s permutation, remainder dropped.
  """
  steps_per_epoch = num_train // batch_size
  perm, perm_epoch = None, None
  for step in range(start_step, stop_step):
    epoch = step // steps_per_epoch
    if epoch != perm_epoch:
      perm, perm_epoch = epoch_permutation(seed, epoch, num_train), epoch
    offset = (step % steps_per_epoch) * batch_size
    yield step, epoch, parallel.host_slice(perm[offset:offset + batch_size])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       stop_after_steps: Optional[int] = None) -> TrainState:
  """Trains and evaluates; resumes from ``workdir`` if it holds checkpoints.

  Args:
    config: the experiment config (validated).
    workdir: output folder (checkpoints, metrics, results, plots).
    stop_after_steps: stop (after checkpointing) once this many steps are
      done in total, as if the run had been interrupted; for tests.

  Returns:
    The final train state.
  """
  with checkpoints.WorkdirLock(workdir):
    return _train(config, workdir, stop_after_steps)


def _train(config, workdir, stop_after_steps):
  is_main = jax.process_index() == 0
  console = writer_lib.console()
  console.info('process %d of %d; %d devices: %s', jax.process_index(),
               jax.process_count(), jax.device_count(), jax.devices())
  ds = prepare.prepare_data(config, workdir)
  num_train, num_classes = ds.candidate_mask.shape
  batch_size = config.optim.batch_size
  steps_per_epoch = num_train // batch_size
  if steps_per_epoch == 0:
    raise InputError(f'config.optim.batch_size={batch_size} is larger than '
                     f'the {num_train} training examples')
  epochs = config.optim.epochs
  total_steps = steps_per_epoch * epochs

  run = create_run(config, dataset=ds.name, num_train=num_train,
                   num_classes=num_classes)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  state = create_state(run, init_rng, ds.train_images.shape[1:],
                       ds.candidate_mask)

  manager = checkpoints.create_manager(workdir, keep=config.keep_checkpoints)
  state, last_checkpoint = checkpoints.restore_latest(manager, state)
  start_step = last_checkpoint or 0
  if last_checkpoint:
    console.info('resuming at step %d (epoch %d)', start_step,
                 start_step // steps_per_epoch + 1)
  history = EvalHistory(workdir, resume_epoch=start_step // steps_per_epoch,
                        enabled=is_main)
  if is_main:
    _truncate_metrics(os.path.join(workdir, 'metrics.jsonl'), start_step)
  writer = writer_lib.MetricWriter(workdir, enabled=is_main)

  data = parallel.replicate(device_data(ds), run.mesh)
  # Evaluation batches split evenly over the devices.
  eval_batch = -(-config.eval_batch_size // jax.device_count()) * (
      jax.device_count())

  stop_step = min(total_steps, stop_after_steps or total_steps)
  logger = StepLogger(writer, every=config.log_every_steps,
                      total_steps=total_steps,
                      steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                      start_step=start_step)
  try:
    for step, epoch, index in train_batches(config.seed, num_train,
                                            batch_size, start_step,
                                            stop_step):
      update = epoch >= config.corr.update_start_epoch
      state, out = run.train_step(state, data, {'index': index}, train_rng,
                                  update)
      done = step + 1
      logger.add(done, out)
      end_of_epoch = done % steps_per_epoch == 0
      if (end_of_epoch or done == stop_step or
          done % config.log_every_steps == 0):
        logger.flush(last_checkpoint)
      if end_of_epoch and is_time(epoch + 1, config.eval_every_epochs,
                                  epochs):
        result = evaluate(run.eval_step, state, data, len(ds.test_labels),
                          eval_batch, ds.class_counts)
        row = {'epoch': epoch, 'step': done, **result}
        if config.rebalance == 'records':
          row.update(_prior_report(state, ds))
        history.add(row)
        writer.write_scalars(done, {
            f'eval_{k}': result[k] for k in ('top1', 'top5', 'many',
                                             'medium', 'few')
            if result[k] is not None}, epoch=epoch)
        console.info('epoch %d eval: %s', epoch + 1,
                     metrics_lib.format_row(result))
      if (end_of_epoch and is_time(epoch + 1, config.checkpoint_every_epochs,
                                   epochs)) or done == stop_step:
        checkpoints.save(manager, done, state)
        last_checkpoint = done
  finally:
    # Let pending asynchronous saves land before returning or raising.
    manager.wait_until_finished()
    writer.close()
  if stop_step == total_steps and history.rows and is_main:
    _write_outputs(config, workdir, ds, history)
  return state


def _prior_report(state: TrainState, ds: dataset_lib.PLLDataset
                 ) -> dict[str, Any]:
  """RECORDS' current prior estimate and its distance to the true prior."""
  head = state.params['head']
  prior = np.asarray(jax.device_get(rebalance_lib.records_prior(
      state.feat_mean, head['kernel'], head['bias'])), np.float64)
  true_prior = ds.class_counts / ds.class_counts.sum()
  return {'prior': prior.tolist(),
          'prior_tv': report.total_variation(prior, true_prior)}


def _write_outputs(config: ml_collections.ConfigDict, workdir: str,
                   ds: dataset_lib.PLLDataset, history: EvalHistory) -> None:
  """results.json, the plots, and the results table on the console."""
  strip = lambda r: {k: v for k, v in r.items()
                     if k not in ('epoch', 'step', 'prior', 'prior_tv')}
  last, best = history.rows[-1], history.best()
  extra = {}
  if 'prior' in last:
    true_prior = ds.class_counts / ds.class_counts.sum()
    extra = {'estimated_prior': last['prior'],
             'prior_tv_distance': last['prior_tv'],
             'true_prior': true_prior.tolist()}
    rows = [r for r in history.rows if 'prior' in r]
    # A few snapshots spread over training, the last one included.
    picks = sorted({round(i * (len(rows) - 1) / 4) for i in range(5)})
    report.plot_prior(os.path.join(workdir, 'plots', 'prior.png'),
                      true_prior,
                      [(rows[i]['epoch'] + 1, np.asarray(rows[i]['prior']))
                       for i in picks], list(ds.class_names))
  report.write_results(workdir, strip(last), strip(best), best['epoch'],
                       config.optim.epochs, **extra)
  plot = os.path.join(workdir, 'plots', 'per_class.png')
  report.plot_per_class(plot, last['per_class'], ds.class_counts,
                        list(ds.class_names),
                        title=f'{config.method} + {config.rebalance}')
  writer_lib.console().info(
      'results (last epoch, and best epoch %d on the test set):\n%s\n'
      'written to %s; per-class plot %s', best['epoch'] + 1,
      report.results_table({'last': strip(last), 'best': strip(best)}),
      os.path.join(workdir, 'results.json'), plot)
