"""The training loop: ``train_and_evaluate(config, workdir)``.

Reads top to bottom: lock the workdir, data (on device), model and steps,
state, restore, then for each stage loop over steps (train, log, end-of-epoch
hook, evaluate, checkpoint), and finally write ``results.json`` and the plots.

Every method has one stage, except SoLar: a prior pre-estimation stage of
``solar.est_epochs`` epochs, then a fresh model (and optimiser, confidence
table and queue) trained for ``optim.epochs`` epochs from the stage-1 prior.
Only the last stage is reported in ``results.json``.

The data order of (global) epoch ``e`` is a pure function of (seed, e) and
the augmentation keys of (seed, stage, step, sample), so a run resumed from a
checkpoint, in any stage, continues exactly as an uninterrupted one would.
Checkpoints are numbered by global step.
"""

import dataclasses
import functools
import os
from typing import Any, Callable, Optional

import jax
import ml_collections
import numpy as np

from ltpll_jax import checkpoints
from ltpll_jax import logbook
from ltpll_jax import metrics as metrics_lib
from ltpll_jax import models
from ltpll_jax import parallel
from ltpll_jax import prepare
from ltpll_jax import report
from ltpll_jax import solar_steps
from ltpll_jax import steps as steps_lib
from ltpll_jax import writer as writer_lib
from ltpll_jax.data import augment
from ltpll_jax.data import dataset as dataset_lib
from ltpll_jax.errors import InputError
from ltpll_jax.methods import rebalance as rebalance_lib
from ltpll_jax.methods import solar
from ltpll_jax.state import TrainState

NonFiniteLossError = logbook.NonFiniteLossError
is_time = logbook.is_time


def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The shuffled example order of ``epoch``: a pure function of its inputs.
  """
  return np.random.default_rng([seed, epoch]).permutation(
      num_examples).astype(np.int32)


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


def padded_batches(num: int, batch_size: int):
  """Padded batches over ``range(num)``: ``{'index': [E], 'mask': [E]}``."""
  for start in range(0, num, batch_size):
    index = np.arange(start, start + batch_size)
    mask = index < num
    yield {'index': np.where(mask, index, 0).astype(np.int32), 'mask': mask}


eval_batches = padded_batches


def _host_share(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """This host's slice of a global batch (all of it on one host)."""
  return jax.tree.map(parallel.host_slice, batch)


def evaluate(p_eval, state: TrainState, data: Any, num_test: int,
             batch_size: int, train_counts: np.ndarray) -> dict[str, Any]:
  """Top-1/top-5/per-class/split accuracies on the whole test set."""
  totals, batch_top1 = None, []
  for batch in padded_batches(num_test, batch_size):
    counts = jax.device_get(p_eval(state, data, _host_share(batch), None))
    totals = counts if totals is None else jax.tree.map(np.add, totals,
                                                        counts)
    batch_top1.append(100.0 * counts['correct1'].sum() /
                      max(counts['seen'].sum(), 1))
  return metrics_lib.summarize(totals['correct1'], totals['correct5'],
                               totals['seen'], train_counts,
                               batch_top1=batch_top1)


@dataclasses.dataclass(frozen=True)
class Stage:
  """One training stage: ``epochs`` epochs of a fresh model.

  Attributes:
    index: 0 for single-stage methods; SoLar's stages are 1 and 2.
    epochs: epochs of the stage.
    gamma: SoLar's prior momentum in this stage (None otherwise).
    reported: whether its evaluations make ``results.json``.
  """
  index: int
  epochs: int
  gamma: Optional[float] = None
  reported: bool = True


def stages_of(config: ml_collections.ConfigDict) -> list[Stage]:
  """The stages a config trains, in order."""
  if config.method != 'solar':
    return [Stage(0, config.optim.epochs)]
  sol = config.solar
  stages = [Stage(1, sol.est_epochs, sol.gamma_stage1, reported=False),
            Stage(2, config.optim.epochs, sol.gamma_stage2)]
  return [s for s in stages if s.epochs > 0]


@dataclasses.dataclass(frozen=True)
class Run:
  """What a run builds once from its config: devices, model, steps.

  Attributes:
    mesh: the 1-D device mesh.
    model: the network (BatchNorm reduces across devices under pmap).
    tx: the optimiser.
    learning_rate_fn: step -> learning rate.
    step_cfg: the steps' static settings.
    train_step: ``(state, data, batch, rng, *statics) -> (state, metrics)``,
      wrapped once for the parallel mode.
    statics: ``(stage_epoch, stage_step) -> tuple`` of the static arguments.
    eval_step: ``(state, data, batch, rng) -> counts``, wrapped likewise.
    predict_step: SoLar's masked-argmax pass over training images, or None.
    method_state: ``(stage, prior) -> pytree``, a fresh method state.
  """
  mesh: Any
  model: Any
  tx: Any
  learning_rate_fn: Any
  step_cfg: steps_lib.StepConfig
  train_step: Callable[..., Any]
  statics: Callable[[int, int], tuple[Any, ...]]
  eval_step: Callable[..., Any]
  predict_step: Optional[Callable[..., Any]]
  method_state: Callable[..., Any]


def create_run(config: ml_collections.ConfigDict, *, dataset: str,
               num_train: int, num_classes: int) -> Run:
  """Builds the model, optimiser and wrapped steps of ``config``."""
  mesh = parallel.make_mesh()
  coll = parallel.collectives(config.parallel)
  model = models.create_model(config.model.name, num_classes=num_classes,
                              axis_name=coll.axis_name,
                              width=config.model.width)
  steps_per_epoch = num_train // config.optim.batch_size
  lr_fn = steps_lib.create_learning_rate_fn(
      base_lr=config.optim.lr, min_lr=config.optim.min_lr,
      epochs=config.optim.epochs, steps_per_epoch=steps_per_epoch)
  tx = steps_lib.create_optimizer(learning_rate_fn=lr_fn,
                                  momentum=config.optim.momentum,
                                  weight_decay=config.optim.weight_decay)
  cfg = step_config(config, dataset, num_classes)
  eval_step = parallel.wrap(
      functools.partial(steps_lib.eval_step, model=model, cfg=cfg, coll=coll),
      config.parallel, mesh, donate_state=False)
  if config.method == 'solar':
    sol = config.solar
    solar_cfg = solar_steps.SolarConfig(
        steps_per_epoch=steps_per_epoch, batch_size=config.optim.batch_size,
        rho_start=sol.rho_start, rho_end=sol.rho_end, eta=sol.eta,
        warmup_epochs=sol.warmup_epochs, tau=sol.tau, power=sol.power,
        sinkhorn_iters=sol.sinkhorn_iters)
    train_step = parallel.wrap(
        functools.partial(solar_steps.solar_train_step, model=model, cfg=cfg,
                          solar_cfg=solar_cfg, coll=coll,
                          learning_rate_fn=lr_fn),
        config.parallel, mesh, num_static=2)
    predict_step = parallel.wrap(
        functools.partial(solar_steps.solar_predict_step, model=model,
                          cfg=cfg, coll=coll),
        config.parallel, mesh, donate_state=False)
    queue_rows = sol.queue_batches * config.optim.batch_size
    statics = lambda epoch, step: (step >= sol.queue_batches, epoch == 0)
    method_state = lambda stage, prior=None: solar.init_state(
        num_classes, queue_rows, stage=stage, prior=prior)
  else:
    train_step = parallel.wrap(
        functools.partial(steps_lib.train_step, model=model, cfg=cfg,
                          coll=coll, learning_rate_fn=lr_fn),
        config.parallel, mesh, num_static=1)
    predict_step = None
    statics = lambda epoch, step: (epoch >= config.corr.update_start_epoch,)
    method_state = lambda stage, prior=None: {}
  return Run(mesh, model, tx, lr_fn, cfg, train_step, statics, eval_step,
             predict_step, method_state)


def create_state(run: Run, rng: jax.Array, image_shape: tuple[int, ...],
                 candidates: np.ndarray, method_state: Any = None
                ) -> TrainState:
  """A fresh TrainState, replicated on every device of the run's mesh."""
  state = steps_lib.create_train_state(
      rng, run.model, image_shape, run.tx,
      steps_lib.initial_confidence(candidates),
      run.method_state(1) if method_state is None else method_state)
  return parallel.replicate(state, run.mesh)


def stage_of(state: TrainState, stages: list[Stage]) -> int:
  """Position in ``stages`` of the stage a (restored) state belongs to."""
  if isinstance(state.method_state, solar.SolarState):
    stage = int(jax.device_get(state.method_state.stage))
    return [s.index for s in stages].index(stage)
  return 0


def update_solar_prior(run: Run, state: TrainState, data: Any,
                       num_train: int, batch_size: int, gamma: float
                      ) -> TrainState:
  """SoLar's end-of-epoch prior update from masked training predictions."""
  # The step returns the whole batch's predictions, gathered over devices.
  preds = [jax.device_get(run.predict_step(state, data, _host_share(batch),
                                           None))[batch['mask']]
           for batch in padded_batches(num_train, batch_size)]
  sol = state.method_state
  prior = solar.prior_update(jax.device_get(sol.prior),
                             np.concatenate(preds), gamma)
  return state.replace(method_state=sol._replace(
      prior=parallel.replicate(prior, run.mesh)))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       stop_after_steps: Optional[int] = None) -> TrainState:
  """Trains and evaluates; resumes from ``workdir`` if it holds checkpoints.

  Args:
    config: the experiment config (validated).
    workdir: output folder (checkpoints, metrics, results, plots).
    stop_after_steps: stop (after checkpointing) once this many global steps
      are done, as if the run had been interrupted; for tests.

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
  ds = prepare.prepare_data(config, workdir, write=is_main)
  num_train, num_classes = ds.candidate_mask.shape
  batch_size = config.optim.batch_size
  spe = num_train // batch_size
  if spe == 0:
    raise InputError(f'config.optim.batch_size={batch_size} is larger than '
                     f'the {num_train} training examples')
  stages = stages_of(config)
  # Global step at which each stage starts, and the total.
  offsets = np.cumsum([0] + [s.epochs * spe for s in stages]).tolist()
  total_steps = offsets[-1]

  run = create_run(config, dataset=ds.name, num_train=num_train,
                   num_classes=num_classes)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  image_shape = ds.train_images.shape[1:]

  def fresh_state(stage, prior=None):
    return create_state(run, jax.random.fold_in(init_rng, stage.index),
                        image_shape, ds.candidate_mask,
                        run.method_state(stage.index, prior))

  manager = checkpoints.create_manager(workdir, keep=config.keep_checkpoints)
  state, last_checkpoint = checkpoints.restore_latest(
      manager, fresh_state(stages[0]))
  current = stage_of(state, stages)
  start_step = offsets[current] + int(jax.device_get(state.step))
  if last_checkpoint:
    console.info('resuming at step %d (epoch %d)', start_step,
                 start_step // spe + 1)
  history = logbook.EvalHistory(workdir, resume_epoch=start_step // spe,
                                enabled=is_main)
  if is_main:
    logbook.truncate_metrics(os.path.join(workdir, 'metrics.jsonl'),
                             start_step)
  writer = writer_lib.MetricWriter(workdir, enabled=is_main)
  data = parallel.replicate(device_data(ds), run.mesh)
  # Evaluation batches split evenly over the devices.
  eval_batch = -(-config.eval_batch_size // jax.device_count()) * (
      jax.device_count())
  stop_step = min(total_steps, stop_after_steps or total_steps)
  logger = logbook.StepLogger(writer, every=config.log_every_steps,
                              total_steps=total_steps, steps_per_epoch=spe,
                              batch_size=batch_size, start_step=start_step)
  try:
    for si in range(current, len(stages)):
      stage = stages[si]
      if si != current:
        prior = getattr(state.method_state, 'prior', None)
        state = fresh_state(stage, prior)
        console.info('stage %d: a fresh model for %d epochs', stage.index,
                     stage.epochs)
      stage_rng = jax.random.fold_in(train_rng, stage.index)
      for step, epoch, index in train_batches(
          config.seed, num_train, batch_size, max(start_step, offsets[si]),
          min(stop_step, offsets[si + 1])):
        stage_step = step - offsets[si]
        stage_epoch = stage_step // spe
        state, out = run.train_step(state, data, {'index': index}, stage_rng,
                                    *run.statics(stage_epoch, stage_step))
        done = step + 1
        logger.add(done, out)
        end_of_epoch = done % spe == 0
        if (end_of_epoch or done == stop_step or
            done % config.log_every_steps == 0):
          logger.flush(last_checkpoint)
        if end_of_epoch and stage.gamma is not None:
          state = update_solar_prior(run, state, data, num_train, eval_batch,
                                     stage.gamma)
        if end_of_epoch and is_time(stage_epoch + 1, config.eval_every_epochs,
                                    stage.epochs):
          result = evaluate(run.eval_step, state, data, len(ds.test_labels),
                            eval_batch, ds.class_counts)
          row = {'epoch': epoch, 'step': done, 'stage': stage.index,
                 'stage_epoch': stage_epoch, **result,
                 **disambiguation_report(state.confidence, ds)}
          row.update(_method_report(config, state, ds))
          history.add(row)
          writer.write_scalars(done, {
              f'eval_{k}': row[k] for k in ('top1', 'top5', 'many', 'medium',
                                            'few', 'mmc', 'disambiguation')
              if row[k] is not None}, epoch=epoch)
          console.info('%sepoch %d eval: %s',
                       f'stage {stage.index} ' if stage.index else '',
                       stage_epoch + 1, metrics_lib.format_row(result))
        if (end_of_epoch and is_time(stage_epoch + 1,
                                     config.checkpoint_every_epochs,
                                     stage.epochs)) or done == stop_step:
          checkpoints.save(manager, done, state)
          last_checkpoint = done
  finally:
    # Let pending asynchronous saves land before returning or raising.
    manager.wait_until_finished()
    writer.close()
  reported = [r for r in history.rows if r['stage'] == stages[-1].index]
  if stop_step == total_steps and reported and is_main:
    _write_outputs(config, workdir, ds, reported)
  return state


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


def disambiguation_report(confidence: jax.Array,
                          ds: dataset_lib.PLLDataset) -> dict[str, Any]:
  """How far the confidence table has disambiguated the training set.

  Returns:
    ``mmc``: the mean over training samples of the largest confidence (the
    published logs' MMC); ``disambiguation``: the percentage of training
    samples whose largest confidence is on the true label (diagnostic only:
    training never reads the true labels), and the same per class.
  """
  conf = np.asarray(jax.device_get(confidence))
  right = np.argmax(conf, 1) == ds.train_labels
  per_class = np.bincount(ds.train_labels, weights=right,
                          minlength=ds.num_classes) / ds.class_counts
  return {'mmc': float(conf.max(1).mean()),
          'disambiguation': 100.0 * float(right.mean()),
          'disambiguation_per_class': (100.0 * per_class).tolist()}


def _method_report(config: ml_collections.ConfigDict, state: TrainState,
                   ds: dataset_lib.PLLDataset) -> dict[str, Any]:
  """The class prior a method estimates, and its distance to the true one.
  """
  if config.rebalance == 'records':
    head = state.params['head']
    prior = rebalance_lib.records_prior(state.feat_mean, head['kernel'],
                                        head['bias'])
  elif config.method == 'solar':
    prior = state.method_state.prior
  else:
    return {}
  prior = np.asarray(jax.device_get(prior), np.float64)
  true_prior = ds.class_counts / ds.class_counts.sum()
  return {'prior': prior.tolist(),
          'prior_tv': report.total_variation(prior, true_prior)}


def _write_outputs(config: ml_collections.ConfigDict, workdir: str,
                   ds: dataset_lib.PLLDataset,
                   rows: list[dict[str, Any]]) -> None:
  """results.json, the plots, and the results table on the console."""
  internal = ('epoch', 'step', 'stage', 'stage_epoch', 'prior', 'prior_tv',
              'mmc', 'disambiguation', 'disambiguation_per_class')
  strip = lambda r: {k: v for k, v in r.items() if k not in internal}
  last, best = rows[-1], max(rows, key=lambda r: r['top1'])
  extra = {}
  if 'prior' in last:
    true_prior = ds.class_counts / ds.class_counts.sum()
    extra = {'estimated_prior': last['prior'],
             'prior_tv_distance': last['prior_tv'],
             'true_prior': true_prior.tolist()}
    # A few snapshots spread over training, the last one included.
    picks = sorted({round(i * (len(rows) - 1) / 4) for i in range(5)})
    report.plot_prior(os.path.join(workdir, 'plots', 'prior.png'),
                      true_prior,
                      [(rows[i]['stage_epoch'] + 1,
                        np.asarray(rows[i]['prior'])) for i in picks],
                      list(ds.class_names))
  report.write_results(workdir, strip(last), strip(best),
                       best['stage_epoch'], stages_of(config)[-1].epochs,
                       **extra)
  plot = os.path.join(workdir, 'plots', 'per_class.png')
  report.plot_per_class(plot, last['per_class'], ds.class_counts,
                        list(ds.class_names),
                        title=f'{config.method} + {config.rebalance}')
  writer_lib.console().info(
      'results (last epoch, and best epoch %d on the test set):\n%s\n'
      'written to %s; per-class plot %s', best['stage_epoch'] + 1,
      report.results_table({'last': strip(last), 'best': strip(best)}),
      os.path.join(workdir, 'results.json'), plot)
