"""Conditional GAN: D judges (image, label) pairs; G draws the class it is asked for.

Mirza & Osindero 2014, "Conditional Generative Adversarial Nets",
https://arxiv.org/abs/1411.1784.

The networks are `config.model`'s (MLPs or DCGAN) wrapped so the label joins
their inputs (ganjax.models.cgan); generated labels are drawn uniformly; any
loss pair of ganjax.losses applies to D's logits. Samples are a class grid
(row r is class r, column c one fixed z). Its evaluation section,
`conditional_accuracy`, is the share of generated samples (every class in turn)
that the dataset's domain classifier assigns to the requested class.

Batches: {'image': (d_steps, B, ...), 'label': (d_steps, B)}. Every
discriminator application gets a fresh 'dropout' RNG (the noise and dropout of
models/features.py, used by acgan and sgan discriminators).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ganjax import steps
from ganjax.config import ConfigError
from ganjax.families import base
from ganjax.models.cgan import ConditionalDiscriminator, ConditionalGenerator
from ganjax.models.dcgan import DCGANDiscriminator
from ganjax.models.mlp import MLPDiscriminator
from ganjax.state import GANState, create_gan_state


# --------------------------------------------------------------------------- inputs


def class_grid_inputs(rng, *, num_classes: int, num_columns: int, latent_dim: int):
  """(z, labels) for a class-conditional grid of num_classes rows x num_columns columns.

  Row r asks for class r; column c uses the same z_c in every row, so the
  style stays fixed down a column while the class changes along it. Flattened
  row-major: example r * num_columns + c is (z_c, r).
  """
  z = steps.sample_latent(rng, num_columns, latent_dim)
  return (jnp.tile(z, (num_classes, 1)),
          jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), num_columns))


def grid_columns(config, num_images: int | None = None) -> int:
  """Columns of the class grid: num_images (default num_sample_images) over the classes' rows."""
  num_images = config.num_sample_images if num_images is None else num_images
  return max(1, num_images // config.num_classes)


def conditional_inputs(latent_dim: int, num_classes: int):
  """The loop's `generator_inputs`: z ~ N(0, I) and uniformly drawn labels."""

  def inputs(key, minibatch):
    n = steps.batch_size_of(minibatch)
    z_key, y_key = jax.random.split(key)
    return (steps.sample_latent(z_key, n, latent_dim),
            {"labels": base.sample_labels(y_key, n, num_classes)})

  return inputs


def dropout(key):
  """apply() keyword arguments giving D's noise and dropout layers their RNG."""
  return {"rngs": {"dropout": key}}


# --------------------------------------------------------------------------- step


def cgan_step(state: GANState, batch, rng, *, g_loss_fn, d_loss_fn, latent_dim: int,
              num_classes: int, ema_decay: float | None = None):
  """Conditional GAN: D(x, y) and G(z, y) with any loss pair on D's logits.

  Args:
    batch: {'image': (d_steps, B, H, W, C), 'label': (d_steps, B)}.
    g_loss_fn, d_loss_fn: a loss pair of ganjax.losses, on D's logits.
    latent_dim, num_classes: sizes of z and of the label set.
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).

  Returns:
    (new state, metrics): d_loss, g_loss, mean real and fake logits.
  """

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    real_key, fake_key = jax.random.split(key)
    real_logits, stats = steps.apply_train(d, params, minibatch["image"],
                                           labels=minibatch["label"], **dropout(real_key))
    fake_logits, stats = steps.apply_train(d, params, fake, stats,
                                           labels=gen_kwargs["labels"], **dropout(fake_key))
    return d_loss_fn(real_logits, fake_logits), (stats, {
        "d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)})

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    logits, _ = steps.apply_train(d, d.params, fake, labels=gen_kwargs["labels"],
                                  **dropout(key))
    return g_loss_fn(logits), {}

  return steps.alternate(state, batch, rng,
                         generator_inputs=conditional_inputs(latent_dim, num_classes),
                         d_loss=d_loss, g_loss=g_loss, ema_decay=ema_decay)


# --------------------------------------------------------------------------- evaluation


def conditional_accuracy(class_logits, requested_labels) -> float:
  """Share of samples whose argmax class is the requested one.

  Args:
    class_logits: (N, K) classifier logits (or probabilities) on generated samples.
    requested_labels: (N,) the classes the generator was asked for.
  """
  class_logits, requested_labels = np.asarray(class_logits), np.asarray(requested_labels)
  if class_logits.ndim != 2 or requested_labels.shape != class_logits.shape[:1]:
    raise ValueError(f"need (N, K) logits and (N,) labels, got {class_logits.shape} and "
                     f"{requested_labels.shape}")
  return float(np.mean(np.argmax(class_logits, axis=-1) == requested_labels))


def conditional_accuracy_section(ctx) -> dict:
  """ganjax.evaluate section: the domain classifier's agreement with the requested classes."""
  _, labels = ctx.generated()  # Every class in turn.
  _, probs = ctx.classifier_outputs("generated")
  return {"conditional_accuracy": conditional_accuracy(probs, labels)}


# --------------------------------------------------------------------------- the family


class CGAN(base.Family):
  """Class-conditional z -> image GAN: the label joins G's and D's inputs."""

  name = "cgan"
  mixed_precision = True
  conditional_generator = True

  def fields(self) -> dict:
    return dict(
        base.zx_fields(),
        num_classes=10,             # classes of the dataset's `label`
        label_embedding=0,          # 0: one-hot labels; > 0: a learned embedding of that size
    )

  def check_config(self, config):
    super().check_config(config)
    base.check_zx_config(config)
    if config.num_classes < 2:
      raise ConfigError(f"num_classes must be >= 2, got {config.num_classes}")
    if config.label_embedding < 0:
      raise ConfigError(f"label_embedding must be >= 0, got {config.label_embedding}")

  def conditional_generator_module(self, config):
    return ConditionalGenerator(base.image_generator(config), num_classes=config.num_classes,
                                embedding_dim=config.label_embedding)

  def networks(self, config):
    k, embedding = config.num_classes, config.label_embedding
    # spectral_norm bounds D in its image input; a learned label embedding stays free.
    if config.model == "dcgan":
      d = DCGANDiscriminator(resolution=config.resolution, width=config.width,
                             normalization=config.d_normalization,
                             spectral_norm=config.spectral_norm)
      join = "maps"
    else:
      d = MLPDiscriminator(hidden=tuple(config.hidden), spectral_norm=config.spectral_norm)
      join = "vector"
    return (self.conditional_generator_module(config),
            ConditionalDiscriminator(d, num_classes=k, join=join, embedding_dim=embedding))

  def discriminator_takes_labels(self) -> bool:
    return True

  def create_state(self, config, rng) -> GANState:
    generator, discriminator = self.networks(config)
    g_tx, d_tx = base.build_optimizers(config)
    y = {"labels": jnp.zeros((1,), jnp.int32)}
    return create_gan_state(rng, generator=generator, discriminator=discriminator,
                            generator_tx=g_tx, discriminator_tx=d_tx,
                            sample_z=jnp.zeros((1, config.latent_dim)),
                            sample_x=jnp.zeros((1, *base.image_shape(config))),
                            generator_kwargs=y,
                            discriminator_kwargs=y if self.discriminator_takes_labels() else {},
                            use_ema=config.ema_decay > 0, ema_batch_stats=config.ema_batch_stats,
                            compute_dtype=config.compute_dtype)

  def step(self, config):
    g_loss_fn, d_loss_fn = base.build_losses(config)
    return functools.partial(cgan_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                             latent_dim=config.latent_dim, num_classes=config.num_classes,
                             ema_decay=config.ema_decay or None)

  def sampler(self, config):
    """A jitted fn(state, z, labels=None) -> images.

    `labels=None` asks for the classes in turn (0, 1, ..., K-1, 0, ...), so code
    written for unconditional samplers, fn(state, z), gets a balanced sample.
    """
    generator, _ = self.networks(config)
    num_classes = config.num_classes

    @jax.jit
    def sample(state, z, labels=None):
      if labels is None:
        labels = jnp.arange(z.shape[0], dtype=jnp.int32) % num_classes
      return generator.apply(state.sampling_variables(), z, labels=labels, train=False)

    return sample

  def grid_inputs(self, config, rng, num_images: int):
    """The class grid: one row per class, one fixed z per column."""
    ncols = grid_columns(config, num_images)
    return class_grid_inputs(rng, num_classes=config.num_classes, num_columns=ncols,
                             latent_dim=config.latent_dim), ncols

  def evaluation_sections(self):
    return (("conditional", conditional_accuracy_section),)


FAMILY = CGAN()
