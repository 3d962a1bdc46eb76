"""Orbax checkpoints of a training state in `<workdir>/checkpoints/`, with checksums.

Saved every `save_every` steps and at the end, keeping the last `keep`. A rerun
with the same work directory restores the latest one.

Each checkpoint holds the state (Orbax item `default`) and, beside it, a CRC-32 of
every array (item `checksums`), computed from the state in memory before it was
written. Orbax reads a flipped byte inside array data without complaint (an Adam
moment came back as 2.5e34 in a fault trial), so a restore compares the arrays it
read against those checksums. A checkpoint that cannot be read, or reads back
different, is damaged: `restore_newest_intact` then falls back to the newest
intact one and names the damaged ones. When no checkpoint restores (a state of
another shape: a changed config), CheckpointError names the newest and what to
do, and nothing is deleted.
"""

import dataclasses
import os
import shutil
import zlib

import jax
import numpy as np
import orbax.checkpoint as ocp

_STATE, _CHECKSUMS = "default", "checksums"


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored into the expected state."""


@dataclasses.dataclass(frozen=True)
class Damaged:
  """A checkpoint that could not be restored intact, and why."""

  step: int
  reason: str


def checksums(state) -> dict:
  """{leaf path: CRC-32 of the leaf's bytes} of every array in a state pytree.

  Typed PRNG keys are hashed through their key data. The arrays are copied to the
  host; of a replicated array (every state ganjax trains), this process's first copy.
  """
  def crc(x):
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    if isinstance(x, jax.Array):
      x = x.addressable_shards[0].data
    x = np.asarray(x)
    # A Python int in the state (a NetState's step) is restored as a JAX array: int32.
    x = x.astype(jax.dtypes.canonicalize_dtype(x.dtype), copy=False)
    return zlib.crc32(np.ascontiguousarray(x).tobytes())

  leaves, _ = jax.tree_util.tree_flatten_with_path(state)
  return {jax.tree_util.keystr(path): crc(x) for path, x in leaves}


def _mismatches(expected: dict, state) -> list[str]:
  actual = checksums(state)
  return sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))


def _first_line(e: Exception) -> str:
  text = str(e).strip()
  return (text.splitlines()[0] if text else type(e).__name__)[:300]


class Checkpointer:
  """A thin wrapper over orbax's CheckpointManager for one training state."""

  def __init__(self, directory: str, *, save_every: int, keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.save_every = max(1, save_every)
    # We decide when to save: Orbax's own interval also saves the first step it sees.
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        item_names=(_STATE, _CHECKSUMS))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self):
    return self._manager.all_steps()

  def due(self, step: int) -> bool:
    """Whether `step` is one to checkpoint (a multiple of `save_every`)."""
    return step % self.save_every == 0

  def save(self, step: int, state, *, force: bool = False) -> bool:
    """Saves when `step` is a multiple of `save_every` (or `force`); returns whether it saved."""
    if not force and step % self.save_every:
      return False
    return self._manager.save(step, args=ocp.args.Composite(**{
        _STATE: ocp.args.StandardSave(state),
        _CHECKSUMS: ocp.args.JsonSave({"crc32": checksums(state)})}), force=True)

  def restore(self, target, step: int | None = None):
    """The checkpoint of `step` (default: the latest), in the structure, dtypes and
    shardings of `target`; CheckpointError if it cannot be read or fails its checksums."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    try:
      return self._restore(target, step)
    except _DamagedError as e:
      raise self._error(step, e.reason) from e

  def restore_newest_intact(self, target):
    """(state, step, damaged): the newest checkpoint that restores intact, and the
    newer ones that did not ([Damaged], newest first).

    Raises CheckpointError (about the newest) when none restores: then the config
    most likely changed, and no checkpoint is called damaged.
    """
    damaged = []
    for step in sorted(self.all_steps(), reverse=True):
      try:
        return self._restore(target, step), step, damaged
      except _DamagedError as e:
        damaged.append(Damaged(step, e.reason))
    if not damaged:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    raise self._error(damaged[0].step, damaged[0].reason)

  def set_aside(self, step: int, destination: str) -> str:
    """Moves the checkpoint of `step` to `destination/<step>` (kept, out of Orbax's view,
    so the step can be saved again); returns the new path."""
    os.makedirs(destination, exist_ok=True)
    path = os.path.join(destination, str(step))
    suffix = 1
    while os.path.exists(path):  # The same step damaged twice: keep both.
      path, suffix = os.path.join(destination, f"{step}.{suffix}"), suffix + 1
    shutil.move(os.path.join(self.directory, str(step)), path)
    self._manager.reload()
    return path

  def reload(self):
    """Re-reads the checkpoint directory (after another process moved a checkpoint)."""
    self._manager.reload()

  def _restore(self, target, step: int):
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    has_checksums = os.path.isdir(os.path.join(self.directory, str(step), _CHECKSUMS))
    args = {_STATE: ocp.args.StandardRestore(abstract)}
    if has_checksums:  # Checkpoints of ganjax before checksums have none to compare.
      args[_CHECKSUMS] = ocp.args.JsonRestore()
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(**args))
    except Exception as e:  # Orbax raises many types; all mean the same to the user.
      raise _DamagedError(_first_line(e)) from e
    state = restored[_STATE]
    if has_checksums:
      bad = _mismatches(restored[_CHECKSUMS]["crc32"], state)
      if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise _DamagedError(f"array data of {bad[0]}{more} differ from their checksums")
    return state

  def _error(self, step: int, reason: str) -> CheckpointError:
    return CheckpointError(
        f"cannot restore the checkpoint of step {step} in {self.directory}: {reason}. "
        "It is corrupt or was written by a different config (model, resolution, "
        "optimizer). Nothing was deleted: move that directory aside to start afresh, "
        "or use another --workdir.")

  def wait(self):
    self._manager.wait_until_finished()

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()


class _DamagedError(Exception):
  def __init__(self, reason: str):
    super().__init__(reason)
    self.reason = reason
