"""ACGAN: D tells real from fake and names the class; G's images must be named right.

Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary
Classifier GANs", https://arxiv.org/abs/1610.09585.

The class-conditional generator of cgan ([z, y] in); a discriminator that sees
only the image and answers twice from shared features (ganjax.models.acgan): a
source logit and K class logits. Samples, batches and the conditional_accuracy
evaluation are cgan's.
"""

import functools

import jax
import jax.numpy as jnp

from ganjax import losses, steps
from ganjax.config import ConfigError
from ganjax.families import base
from ganjax.families.cgan import CGAN, conditional_inputs, dropout
from ganjax.models.acgan import ACGANDiscriminator
from ganjax.state import GANState


def accuracy(class_logits, labels):
  """Share of argmax(class_logits) equal to labels (jit-safe)."""
  return jnp.mean(jnp.argmax(class_logits, axis=-1) == labels)


def acgan_step(state: GANState, batch, rng, *, g_loss_fn, d_loss_fn, latent_dim: int,
               num_classes: int, class_loss_weight: float = 1.0,
               ema_decay: float | None = None):
  """ACGAN's alternating update.

  D minimises d_loss_fn(source) + w * (CE(real classes) + CE(generated classes));
  G minimises g_loss_fn(source) + w * CE(generated classes), w = class_loss_weight.
  The paper writes G's source term as minus D's log-likelihood; the
  non-saturating g_loss_fn is the form that trains.

  Args:
    batch: {'image': (d_steps, B, H, W, C), 'label': (d_steps, B)}.
    g_loss_fn, d_loss_fn: a loss pair of ganjax.losses for the source logit.
    latent_dim, num_classes: sizes of z and of the label set.
    class_loss_weight: w, the weight of the class cross-entropy on both sides.
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).

  Returns:
    (new state, metrics): d_loss, g_loss, the class losses, D's class accuracy
    on real and generated images, mean source logits.
  """

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    real_key, fake_key = jax.random.split(key)
    (real_src, real_cls), stats = steps.apply_train(d, params, minibatch["image"],
                                                    **dropout(real_key))
    (fake_src, fake_cls), stats = steps.apply_train(d, params, fake, stats,
                                                    **dropout(fake_key))
    real_ce = losses.auxiliary_classifier_loss(real_cls, minibatch["label"])
    fake_ce = losses.auxiliary_classifier_loss(fake_cls, gen_kwargs["labels"])
    loss = d_loss_fn(real_src, fake_src) + class_loss_weight * (real_ce + fake_ce)
    return loss, (stats, {
        "d_real_logit": jnp.mean(real_src), "d_fake_logit": jnp.mean(fake_src),
        "d_class_loss_real": real_ce, "d_class_loss_fake": fake_ce,
        "d_class_accuracy_real": accuracy(real_cls, minibatch["label"]),
        "d_class_accuracy_fake": accuracy(fake_cls, gen_kwargs["labels"])})

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    (source, classes), _ = steps.apply_train(d, d.params, fake, **dropout(key))
    class_loss = losses.auxiliary_classifier_loss(classes, gen_kwargs["labels"])
    return g_loss_fn(source) + class_loss_weight * class_loss, {"g_class_loss": class_loss}

  return steps.alternate(state, batch, rng,
                         generator_inputs=conditional_inputs(latent_dim, num_classes),
                         d_loss=d_loss, g_loss=g_loss, ema_decay=ema_decay)


def noise_fields() -> dict:
  """Regularisers of the feature discriminators (ganjax.models.features); train only."""
  return dict(
      d_input_noise=0.0,            # std of Gaussian noise on D's input
      d_hidden_noise=0.0,           # MLP: std of Gaussian noise on D's hidden layers
      d_dropout=0.0,                # dropout on D's hidden layers
  )


def check_noise(config):
  for name in noise_fields():
    if config[name] < 0:
      raise ConfigError(f"{name} must be >= 0, got {config[name]}")
  if config.d_dropout >= 1:
    raise ConfigError(f"d_dropout must be < 1, got {config.d_dropout}")


def noisy_feature_body(config):
  return base.feature_body(config, input_noise=config.d_input_noise,
                           hidden_noise=config.d_hidden_noise, dropout=config.d_dropout)


class ACGAN(CGAN):
  """cgan's generator; a discriminator with a source and a class head."""

  name = "acgan"

  def fields(self) -> dict:
    return dict(
        super().fields(),
        class_loss_weight=1.0,      # weight of the class term in D's and G's losses
        **noise_fields(),
    )

  def check_config(self, config):
    super().check_config(config)
    check_noise(config)

  def networks(self, config):
    return (self.conditional_generator_module(config),
            ACGANDiscriminator(noisy_feature_body(config), num_classes=config.num_classes,
                               spectral_norm=config.spectral_norm))

  def discriminator_takes_labels(self) -> bool:
    return False

  def step(self, config):
    g_loss_fn, d_loss_fn = base.build_losses(config)
    return functools.partial(acgan_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                             latent_dim=config.latent_dim, num_classes=config.num_classes,
                             class_loss_weight=config.class_loss_weight,
                             ema_decay=config.ema_decay or None)


FAMILY = ACGAN()
