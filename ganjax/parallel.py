"""Device mesh, shardings and the transfer of per-process batches to the mesh.

One `data` axis over every device of every process: the batch is sharded over
it, the GANState is replicated. With jit and these shardings XLA inserts the
collectives, so BatchNorm statistics and losses are over the global batch and
1 device and N devices compute the same step.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh named `data` over `devices` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
  """Shards array axis `batch_axis` over `data`; earlier axes stay whole."""
  return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """This process's share of the global batch; checks it divides over devices."""
  n_dev, n_proc = mesh.devices.size, jax.process_count()
  if global_batch_size % n_dev:
    raise ValueError(f"batch_size {global_batch_size} is not divisible by the "
                     f"{n_dev} devices of the mesh")
  return global_batch_size // n_proc


def put_batch(batch, mesh: Mesh, batch_axis: int = 0):
  """Per-process numpy batch -> global jax.Arrays sharded over `data`.

  Each process passes only its local rows; the global shape is the local one
  with `batch_axis` multiplied by the process count.
  """
  sharding = batch_sharding(mesh, batch_axis)

  def put(x):
    x = np.asarray(x)
    global_shape = list(x.shape)
    global_shape[batch_axis] *= jax.process_count()
    return jax.make_array_from_process_local_data(sharding, x, tuple(global_shape))

  return jax.tree.map(put, batch)


def fetch(tree):
  """Replicated jax.Arrays -> numpy, on every process (each reads its own local copy)."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data), tree)


def sync(name: str) -> None:
  """Waits until every process reaches this point (a no-op in a single-process run)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)
