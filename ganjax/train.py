"""train_and_evaluate(config, workdir): the loop that ties ganjax together.

Sections: set-up (config checks, mesh, state), input, the compiled step,
checkpoint/resume, and the loop's periodic outputs (metrics.jsonl,
TensorBoard, sample grids, checkpoints, a progress line).
"""

import functools
import itertools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from ganjax import images, losses, mixture, models, parallel, steps
from ganjax import conditional, labeled_subset
from ganjax.checkpoint import Checkpointer
from ganjax.state import GANState, create_gan_state

OPTIMIZERS = ("adam", "rmsprop")


class ConfigError(ValueError):
  """A config field has a value ganjax cannot use."""


# --------------------------------------------------------------------------- build


def build_optimizers(config):
  """(generator, discriminator) optax optimizers from `config.optimizer`."""
  o = config.optimizer
  if o.name == "adam":
    make = functools.partial(optax.adam, b1=o.b1, b2=o.b2)
  elif o.name == "rmsprop":  # WGAN (Arjovsky et al. 2017) trains with RMSProp.
    make = optax.rmsprop
  else:
    raise ConfigError(f"unknown optimizer {o.name!r}; valid: {', '.join(OPTIMIZERS)}")
  if o.schedule == "constant":
    return make(o.g_learning_rate), make(o.d_learning_rate)
  if o.schedule == "linear":  # Decays to 0 at num_steps: D takes d_steps updates per step.
    return (make(optax.linear_schedule(o.g_learning_rate, 0.0, max(config.num_steps, 1))),
            make(optax.linear_schedule(o.d_learning_rate, 0.0,
                                       max(config.num_steps * config.d_steps, 1))))
  raise ConfigError(f"unknown optimizer.schedule {o.schedule!r}; valid: constant, linear")


def build_losses(config):
  """(generator_loss_fn, discriminator_loss_fn) from `config.loss`."""
  hparams = {}
  if config.label_smoothing:
    if config.loss not in ("minimax", "non_saturating"):
      raise ConfigError(f"label_smoothing applies to the minimax and non_saturating "
                        f"losses, not {config.loss!r}: set label_smoothing=0")
    hparams["label_smoothing"] = config.label_smoothing
  if config.loss == "least_squares":
    # (a, b, c) of Mao et al.: D's targets for fake and real, G's target.
    a, b, c = config.least_squares_labels
    hparams.update(fake_label=a, real_label=b, generator_label=c)
  try:
    return losses.get_loss_pair(config.loss, **hparams)
  except ValueError as e:
    raise ConfigError(str(e)) from e


def _adversarial(config):
  g_loss_fn, d_loss_fn = build_losses(config)
  return functools.partial(steps.adversarial_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                           latent_dim=config.latent_dim,
                           ema_decay=config.ema_decay or None)


def _weight_clipping(config):
  g_loss_fn, d_loss_fn = build_losses(config)
  return functools.partial(steps.weight_clipping_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                           latent_dim=config.latent_dim, clip=config.weight_clip,
                           ema_decay=config.ema_decay or None)


def _gradient_penalty(config):
  g_loss_fn, d_loss_fn = build_losses(config)
  return functools.partial(steps.gradient_penalty_step, g_loss_fn=g_loss_fn,
                           d_loss_fn=d_loss_fn, latent_dim=config.latent_dim,
                           weight=config.gp_weight, ema_decay=config.ema_decay or None)


def _feature_matching(config):
  _, d_loss_fn = build_losses(config)  # G's loss is feature matching, D's from config.loss.
  return functools.partial(steps.feature_matching_step, d_loss_fn=d_loss_fn,
                           latent_dim=config.latent_dim, ema_decay=config.ema_decay or None)


# objective name -> fn(config) -> step(state, batch, rng) -> (state, metrics)
OBJECTIVES = {"adversarial": _adversarial, "weight_clipping": _weight_clipping,
              "gradient_penalty": _gradient_penalty, "feature_matching": _feature_matching}


def _conditional(config):
  # cgan, acgan, sgan: the steps that use labels (ganjax.conditional).
  try:
    return conditional.build_step(config, build_losses(config))
  except ValueError as e:
    raise ConfigError(str(e)) from e


OBJECTIVES.update(dict.fromkeys(conditional.OBJECTIVES, _conditional))


def build_step(config):
  if config.objective not in OBJECTIVES:
    raise ConfigError(f"unknown objective {config.objective!r}; "
                      f"valid: {', '.join(sorted(OBJECTIVES))}")
  return OBJECTIVES[config.objective](config)


def create_state(config, rng) -> GANState:
  """A fresh GANState for `config` (pure: same rng, same state)."""
  if config.objective in conditional.OBJECTIVES:  # Networks that take labels.
    return conditional.create_state(config, rng, *build_optimizers(config))
  generator, discriminator = models.build(config)
  g_tx, d_tx = build_optimizers(config)
  shape = (config.pack, *models.example_shape(config))  # A packing D needs a whole pack.
  return create_gan_state(rng, generator=generator, discriminator=discriminator,
                          generator_tx=g_tx, discriminator_tx=d_tx,
                          sample_z=jnp.zeros((1, config.latent_dim)),
                          sample_x=jnp.zeros(shape), use_ema=config.ema_decay > 0)


def make_sampler(config):
  """A jitted fn(state, z) -> images, the generator in inference mode.

  For a class-conditional generator (cgan, acgan): fn(state, z, labels=None),
  see ganjax.conditional.make_sampler.
  """
  if config.objective in conditional.CONDITIONAL_GENERATOR:
    return conditional.make_sampler(config)
  generator, _ = models.build(config)

  @jax.jit
  def sample(state, z):
    return generator.apply(state.sampling_variables(), z, train=False)

  return sample


def sample_grid_inputs(config, rng, num_images: int):
  """(args, ncols): a sample grid is make_grid(sampler(state, *args), ncols=ncols).

  A class-conditional generator (cgan, acgan) gets the class grid: one row per
  class, one fixed z per column (num_images // num_classes columns, at least
  one). Other generators get num_images z, in make_grid's square layout.
  """
  if config.objective in conditional.CONDITIONAL_GENERATOR:
    ncols = conditional.grid_columns(config, num_images)
    return conditional.class_grid_inputs(rng, num_classes=config.num_classes,
                                         num_columns=ncols,
                                         latent_dim=config.latent_dim), ncols
  return (steps.sample_latent(rng, num_images, config.latent_dim),), None


def check_config(config):
  """Fails early, in one line, on values that would fail deep inside JAX."""
  if config.num_steps < 0:
    raise ConfigError(f"num_steps must be >= 0, got {config.num_steps}")
  if config.batch_size < 1 or config.d_steps < 1:
    raise ConfigError("batch_size and d_steps must be >= 1")
  if not 0 <= config.ema_decay < 1:
    raise ConfigError(f"ema_decay must be in [0, 1), got {config.ema_decay}")
  if config.model not in models.MODELS:
    raise ConfigError(f"unknown model {config.model!r}; valid: {', '.join(models.MODELS)}")
  _check_remedies(config)
  build_step(config)  # Checks the objective and its losses.
  build_optimizers(config)


def check_devices(config, num_devices: int):
  """The global batches must split evenly over the mesh's `num_devices` devices."""
  def check(field, size):
    if size % num_devices:
      fix = -(-size // num_devices) * num_devices
      raise ConfigError(f"{field} {size} does not divide over the {num_devices} devices: "
                        f"set {field} to a multiple of {num_devices} (e.g. {fix})")

  check("batch_size", config.batch_size)
  if config.objective == "sgan":  # Its labelled minibatch is sharded as the images are.
    check("labeled_batch_size", config.labeled_batch_size)


def _check_remedies(config):
  """Losses, penalties and mode-collapse switches that do not go together."""
  if config.pack < 1 or config.batch_size % config.pack:
    raise ConfigError(f"pack must be >= 1 and divide batch_size {config.batch_size}, "
                      f"got {config.pack}")
  if config.minibatch_kernels < 0 or config.minibatch_kernel_dim < 1:
    raise ConfigError("minibatch_kernels must be >= 0 and minibatch_kernel_dim >= 1")
  if len(config.least_squares_labels) != 3:
    raise ConfigError(f"least_squares_labels is (a, b, c), got {config.least_squares_labels}")
  if config.objective == "weight_clipping" and not config.weight_clip > 0:
    raise ConfigError(f"weight_clip must be > 0, got {config.weight_clip}")
  if config.objective == "gradient_penalty":
    if config.model == "dcgan" and config.d_normalization == "batch":
      raise ConfigError("the gradient penalty is per example and needs a critic without "
                        "BatchNorm: set d_normalization to 'layer' or 'none'")
    if config.minibatch_kernels:
      raise ConfigError("the gradient penalty is per example; minibatch discrimination "
                        "couples the examples: set minibatch_kernels=0")
  if mixture.is_mixture(config.dataset) and config.model != "mlp":
    raise ConfigError(f"the 2-D mixture {config.dataset!r} needs model='mlp', "
                      f"not {config.model!r}")


# --------------------------------------------------------------------------- input


def input_batches(config, *, local_batch_size: int, skip: int = 0):
  """Yields {'image': (d_steps, B, H, W, C), ...}: one real minibatch per D update.

  `skip` generator steps are skipped (a resumed run sees the batches an
  uninterrupted one would).
  """
  if mixture.is_mixture(config.dataset):  # 2-D points, in memory.
    it = mixture.load(config.dataset, batch_size=local_batch_size, seed=config.seed,
                      shard_index=jax.process_index(), shard_count=jax.process_count())
  else:
    # Imported here, not at the top: ganjax.data loads TensorFlow (~2.5 s), which the
    # train step itself (build_step, create_state) never needs.
    from ganjax import data
    it = data.load(config.dataset, split=config.train_split, batch_size=local_batch_size,
                   resolution=config.resolution, channels=config.channels,
                   seed=config.seed, data_dir=config.data_dir or None,
                   center_crop=config.center_crop or None)
  if config.objective == "sgan":  # Unlabelled images plus the few labelled examples.
    it = labeled_subset.semi_supervised_batches(
        it, config, local_batch_size=config.labeled_batch_size // jax.process_count(),
        process_index=jax.process_index())
  it = itertools.islice(it, skip * config.d_steps, None)
  while True:
    group = list(itertools.islice(it, config.d_steps))
    if len(group) < config.d_steps:
      return
    yield jax.tree.map(lambda *xs: np.stack(xs), *group)


# --------------------------------------------------------------------------- outputs


class Outputs:
  """metrics.jsonl, TensorBoard and sample grids; only process 0 writes."""

  def __init__(self, workdir: str):
    self.workdir = workdir
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

  def samples(self, step: int, batch, *, ncols: int | None = None) -> str | None:
    if not self.active:
      return None
    grid = images.make_grid(batch, ncols=ncols)
    scale = -(-512 // grid.shape[0])  # Enlarge small grids to >= 512 px for viewing.
    path = images.save_png(os.path.join(self.workdir, "samples", f"step_{step:06d}.png"),
                           grid, scale=scale)
    with self._tb.as_default():
      self._tf.summary.image("samples", grid[None], step=step)
    self._tb.flush()
    return path


def _mixture_samples(config, workdir, step, samples):
  if jax.process_index() != 0:
    return None
  path = os.path.join(workdir, "samples", f"step_{step:06d}.png")
  return mixture.save_samples(path, config.dataset, samples, step=step)


def _evaluate_mixture(config, workdir, step, sampler, state, rng):
  """eval.json and eval.png: the mode metrics of 2,500 samples (ganjax.mixture)."""
  z = steps.sample_latent(jax.random.fold_in(rng, 1), mixture.NUM_EVAL_SAMPLES,
                          config.latent_dim)
  samples = _fetch(sampler(state, z))
  if jax.process_index() == 0:
    metrics = mixture.write_evaluation(workdir, config.dataset, samples, step=step)
    logging.info("eval: %d/%d modes covered, high quality %.3f, reverse KL %.3f",
                 metrics["modes_covered"], metrics["num_modes"],
                 metrics["high_quality_fraction"], metrics["reverse_kl"])


def _fetch(tree):
  """Replicated device arrays -> numpy, on every process."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data), tree)


def _eta(seconds: float) -> str:
  m, s = divmod(int(seconds), 60)
  h, m = divmod(m, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


# --------------------------------------------------------------------------- loop


def train_and_evaluate(config, workdir: str) -> GANState:
  """Trains `config` in `workdir`, resuming from its latest checkpoint.

  Writes `config.json`, `metrics.jsonl`, `samples/step_*.png`, `tensorboard/`
  and `checkpoints/` under `workdir`; returns the final GANState.
  """
  check_config(config)
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)

  # Mesh and state.
  mesh = parallel.make_mesh()
  check_devices(config, mesh.devices.size)
  local_batch = parallel.local_batch_size(config.batch_size, mesh)
  repl = parallel.replicated(mesh)
  init_rng, step_rng, sample_rng = jax.random.split(jax.random.key(config.seed), 3)
  state = jax.jit(functools.partial(create_state, config), out_shardings=repl)(init_rng)
  logging.info("generator: %d params, discriminator: %d params, %d devices",
               sum(x.size for x in jax.tree.leaves(state.generator.params)),
               sum(x.size for x in jax.tree.leaves(state.discriminator.params)),
               mesh.devices.size)

  # Checkpoint and resume.
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"),
                      save_every=config.checkpoint_every, keep=config.keep_checkpoints)
  try:
    return _train_loop(config, workdir, mesh, state, ckpt, step_rng, sample_rng, local_batch)
  finally:
    ckpt.close()  # Also on errors: Orbax must finish its writes before exit.


def _train_loop(config, workdir, mesh, state, ckpt, step_rng, sample_rng, local_batch):
  start = 0
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
    start = int(_fetch(state.step))
    logging.info("Resumed from the checkpoint of step %d in %s", start, ckpt.directory)
  # Only now, with the checkpoint known to fit this config, may the config be recorded:
  # a failed resume must leave the work directory as it was.
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2))

  # Input and step.
  repl = parallel.replicated(mesh)
  batches = input_batches(config, local_batch_size=local_batch, skip=start)
  step_fn = jax.jit(build_step(config),
                    in_shardings=(repl, parallel.batch_sharding(mesh, 1), repl),
                    out_shardings=(repl, repl), donate_argnums=0)
  sampler = make_sampler(config)
  # Fixed inputs: every grid of a run shows the same z, so grids compare across steps.
  sample_args, grid_cols = sample_grid_inputs(config, sample_rng, config.num_sample_images)
  outputs = Outputs(workdir)

  def emit_samples(step):
    samples = _fetch(sampler(state, *sample_args))
    if mixture.is_mixture(config.dataset):  # Points: a scatter plot, not an image grid.
      path = _mixture_samples(config, workdir, step, samples)
    else:
      path = outputs.samples(step, samples, ncols=grid_cols)
    if path:
      logging.info("wrote %s", path)

  t_last, step_last, t_start = time.time(), start, time.time()
  try:
    for step in range(start + 1, config.num_steps + 1):
      batch = next(batches, None)
      if batch is None:
        raise RuntimeError(f"dataset {config.dataset!r} ran out of batches")
      state, metrics = step_fn(state, parallel.put_batch(batch, mesh, 1), step_rng)
      if step == start + 1:
        jax.block_until_ready(state)
        logging.info("first step (compile included) took %.1f s", time.time() - t_start)
        t_last, step_last = time.time(), step
      if step % config.log_every == 0 or step == config.num_steps:
        scalars = {k: float(v) for k, v in _fetch(metrics).items()}
        now = time.time()
        sps = (step - step_last) / max(now - t_last, 1e-9) if step > step_last else 0.0
        t_last, step_last = now, step
        scalars["steps_per_sec"] = sps
        outputs.scalars(step, scalars)
        eta = _eta((config.num_steps - step) / sps) if sps else "?"
        logging.info("step %d/%d | %.2f steps/s | ETA %s | d_loss %.4f | g_loss %.4f",
                     step, config.num_steps, sps, eta, scalars["d_loss"], scalars["g_loss"])
      if step % config.sample_every == 0 and step != config.num_steps:
        emit_samples(step)
      ckpt.save(step, state)
  except KeyboardInterrupt:
    # Keep what was trained: save the last finished step, then stop.
    logging.warning("interrupted: saving the checkpoint of step %d", int(_fetch(state.step)))
    ckpt.save(int(_fetch(state.step)), state, force=True)
    raise

  final = int(_fetch(state.step))
  if final not in ckpt.all_steps():
    ckpt.save(final, state, force=True)
  emit_samples(final)
  if mixture.is_mixture(config.dataset):
    _evaluate_mixture(config, workdir, final, sampler, state, sample_rng)
  logging.info("done: step %d in %s", final, workdir)
  return state
