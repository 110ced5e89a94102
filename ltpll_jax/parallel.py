"""The one place that knows about devices: pmap, sharded jit, collectives.

Two modes share one step function:

* ``pmap`` (default): the step runs once per local device with axis name
  ``'batch'``; state and data go in and out un-mapped (``in_axes=None``,
  ``out_axes=None``), the index batch is split over the devices. The step
  keeps every state leaf identical on all devices with the collectives below
  (``pmean`` of gradients, BN statistics and feature means; ``all_gather`` of
  confidence rows and their indices).
* ``jit``: the same step under ``jax.jit`` on the global batch, sharded over a
  1-D ``('batch',)`` mesh; the collectives are identities and XLA partitions
  the computation.

The replica-consistency contract: after every step, every state leaf is
identical on all devices. Under ``pmap`` an ``out_axes=None`` output keeps
each device's own copy in its shard, so tests compare
``array.addressable_shards`` to check the contract.

Multi-host (pods, several GPU hosts): ``jax.distributed.initialize()`` first;
every host computes the same global index batch and feeds the slice that
belongs to its devices (``host_slice``).
"""

import dataclasses
from typing import Any, Callable, Optional, Sequence

import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

AXIS = 'batch'
MODES = ('pmap', 'jit')
PyTree = Any


@dataclasses.dataclass(frozen=True)
class Collectives:
  """Cross-device reductions, written once for both modes.

  ``axis_name`` is ``'batch'`` inside ``pmap`` and None under ``jit`` (where
  arrays are global, so every reduction is the identity).
  """
  axis_name: Optional[str]

  def pmean(self, tree: PyTree) -> PyTree:
    if self.axis_name is None:
      return tree
    return jax.lax.pmean(tree, self.axis_name)

  def psum(self, tree: PyTree) -> PyTree:
    if self.axis_name is None:
      return tree
    return jax.lax.psum(tree, self.axis_name)

  def device_index(self) -> jax.Array | int:
    """This device's position along the batch axis (0 under jit)."""
    if self.axis_name is None:
      return 0
    return jax.lax.axis_index(self.axis_name)

  def all_gather(self, x: jax.Array) -> jax.Array:
    """Concatenates the per-device ``[b, ...]`` arrays into ``[D * b, ...]``.
    """
    if self.axis_name is None:
      return x
    return jax.lax.all_gather(x, self.axis_name, tiled=True)


def collectives(mode: str) -> Collectives:
  """The collectives a step uses in ``mode``."""
  if mode not in MODES:
    raise ValueError(f'unknown parallel mode {mode!r}; known: {MODES}')
  return Collectives(AXIS if mode == 'pmap' else None)


def make_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A 1-D ``('batch',)`` mesh over ``devices`` (default: all devices)."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (AXIS,))


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
  """Places every leaf, whole, on every device of ``mesh``."""
  return jax.device_put(tree, NamedSharding(mesh, P()))


def host_slice(global_batch: np.ndarray) -> np.ndarray:
  """This process's contiguous share of a global batch (all of it on one
  host)."""
  n = jax.process_count()
  per_host = len(global_batch) // n
  start = jax.process_index() * per_host
  return global_batch[start:start + per_host]


def wrap(step: Callable[..., Any], mode: str, mesh: Mesh, *,
         num_static: int = 0, donate_state: bool = True
        ) -> Callable[..., Any]:
  """Wraps ``step(state, data, batch, rng, *statics)`` once for ``mode``.

  Args:
    step: pure function; ``batch`` is a dict of ``[b, ...]`` arrays (the
      device's share under pmap, the global batch under jit); returns
      ``(state, out)`` where ``out`` is identical on all devices (already
      reduced).
    mode: 'pmap' or 'jit'.
    mesh: the 1-D device mesh.
    num_static: how many trailing positional arguments are static (hashable
      Python values: a new value compiles a new version).
    donate_state: donate the state's buffers (the confidence table is big).

  Returns:
    ``fn(state, data, batch, rng, *statics) -> (state, out)`` taking this
    host's share of the batch as numpy arrays with a leading ``B_host``
    divisible by the number of local devices.
  """
  statics = tuple(range(4, 4 + num_static))
  donate = (0,) if donate_state else ()
  if mode == 'pmap':
    devices = list(mesh.devices.flat)
    num_local = sum(d.process_index == jax.process_index() for d in devices)
    fn = jax.pmap(step, axis_name=AXIS, in_axes=(None, None, 0, None),
                  out_axes=None, static_broadcasted_argnums=statics,
                  donate_argnums=donate, devices=devices)

    def call(state, data, batch, rng, *static_args):
      batch = jax.tree.map(
          lambda x: np.asarray(x).reshape((num_local, -1) + x.shape[1:]),
          batch)
      return fn(state, data, batch, rng, *static_args)

    return call
  if mode != 'jit':
    raise ValueError(f'unknown parallel mode {mode!r}; known: {MODES}')
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P(AXIS))
  fn = jax.jit(step, static_argnums=statics, donate_argnums=donate,
               in_shardings=(replicated, replicated, batch_sharding,
                             replicated),
               out_shardings=replicated)

  def call_jit(state, data, batch, rng, *static_args):
    batch = jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(
            batch_sharding, np.asarray(x)), batch)
    return fn(state, data, batch, rng, *static_args)

  return call_jit
