"""Loading a trained work directory: its config and its latest (or a given) state."""

import json
import os

import jax
import ml_collections

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
  """(config, state) of the latest (or given) checkpoint in `workdir`."""
  config = load_config(workdir)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), save_every=1, keep=10**6)
  if ckpt.latest_step() is None:
    raise CheckpointError(f"no checkpoint in {ckpt.directory}: train first")
  target = families.of(config).create_state(config, jax.random.key(0))
  state = ckpt.restore(target, step)
  ckpt.close()
  if not bool(jax.jit(all_finite)(state)):
    raise CheckpointError(f"the checkpoint of step {int(state.step)} in {ckpt.directory} "
                          f"holds non-finite values: that run diverged")
  return config, state
