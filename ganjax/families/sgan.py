"""Semi-supervised GAN: a (K+1)-class discriminator, a feature-matching generator.

Salimans et al. 2016, "Improved Techniques for Training GANs",
https://arxiv.org/abs/1606.03498, section 5; Odena 2016, "Semi-Supervised
Learning with Generative Adversarial Networks", https://arxiv.org/abs/1606.01583.

Only `num_labeled` training examples keep their labels (ganjax.labeled_subset);
D learns from them and from every unlabelled image; G is unconditional. The
discriminator (ganjax.models.sgan) outputs K class logits, the fake class'
logit fixed at 0.

Batches: {'image': (d_steps, B, ...)} unlabelled (the main stream's labels are
dropped), plus {'labeled_image': (d_steps, B_l, ...), 'labeled_label':
(d_steps, B_l)}. Its evaluation section gives D's test accuracy as a K-class
classifier and that of the same network trained on the labelled examples alone.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ganjax import labeled_subset, losses, steps
from ganjax.config import ConfigError
from ganjax.families import base
from ganjax.families.acgan import accuracy, check_noise, noise_fields, noisy_feature_body
from ganjax.families.cgan import conditional_accuracy, dropout
from ganjax.models.sgan import SGANDiscriminator
from ganjax.state import GANState, create_gan_state

GENERATOR_LOSSES = ("feature_matching", "non_saturating")


def sgan_step(state: GANState, batch, rng, *, latent_dim: int,
              unsupervised_weight: float = 1.0, generator_loss: str = "feature_matching",
              ema_decay: float | None = None):
  """The semi-supervised GAN's alternating update.

  D minimises CE(labelled classes) + unsupervised_weight * L_unsup, with
  L_unsup = -log D(unlabelled) - log(1 - D(G(z))) and D(x) = Z / (Z + 1) (the
  logit trick, ganjax.losses.semi_supervised_discriminator_loss).
  G minimises ||mean f(real) - mean f(G(z))||^2 over D's features f
  ("feature_matching", Salimans et al.'s choice for classification) or the
  non-saturating -log D(G(z)) ("non_saturating").

  Args:
    batch: {'image': (d_steps, B, ...)} unlabelled, plus {'labeled_image':
      (d_steps, B_l, ...), 'labeled_label': (d_steps, B_l)}.
    latent_dim: size of z.
    unsupervised_weight: the weight of the unsupervised (real vs fake) term.
    generator_loss: one of GENERATOR_LOSSES.
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).

  Returns:
    (new state, metrics): d_loss, g_loss, D's supervised and unsupervised
    losses, its accuracy on the labelled minibatch, mean real/fake logits
    (logsumexp of the class logits).
  """
  if generator_loss not in GENERATOR_LOSSES:
    raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, "
                     f"got {generator_loss!r}")

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    del gen_kwargs
    keys = jax.random.split(key, 3)
    labeled, stats = steps.apply_train(d, params, minibatch["labeled_image"],
                                       **dropout(keys[0]))
    real, stats = steps.apply_train(d, params, minibatch["image"], stats, **dropout(keys[1]))
    gen, stats = steps.apply_train(d, params, fake, stats, **dropout(keys[2]))
    supervised = losses.auxiliary_classifier_loss(labeled, minibatch["labeled_label"])
    unsupervised = losses.semi_supervised_discriminator_loss(real, gen)
    return supervised + unsupervised_weight * unsupervised, (stats, {
        "d_supervised_loss": supervised, "d_unsupervised_loss": unsupervised,
        "d_labeled_accuracy": accuracy(labeled, minibatch["labeled_label"]),
        "d_real_logit": losses.semi_supervised_source_logits(real).mean(),
        "d_fake_logit": losses.semi_supervised_source_logits(gen).mean()})

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    del gen_kwargs
    real_key, fake_key = jax.random.split(key)
    if generator_loss == "feature_matching":
      real_features = jax.lax.stop_gradient(steps.discriminator_features(
          d, d.params, minibatch["image"], **dropout(real_key)))
      fake_features = steps.discriminator_features(d, d.params, fake, **dropout(fake_key))
      return losses.feature_matching_loss(real_features, fake_features), {}
    logits, _ = steps.apply_train(d, d.params, fake, **dropout(fake_key))
    return losses.semi_supervised_generator_loss(logits), {}

  return steps.alternate(state, batch, rng, generator_inputs=steps.latent_inputs(latent_dim),
                         d_loss=d_loss, g_loss=g_loss, ema_decay=ema_decay)


# --------------------------------------------------------------------------- input


def semi_supervised_batches(unlabeled, config, *, local_batch_size: int,
                            process_index: int = 0):
  """`unlabeled` batches (labels dropped) joined with this process's labelled stream.

  `local_batch_size` is this process's share of `config.labeled_batch_size`;
  each process draws its own labelled batches (seeded by seed and process).
  """
  images, labels = _labeled(config)
  stream = labeled_subset.labeled_batches(images, labels, batch_size=local_batch_size,
                                          seed=(config.seed, process_index))
  for batch, extra in zip(unlabeled, stream):
    yield {"image": batch["image"], **extra}


def _labeled(config):
  return labeled_subset.labeled_subset(
      config.dataset, split=config.train_split, num_labeled=config.num_labeled,
      num_classes=config.num_classes, resolution=config.resolution,
      channels=config.channels, seed=config.seed, data_dir=config.data_dir or None,
      center_crop=config.center_crop or None)


# --------------------------------------------------------------------------- evaluation


def _classify(discriminator, variables, images, batch_size=1000):
  fn = jax.jit(lambda v, x: discriminator.apply(v, x, train=False))
  return np.concatenate([np.asarray(fn(variables, images[i:i + batch_size]))
                         for i in range(0, len(images), batch_size)])


def classification_accuracy(config, state, images, labels) -> float:
  """Test accuracy of an sgan run's discriminator as a K-class classifier."""
  _, discriminator = FAMILY.networks(config)
  logits = _classify(discriminator, state.discriminator.variables(), images)
  return conditional_accuracy(logits, labels)


def train_supervised_baseline(config, *, num_updates: int | None = None):
  """The sgan discriminator's network trained on the labelled examples alone.

  Same network (noise and dropout included), same labelled examples and
  labelled batches, same optimizer as D, and as many updates as D gets in the
  GAN run (num_steps * d_steps) unless `num_updates` says otherwise. Only the
  supervised cross-entropy: no generator, no unlabelled data.

  Returns:
    (discriminator module, its variables).
  """
  _, discriminator = FAMILY.networks(config)
  images, labels = _labeled(config)
  # The GAN run's initial D (train_and_evaluate's init key) and its optimizer.
  init_rng, step_rng, _ = jax.random.split(jax.random.key(config.seed), 3)
  d_state = FAMILY.create_state(config, init_rng).discriminator

  @jax.jit
  def update(d, x, y, key):
    def loss_fn(params):
      logits, stats = steps.apply_train(d, params, x, **dropout(key))
      return losses.auxiliary_classifier_loss(logits, y), stats
    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
    return d.apply_gradients(grads=grads).replace(batch_stats=stats), loss

  stream = labeled_subset.labeled_batches(images, labels, batch_size=config.labeled_batch_size,
                                          seed=(config.seed, 0))
  if num_updates is None:
    num_updates = config.num_steps * config.d_steps
  for i in range(num_updates):
    batch = next(stream)
    d_state, _ = update(d_state, batch["labeled_image"], batch["labeled_label"],
                        jax.random.fold_in(step_rng, i))
  return discriminator, d_state.variables()


def supervised_baseline_accuracy(config, images, labels, *,
                                 num_updates: int | None = None) -> float:
  """Test accuracy on (images, labels) of `train_supervised_baseline(config)`."""
  discriminator, variables = train_supervised_baseline(config, num_updates=num_updates)
  return conditional_accuracy(_classify(discriminator, variables, images), labels)


def semi_supervised_metrics(config, state, *, split: str = "test",
                            num_updates: int | None = None) -> dict:
  """{'classification_accuracy', 'supervised_baseline_accuracy'} of an sgan run."""
  from ganjax import data
  images, labels = data.load_split(config.dataset, split, resolution=config.resolution,
                                   channels=config.channels, data_dir=config.data_dir or None,
                                   center_crop=config.center_crop or None)
  return {
      "classification_accuracy": classification_accuracy(config, state, images, labels),
      "supervised_baseline_accuracy": supervised_baseline_accuracy(
          config, images, labels, num_updates=num_updates),
  }


def semi_supervised_section(ctx) -> dict:
  """ganjax.evaluate section: D's test accuracy and the supervised-only baseline's."""
  c = ctx.config
  ctx.log(f"sgan: training the supervised-only baseline on the {c.num_labeled} labelled "
          f"examples ...")
  return semi_supervised_metrics(c, ctx.state)


# --------------------------------------------------------------------------- the family


class SGAN(base.Family):
  """An unconditional generator; a K-class discriminator trained on few labels."""

  name = "sgan"
  mixed_precision = True

  def fields(self) -> dict:
    return dict(
        base.zx_fields(),
        num_classes=10,             # classes of the dataset's `label`
        num_labeled=50,             # examples that keep their label, balanced per class
        labeled_batch_size=64,      # labelled examples per D update (global)
        unsupervised_weight=1.0,    # weight of the real-vs-fake term in D's loss
        sgan_generator_loss="feature_matching",  # or non_saturating
        **noise_fields(),
    )

  def check_config(self, config):
    super().check_config(config)
    base.check_zx_config(config)
    check_noise(config)
    k, n = config.num_classes, config.num_labeled
    if k < 2:
      raise ConfigError(f"num_classes must be >= 2, got {k}")
    if n < k or n % k:
      raise ConfigError(f"sgan keeps num_labeled labels, balanced over the classes: it must "
                        f"be a positive multiple of num_classes={k}, got {n}")
    if config.labeled_batch_size < 1:
      raise ConfigError(f"labeled_batch_size must be >= 1, got {config.labeled_batch_size}")
    if config.sgan_generator_loss not in GENERATOR_LOSSES:
      raise ConfigError(f"sgan_generator_loss must be one of {', '.join(GENERATOR_LOSSES)}, "
                        f"got {config.sgan_generator_loss!r}")

  def sharded_batch_sizes(self, config):
    # The labelled minibatch is sharded as the images are.
    return {"batch_size": config.batch_size, "labeled_batch_size": config.labeled_batch_size}

  def networks(self, config):
    return (base.image_generator(config),
            SGANDiscriminator(noisy_feature_body(config), num_classes=config.num_classes,
                              spectral_norm=config.spectral_norm))

  def create_state(self, config, rng) -> GANState:
    generator, discriminator = self.networks(config)
    g_tx, d_tx = base.build_optimizers(config)
    return create_gan_state(rng, generator=generator, discriminator=discriminator,
                            generator_tx=g_tx, discriminator_tx=d_tx,
                            sample_z=jnp.zeros((1, config.latent_dim)),
                            sample_x=jnp.zeros((1, *base.image_shape(config))),
                            use_ema=config.ema_decay > 0, ema_batch_stats=config.ema_batch_stats,
                            compute_dtype=config.compute_dtype)

  def step(self, config):
    return functools.partial(sgan_step, latent_dim=config.latent_dim,
                             unsupervised_weight=config.unsupervised_weight,
                             generator_loss=config.sgan_generator_loss,
                             ema_decay=config.ema_decay or None)

  def train_batches(self, config, *, local_batch_size: int):
    return semi_supervised_batches(
        super().train_batches(config, local_batch_size=local_batch_size), config,
        local_batch_size=config.labeled_batch_size // jax.process_count(),
        process_index=jax.process_index())

  def evaluation_sections(self):
    return (("conditional", semi_supervised_section),)


FAMILY = SGAN()
