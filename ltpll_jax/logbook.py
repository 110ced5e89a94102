"""A run's running records: evaluation history and step-metric logging.

``EvalHistory`` keeps every evaluation in ``evals.jsonl`` (a resumed run drops
the rows it will redo); ``StepLogger`` keeps step metrics on device, fetches
them every few steps, stops the run at the first non-finite loss, writes them
through the ``MetricWriter`` and prints progress with an ETA.
"""

import json
import os
import time
from typing import Any, Optional

import jax
import numpy as np

from ltpll_jax import writer as writer_lib


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or infinite."""


def is_time(step: int, every: int, total: int) -> bool:
  """Whether a periodic action fires after ``step`` (1-based); also fires on
  the last step."""
  return step % every == 0 or step == total


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


def truncate_metrics(path: str, max_step: int) -> None:
  """Drops metric lines that a resumed run will write again."""
  rows = _read_jsonl(path)
  if rows:
    _write_jsonl(path, [r for r in rows if r['step'] <= max_step])


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s'
