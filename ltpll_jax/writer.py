"""The run's one metric writer: metrics.jsonl plus TensorBoard scalar events.

TensorBoard events are written without TensorFlow: `tensorboard`'s
`EventFileWriter` would resolve `tf.io.gfile` and so import TensorFlow (seconds)
whenever it is installed, which it is here (TFDS needs it). Instead the
records are framed by tensorboard's pure-Python `RecordWriter` (TFRecord
framing with masked CRC32C) into a plain file, holding `Event` protos from
`tensorboard.compat.proto`. Scalars use the `simple_value` field, which
`tensorboard --logdir workdir` shows under Scalars.
"""

import itertools
import json
import logging
import math
import os
import socket
import sys
import time
from typing import Any

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.summary.writer import record_writer

# Keeps event file names unique for several writers in one process and second.
_writer_ids = itertools.count()


def _json_value(value: float) -> float | None:
  # NaN and inf are not JSON; strict readers (jq, browsers) reject them.
  return value if math.isfinite(value) else None


class MetricWriter:
  """Appends scalars to `workdir/metrics.jsonl` and TensorBoard events.

  Only JAX process 0 should write; other processes pass `enabled=False`, which
  makes every method a no-op that touches no file.

  Attributes:
    workdir: the folder written to.
    enabled: whether anything is written.
  """

  def __init__(self, workdir: str, *, enabled: bool = True):
    """Opens (appends to) metrics.jsonl and starts a new event file.

    Args:
      workdir: the run's folder, created if missing.
      enabled: False for a writer that does nothing.
    """
    self.workdir = workdir
    self.enabled = enabled
    self._jsonl = None
    self._events = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
    # The name follows TensorFlow's pattern, which TensorBoard looks for; a
    # resumed run starts a new file next to the old ones.
    name = 'events.out.tfevents.%010d.%s.%d.%d' % (
        time.time(), socket.gethostname(), os.getpid(), next(_writer_ids))
    self._event_file = open(os.path.join(workdir, name), 'wb')
    self._events = record_writer.RecordWriter(self._event_file)
    self._write_event(event_pb2.Event(
        wall_time=time.time(), file_version='brain.Event:2'))
    self.flush()

  def _write_event(self, event: event_pb2.Event) -> None:
    self._events.write(event.SerializeToString())

  def write_scalars(self, step: int, scalars: dict[str, Any], *,
                    epoch: int | None = None) -> None:
    """Writes one JSON line and one TensorBoard event, then flushes.

    Args:
      step: the global training step (the TensorBoard x axis).
      scalars: {name: number}; numpy and JAX scalars are accepted. Non-finite
        values are written as null in metrics.jsonl and as is to TensorBoard.
      epoch: the epoch, recorded in metrics.jsonl when given.

    Raises:
      ValueError: if a metric is named 'step' or 'epoch', or the writer is
        closed.
    """
    if not self.enabled:
      return
    if self._jsonl is None:
      raise ValueError('write_scalars on a closed MetricWriter')
    reserved = {'step', 'epoch'} & set(scalars)
    if reserved:
      raise ValueError(f'metric names {sorted(reserved)} are reserved')
    values = {name: float(value) for name, value in scalars.items()}
    record = {'step': int(step)}
    if epoch is not None:
      record['epoch'] = int(epoch)
    record.update({k: _json_value(v) for k, v in values.items()})
    self._jsonl.write(json.dumps(record, allow_nan=False) + '\n')
    if values:
      summary = summary_pb2.Summary(value=[
          summary_pb2.Summary.Value(tag=name, simple_value=value)
          for name, value in values.items()])
      self._write_event(event_pb2.Event(
          wall_time=time.time(), step=int(step), summary=summary))
    self.flush()

  def flush(self) -> None:
    """Pushes everything written so far to disk."""
    if self.enabled and self._jsonl is not None:
      self._jsonl.flush()
      self._events.flush()

  def close(self) -> None:
    """Flushes and closes both files; later calls are no-ops."""
    if self.enabled and self._jsonl is not None:
      self.flush()
      self._jsonl.close()
      self._events.close()
      self._jsonl = None
      self._events = None

  def __enter__(self) -> 'MetricWriter':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def console() -> logging.Logger:
  """The progress logger: one timestamped line per message on stdout.

  Kept apart from absl's logger so that ``launch.py`` can silence library
  chatter (orbax logs every save at INFO) without hiding progress.
  """
  logger = logging.getLogger('ltpll_jax')
  if not logger.handlers:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter('%(asctime)s %(message)s',
                                           '%H:%M:%S'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
  return logger
