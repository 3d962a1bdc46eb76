"""Building blocks of pure train steps, and the ONE alternating D/G update loop.

Every family whose step alternates discriminator and generator updates calls
`alternate`: d_steps discriminator updates, then one generator update that
reuses the last discriminator update's generated batch. G runs forward once
for that last D update and G's own update: D's update sees the sample (no
gradient flows into G there), then D's input gradient is pulled back through
G's VJP for G's update. No second generator forward pass and no gradient for
D's params in G's update: work PyTorch's DCGAN example also avoids by reusing
`fake`.

A family supplies three functions (and optionally a constraint on D):

- `generator_inputs(key, minibatch) -> (x, kwargs)`: G's input and keyword
  inputs (z, and the labels a conditional generator is asked for);
- `d_loss(params, d, minibatch, fake, gen_kwargs, key) -> (loss, (batch_stats,
  metrics))`, differentiated with respect to D's params;
- `g_loss(fake, d, minibatch, gen_kwargs, key) -> (loss, metrics)`,
  differentiated with respect to the generated batch.

Batches are dicts of named features stacked (d_steps, B, ...): one minibatch
per discriminator update, as in WGAN's Algorithm 1.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from ganjax.state import NetState, update_ema

LossFn = Callable[..., jax.Array]


def sample_latent(rng, batch_size: int, latent_dim: int) -> jax.Array:
  """z ~ N(0, I) of shape (batch_size, latent_dim)."""
  return jax.random.normal(rng, (batch_size, latent_dim), jnp.float32)


def apply_train(net: NetState, params, x, batch_stats=None, **kwargs):
  """Applies a network in train mode; returns (output, new batch_stats)."""
  out, stats, _ = apply_train_sown(net, params, x, batch_stats, **kwargs)
  return out, stats


def apply_train_sown(net: NetState, params, x, batch_stats=None, *, sown: bool = False,
                     **kwargs):
  """apply_train, also returning the values the network sowed into `intermediates`
  ({} unless `sown`): (output, new batch_stats, intermediates)."""
  batch_stats = net.batch_stats if batch_stats is None else batch_stats
  variables = {"params": params}
  mutable = ["intermediates"] if sown else []
  if batch_stats:
    variables["batch_stats"] = batch_stats
    mutable.append("batch_stats")
  if not mutable:
    return net.apply_fn(variables, x, train=True, **kwargs), batch_stats, {}
  out, mutated = net.apply_fn(variables, x, train=True, mutable=mutable, **kwargs)
  return out, mutated.get("batch_stats", batch_stats), mutated.get("intermediates", {})


def generate(g: NetState, params, z, **kwargs):
  """G(z) in train mode: (images, new batch_stats)."""
  return apply_train(g, params, z, **kwargs)


def discriminator_features(d: NetState, params, x, **kwargs):
  """D's sown `intermediates/features` on `x` in train mode, (B, F) (statistics dropped)."""
  mutable = ["intermediates"] + (["batch_stats"] if d.batch_stats else [])
  _, state = d.apply_fn(d.variables(params), x, train=True, mutable=mutable, **kwargs)
  (features,) = state["intermediates"]["features"]
  return features


def update_discriminator(d: NetState, d_loss: Callable, minibatch, fake, gen_kwargs, key, *,
                         constrain: Callable | None = None):
  """One optimizer step of D on `d_loss` (the loop's form); returns (D, metrics)."""
  (loss, (stats, metrics)), grads = jax.value_and_grad(d_loss, has_aux=True)(
      d.params, d, minibatch, fake, gen_kwargs, key)
  d = d.apply_gradients(grads=grads).replace(batch_stats=stats)
  if constrain is not None:
    d = constrain(d)
  return d, {"d_loss": loss, **metrics}


def adversarial_d_loss(d_loss_fn: LossFn, *, regularizer: Callable | None = None):
  """The loop's `d_loss` for `d_loss_fn(D(real), D(fake))` on `minibatch['image']`.

  Real and fake pass through D separately, so BatchNorm normalises each batch
  by its own statistics, as in the DCGAN paper's code.

  Args:
    d_loss_fn: `fn(discriminator_real_outputs, discriminator_gen_outputs) -> scalar`.
    regularizer: optional `fn(params, batch_stats, real, fake, key, step) -> scalar`
      added to the loss (a gradient penalty, say; `step`: the updates D has had, for
      lazy regularisation); logged as `d_regularizer`.
  """

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    del gen_kwargs
    real = minibatch["image"]
    real_logits, stats = apply_train(d, params, real)
    fake_logits, stats = apply_train(d, params, fake, stats)
    loss = d_loss_fn(real_logits, fake_logits)
    metrics = {"d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)}
    if regularizer is not None:
      reg = regularizer(params, stats, real, fake, key, d.step)
      metrics["d_regularizer"] = reg
      loss = loss + reg
    return loss, (stats, metrics)

  return d_loss


def discriminator_update(d: NetState, real, fake, d_loss_fn: LossFn, *,
                         regularizer: Callable | None = None, key=None):
  """One optimizer step of D on `d_loss_fn(D(real), D(fake))` (see adversarial_d_loss)."""
  return update_discriminator(d, adversarial_d_loss(d_loss_fn, regularizer=regularizer),
                              {"image": real}, fake, {}, key)


def adversarial_g_loss(g_loss_fn: LossFn):
  """The loop's `g_loss` for `g_loss_fn(D(G(z)))`."""

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    del minibatch, gen_kwargs, key
    logits, _ = apply_train(d, d.params, fake)
    return g_loss_fn(logits), {}

  return g_loss


def latent_inputs(latent_dim: int):
  """The loop's `generator_inputs` of an unconditional generator: z ~ N(0, I)."""

  def inputs(key, minibatch):
    return sample_latent(key, batch_size_of(minibatch), latent_dim), {}

  return inputs


def batch_size_of(minibatch) -> int:
  """B of a minibatch dict whose features are all (B, ...)."""
  return jax.tree.leaves(minibatch)[0].shape[0]


def finish_generator_update(state, g: NetState, d: NetState, grads, g_stats, *,
                            ema_decay: float | None, ema_inputs=None):
  """Applies G's gradients, advances the step and the EMA.

  A state that keeps the EMA generator's own BatchNorm statistics (`ema_batch_stats`)
  updates them with the new EMA weights in train mode on `ema_inputs` = (z, kwargs), this
  step's generator inputs: one more forward pass of G, no gradient.
  """
  g = g.apply_gradients(grads=grads).replace(batch_stats=g_stats)
  ema = state.ema_params
  ema_stats = getattr(state, "ema_batch_stats", None)
  if ema is not None:
    ema = update_ema(ema, g.params, ema_decay, num_updates=state.step)
    if ema_stats is not None:
      if ema_inputs is None:
        raise ValueError("a state with ema_batch_stats needs the step's ema_inputs")
      z, kwargs = ema_inputs
      _, ema_stats = apply_train(g, ema, z, batch_stats=ema_stats, **kwargs)
  new = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema)
  return new.replace(ema_batch_stats=ema_stats) if ema_stats is not None else new


def alternate(state, batch, rng, *, generator_inputs: Callable, d_loss: Callable,
              g_loss: Callable, constrain_d: Callable | None = None,
              ema_decay: float | None = None):
  """d_steps discriminator updates, then one generator update reusing the last fake batch.

  Args:
    state: a GANState-like pytree with `step`, `generator`, `discriminator`
      and `ema_params`.
    batch: a dict of named features, each (d_steps, B, ...).
    rng: a PRNG key, folded with the step so every step draws afresh.
    generator_inputs, d_loss, g_loss: see the module docstring.
    constrain_d: optional `fn(d) -> d` applied after EVERY D update (WGAN's clipping).
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).

  Returns:
    (new state, metrics): those of the last D update, G's and `g_loss`.
  """
  num_minibatches = jax.tree.leaves(batch)[0].shape[0]
  keys = jax.random.split(jax.random.fold_in(rng, state.step), num_minibatches)
  g = state.generator

  def d_update(d, minibatch, fake, gen_kwargs, key):
    return update_discriminator(d, d_loss, minibatch, fake, gen_kwargs, key,
                                constrain=constrain_d)

  def critic(d, inputs):
    minibatch, key = inputs
    input_key, d_key = jax.random.split(key)
    z, gen_kwargs = generator_inputs(input_key, minibatch)
    fake, _ = generate(g, g.params, z, **gen_kwargs)  # G's statistics: only its update's.
    return d_update(d, minibatch, fake, gen_kwargs, d_key)

  # Unrolled, not a loop: XLA:CPU canonicalises the layouts of convolutions (the kernel
  # gradients autodiff emits, for one) only in the entry computation, so a convolution
  # left inside a while loop runs as a naive loop there: 5 critic updates cost 60x one at
  # 32x32 (issue 17). d_steps is small and static, so unrolling only adds compile time.
  d, _ = jax.lax.scan(critic, state.discriminator,
                      (jax.tree.map(lambda x: x[:-1], batch), keys[:-1]), unroll=True)
  last = jax.tree.map(lambda x: x[-1], batch)
  input_key, d_key, g_key = jax.random.split(keys[-1], 3)
  z, gen_kwargs = generator_inputs(input_key, last)
  fake, g_vjp, g_stats = jax.vjp(lambda p: generate(g, p, z, **gen_kwargs), g.params,
                                 has_aux=True)
  d, metrics = d_update(d, last, fake, gen_kwargs, d_key)
  (loss, g_metrics), fake_grad = jax.value_and_grad(g_loss, has_aux=True)(
      fake, d, last, gen_kwargs, g_key)
  (g_grads,) = g_vjp(fake_grad)
  state = finish_generator_update(state, g, d, g_grads, g_stats, ema_decay=ema_decay,
                                  ema_inputs=(z, gen_kwargs))
  return state, {**metrics, **g_metrics, "g_loss": loss}
