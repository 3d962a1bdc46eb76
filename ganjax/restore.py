"""Loading a trained work directory: its config and its latest (or a given) state."""

import json
import os

import jax
import ml_collections
from absl import logging

from ganjax import families
from ganjax.checkpoint import CheckpointError, Checkpointer
from ganjax.config import from_saved
from ganjax.state import all_finite


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run saved in `<workdir>/config.json` (runs of older ganjax included)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: is {workdir} a ganjax work directory?")
  with open(path) as f:
    return from_saved(json.load(f))


def load_trained(workdir: str, step: int | None = None):
  """(config, state) of the latest intact (or the given) checkpoint in `workdir`.

  Newer damaged checkpoints are skipped with a warning (and left where they are:
  the next training run sets them aside).
  """
  config = load_config(workdir)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), save_every=1, keep=10**6)
  if ckpt.latest_step() is None:
    raise CheckpointError(f"no checkpoint in {ckpt.directory}: train first")
  if step is not None and step not in ckpt.all_steps():
    ckpt.close()
    raise CheckpointError(f"no checkpoint of step {step} in {ckpt.directory}; the saved "
                          f"steps are {', '.join(map(str, ckpt.all_steps())) or 'none'}")
  target = families.of(config).create_state(config, jax.random.key(0))
  try:
    if step is not None:
      state = ckpt.restore(target, step)
    else:
      state, found, damaged = ckpt.restore_newest_intact(target)
      for d in damaged:
        logging.warning("warning: skipping the damaged checkpoint of step %d (%s); using "
                        "step %d", d.step, d.reason, found)
  finally:
    ckpt.close()
  if not bool(jax.jit(all_finite)(state)):
    raise CheckpointError(f"the checkpoint of step {int(state.step)} in {ckpt.directory} "
                          f"holds non-finite values: that run diverged")
  return config, state
