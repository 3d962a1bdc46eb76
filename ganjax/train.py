"""train_and_evaluate(config, workdir): the loop that ties ganjax together.

Sections: set-up (config checks, mesh, state), input, the compiled step,
checkpoint/resume, and the loop's periodic outputs (metrics.jsonl,
TensorBoard, sample grids, checkpoints, a progress line).

The loop is blind to which family runs: it asks the config's family
(ganjax.families) for the state, the step, the batches and the samples, logs
every scalar the step returns, counts the parameters of every network in the
state and checkpoints the whole state pytree.
"""

import contextlib
import functools
import itertools
import json
import os
import socket
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from ganjax import families, parallel, run_history, workdir_lock
from ganjax.families import base
from ganjax.checkpoint import Checkpointer
from ganjax.config import ConfigError, base_config  # ConfigError: entry points catch it
from ganjax.interrupts import Interrupted, StopRequests
from ganjax.state import NetState, all_finite


class Diverged(RuntimeError):
  """The losses or the state became non-finite; no non-finite checkpoint was written."""

  exit_code = 3

# --------------------------------------------------------------------------- build
# What the loop, `sample`, `evaluate` and `restore` need, from the config's family.


def check_config(config):
  """Fails early, in one line (ConfigError), on values that would fail deep inside JAX."""
  family = families.of(config)
  family.check_config(config)
  family.step(config)  # Builds the step: its losses and hyper-parameters are checked too.


def check_devices(config, num_devices: int):
  """The global batches must split evenly over the mesh's `num_devices` devices."""
  for field, size in families.of(config).sharded_batch_sizes(config).items():
    if size % num_devices:
      fix = -(-size // num_devices) * num_devices
      raise ConfigError(f"{field} {size} does not divide over the {num_devices} devices: "
                        f"set {field} to a multiple of {num_devices} (e.g. {fix})")


def prepare_workdir(workdir: str) -> str:
  """Creates `workdir` (absolute path returned); ConfigError, in one line, when it is a
  file or cannot be written, before anything is trained that could not be saved."""
  workdir = os.path.abspath(workdir)
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f"the work directory {workdir} is a file: pass a directory to --workdir")
  # Named by host and process: on several hosts every process probes the shared directory.
  probe = os.path.join(workdir, f".write_test_{socket.gethostname()}_{os.getpid()}")
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(probe, "w") as f:
      f.write("ganjax")
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f"cannot write to the work directory {workdir}: "
                      f"{e.strerror or e}") from None
  return workdir


def create_state(config, rng):
  """A fresh state of the config's family (pure: same rng, same state)."""
  return families.of(config).create_state(config, rng)


def build_step(config):
  """The family's pure step(state, batch, rng) -> (state, metrics), not yet jitted.

  `batch` is a dict of features: one minibatch, each feature (B, ...), when d_steps is
  1; otherwise d_steps minibatches stacked, (d_steps, B, ...) (the form the loop always
  passes, also accepted with d_steps = 1).
  """
  family = families.of(config)
  step = family.step(config)

  def step_fn(state, batch, rng):
    plain = all(jnp.ndim(x) == family.minibatch_rank(config, k) for k, x in batch.items())
    if plain:
      if config.d_steps != 1:
        shapes = ", ".join(f"{k} {tuple(jnp.shape(x))}" for k, x in batch.items())
        raise ValueError(f"d_steps={config.d_steps}: the step takes {config.d_steps} "
                         f"minibatches stacked, each feature (d_steps, B, ...); got {shapes}")
      batch = jax.tree.map(lambda x: x[None], batch)
    return step(state, batch, rng)

  return step_fn


def make_sampler(config):
  """A jitted fn(state, *inputs) -> samples: the family's generator in inference mode.

  Unconditional generators: fn(state, z); class-conditional ones
  fn(state, z, labels=None).
  """
  return families.of(config).sampler(config)


def sample_grid_inputs(config, rng, num_images: int):
  """(inputs, ncols): a sample grid is make_grid(make_sampler(config)(state, *inputs), ncols).

  A class-conditional generator gets the class grid (one row per class, one
  fixed z per column); others get num_images z in make_grid's square layout.
  """
  return families.of(config).grid_inputs(config, rng, num_images)


def networks_in(state) -> dict:
  """{name: NetState} of every network in a state pytree, named by its path."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(
      state, is_leaf=lambda x: isinstance(x, NetState))
  return {jax.tree_util.keystr(path, simple=True, separator="."): net
          for path, net in leaves if isinstance(net, NetState)}


def count_parameters(state) -> dict:
  """{network name: number of parameters} of every network in the state."""
  return {name: sum(x.size for x in jax.tree.leaves(net.params))
          for name, net in networks_in(state).items()}


# --------------------------------------------------------------------------- input


def input_batches(config, *, local_batch_size: int, skip: int = 0):
  """Yields the family's batches, each feature stacked (d_steps, B, ...).

  One minibatch per discriminator update; `skip` steps are skipped (a resumed
  run sees the batches an uninterrupted one would).
  """
  it = families.of(config).train_batches(config, local_batch_size=local_batch_size)
  it = itertools.islice(it, skip * config.d_steps, None)
  while True:
    group = list(itertools.islice(it, config.d_steps))
    if len(group) < config.d_steps:
      return
    yield jax.tree.map(lambda *xs: np.stack(xs), *group)


# --------------------------------------------------------------------------- outputs


class Outputs:
  """metrics.jsonl, TensorBoard and sample files; only process 0 writes."""

  def __init__(self, workdir: str, family):
    self.workdir = workdir
    self.family = family
    self.active = jax.process_index() == 0
    self._tb = None
    if self.active:
      # TensorFlow only for its summary writer, started as ganjax.data starts it (quiet,
      # with every GPU hidden from it) even when no image dataset loaded it first.
      from ganjax import data  # noqa: F401
      import tensorflow as tf
      self._tf = tf
      self._tb = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))

  def scalars(self, step: int, scalars: dict):
    if not self.active:
      return
    with open(os.path.join(self.workdir, "metrics.jsonl"), "a") as f:
      f.write(json.dumps({"step": step, **scalars}) + "\n")
    with self._tb.as_default():
      for k, v in scalars.items():
        self._tf.summary.scalar(k, v, step=step)
    self._tb.flush()

  def samples(self, config, step: int, samples, *, ncols: int | None = None) -> str | None:
    """samples/step_*.png as the family draws them; image samples also to TensorBoard."""
    if not self.active:
      return None
    path = self.family.write_samples(
        os.path.join(self.workdir, "samples", f"step_{step:06d}.png"), config, samples,
        ncols=ncols, step=step)
    if self.family.image_samples:
      from ganjax import images
      with self._tb.as_default():
        self._tf.summary.image("samples", images.make_grid(samples, ncols=ncols)[None],
                               step=step)
      self._tb.flush()
    return path


def _newest(ckpt, saved: int) -> str:
  return f"the checkpoint of step {saved} in {ckpt.directory}" if saved else "none"


def _eta(seconds: float) -> str:
  m, s = divmod(int(seconds), 60)
  h, m = divmod(m, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def progress_line(step: int, num_steps: int, scalars: dict) -> str:
  """'step 50/2000 | 3.10 steps/s | ETA 10m29s | d_loss 1.2 | g_loss 0.8 | ...': every scalar."""
  sps = scalars.get("steps_per_sec", 0.0)
  eta = _eta((num_steps - step) / sps) if sps else "?"
  values = " | ".join(f"{k} {v:.4g}" for k, v in scalars.items() if k != "steps_per_sec")
  return f"step {step}/{num_steps} | {sps:.2f} steps/s | ETA {eta} | {values}"


# --------------------------------------------------------------------------- loop


def train_and_evaluate(config, workdir: str):
  """Trains `config` in `workdir`, resuming from its latest checkpoint.

  Writes `config.json`, `metrics.jsonl`, `samples/step_*.png`, `tensorboard/`
  and `checkpoints/` under `workdir`; returns the final state.
  """
  check_config(config)
  workdir = prepare_workdir(workdir)
  families.of(config).prepare(config, workdir)

  # Mesh and state.
  mesh = parallel.make_mesh()
  check_devices(config, mesh.devices.size)
  local_batch = parallel.local_batch_size(config.batch_size, mesh)
  repl = parallel.replicated(mesh)
  init_rng, step_rng, sample_rng = jax.random.split(jax.random.key(config.seed), 3)
  state = jax.jit(functools.partial(create_state, config), out_shardings=repl)(init_rng)
  logging.info("%s, %d devices", ", ".join(
      f"{name}: {n} params" for name, n in count_parameters(state).items()), mesh.devices.size)

  # One live run per work directory (process 0 speaks for all), then checkpoint and resume.
  lock = workdir_lock.hold(workdir) if jax.process_index() == 0 else contextlib.nullcontext()
  with lock:
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"),
                        save_every=config.checkpoint_every, keep=config.keep_checkpoints)
    try:
      with StopRequests() as stop:
        state = _train_loop(config, workdir, mesh, state, ckpt, step_rng, sample_rng,
                            local_batch, stop)
    except BaseException:
      # Orbax must finish (or abandon) its writes before exit. After a failed write (a full
      # disk) its threads report every abandoned fragment as it winds down: noise beside
      # the error that is on its way to the user.
      hook = sys.unraisablehook
      sys.unraisablehook = lambda unraisable: None
      try:
        ckpt.close()
      finally:
        sys.unraisablehook = hook
      raise
    ckpt.close()
  return state


def _resume(ckpt, state, workdir, config, mesh):
  """(state, step) of the newest intact checkpoint; (state, 0) when there is none (then
  with config.warm_start's networks, if set).

  Newer damaged checkpoints are moved to `<workdir>/damaged_checkpoints/` (kept for a
  post-mortem, out of the way of the steps that will be saved again), with a warning.
  """
  if ckpt.latest_step() is None:
    state = jax.device_put(families.of(config).fresh_state(config, state, workdir),
                           parallel.replicated(mesh))
    if config.warm_start:
      state = jax.device_put(warm_start(config, state), parallel.replicated(mesh))
    return state, 0
  state, _, damaged = ckpt.restore_newest_intact(state)
  start = int(parallel.fetch(state.step))
  if damaged:
    destination = os.path.join(workdir, "damaged_checkpoints")
    if jax.process_index() == 0:
      for d in damaged:
        path = ckpt.set_aside(d.step, destination)
        logging.warning("warning: the checkpoint of step %d is damaged (%s): moved it to %s; "
                        "resuming from step %d", d.step, d.reason, path, start)
    parallel.sync("ganjax_set_aside_damaged_checkpoints")
    ckpt.reload()
  logging.info("Resumed from the checkpoint of step %d in %s", start, ckpt.directory)
  return state, start


def warm_start(config, state):
  """`state` with the networks of config.warm_start's newest checkpoint: their weights and
  BatchNorm statistics (and the generator EMA, restarted from them); optimizer states and
  the step stay fresh. ConfigError, in one line, for a network missing there or of
  another shape."""
  from ganjax.checkpoint import CheckpointError
  from ganjax.restore import load_trained
  try:
    _, other = load_trained(config.warm_start)
  except (FileNotFoundError, CheckpointError) as e:
    raise ConfigError(f"warm_start: {e}") from None
  ours, theirs = networks_in(state), networks_in(other)
  wanted = [n.strip() for n in config.warm_start_networks.split(",") if n.strip()] or list(ours)
  for name in wanted:
    if name not in ours or name not in theirs:
      where = "this run" if name not in ours else config.warm_start
      raise ConfigError(f"warm_start_networks: no network {name!r} in {where} (networks: "
                        f"{', '.join(ours if name not in ours else theirs)})")
    mine, given = ours[name], theirs[name]
    same = jax.tree.structure((mine.params, mine.batch_stats)) == jax.tree.structure(
        (given.params, given.batch_stats)) and all(
            a.shape == b.shape for a, b in zip(jax.tree.leaves((mine.params, mine.batch_stats)),
                                               jax.tree.leaves((given.params, given.batch_stats))))
    if not same:
      raise ConfigError(f"warm_start: the {name} of {config.warm_start} has other layers or "
                        f"shapes than this config's (model, width, resolution, ...)")

  def take(path, net):
    name = jax.tree_util.keystr(path, simple=True, separator=".")
    if isinstance(net, NetState) and name in wanted:
      return net.replace(params=theirs[name].params, batch_stats=theirs[name].batch_stats)
    return net

  new = jax.tree_util.tree_map_with_path(take, state, is_leaf=lambda x: isinstance(x, NetState))
  if getattr(new, "ema_params", None) is not None and "generator" in wanted:
    new = new.replace(ema_params=new.generator.params)
    if getattr(new, "ema_batch_stats", None) is not None:
      new = new.replace(ema_batch_stats=new.generator.batch_stats)
  logging.info("warm start: %s from the checkpoint of step %d in %s", ", ".join(wanted),
               int(parallel.fetch(other.step)), config.warm_start)
  return new


def _train_loop(config, workdir, mesh, state, ckpt, step_rng, sample_rng, local_batch, stop):
  family = families.of(config)
  state, start = _resume(ckpt, state, workdir, config, mesh)
  # The first batch now: a dataset that cannot be read is reported before the run records
  # anything.
  batches = input_batches(config, local_batch_size=local_batch, skip=start)
  first = next(batches, None)
  batches = itertools.chain([] if first is None else [first], batches)
  # Only now, with the checkpoint known to fit this config and the data readable, may the
  # config be recorded: a failed start must leave the work directory as it was.
  if jax.process_index() == 0:
    changes = run_history.record_config(workdir, config, start)
    if start and changes:
      logging.warning("resuming from step %d with changed fields: %s (each run's config is "
                      "in config_history.jsonl)", start, run_history.describe_changes(changes))
    run_history.truncate_metrics(workdir, start)
  logging.info("config: %s; fields not at the %s family's defaults: %s",
               os.path.join(workdir, "config.json"), config.family,
               run_history.describe_changes(run_history.changed_fields(
                   json.loads(base_config(config.family).to_json_best_effort()),
                   json.loads(config.to_json_best_effort()))) or "none")

  # The step.
  repl = parallel.replicated(mesh)
  step_fn = jax.jit(family.step(config),
                    in_shardings=(repl, parallel.batch_sharding(mesh, 1), repl),
                    out_shardings=(repl, repl), donate_argnums=0)
  sampler = family.sampler(config)
  # Fixed inputs: every grid of a run shows the same z, so grids compare across steps.
  sample_args, grid_cols = family.grid_inputs(config, sample_rng, config.num_sample_images)
  outputs = Outputs(workdir, family)

  def emit_samples(step):
    path = outputs.samples(config, step, parallel.fetch(sampler(state, *sample_args)), ncols=grid_cols)
    if path:
      logging.info("wrote %s", path)

  finite = jax.jit(all_finite)
  saved = start  # The step of the newest checkpoint (0: none yet).

  def save(step):
    """Checkpoints `state` unless it is non-finite: a diverged run never rotates out the
    last good checkpoint."""
    nonlocal saved
    if not bool(parallel.fetch(finite(state))):
      raise Diverged(f"training diverged: non-finite parameters or optimizer state at step "
                     f"{step}; no checkpoint was written from it, the newest is "
                     f"{_newest(ckpt, saved)} (lower the learning rates, then rerun)")
    ckpt.save(step, state, force=True)
    saved = step

  t_last, step_last, t_start = time.time(), start, time.time()
  step = start
  for step in range(start + 1, config.num_steps + 1):
    if stop.requested:  # A signal arrived during the last step, save or sample: stop here.
      break
    batch = next(batches, None)
    if batch is None:
      raise RuntimeError(f"dataset {config.dataset!r} ran out of batches")
    state, metrics = step_fn(state, parallel.put_batch(batch, mesh, 1), step_rng)
    if step == start + 1:
      jax.block_until_ready(state)
      logging.info("first step (compile included) took %.1f s", time.time() - t_start)
      t_last, step_last = time.time(), step
    if step % config.log_every == 0 or step == config.num_steps:
      scalars = {k: float(v) for k, v in parallel.fetch(metrics).items()}
      now = time.time()
      sps = (step - step_last) / max(now - t_last, 1e-9) if step > step_last else 0.0
      t_last, step_last = now, step
      scalars["steps_per_sec"] = sps
      # The learning rates in use, for metrics.jsonl and TensorBoard (not the console).
      outputs.scalars(step, {**scalars, **base.learning_rates(config, step - 1)})
      logging.info("%s", progress_line(step, config.num_steps, scalars))
      bad = sorted(k for k, v in scalars.items() if not np.isfinite(v))
      if bad:
        raise Diverged(f"training diverged: {', '.join(bad)} non-finite at step {step}; no "
                       f"checkpoint was written from it, the newest is "
                       f"{_newest(ckpt, saved)} (lower the learning rates, then rerun)")
    if step % config.sample_every == 0 and step != config.num_steps:
      emit_samples(step)
    if ckpt.due(step):
      save(step)
  else:
    step = None  # Ran to the end.
  if step is not None:  # Stopped by a signal before `step`.
    done = int(parallel.fetch(state.step))
    if done != saved:
      save(done)
    raise Interrupted(stop.requested, done, saved=done > 0)

  final = int(parallel.fetch(state.step))
  if final != saved:
    save(final)
  emit_samples(final)
  family.finish(config, workdir, state, sampler, sample_rng)
  logging.info("done: step %d in %s", final, workdir)
  return state
