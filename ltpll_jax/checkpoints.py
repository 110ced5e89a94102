"""Orbax checkpoints of the whole TrainState, and the workdir lock.

* ``workdir/checkpoints/<step>``: the TrainState (parameters, optimiser,
  BatchNorm statistics, confidence table, feature mean, method state). The
  RNG and data order derive from (seed, step/epoch), so this is all a resumed
  run needs to continue bit-identically.
* Restoring tries the newest checkpoint first; one that cannot be read is
  reported and the previous one tried. If checkpoints exist and none can be
  read, the run stops: it never silently starts from scratch over them.
* ``workdir/.lock``: an exclusive ``flock`` held for the whole run (one per
  JAX process of a multi-host run); a second run on the same workdir is
  refused. The kernel drops the lock when the
  process dies, even by SIGKILL.
"""

import fcntl
import os
import shutil
from typing import Any, Optional

from absl import logging
import jax
import orbax.checkpoint as ocp

from ltpll_jax.errors import InputError

PyTree = Any


class CheckpointError(RuntimeError):
  """Checkpoints exist but none can be restored."""


class WorkdirLock:
  """An exclusive, non-blocking lock on ``workdir`` for one run.

  Raises:
    InputError: another process holds the lock.
  """

  def __init__(self, workdir: str):
    os.makedirs(workdir, exist_ok=True)
    # One lock per JAX process: the hosts of a multi-host run share the
    # workdir, a second run of the same host does not get in.
    index = jax.process_index()
    self.path = os.path.join(workdir, '.lock' if index == 0 else
                             f'.lock.{index}')
    self._file = open(self.path, 'a+')
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self._file.seek(0)
      owner = self._file.read().strip() or 'another process'
      self._file.close()
      raise InputError(f'workdir {workdir} is in use by {owner}; wait for it '
                       'to finish or use another --workdir') from None
    self._file.seek(0)
    self._file.truncate()
    self._file.write(f'pid {os.getpid()}\n')
    self._file.flush()

  def release(self) -> None:
    if not self._file.closed:
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.release()


def create_manager(workdir: str, *, keep: int) -> ocp.CheckpointManager:
  """A CheckpointManager on ``workdir/checkpoints`` keeping ``keep`` steps."""
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))


def save(manager: ocp.CheckpointManager, step: int, state: PyTree) -> None:
  """Saves ``state`` at ``step`` (asynchronously; see ``wait``)."""
  manager.save(step, args=ocp.args.StandardSave(state))


def restore_latest(manager: ocp.CheckpointManager, target: PyTree
                  ) -> tuple[PyTree, Optional[int]]:
  """The newest readable checkpoint, or ``(target, None)`` if there is none.

  Args:
    manager: the run's checkpoint manager.
    target: a state with the expected structure, shapes, dtypes and
      shardings (the freshly initialised state).

  Unreadable checkpoints newer than the restored one are moved to
  ``workdir/checkpoints_unreadable/`` (kept for inspection, out of the way of
  the steps the resumed run will save again).

  Returns:
    ``(state, step)``; ``step`` is None when nothing was restored.

  Raises:
    CheckpointError: checkpoints exist and none of them can be read.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  if not steps:
    return target, None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  failures = []
  for step in steps:
    try:
      state = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # pylint: disable=broad-except
      # Orbax raises many exception types for damaged files.
      reason = ' '.join(str(e).split())[:300]
      logging.warning('checkpoint at step %d cannot be read (%s: %s); '
                      'trying the previous one', step, type(e).__name__,
                      reason)
      failures.append(f'step {step}: {type(e).__name__}')
      continue
    logging.info('restored checkpoint at step %d', step)
    _set_aside(manager, [s for s in steps if s > step])
    return state, step
  raise CheckpointError(
      f'none of the checkpoints in {manager.directory} can be read '
      f'({"; ".join(failures)}); refusing to start from scratch over them. '
      'Move the checkpoints folder away to start a new run.')


def _set_aside(manager: ocp.CheckpointManager, steps: list[int]) -> None:
  if not steps:
    return
  root = os.fspath(manager.directory)
  aside = os.path.join(os.path.dirname(root), 'checkpoints_unreadable')
  os.makedirs(aside, exist_ok=True)
  for step in steps:
    src = os.path.join(root, str(step))
    dst = os.path.join(aside, str(step))
    if os.path.exists(dst):
      shutil.rmtree(dst)
    shutil.move(src, dst)
    logging.warning('moved unreadable checkpoint %s to %s', src, dst)
  manager.reload()
