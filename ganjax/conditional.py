"""Train steps for the GANs that use labels: cGAN, ACGAN and the semi-supervised GAN.

Each objective is one pure `step(state, batch, rng) -> (state, metrics)`, built
from the blocks of ganjax.steps, as the unconditional steps are: d_steps
discriminator updates (a lax.scan over all but the last real minibatch), then
one generator update that reuses the last update's generated batch through
G's VJP (one generator forward pass per step). Only the losses differ:

- cgan (Mirza & Osindero 2014): D(x, y) and G(z, y); any loss pair of
  ganjax.losses on D's logits. Generated labels are drawn uniformly.
- acgan (Odena et al. 2017): D(x) -> (source, class logits). D minimises the
  source loss plus the class cross-entropy on real AND generated images; G
  minimises its (non-saturating) source loss plus the class cross-entropy of
  its images.
- sgan (Salimans et al. 2016): D(x) -> K class logits, the fake class' logit
  fixed at 0. D minimises the cross-entropy on the labelled minibatch plus the
  unsupervised (K+1) loss on unlabelled real and generated images; G matches
  the batch means of D's features (feature matching).

Batches: {'image': (d_steps, B, ...), 'label': (d_steps, B)} for cgan/acgan;
{'image', 'labeled_image': (d_steps, B_l, ...), 'labeled_label': (d_steps, B_l)}
for sgan, whose main stream carries no labels at all.

Every discriminator application gets a 'dropout' RNG (the noise and dropout
of models/features.py), a fresh one per pass.
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from ganjax import losses, models
from ganjax.models.cgan import ConditionalDiscriminator, ConditionalGenerator
from ganjax.state import GANState, NetState
from ganjax.steps import apply_train, finish_generator_update, generate, sample_latent

OBJECTIVES = ("cgan", "acgan", "sgan")
# Objectives whose generator takes labels (sgan's generator is unconditional).
CONDITIONAL_GENERATOR = ("cgan", "acgan")
SGAN_GENERATOR_LOSSES = ("feature_matching", "non_saturating")


# --------------------------------------------------------------------------- inputs


def sample_labels(rng, batch_size: int, num_classes: int) -> jax.Array:
  """Class ids drawn uniformly, int32 (batch_size,)."""
  return jax.random.randint(rng, (batch_size,), 0, num_classes, jnp.int32)


def takes_labels(module) -> bool:
  """Whether a generator or discriminator is called as module(x, labels, train=...)."""
  return isinstance(module, (ConditionalGenerator, ConditionalDiscriminator))


def class_grid_inputs(rng, *, num_classes: int, num_columns: int, latent_dim: int):
  """(z, labels) for a class-conditional grid of num_classes rows x num_columns columns.

  Row r asks for class r; column c uses the same z_c in every row, so the
  style stays fixed down a column while the class changes along it. Flattened
  row-major: example r * num_columns + c is (z_c, r).
  """
  z = sample_latent(rng, num_columns, latent_dim)
  return (jnp.tile(z, (num_classes, 1)),
          jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), num_columns))


def grid_columns(config, num_images: int | None = None) -> int:
  """Columns of the class grid: num_images (default num_sample_images) over the classes' rows."""
  num_images = config.num_sample_images if num_images is None else num_images
  return max(1, num_images // config.num_classes)


# --------------------------------------------------------------------------- state


def create_state(config, rng, generator_tx, discriminator_tx) -> GANState:
  """A fresh GANState for a conditional objective (pure: same rng, same state)."""
  generator, discriminator = models.build(config)
  y = jnp.zeros((1,), jnp.int32)

  def init(module, key, x):
    kwargs = {"labels": y} if takes_labels(module) else {}
    variables = module.init(key, x, train=False, **kwargs)
    return variables["params"], variables.get("batch_stats", {})

  g_rng, d_rng = jax.random.split(rng)
  g_params, g_stats = init(generator, g_rng, jnp.zeros((1, config.latent_dim)))
  shape = (1, config.resolution, config.resolution, config.channels)
  d_params, d_stats = init(discriminator, d_rng, jnp.zeros(shape))
  g = NetState.create(apply_fn=generator.apply, params=g_params, tx=generator_tx,
                      batch_stats=g_stats)
  d = NetState.create(apply_fn=discriminator.apply, params=d_params, tx=discriminator_tx,
                      batch_stats=d_stats)
  ema = jax.tree.map(jnp.copy, g_params) if config.ema_decay > 0 else None
  return GANState(step=jnp.zeros((), jnp.int32), generator=g, discriminator=d,
                  ema_params=ema)


def make_sampler(config):
  """A jitted fn(state, z, labels=None) -> images from a class-conditional generator.

  `labels=None` asks for the classes in turn (0, 1, ..., K-1, 0, ...), so code
  written for unconditional samplers, fn(state, z), gets a balanced sample.
  """
  generator, _ = models.build(config)
  num_classes = config.num_classes

  @jax.jit
  def sample(state, z, labels=None):
    if labels is None:
      labels = jnp.arange(z.shape[0], dtype=jnp.int32) % num_classes
    return generator.apply(state.sampling_variables(), z, labels=labels, train=False)

  return sample


# --------------------------------------------------------------------------- the common loop


def _alternating_step(state: GANState, batch, rng, *, generator_inputs: Callable,
                      d_loss: Callable, g_loss: Callable, ema_decay: float | None):
  """d_steps discriminator updates, then one generator update reusing the last fake batch.

  Args:
    generator_inputs: fn(key, n) -> (z, kwargs): G's inputs; kwargs holds
      the requested labels for a conditional generator.
    d_loss: fn(params, d, minibatch, fake, gen_kwargs, key) -> (loss, (batch_stats,
      metrics)), differentiated with respect to D's params.
    g_loss: fn(fake, d, minibatch, gen_kwargs, key) -> (loss, metrics),
      differentiated with respect to the generated images.
  """
  num_minibatches, batch_size = batch["image"].shape[:2]
  keys = jax.random.split(jax.random.fold_in(rng, state.step), num_minibatches)
  g = state.generator

  def d_update(d: NetState, minibatch, fake, gen_kwargs, key):
    (loss, (stats, metrics)), grads = jax.value_and_grad(d_loss, has_aux=True)(
        d.params, d, minibatch, fake, gen_kwargs, key)
    return d.apply_gradients(grads=grads).replace(batch_stats=stats), {"d_loss": loss,
                                                                        **metrics}

  def critic(d, inputs):
    minibatch, key = inputs
    input_key, d_key = jax.random.split(key)
    z, gen_kwargs = generator_inputs(input_key, batch_size)
    fake, _ = generate(g, g.params, z, **gen_kwargs)  # G's statistics: only its update's.
    return d_update(d, minibatch, fake, gen_kwargs, d_key)

  d, _ = jax.lax.scan(critic, state.discriminator,
                      (jax.tree.map(lambda x: x[:-1], batch), keys[:-1]))
  last = jax.tree.map(lambda x: x[-1], batch)
  input_key, d_key, g_key = jax.random.split(keys[-1], 3)
  z, gen_kwargs = generator_inputs(input_key, batch_size)
  fake, g_vjp, g_stats = jax.vjp(lambda p: generate(g, p, z, **gen_kwargs), g.params,
                                 has_aux=True)
  d, metrics = d_update(d, last, fake, gen_kwargs, d_key)
  (loss, g_metrics), fake_grad = jax.value_and_grad(g_loss, has_aux=True)(
      fake, d, last, gen_kwargs, g_key)
  (g_grads,) = g_vjp(fake_grad)
  state = finish_generator_update(state, g, d, g_grads, g_stats, ema_decay=ema_decay)
  return state, {**metrics, **g_metrics, "g_loss": loss}


def _conditional_inputs(latent_dim: int, num_classes: int):
  def inputs(key, n):
    z_key, y_key = jax.random.split(key)
    return sample_latent(z_key, n, latent_dim), {"labels": sample_labels(y_key, n, num_classes)}
  return inputs


def _dropout(key):
  return {"rngs": {"dropout": key}}


def _accuracy(class_logits, labels):
  return jnp.mean(jnp.argmax(class_logits, axis=-1) == labels)


# --------------------------------------------------------------------------- cgan


def cgan_step(state: GANState, batch, rng, *, g_loss_fn, d_loss_fn, latent_dim: int,
              num_classes: int, ema_decay: float | None = None):
  """Conditional GAN: D judges (image, label) pairs; G draws the label it is given.

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
    real_logits, stats = apply_train(d, params, minibatch["image"], labels=minibatch["label"],
                                     **_dropout(real_key))
    fake_logits, stats = apply_train(d, params, fake, stats, labels=gen_kwargs["labels"],
                                     **_dropout(fake_key))
    return d_loss_fn(real_logits, fake_logits), (stats, {
        "d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)})

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    logits, _ = apply_train(d, d.params, fake, labels=gen_kwargs["labels"], **_dropout(key))
    return g_loss_fn(logits), {}

  return _alternating_step(state, batch, rng,
                           generator_inputs=_conditional_inputs(latent_dim, num_classes),
                           d_loss=d_loss, g_loss=g_loss, ema_decay=ema_decay)


# --------------------------------------------------------------------------- acgan


def acgan_step(state: GANState, batch, rng, *, g_loss_fn, d_loss_fn, latent_dim: int,
               num_classes: int, class_loss_weight: float = 1.0,
               ema_decay: float | None = None):
  """ACGAN: D tells real from fake and names the class; G's images must be named right.

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
    (real_src, real_cls), stats = apply_train(d, params, minibatch["image"],
                                              **_dropout(real_key))
    (fake_src, fake_cls), stats = apply_train(d, params, fake, stats, **_dropout(fake_key))
    real_ce = losses.auxiliary_classifier_loss(real_cls, minibatch["label"])
    fake_ce = losses.auxiliary_classifier_loss(fake_cls, gen_kwargs["labels"])
    loss = d_loss_fn(real_src, fake_src) + class_loss_weight * (real_ce + fake_ce)
    return loss, (stats, {
        "d_real_logit": jnp.mean(real_src), "d_fake_logit": jnp.mean(fake_src),
        "d_class_loss_real": real_ce, "d_class_loss_fake": fake_ce,
        "d_class_accuracy_real": _accuracy(real_cls, minibatch["label"]),
        "d_class_accuracy_fake": _accuracy(fake_cls, gen_kwargs["labels"])})

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    (source, classes), _ = apply_train(d, d.params, fake, **_dropout(key))
    class_loss = losses.auxiliary_classifier_loss(classes, gen_kwargs["labels"])
    return g_loss_fn(source) + class_loss_weight * class_loss, {"g_class_loss": class_loss}

  return _alternating_step(state, batch, rng,
                           generator_inputs=_conditional_inputs(latent_dim, num_classes),
                           d_loss=d_loss, g_loss=g_loss, ema_decay=ema_decay)


# --------------------------------------------------------------------------- sgan


def discriminator_features(d: NetState, params, x, key):
  """D's sown features of x in train mode, (B, F) (no update of its statistics)."""
  _, mutated = d.apply_fn(d.variables(params), x, train=True,
                          mutable=["batch_stats", "intermediates"], **_dropout(key))
  return mutated["intermediates"]["features"][0]


def sgan_step(state: GANState, batch, rng, *, latent_dim: int,
              unsupervised_weight: float = 1.0, generator_loss: str = "feature_matching",
              ema_decay: float | None = None):
  """Semi-supervised GAN: a (K+1)-class discriminator, a feature-matching generator.

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
    generator_loss: one of SGAN_GENERATOR_LOSSES.
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).

  Returns:
    (new state, metrics): d_loss, g_loss, D's supervised and unsupervised
    losses, its accuracy on the labelled minibatch, mean real/fake logits
    (logsumexp of the class logits).
  """
  if generator_loss not in SGAN_GENERATOR_LOSSES:
    raise ValueError(f"generator_loss must be one of {SGAN_GENERATOR_LOSSES}, "
                     f"got {generator_loss!r}")

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    del gen_kwargs
    keys = jax.random.split(key, 3)
    labeled, stats = apply_train(d, params, minibatch["labeled_image"], **_dropout(keys[0]))
    real, stats = apply_train(d, params, minibatch["image"], stats, **_dropout(keys[1]))
    gen, stats = apply_train(d, params, fake, stats, **_dropout(keys[2]))
    supervised = losses.auxiliary_classifier_loss(labeled, minibatch["labeled_label"])
    unsupervised = losses.semi_supervised_discriminator_loss(real, gen)
    return supervised + unsupervised_weight * unsupervised, (stats, {
        "d_supervised_loss": supervised, "d_unsupervised_loss": unsupervised,
        "d_labeled_accuracy": _accuracy(labeled, minibatch["labeled_label"]),
        "d_real_logit": jnp.mean(losses.semi_supervised_source_logits(real)),
        "d_fake_logit": jnp.mean(losses.semi_supervised_source_logits(gen))})

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    del gen_kwargs
    real_key, fake_key = jax.random.split(key)
    if generator_loss == "feature_matching":
      real_features = jax.lax.stop_gradient(
          discriminator_features(d, d.params, minibatch["image"], real_key))
      fake_features = discriminator_features(d, d.params, fake, fake_key)
      return losses.feature_matching_loss(real_features, fake_features), {}
    logits, _ = apply_train(d, d.params, fake, **_dropout(fake_key))
    return losses.semi_supervised_generator_loss(logits), {}

  def generator_inputs(key, n):
    return sample_latent(key, n, latent_dim), {}

  return _alternating_step(state, batch, rng, generator_inputs=generator_inputs,
                           d_loss=d_loss, g_loss=g_loss, ema_decay=ema_decay)


# --------------------------------------------------------------------------- from a config


def check_config(config):
  """ValueError, in one line, for a conditional config ganjax cannot train."""
  if config.objective not in OBJECTIVES:
    raise ValueError(f"not a conditional objective: {config.objective!r}")
  if config.num_classes < 2:
    raise ValueError(f"num_classes must be >= 2, got {config.num_classes}")
  if config.get("pack", 1) != 1 or config.get("minibatch_kernels", 0):
    raise ValueError(f"{config.objective} builds its own discriminators: pack and "
                     f"minibatch_kernels (unconditional remedies) must stay off")
  if config.objective == "sgan":
    k, n = config.num_classes, config.num_labeled
    if n < k or n % k:
      raise ValueError(f"sgan keeps num_labeled labels, balanced over the classes: it must be "
                       f"a positive multiple of num_classes={k}, got {n}")
    if config.labeled_batch_size < 1:
      raise ValueError(f"labeled_batch_size must be >= 1, got {config.labeled_batch_size}")
    if config.get("sgan_generator_loss", "feature_matching") not in SGAN_GENERATOR_LOSSES:
      raise ValueError(f"sgan_generator_loss must be one of {', '.join(SGAN_GENERATOR_LOSSES)},"
                       f" got {config.sgan_generator_loss!r}")


def build_step(config, loss_pair):
  """The step of conditional `config.objective`; `loss_pair` = (g_loss_fn, d_loss_fn)."""
  check_config(config)
  models.build(config)  # Fails here, in one line, on a model the objective cannot use.
  g_loss_fn, d_loss_fn = loss_pair
  ema_decay = config.ema_decay or None
  if config.objective == "cgan":
    return functools.partial(cgan_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                             latent_dim=config.latent_dim, num_classes=config.num_classes,
                             ema_decay=ema_decay)
  if config.objective == "acgan":
    return functools.partial(acgan_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                             latent_dim=config.latent_dim, num_classes=config.num_classes,
                             class_loss_weight=config.get("class_loss_weight", 1.0),
                             ema_decay=ema_decay)
  return functools.partial(sgan_step, latent_dim=config.latent_dim,
                           unsupervised_weight=config.get("unsupervised_weight", 1.0),
                           generator_loss=config.get("sgan_generator_loss",
                                                     "feature_matching"),
                           ema_decay=ema_decay)
