"""The unconditional GAN: vanilla GAN, DCGAN, LSGAN, WGAN, WGAN-GP, hinge, feature matching.

One family whose step kind (`config.objective`) and loss pair (`config.loss`)
come from the config; the networks are `config.model`'s (MLPs or DCGAN), with
the mode-collapse remedies as switches of the discriminator.

Step kinds, each `step(state, batch, rng) -> (state, metrics)` over
`batch['image']` of shape (d_steps, B, ...), all built on ganjax.steps.alternate:

- adversarial: any loss pair of ganjax.losses (Goodfellow et al. 2014; Radford
  et al. 2016; Mao et al. 2017; Lim & Ye 2017).
- weight_clipping: WGAN (Arjovsky et al. 2017).
- gradient_penalty: WGAN-GP (Gulrajani et al. 2017).
- feature_matching: Salimans et al. 2016, section 3.1.

Every kind takes `diff_augment`, a DiffAugment policy (ganjax.augment; Zhao et
al. 2020): D then sees T(x) and T(G(z)) in both losses, never a plain image.
"""

import functools

import jax
import jax.numpy as jnp

from ganjax import augment, losses, steps
from ganjax.config import ConfigError
from ganjax.families import base
from ganjax.models.dcgan import DCGANDiscriminator, info_code_of
from ganjax.models.mlp import MLPDiscriminator
from ganjax.state import GANState, create_gan_state

LossFn = steps.LossFn


# --------------------------------------------------------------------------- DiffAugment
# Zhao et al. 2020: T before D on every image it sees, real and generated, in D's loss and
# in G's. The loop hands each loss a key (steps.alternate: one per D update, one for G's);
# T's draws are folded off it, so with a policy of "" nothing draws differently.

_DIFF_AUGMENT_STREAM = 0xD1FF  # Folded into a loss's key for T's draws.


def augment_keys(key):
  """(real, fake, penalty): the keys of T's draws in a loss the loop handed `key`.

  Folded off `key`, not split from it: the loss's own use of `key` (WGAN-GP's
  interpolates) draws the same with and without DiffAugment.
  """
  return tuple(jax.random.split(jax.random.fold_in(key, _DIFF_AUGMENT_STREAM), 3))


def augmented_d_loss(d_loss_fn: LossFn, policy: str, *, regularizer=None):
  """The loop's d_loss on T's views: d_loss_fn(D(T(x)), D(T'(G(z)))) [+ regularizer].

  T, T' independent draws (`augment_keys`); policy "" is steps.adversarial_d_loss
  itself. The regularizer is handed the PLAIN images and differentiates D(T(x)) at
  them (`_critic`), as the reference's R1 (`ns_DiffAugment_r1`) does.
  """
  if not policy:
    return steps.adversarial_d_loss(d_loss_fn, regularizer=regularizer)

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    real_key, fake_key, _ = augment_keys(key)
    real = minibatch["image"]
    # The penalty gets the plain images, not the views D's loss judges.
    on_plain = None if regularizer is None else (
        lambda p, stats, _real, _fake, k, t: regularizer(p, stats, real, fake, k, t))
    seen = {**minibatch, "image": augment.diff_augment(real_key, real, policy)}
    return steps.adversarial_d_loss(d_loss_fn, regularizer=on_plain)(
        params, d, seen, augment.diff_augment(fake_key, fake, policy), gen_kwargs, key)

  return d_loss


def top_k_fraction(num_d_updates, final: float, decay: float):
  """max(final, decay^t) after t discriminator updates: the share of each generated batch
  top-k training keeps (Sinha et al. 2020 anneal k from B to final x B)."""
  t = jnp.asarray(num_d_updates, jnp.float32)
  return jnp.maximum(final, decay ** t)


def top_k_g_loss(g_loss_fn: LossFn, final: float, decay: float):
  """The loop's g_loss on the k generated samples D scores highest, k = ceil(B x
  top_k_fraction(D's updates so far)); the others get no gradient.

      L_G = mean over the top k of D(G(z_i)) of l(D(G(z_i)))

  with l the per-example form of `g_loss_fn` (a mean over the batch). The samples D
  finds least realistic are the ones between modes: ignoring them lets G pull the rest
  onto the data. Sinha, Zhao, Goyal, Raffel & Odena 2020, "Top-k Training of GANs:
  Improving GAN Performance by Throwing Away Bad Samples", https://arxiv.org/abs/2002.06224.
  """

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    del minibatch, gen_kwargs, key
    logits, _ = steps.apply_train(d, d.params, fake)
    per_example = jax.vmap(lambda l: g_loss_fn(l[None]))(logits)
    b = logits.shape[0]
    k = jnp.ceil(b * top_k_fraction(d.step, final, decay))
    rank = jnp.argsort(jnp.argsort(-jax.lax.stop_gradient(logits)))  # 0 = most real.
    keep = (rank < k).astype(per_example.dtype)
    return jnp.sum(keep * per_example) / k, {"top_k": k}

  return g_loss


def augmented_g_loss(g_loss_fn: LossFn, policy: str, top_k=None):
  """The loop's g_loss on T(G(z)): g_loss_fn(D(T(G(z)))), G's gradient through T; with
  `top_k` = (final, decay), on the top k of them only (`top_k_g_loss`)."""
  g_loss = (steps.adversarial_g_loss(g_loss_fn) if top_k is None
            else top_k_g_loss(g_loss_fn, *top_k))
  if not policy:
    return g_loss

  def loss(fake, d, minibatch, gen_kwargs, key):
    fake = augment.diff_augment(augment_keys(key)[1], fake, policy)
    return g_loss(fake, d, minibatch, gen_kwargs, key)

  return loss


def _critic(apply_fn, policy: str, key, draw: int):
  """D in inference mode, `fn(variables, x)`, as a penalty differentiates it.

  Under DiffAugment D(T(x)), with T the `draw` of augment_keys(key): 0 the reals'.
  """
  if not policy:
    return lambda v, x: apply_fn(v, x, train=False)
  view_key = augment_keys(key)[draw]
  return lambda v, x: apply_fn(v, augment.diff_augment(view_key, x, policy), train=False)


# --------------------------------------------------------------------------- InfoGAN
# Chen et al. 2016: a categorical code c, here c = argmax of z's first K coordinates
# (models.dcgan.info_code_of), and a head Q on D's features that must recover c from G(z, c).
# D (with Q) and G both minimise lambda CE(Q(G(z, c)), c), a lower bound of -I(c; G(z, c)).


def info_inputs(latent_dim: int, categories: int):
  """The loop's `generator_inputs`: z ~ N(0, I) and its code c, passed to G."""

  def inputs(key, minibatch):
    z = steps.sample_latent(key, steps.batch_size_of(minibatch), latent_dim)
    return z, {"info_code": info_code_of(z, categories)}

  return inputs


def apply_with_info(d, params, x, batch_stats=None):
  """(D's logits, Q's logits, new batch_stats): one pass of D in train mode, Q's logits
  read from its sown `intermediates/info_logits`."""
  logits, stats, sown = steps.apply_train_sown(d, params, x, batch_stats, sown=True)
  (q_logits,) = sown["info_logits"]
  return logits, q_logits, stats


def info_d_loss(d_loss_fn: LossFn, weight: float):
  """The loop's d_loss: d_loss_fn(D(x), D(G(z, c))) + weight * CE(Q(G(z, c)), c), Q's
  params being D's; Q reads the same pass of D over G's batch as D's loss does."""

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    del key
    real_logits, stats = steps.apply_train(d, params, minibatch["image"])
    fake_logits, q_logits, stats = apply_with_info(d, params, fake, stats)
    ce = losses.auxiliary_classifier_loss(q_logits, gen_kwargs["info_code"])
    return d_loss_fn(real_logits, fake_logits) + weight * ce, (stats, {
        "d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits),
        "d_info_loss": ce})

  return d_loss


def info_g_loss(g_loss_fn: LossFn, weight: float):
  """The loop's g_loss: g_loss_fn(D(G(z, c))) + weight * CE(Q(G(z, c)), c), one pass of D."""

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    del minibatch, key
    logits, q_logits, _ = apply_with_info(d, d.params, fake)
    ce = losses.auxiliary_classifier_loss(q_logits, gen_kwargs["info_code"])
    return g_loss_fn(logits) + weight * ce, {"g_info_loss": ce}

  return g_loss


# --------------------------------------------------------------------------- steps


def adversarial_step(state: GANState, batch, rng, *, g_loss_fn: LossFn, d_loss_fn: LossFn,
                     latent_dim: int, ema_decay: float | None = None, diff_augment: str = "",
                     top_k=None, info=None):
  """Alternating GAN training with any (generator, discriminator) loss pair.

  For d_steps = batch['image'].shape[0]: d_steps updates of D on
  d_loss_fn(D(x), D(G(z))), then one of G on g_loss_fn(D(G(z))); with a
  `diff_augment` policy, D sees T(x) and T(G(z)) instead (fresh draws each time).

  Args:
    state: the GANState.
    batch: {'image': (d_steps, B, H, W, C)}.
    rng: a PRNG key, folded with the step so every step draws afresh.
    g_loss_fn: `fn(discriminator_gen_outputs) -> scalar`.
    d_loss_fn: `fn(discriminator_real_outputs, discriminator_gen_outputs) -> scalar`.
    latent_dim: size of z.
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).
    diff_augment: a DiffAugment policy (ganjax.augment); "" = D sees plain images.
    top_k: (final share, decay) of top-k training (`top_k_g_loss`); None = off.
    info: (K, lambda) of InfoGAN's code (`info_d_loss`, `info_g_loss`); None = off.

  Returns:
    (new state, metrics): losses and mean logits of the last D update.
  """
  d_loss = augmented_d_loss(d_loss_fn, diff_augment)
  g_loss = augmented_g_loss(g_loss_fn, diff_augment, top_k)
  inputs = steps.latent_inputs(latent_dim)
  if info is not None:  # On plain images, every sample (check_config).
    categories, weight = info
    inputs = info_inputs(latent_dim, categories)
    d_loss, g_loss = info_d_loss(d_loss_fn, weight), info_g_loss(g_loss_fn, weight)
  return steps.alternate(state, batch, rng, generator_inputs=inputs, d_loss=d_loss,
                         g_loss=g_loss, ema_decay=ema_decay)


def clip_params(params, clip: float):
  """Every parameter clipped to [-clip, clip]."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


def weight_clipping_step(state: GANState, batch, rng, *, g_loss_fn: LossFn,
                         d_loss_fn: LossFn, latent_dim: int, clip: float,
                         ema_decay: float | None = None, diff_augment: str = "",
                         top_k=None):
  """WGAN: the critic's params are clipped to [-clip, clip] after EVERY update.

  Clipping keeps the critic (roughly) K-Lipschitz, so its loss estimates the
  Wasserstein-1 distance up to a constant. Arjovsky, Chintala & Bottou 2017,
  "Wasserstein GAN", Algorithm 1 (c = 0.01, 5 critic steps, RMSProp 5e-5),
  https://arxiv.org/abs/1701.07875.
  """
  return steps.alternate(state, batch, rng, generator_inputs=steps.latent_inputs(latent_dim),
                         d_loss=augmented_d_loss(d_loss_fn, diff_augment),
                         g_loss=augmented_g_loss(g_loss_fn, diff_augment, top_k),
                         constrain_d=lambda d: d.replace(params=clip_params(d.params, clip)),
                         ema_decay=ema_decay)


def gradient_penalty_step(state: GANState, batch, rng, *, g_loss_fn: LossFn,
                          d_loss_fn: LossFn, latent_dim: int, weight: float,
                          ema_decay: float | None = None, diff_augment: str = "",
                         top_k=None):
  """WGAN-GP: the critic's loss plus `weight` * the gradient penalty.

      L_D = d_loss_fn(D(x), D(G(z))) + lambda * E[(||grad D(x_hat)||_2 - 1)^2]

  on random interpolates x_hat of real and generated batches
  (`ganjax.losses.gradient_penalty`). The critic must not use BatchNorm: the
  penalty is per example. Gulrajani et al. 2017, "Improved Training of
  Wasserstein GANs" (lambda = 10, 5 critic steps, Adam 1e-4, betas (0, 0.9)),
  https://arxiv.org/abs/1704.00028. Under DiffAugment the critic is D(T(.)): the
  interpolates are of the plain images, behind a third draw of T.
  """
  apply_fn = state.discriminator.apply_fn

  def penalty(params, batch_stats, real, fake, key, step):
    del step
    variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
    critic = _critic(apply_fn, diff_augment, key, draw=2)
    return weight * losses.gradient_penalty(critic, variables, real, fake, key)

  return steps.alternate(state, batch, rng, generator_inputs=steps.latent_inputs(latent_dim),
                         d_loss=augmented_d_loss(d_loss_fn, diff_augment, regularizer=penalty),
                         g_loss=augmented_g_loss(g_loss_fn, diff_augment, top_k),
                         ema_decay=ema_decay)


def r1_step(state: GANState, batch, rng, *, g_loss_fn: LossFn, d_loss_fn: LossFn,
            latent_dim: int, gamma: float, interval: int, ema_decay: float | None = None,
            diff_augment: str = "", top_k=None):
  """D's loss plus the R1 penalty on real data, lazily every `interval` D updates.

      L_D = d_loss_fn(D(x), D(G(z))) + [t mod k = 0] k gamma / 2 E ||grad_x D(x)||^2

  R1 penalises D's gradient on the data only, which makes the Dirac-GAN dynamics converge
  (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
  https://arxiv.org/abs/1801.04406). The lazy form (k > 1) computes it every k-th update
  scaled by k, the same penalty on average at a k-th of the cost (Karras et al. 2020,
  StyleGAN2, k = 16). As for WGAN-GP, the penalty is per example: no BatchNorm in D.
  Under DiffAugment it is ||grad_x D(T(x))||^2 at the plain reals, T the draw D's
  loss saw them through, as the reference's StyleGAN2 code (`ns_DiffAugment_r1`).
  """
  apply_fn = state.discriminator.apply_fn

  def penalty(params, batch_stats, real, fake, key, step):
    del fake
    variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
    critic = _critic(apply_fn, diff_augment, key, draw=0)  # The draw D's loss used.

    def r1():
      return interval * gamma / 2 * losses.r1_penalty(critic, variables, real)

    if interval == 1:
      return r1()
    if jax.default_backend() == "cpu":
      # A product, not a branch: XLA:CPU runs the convolutions inside a conditional as
      # naive loops (layouts are canonicalised in the entry computation only; see
      # steps.alternate), which made interval 4 slower than interval 1 (1.4 vs 2.0
      # steps/s on the digits DCGAN). Every update pays for the penalty here.
      return jnp.where(step % interval == 0, r1(), 0.0)
    # A branch elsewhere: the skipped updates do not pay for the double backward.
    return jax.lax.cond(step % interval == 0, r1, lambda: jnp.zeros((), jnp.float32))

  return steps.alternate(state, batch, rng, generator_inputs=steps.latent_inputs(latent_dim),
                         d_loss=augmented_d_loss(d_loss_fn, diff_augment, regularizer=penalty),
                         g_loss=augmented_g_loss(g_loss_fn, diff_augment, top_k),
                         ema_decay=ema_decay)


def feature_matching_step(state: GANState, batch, rng, *, d_loss_fn: LossFn,
                          latent_dim: int, ema_decay: float | None = None,
                          diff_augment: str = ""):
  """Feature matching: G matches the batch mean of D's features on real data.

      L_G = || mean_i f(x_i) - mean_j f(G(z_j)) ||_2^2

  with f the discriminator's sown `intermediates/features` (its last hidden
  layer), after D's update; D trains on `d_loss_fn` as usual. Salimans et al.
  2016, "Improved Techniques for Training GANs", section 3.1,
  https://arxiv.org/abs/1606.03498. Under DiffAugment f sees T(x) and T'(G(z)).
  """

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    del gen_kwargs
    real = minibatch["image"]
    if diff_augment:
      real_key, fake_key, _ = augment_keys(key)
      real = augment.diff_augment(real_key, real, diff_augment)
      fake = augment.diff_augment(fake_key, fake, diff_augment)
    real_features = jax.lax.stop_gradient(steps.discriminator_features(d, d.params, real))
    fake_features = steps.discriminator_features(d, d.params, fake)
    return losses.feature_matching_loss(real_features, fake_features), {}

  return steps.alternate(state, batch, rng, generator_inputs=steps.latent_inputs(latent_dim),
                         d_loss=augmented_d_loss(d_loss_fn, diff_augment), g_loss=g_loss,
                         ema_decay=ema_decay)


def _adversarial(config, g_loss_fn, d_loss_fn):
  info = (config.info_categories, config.info_weight) if config.info_categories else None
  return functools.partial(adversarial_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                           info=info)


def _weight_clipping(config, g_loss_fn, d_loss_fn):
  return functools.partial(weight_clipping_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                           clip=config.weight_clip)


def _gradient_penalty(config, g_loss_fn, d_loss_fn):
  return functools.partial(gradient_penalty_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                           weight=config.gp_weight)


def _r1(config, g_loss_fn, d_loss_fn):
  return functools.partial(r1_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                           gamma=config.r1_gamma, interval=config.r1_interval)


def _feature_matching(config, g_loss_fn, d_loss_fn):
  del config, g_loss_fn  # G's loss is feature matching; D's comes from config.loss.
  return functools.partial(feature_matching_step, d_loss_fn=d_loss_fn)


# config.objective -> fn(config, g_loss_fn, d_loss_fn) -> step without latent_dim/ema_decay
STEP_KINDS = {"adversarial": _adversarial, "weight_clipping": _weight_clipping,
              "gradient_penalty": _gradient_penalty, "feature_matching": _feature_matching,
              "r1": _r1}


# --------------------------------------------------------------------------- the family

# Losses whose D logit estimates log p_data / p_g at the optimum, as rejection sampling needs.
DRS_LOSSES = ("non_saturating", "minimax")


def check_drs_config(config) -> None:
  """drs_keep in (0, 1], and where < 1 a D whose logit is a log density ratio of single
  samples (the logistic loss; no packing or minibatch features)."""
  if not 0 < config.drs_keep <= 1:
    raise ConfigError(f"drs_keep must be in (0, 1] (1 = off), got {config.drs_keep}")
  if config.drs_calibration_steps < 0 or not config.drs_calibration_lr > 0:
    raise ConfigError(f"drs_calibration_steps must be >= 0 and drs_calibration_lr > 0, got "
                      f"{config.drs_calibration_steps} and {config.drs_calibration_lr}")
  if config.drs_keep == 1:
    return
  if config.loss not in DRS_LOSSES:
    raise ConfigError(f"drs_keep < 1 reads D's logit as log p_data/p_g, which only the "
                      f"{' and '.join(DRS_LOSSES)} losses train; got loss {config.loss!r}: "
                      f"set drs_keep=1 (off)")
  if config.pack > 1 or config.minibatch_kernels:
    raise ConfigError("drs_keep < 1 scores single samples: D must judge one sample at a "
                      "time (pack=1, minibatch_kernels=0)")



class GAN(base.Family):
  """z -> image GANs; the step kind and the loss are config fields."""

  name = "gan"
  mixed_precision = True

  def fields(self) -> dict:
    return dict(
        base.zx_fields(),
        objective="adversarial",    # the step kind: one of STEP_KINDS
        weight_clip=0.01,           # objective weight_clipping (WGAN): critic params in [-c, c]
        gp_weight=10.0,             # objective gradient_penalty (WGAN-GP): lambda
        r1_gamma=10.0,              # objective r1: gamma of (gamma / 2) E||grad D(x_real)||^2
        r1_interval=1,              # objective r1: penalise every k-th D update, times k (lazy)
        # Mode-collapse remedies for the discriminator (feature matching is a step kind).
        minibatch_kernels=0,        # minibatch discrimination: B kernels; 0 = off
        minibatch_kernel_dim=5,     # minibatch discrimination: the size C of each projection
        pack=1,                     # PacGAN: D judges `pack` samples at once; 1 = off
        diff_augment="",            # DiffAugment's T before D: "" = off; "color,translation,cutout"
        top_k=1.0,                  # top-k training: G learns from this share of its batch; 1 = off
        top_k_decay=0.999,          # top-k: the share kept is max(top_k, decay^(D updates))
        drs_keep=1.0,               # evaluation samples by discriminator rejection: the share
                                    # of G's samples kept (ganjax.rejection); 1 = off
        drs_calibration_steps=0,    # DRS: D's extra updates against the sampling G, G fixed
        drs_calibration_lr=3e-4,    # DRS: Adam's learning rate of those updates
        info_categories=0,          # InfoGAN: a categorical code of K values in z; 0 = off
        info_weight=1.0,            # InfoGAN: lambda of the code's cross-entropy
    )

  def check_config(self, config):
    super().check_config(config)
    base.check_zx_config(config)
    if config.objective not in STEP_KINDS:
      raise ConfigError(f"unknown objective {config.objective!r}; "
                        f"valid: {', '.join(STEP_KINDS)}")
    if config.pack < 1 or config.batch_size % config.pack:
      raise ConfigError(f"pack must be >= 1 and divide batch_size {config.batch_size}, "
                        f"got {config.pack}")
    if config.minibatch_kernels < 0 or config.minibatch_kernel_dim < 1:
      raise ConfigError("minibatch_kernels must be >= 0 and minibatch_kernel_dim >= 1")
    try:
      augment.check_policy(config.diff_augment)
    except ValueError as e:
      raise ConfigError(f"diff_augment: {e}") from None
    if config.diff_augment and len(self.example_shape(config)) != 3:
      raise ConfigError(f"diff_augment transforms images (H, W, C); family {self.name!r} "
                        f"trains on examples of shape {self.example_shape(config)}")
    if not (0 < config.top_k <= 1 and 0 < config.top_k_decay <= 1):
      raise ConfigError(f"top_k and top_k_decay must be in (0, 1], got {config.top_k} and "
                        f"{config.top_k_decay}")
    if config.top_k < 1 and config.objective == "feature_matching":
      raise ConfigError("top_k ranks G's samples by D's score; feature matching's G loss "
                        "has none: set top_k=1")
    check_drs_config(config)
    if config.info_categories:
      if not 2 <= config.info_categories <= config.latent_dim:
        raise ConfigError(f"info_categories must be 0 (off) or in [2, latent_dim="
                          f"{config.latent_dim}], got {config.info_categories}")
      if config.model != "dcgan" or config.objective != "adversarial":
        raise ConfigError("info_categories (InfoGAN's code) needs model dcgan and objective "
                          f"adversarial, got {config.model!r} and {config.objective!r}")
      if config.diff_augment or config.top_k < 1 or config.pack > 1:
        raise ConfigError("info_categories (InfoGAN's code) names the code of each plain "
                          "sample: set diff_augment='', top_k=1 and pack=1")
    if config.objective == "weight_clipping" and not config.weight_clip > 0:
      raise ConfigError(f"weight_clip must be > 0, got {config.weight_clip}")
    if config.objective == "r1" and not (config.r1_gamma > 0 and config.r1_interval >= 1):
      raise ConfigError(f"objective r1 needs r1_gamma > 0 and r1_interval >= 1, got "
                        f"{config.r1_gamma} and {config.r1_interval}")
    if config.objective in ("gradient_penalty", "r1"):
      if config.model == "dcgan" and config.d_normalization == "batch":
        raise ConfigError(f"the {'R1' if config.objective == 'r1' else 'gradient'} penalty "
                          "is per example and needs a critic without BatchNorm: set "
                          "d_normalization to 'layer' or 'none'")
      if config.minibatch_kernels:
        raise ConfigError("the gradient penalty is per example; minibatch discrimination "
                          "couples the examples: set minibatch_kernels=0")

  def example_shape(self, config) -> tuple[int, ...]:
    """The shape of one training example."""
    return base.image_shape(config)

  def networks(self, config):
    """(generator, discriminator) of `config.model`, with the remedies switched on."""
    remedies = dict(pack=config.pack, minibatch_kernels=config.minibatch_kernels,
                    minibatch_kernel_dim=config.minibatch_kernel_dim,
                    spectral_norm=config.spectral_norm)
    if config.model == "dcgan":
      return (base.image_generator(config),
              DCGANDiscriminator(resolution=config.resolution, width=config.width,
                                 normalization=config.d_normalization,
                                 info_categories=config.info_categories, **remedies))
    return self.mlp_generator(config), MLPDiscriminator(hidden=tuple(config.hidden), **remedies)

  def mlp_generator(self, config):
    return base.image_generator(config)

  def calibrate_discriminator(self, config, state, *, seed: int = 0):
    """`state` with D trained `drs_calibration_steps` more updates, G fixed: its loss on
    real batches against the sampling generator's samples (EMA weights, inference mode),
    Adam(drs_calibration_lr, the config's betas) from a fresh moment estimate.

    DRS reads D's logit as log p_data/p_g of the generator it samples from, which D only
    estimates for the live G it was trained against; Azadi et al. 2019 likewise train D
    further on the fixed G before rejection sampling.
    """
    if not config.drs_calibration_steps:
      return state
    import optax
    sampler = self.sampler(config)
    _, d_loss_fn = base.build_losses(config)
    tx = optax.adam(config.drs_calibration_lr, b1=config.optimizer.b1,
                    b2=config.optimizer.b2)
    d = state.discriminator
    d = d.replace(step=0, tx=tx, opt_state=tx.init(d.params))

    @jax.jit
    def update(d, generator_state, real, key):
      fake = sampler(generator_state, steps.sample_latent(key, real.shape[0],
                                                         config.latent_dim))
      return steps.discriminator_update(d, real, fake, d_loss_fn)[0]

    batches = self.train_batches(config, local_batch_size=config.batch_size)
    key = jax.random.fold_in(jax.random.key(seed), 0xCA1)
    for i in range(config.drs_calibration_steps):
      d = update(d, state, jnp.asarray(next(batches)["image"]), jax.random.fold_in(key, i))
    return state.replace(discriminator=d.replace(tx=state.discriminator.tx,
                                                 opt_state=state.discriminator.opt_state,
                                                 step=state.discriminator.step))

  def discriminator_logits(self, config):
    _, discriminator = self.networks(config)

    @jax.jit
    def logits(state, x):
      out = discriminator.apply(state.discriminator.variables(), x, train=False)
      return out.reshape(x.shape[0])

    return logits

  def create_state(self, config, rng) -> GANState:
    generator, discriminator = self.networks(config)
    g_tx, d_tx = base.build_optimizers(config)
    shape = (config.pack, *self.example_shape(config))  # A packing D needs a whole pack.
    return create_gan_state(rng, generator=generator, discriminator=discriminator,
                            generator_tx=g_tx, discriminator_tx=d_tx,
                            sample_z=jnp.zeros((1, config.latent_dim)),
                            sample_x=jnp.zeros(shape), use_ema=config.ema_decay > 0,
                            ema_batch_stats=config.ema_batch_stats,
                            compute_dtype=config.compute_dtype)

  def step(self, config):
    g_loss_fn, d_loss_fn = base.build_losses(config)
    step = STEP_KINDS[config.objective](config, g_loss_fn, d_loss_fn)
    if config.top_k < 1:
      step = functools.partial(step, top_k=(config.top_k, config.top_k_decay))
    return functools.partial(step, latent_dim=config.latent_dim,
                             ema_decay=config.ema_decay or None,
                             diff_augment=config.diff_augment)


FAMILY = GAN()
