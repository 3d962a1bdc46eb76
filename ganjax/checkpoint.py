"""Orbax checkpoints of a GANState in `<workdir>/checkpoints/`.

Saved every `save_every` steps and at the end, keeping the last `keep`. A rerun
with the same work directory restores the latest one. A checkpoint that cannot
be read (corrupt files, or a state of another shape: a changed config) raises
CheckpointError naming the directory and what to do, and nothing is deleted.
"""

import os

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored into the expected state."""


class Checkpointer:
  """A thin wrapper over orbax's CheckpointManager for one GANState."""

  def __init__(self, directory: str, *, save_every: int, keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.save_every = max(1, save_every)
    # We decide when to save: Orbax's own interval also saves the first step it sees.
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

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
    return self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

  def restore(self, target, step: int | None = None):
    """Restores into the structure, dtypes and shardings of `target`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # Orbax raises many types; all mean the same to the user.
      reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      raise CheckpointError(
          f"cannot restore the checkpoint of step {step} in {self.directory}: {reason[:300]}. "
          "It is corrupt or was written by a different config (model, resolution, "
          "optimizer). Nothing was deleted: move that directory aside to start afresh, "
          "or use another --workdir.") from e

  def wait(self):
    self._manager.wait_until_finished()

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()
