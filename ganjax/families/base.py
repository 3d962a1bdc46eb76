"""What a GAN family is to the loop (`Family`), and the pieces the z -> x families share.

A family is one object (`FAMILY` in its file) with the methods below. The loop
(ganjax.train), `evaluate`, `restore` and the entry points call only these, so a
new family adds a file and a registry line and changes nothing else. The defaults
suit a family that turns z into images; override what differs.

The state a family makes is any immutable pytree with a `step` (the loop counts
the parameters of every NetState in it and checkpoints all of it); a step is
`step(state, batch, rng) -> (state, metrics)`, with `batch` a dict of named
features, each stacked `d_steps` deep: (d_steps, B, ...).
"""

import functools
import os

import jax
import jax.numpy as jnp
import optax

from ganjax import images as images_lib
from ganjax import losses, precision
from ganjax.config import ConfigError
from ganjax.models.dcgan import OUTPUTS as DCGAN_OUTPUTS, RESOLUTIONS as DCGAN_RESOLUTIONS
from ganjax.models.dcgan import DCGANGenerator
from ganjax.models.features import ConvFeatures, MLPFeatures
from ganjax.models.mlp import MLPGenerator
from ganjax.state import EMA_BATCH_STATS
from ganjax.steps import sample_latent

OPTIMIZERS = ("adam", "rmsprop")
ARCHITECTURES = ("dcgan", "mlp")


class Family:
  """One GAN family: its config fields, state, step, input, samples and evaluation."""

  name = ""
  conditional_generator = False  # Its generator takes class labels: G(z, labels).
  image_samples = True           # Its samples are images (grids, TensorBoard).
  samples_from_z = True          # G maps z to samples: the sample-quality sections of
                                 # ganjax.evaluate and the latent tools apply.
  mixed_precision = False        # Its networks honour config.compute_dtype (ganjax.precision).

  # ------------------------------------------------------------------ config
  def fields(self) -> dict:
    """The family's own config fields and their defaults (beside ganjax.config's)."""
    return {}

  def check_config(self, config) -> None:
    """Raises ConfigError, in one line, for values the family cannot train."""
    check_loop_config(config)
    if config.compute_dtype not in precision.COMPUTE_DTYPES:
      raise ConfigError(f"compute_dtype must be one of {', '.join(precision.COMPUTE_DTYPES)}, "
                        f"got {config.compute_dtype!r}")
    if config.compute_dtype != "float32" and not self.mixed_precision:
      raise ConfigError(f"family {self.name!r} computes in float32 only: compute_dtype "
                        f"{config.compute_dtype!r} is for gan, cgan, acgan, sgan and mixture")
    build_optimizers(config)

  def sharded_batch_sizes(self, config) -> dict:
    """{config field: global size} of every batch split over the devices."""
    return {"batch_size": config.batch_size}

  # ------------------------------------------------------------------ training
  def networks(self, config):
    """The family's flax modules (for z -> x families: (generator, discriminator))."""
    raise NotImplementedError(f"family {self.name!r} defines no networks")

  def create_state(self, config, rng):
    """A fresh state (pure: same rng, same state)."""
    raise NotImplementedError(f"family {self.name!r} defines no state")

  def step(self, config):
    """The pure train step `step(state, batch, rng) -> (state, metrics)`, on d_steps
    minibatches stacked: every feature (d_steps, B, ...)."""
    raise NotImplementedError(f"family {self.name!r} defines no step")

  def minibatch_rank(self, config, feature: str) -> int:
    """The rank of `feature` in one minibatch (B, ...): 1 for labels, else 1 + the rank of
    one example (`example_shape`, where the family has one; images otherwise)."""
    if "label" in feature:
      return 1
    example = getattr(self, "example_shape", None)
    return 1 + (len(example(config)) if example else 3)

  def train_batches(self, config, *, local_batch_size: int):
    """This process's endless minibatches: dicts of named numpy features, (B, ...) each."""
    from ganjax import data  # TensorFlow (~2.5 s) only when data is read.
    if "num_classes" in config:  # A family that trains on labels.
      check_dataset_classes(config, data.info(config.dataset, data_dir=config.data_dir or None))
    return data.load(config.dataset, split=config.train_split, batch_size=local_batch_size,
                     resolution=config.resolution, channels=config.channels,
                     seed=config.seed, data_dir=config.data_dir or None,
                     center_crop=config.center_crop or None)

  # ------------------------------------------------------------------ samples
  def sampler(self, config):
    """A jitted fn(state, *inputs) -> samples, the generator in inference mode."""
    generator, _ = self.networks(config)

    @jax.jit
    def sample(state, z):
      return generator.apply(state.sampling_variables(), z, train=False)

    return sample

  def discriminator_logits(self, config):
    """A jitted fn(state, samples) -> D's logits (B,) in inference mode, for discriminator
    rejection sampling (ganjax.rejection); None for a family whose D gives no such logit."""
    del config
    return None

  def calibrate_discriminator(self, config, state, *, seed: int = 0):
    """`state` with D fitted to the sampling generator before rejection sampling."""
    del config, seed
    return state

  def grid_inputs(self, config, rng, num_images: int):
    """(inputs, ncols): a sample grid is make_grid(sampler(state, *inputs), ncols=ncols)."""
    return (sample_latent(rng, num_images, config.latent_dim),), None

  def write_samples(self, path: str, config, samples, *, ncols=None, step: int = 0) -> str:
    """Writes `samples` as a PNG at `path` (an image grid, enlarged to >= 512 px)."""
    del config, step
    grid = images_lib.make_grid(samples, ncols=ncols)
    return images_lib.save_png(path, grid, scale=-(-512 // grid.shape[0]))

  # ------------------------------------------------------------------ translation
  def translation_directions(self, config) -> tuple[str, ...]:
    """The directions ('AtoB', 'BtoA') `translate` runs for this config; () for a family
    that does not translate images (experiments.translate refuses its runs)."""
    del config
    return ()

  def translate(self, config, state, images, direction: str, *, seed: int = 0):
    """The trained generator of `direction` on float32 images (N, R, R, C) in [-1, 1]."""
    raise NotImplementedError(f"family {self.name!r} does not translate images")

  def default_workdir(self, name: str, config) -> str:
    """The work directory of `python -m experiments.<name>` without --workdir."""
    return os.path.join("workdirs", f"{name}_{config.dataset}")

  def prepare(self, config, workdir: str) -> None:
    """Runs before training starts or resumes (StackGAN's Stage II trains Stage I here)."""

  def fresh_state(self, config, state, workdir: str):
    """The state a run starts from when it has no checkpoint yet: `state` (create_state's),
    or one holding networks of other runs (StackGAN's frozen Stage I)."""
    del config, workdir
    return state

  def finish(self, config, workdir: str, state, sampler, rng) -> None:
    """Runs once at the end of training (e.g. an evaluation the family always writes)."""

  # ------------------------------------------------------------------ evaluation
  def evaluation_sections(self) -> tuple:
    """The family's own sections of ganjax.evaluate: (name, fn(ctx) -> dict) pairs."""
    return ()

  def num_eval_samples(self, config) -> int | None:
    """How many samples `evaluate` draws by default (None: its own default)."""
    del config
    return None


def _check_range(config, field: str, low, high=None, *, low_open=False, high_open=True):
  """ConfigError unless config.<field> (dotted) lies in the interval, as one line."""
  value = config
  for part in field.split("."):
    value = value[part]
  below = value <= low if low_open else value < low
  above = high is not None and (value >= high if high_open else value > high)
  if below or above or value != value:  # value != value: NaN.
    if high is None:
      allowed = f"{'>' if low_open else '>='} {low}"
    else:
      allowed = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    raise ConfigError(f"{field} must be {allowed}, got {value}")


def check_loop_config(config) -> None:
  """The ranges of the loop's fields (ganjax.config), checked before anything compiles."""
  for field in ("batch_size", "d_steps", "log_every", "sample_every", "checkpoint_every",
                "keep_checkpoints", "num_sample_images", "resolution", "channels"):
    _check_range(config, field, 1)
  for field in ("num_steps", "center_crop"):
    _check_range(config, field, 0)
  _check_range(config, "ema_decay", 0, 1)
  for field in ("optimizer.g_learning_rate", "optimizer.d_learning_rate"):
    _check_range(config, field, 0, low_open=True)
  for field in ("optimizer.b1", "optimizer.b2"):
    _check_range(config, field, 0, 1)


def check_dataset_classes(config, info) -> None:
  """ConfigError unless the dataset has labels, all within config.num_classes."""
  if info.num_classes is None:
    raise ConfigError(f"family {config.family!r} trains on class labels and dataset "
                      f"{config.dataset!r} has none (a folder of images gets them from "
                      f"class subfolders)")
  if info.num_classes > config.num_classes:
    raise ConfigError(f"dataset {config.dataset!r} has {info.num_classes} classes: set "
                      f"num_classes={info.num_classes}")


# --------------------------------------------------------------------------- z -> x families
# The fields, optimizers, losses and networks that gan, cgan, acgan, sgan and the mixture
# benchmark share.


def zx_fields() -> dict:
  """Config fields of the z -> x families."""
  return dict(
      model="dcgan",                # dcgan | mlp
      latent_dim=100,               # size of the noise z
      width=64,                     # DCGAN: filters of the widest-resolution layer
      hidden=(256, 256),            # MLP: hidden layer widths
      upsample="transposed",        # DCGAN generator: transposed | resize
      g_output="tanh",              # DCGAN generator: tanh | linear (clipped when sampling)
      d_normalization="batch",      # DCGAN discriminator: batch | layer | none
      spectral_norm=False,          # D's kernels over their largest singular value (SN-GAN)
      loss="non_saturating",        # see ganjax.losses.LOSS_FAMILIES
      label_smoothing=0.0,          # one-sided: the real target is 1 - label_smoothing
      least_squares_labels=(0.0, 1.0, 1.0),  # loss least_squares: (a, b, c) = (fake, real, G)
      ema_batch_stats="live",       # the EMA G's BatchNorm statistics: live (G's) | own (its own)
  )


def check_zx_config(config) -> None:
  """The checks every z -> x family shares (model, loss and its hyper-parameters)."""
  if config.model not in ARCHITECTURES:
    raise ConfigError(f"unknown model {config.model!r}; valid: {', '.join(ARCHITECTURES)}")
  if config.latent_dim < 1:
    raise ConfigError(f"latent_dim must be >= 1, got {config.latent_dim}")
  if config.model == "dcgan":
    if config.width < 1:
      raise ConfigError(f"width must be >= 1, got {config.width}")
    if config.g_output not in DCGAN_OUTPUTS:
      raise ConfigError(f"g_output must be one of {', '.join(DCGAN_OUTPUTS)}, got "
                        f"{config.g_output!r}")
    if config.resolution not in DCGAN_RESOLUTIONS:
      raise ConfigError(f"the DCGAN doubles 4x4 up to the image size: resolution must be one "
                        f"of {', '.join(map(str, DCGAN_RESOLUTIONS))}, got {config.resolution}")
  elif not config.hidden or min(config.hidden) < 1:
    raise ConfigError(f"hidden must be one or more layer widths >= 1, got {config.hidden}")
  if config.ema_batch_stats not in EMA_BATCH_STATS:
    raise ConfigError(f"ema_batch_stats must be one of {', '.join(EMA_BATCH_STATS)}, got "
                      f"{config.ema_batch_stats!r}")
  if len(config.least_squares_labels) != 3:
    raise ConfigError(f"least_squares_labels is (a, b, c), got {config.least_squares_labels}")
  build_losses(config)


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
  if o.schedule in SCHEDULES:  # D takes d_steps updates per generator step.
    if o.schedule == "halving" and o.halve_every < 1:
      raise ConfigError(f"optimizer.schedule 'halving' needs optimizer.halve_every >= 1, got "
                        f"{o.halve_every}")
    return (make(_schedule(config, o.g_learning_rate, 1)),
            make(_schedule(config, o.d_learning_rate, config.d_steps)))
  raise ConfigError(f"unknown optimizer.schedule {o.schedule!r}; valid: constant, "
                    f"{', '.join(SCHEDULES)}")


SCHEDULES = ("linear", "constant_then_linear", "halving")


def _schedule(config, rate: float, updates_per_step: int):
  """The schedule of a network updated `updates_per_step` times a generator step."""
  o = config.optimizer
  if o.schedule == "halving":
    every = max(o.halve_every, 1) * updates_per_step
    return optax.exponential_decay(rate, every, 0.5, staircase=True)
  return learning_rate_schedule(o.schedule, rate, max(config.num_steps * updates_per_step, 1))


def learning_rates(config, step: int) -> dict:
  """{'g_learning_rate', 'd_learning_rate'} in use at generator step `step` (D has taken
  step * d_steps updates), as build_optimizers schedules them."""
  o = config.optimizer
  if o.schedule == "constant":
    return {"g_learning_rate": float(o.g_learning_rate),
            "d_learning_rate": float(o.d_learning_rate)}
  return {
      "g_learning_rate": float(_schedule(config, o.g_learning_rate, 1)(step)),
      "d_learning_rate": float(_schedule(config, o.d_learning_rate, config.d_steps)(
          step * config.d_steps)),
  }


def learning_rate_schedule(kind: str, rate: float, num_updates: int):
  """'linear': rate decaying linearly to 0 over num_updates; 'constant_then_linear': rate
  for the first half, then linearly to 0 (pix2pix and CycleGAN: 100 + 100 epochs). (The
  'halving' schedule, StackGAN's, halves the rate every optimizer.halve_every steps.)"""
  if kind == "linear":
    return optax.linear_schedule(rate, 0.0, num_updates)
  half = num_updates // 2
  return optax.join_schedules([optax.constant_schedule(rate),
                               optax.linear_schedule(rate, 0.0, num_updates - half)], [half])


def build_losses(config):
  """(generator_loss_fn, discriminator_loss_fn) from `config.loss` and its hyper-parameters."""
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


def image_shape(config) -> tuple[int, int, int]:
  """(R, R, C): one training image."""
  return (config.resolution, config.resolution, config.channels)


def image_generator(config, *, output_shape=None, output_activation: str = "tanh"):
  """The unconditional generator of `config.model`: z -> images (or points)."""
  if config.model == "dcgan":
    return DCGANGenerator(resolution=config.resolution, channels=config.channels,
                          width=config.width, upsample=config.upsample,
                          output=config.g_output,
                          info_categories=config.get("info_categories", 0))
  return MLPGenerator(output_shape=output_shape or image_shape(config),
                      hidden=tuple(config.hidden), output_activation=output_activation)


def feature_body(config, *, input_noise: float = 0.0, hidden_noise: float = 0.0,
                 dropout: float = 0.0):
  """A discriminator body of `config.model` that returns its last features (B, F)."""
  if config.model == "dcgan":
    return ConvFeatures(resolution=config.resolution, width=config.width,
                        normalization=config.d_normalization, input_noise=input_noise,
                        dropout=dropout, spectral_norm=config.spectral_norm)
  return MLPFeatures(hidden=tuple(config.hidden), input_noise=input_noise,
                     hidden_noise=hidden_noise, dropout=dropout,
                     spectral_norm=config.spectral_norm)


def sample_labels(rng, batch_size: int, num_classes: int) -> jax.Array:
  """Class ids drawn uniformly, int32 (batch_size,)."""
  return jax.random.randint(rng, (batch_size,), 0, num_classes, jnp.int32)
