"""Pure train steps: `step(state, batch, rng) -> (state, metrics)`.

One function per training objective; hyper-parameters are keyword arguments
bound with functools.partial before jit. Batches hold `d_steps` stacked real
minibatches, `batch['image']` of shape (d_steps, B, H, W, C): one per critic
update, as in WGAN's Algorithm 1.

The building blocks below are shared by the objectives:
- `generate` runs G in train mode (BatchNorm on the batch's statistics);
- `discriminator_update` takes one optimizer step of D on real and fake;
- the adversarial step runs G forward once per generator update, keeps its
  VJP, gives the sample to D's update (no gradient flows into G there) and
  then pulls D's input gradient back through the same VJP for G's update. No
  second generator forward pass and no gradient for D's params in G's update:
  work PyTorch's DCGAN example also avoids by reusing `fake`.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from ganjax import losses
from ganjax.state import GANState, NetState, update_ema

LossFn = Callable[..., jax.Array]


def sample_latent(rng, batch_size: int, latent_dim: int) -> jax.Array:
  """z ~ N(0, I) of shape (batch_size, latent_dim)."""
  return jax.random.normal(rng, (batch_size, latent_dim), jnp.float32)


def apply_train(net: NetState, params, x, batch_stats=None, **kwargs):
  """Applies a network in train mode; returns (output, new batch_stats)."""
  batch_stats = net.batch_stats if batch_stats is None else batch_stats
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
    out, mutated = net.apply_fn(variables, x, train=True, mutable=["batch_stats"], **kwargs)
    return out, mutated["batch_stats"]
  return net.apply_fn(variables, x, train=True, **kwargs), batch_stats


def generate(g: NetState, params, z, **kwargs):
  """G(z) in train mode: (images, new batch_stats)."""
  return apply_train(g, params, z, **kwargs)


def discriminator_update(d: NetState, real, fake, d_loss_fn: LossFn, *,
                         regularizer: Callable | None = None):
  """One optimizer step of D on `d_loss_fn(D(real), D(fake))`.

  Real and fake pass through D separately, so BatchNorm normalises each batch
  by its own statistics, as in the DCGAN paper's code.

  Args:
    regularizer: optional `fn(params, batch_stats) -> scalar` added to the
      loss (a gradient penalty, say), built by the caller.

  Returns:
    (new D state, metrics dict).
  """

  def loss_fn(params):
    real_logits, stats = apply_train(d, params, real)
    fake_logits, stats = apply_train(d, params, fake, stats)
    loss = d_loss_fn(real_logits, fake_logits)
    extra = {}
    if regularizer is not None:
      reg = regularizer(params, stats)
      extra["d_regularizer"] = reg
      loss = loss + reg
    return loss, (stats, real_logits, fake_logits, extra)

  (loss, (stats, real_logits, fake_logits, extra)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(d.params)
  d = d.apply_gradients(grads=grads).replace(batch_stats=stats)
  metrics = {"d_loss": loss, "d_real_logit": jnp.mean(real_logits),
             "d_fake_logit": jnp.mean(fake_logits), **extra}
  return d, metrics


def finish_generator_update(state: GANState, g: NetState, d: NetState, grads, g_stats,
                            *, ema_decay: float | None) -> GANState:
  """Applies G's gradients, advances the step and the EMA."""
  g = g.apply_gradients(grads=grads).replace(batch_stats=g_stats)
  ema = state.ema_params
  if ema is not None:
    ema = update_ema(ema, g.params, ema_decay)
  return state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema)


def critic_updates(state: GANState, images, keys, latent_dim: int, d_update: Callable):
  """Runs `d_update(d, real, fake, key)` over all but the last real minibatch.

  Each update draws a fresh z; G's statistics from these passes are dropped
  (only the generator update's pass counts). A lax.scan, so 5 critic steps
  compile once, not five times.
  """
  g = state.generator

  def body(d, inputs):
    real, key = inputs
    z_key, d_key = jax.random.split(key)
    fake, _ = generate(g, g.params, sample_latent(z_key, real.shape[0], latent_dim))
    return d_update(d, real, fake, d_key)

  return jax.lax.scan(body, state.discriminator, (images[:-1], keys[:-1]))


def adversarial_step(state: GANState, batch, rng, *, g_loss_fn: LossFn, d_loss_fn: LossFn,
                     latent_dim: int, ema_decay: float | None = None):
  """Alternating GAN training with any (generator, discriminator) loss pair.

  For d_steps = batch['image'].shape[0]: d_steps updates of D, then one of G,
  G's update reusing the last D update's generated batch.

  Args:
    state: the GANState.
    batch: {'image': (d_steps, B, H, W, C)}.
    rng: a PRNG key, folded with the step so every step draws afresh.
    g_loss_fn: `fn(discriminator_gen_outputs) -> scalar`.
    d_loss_fn: `fn(discriminator_real_outputs, discriminator_gen_outputs) -> scalar`.
    latent_dim: size of z.
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).

  Returns:
    (new state, metrics): losses and mean logits of the last D update.
  """
  images = batch["image"]
  keys = jax.random.split(jax.random.fold_in(rng, state.step), images.shape[0])

  def d_update(d, real, fake, key):
    del key
    return discriminator_update(d, real, fake, d_loss_fn)

  d, _ = critic_updates(state, images, keys, latent_dim, d_update)
  g = state.generator
  z = sample_latent(keys[-1], images.shape[1], latent_dim)
  fake, g_vjp, g_stats = jax.vjp(lambda p: generate(g, p, z), g.params, has_aux=True)
  d, metrics = d_update(d, images[-1], fake, None)

  def g_loss_of_fake(x):
    logits, _ = apply_train(d, d.params, x)
    return g_loss_fn(logits)

  g_loss, fake_grad = jax.value_and_grad(g_loss_of_fake)(fake)
  (g_grads,) = g_vjp(fake_grad)
  state = finish_generator_update(state, g, d, g_grads, g_stats, ema_decay=ema_decay)
  return state, {**metrics, "g_loss": g_loss}


# --------------------------------------------------------------------------- other objectives
# WGAN, WGAN-GP and feature matching: the adversarial step's alternation, with
# their own critic update (`d_update`) or generator loss (`g_loss`).


def alternate(state: GANState, batch, rng, *, d_update: Callable, g_loss: Callable,
              latent_dim: int, ema_decay: float | None = None):
  """d_steps critic updates `d_update(d, real, fake, key)`, then one G update.

  As `adversarial_step`, G runs forward once for the last critic update and
  G's update; G minimises `g_loss(d, fake, real) -> scalar` (a function of the
  updated D, the generated batch and the last real batch).
  """
  images = batch["image"]
  keys = jax.random.split(jax.random.fold_in(rng, state.step), images.shape[0])
  d, _ = critic_updates(state, images, keys, latent_dim, d_update)
  g = state.generator
  z_key, d_key = jax.random.split(keys[-1])
  z = sample_latent(z_key, images.shape[1], latent_dim)
  fake, g_vjp, g_stats = jax.vjp(lambda p: generate(g, p, z), g.params, has_aux=True)
  d, metrics = d_update(d, images[-1], fake, d_key)
  g_value, fake_grad = jax.value_and_grad(lambda x: g_loss(d, x, images[-1]))(fake)
  (g_grads,) = g_vjp(fake_grad)
  state = finish_generator_update(state, g, d, g_grads, g_stats, ema_decay=ema_decay)
  return state, {**metrics, "g_loss": g_value}


def _adversarial_g_loss(g_loss_fn: LossFn):
  def g_loss(d, fake, real):
    del real
    logits, _ = apply_train(d, d.params, fake)
    return g_loss_fn(logits)
  return g_loss


def clip_params(params, clip: float):
  """Every parameter clipped to [-clip, clip]."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


def weight_clipping_step(state: GANState, batch, rng, *, g_loss_fn: LossFn,
                         d_loss_fn: LossFn, latent_dim: int, clip: float,
                         ema_decay: float | None = None):
  """WGAN: the critic's params are clipped to [-clip, clip] after EVERY update.

  Clipping keeps the critic (roughly) K-Lipschitz, so its loss estimates the
  Wasserstein-1 distance up to a constant. Arjovsky, Chintala & Bottou 2017,
  "Wasserstein GAN", Algorithm 1 (c = 0.01, 5 critic steps, RMSProp 5e-5),
  https://arxiv.org/abs/1701.07875.
  """

  def d_update(d, real, fake, key):
    del key
    d, metrics = discriminator_update(d, real, fake, d_loss_fn)
    return d.replace(params=clip_params(d.params, clip)), metrics

  return alternate(state, batch, rng, d_update=d_update, g_loss=_adversarial_g_loss(g_loss_fn),
                   latent_dim=latent_dim, ema_decay=ema_decay)


def gradient_penalty_step(state: GANState, batch, rng, *, g_loss_fn: LossFn,
                          d_loss_fn: LossFn, latent_dim: int, weight: float,
                          ema_decay: float | None = None):
  """WGAN-GP: the critic's loss plus `weight` * the gradient penalty.

      L_D = d_loss_fn(D(x), D(G(z))) + lambda * E[(||grad D(x_hat)||_2 - 1)^2]

  on random interpolates x_hat of real and generated batches
  (`ganjax.losses.gradient_penalty`). The critic must not use BatchNorm: the
  penalty is per example. Gulrajani et al. 2017, "Improved Training of
  Wasserstein GANs" (lambda = 10, 5 critic steps, Adam 1e-4, betas (0, 0.9)),
  https://arxiv.org/abs/1704.00028.
  """

  def d_update(d, real, fake, key):
    def penalty(params, batch_stats):
      variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
      apply_fn = lambda v, x: d.apply_fn(v, x, train=False)
      return weight * losses.gradient_penalty(apply_fn, variables, real, fake, key)
    return discriminator_update(d, real, fake, d_loss_fn, regularizer=penalty)

  return alternate(state, batch, rng, d_update=d_update, g_loss=_adversarial_g_loss(g_loss_fn),
                   latent_dim=latent_dim, ema_decay=ema_decay)


def discriminator_features(d: NetState, params, x):
  """D's sown `intermediates/features` on `x`, in train mode (statistics dropped)."""
  mutable = ["intermediates"] + (["batch_stats"] if d.batch_stats else [])
  _, state = d.apply_fn(d.variables(params), x, train=True, mutable=mutable)
  (features,) = state["intermediates"]["features"]
  return features


def feature_matching_step(state: GANState, batch, rng, *, d_loss_fn: LossFn,
                          latent_dim: int, ema_decay: float | None = None):
  """Feature matching: G matches the batch mean of D's features on real data.

      L_G = || mean_i f(x_i) - mean_j f(G(z_j)) ||_2^2

  with f the discriminator's sown `intermediates/features` (its last hidden
  layer), after D's update; D trains on `d_loss_fn` as usual. Salimans et al.
  2016, "Improved Techniques for Training GANs", section 3.1,
  https://arxiv.org/abs/1606.03498.
  """

  def d_update(d, real, fake, key):
    del key
    return discriminator_update(d, real, fake, d_loss_fn)

  def g_loss(d, fake, real):
    real_features = jax.lax.stop_gradient(discriminator_features(d, d.params, real))
    return losses.feature_matching_loss(real_features, discriminator_features(d, d.params, fake))

  return alternate(state, batch, rng, d_update=d_update, g_loss=g_loss, latent_dim=latent_dim,
                   ema_decay=ema_decay)
