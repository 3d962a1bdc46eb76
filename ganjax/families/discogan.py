"""DiscoGAN: unpaired translation with feature matching and a reconstruction curriculum.

Kim, Cha, Kim, Lee & Kim 2017, "Learning to Discover Cross-Domain Relations with
Generative Adversarial Networks", https://arxiv.org/abs/1703.05192, as the authors'
code (SKTBrain/DiscoGAN, discogan/image_translation.py). G_AB, G_BA are
encoder-decoders without skips (ganjax.models.discogan), D_A, D_B DCGAN
discriminators (one logit per image) whose normalised layers' features are matched:

    L_G = sum over directions A -> B -> A and B -> A -> B of
          (1 - r) [0.1 L_gan(D_B(G_AB(a))) + 0.9 L_fm(D_B; b, G_AB(a))] + r mse(G_BA(G_AB(a)), a)
    L_fm(D; x, y) = sum_layers mean_features (mean_batch f(x) - mean_batch f(y))^2
    L_D = sum over D_A, D_B of 1/2 [BCE(D(real), 1) + BCE(D(fake), 0)]

with r = 0.01 for the first 10,000 iterations and 0.5 after (the authors' curriculum:
`gan_curriculum`, `starting_rate`, `default_rate`). Every iteration computes all
losses and updates ONE side: the discriminators on every `update_interval`-th
iteration (3), the generators on the others. Adam 2e-4 (0.5, 0.999) with L2 weight
decay 1e-5 on both sides. The authors' sigmoid output for [0, 1] images is tanh here,
for ganjax's [-1, 1]. No image pool, no identity loss.

Batches, samples, translation and evaluation are CycleGAN's (ganjax.families.cyclegan).
"""

import functools

import jax
import jax.numpy as jnp
import optax

from ganjax import steps
from ganjax.config import ConfigError
from ganjax.families import base, cyclegan
from ganjax.families.pix2pix import check_load_size
from ganjax.layers import spectral_stats_where
from ganjax.models.dcgan import RESOLUTIONS, DCGANDiscriminator
from ganjax.models.discogan import DiscoGANGenerator


def feature_matching_loss(real_features, fake_features) -> jax.Array:
  """sum over layers of mean((mean_batch real - mean_batch fake)^2) (the authors' get_fm_loss:
  a HingeEmbeddingLoss with target 1 is the mean of its input)."""
  return sum(jnp.mean(jnp.square(jnp.mean(r, axis=0) - jnp.mean(f, axis=0)))
             for r, f in zip(real_features, fake_features))


def _logits_and_features(d, params, x, batch_stats):
  """D(x) in train mode: (logits, [normalised layers' features], new batch_stats)."""
  logits, state = d.apply_fn({"params": params, "batch_stats": batch_stats}, x, train=True,
                             mutable=["batch_stats", "intermediates"])
  inter = state["intermediates"]
  layers = sorted((k for k in inter if k.startswith("layer")), key=lambda k: int(k[5:]))
  return logits, [inter[k][0] for k in layers], state["batch_stats"]


def discogan_step(state: cyclegan.CycleState, batch, rng, *, g_loss_fn, d_loss_fn,
                  gan_fraction: float, gan_curriculum: int, starting_rate: float,
                  default_rate: float, update_interval: int):
  """One DiscoGAN iteration: every loss, then an update of D (every update_interval-th
  step) or of G (the others). See the module docstring; metrics: every loss, `rate` and
  `d_updated`."""
  del rng  # DiscoGAN draws nothing: no noise, no pool.
  a, b = batch["a"][0], batch["b"][0]
  g_ab, g_ba, d_a, d_b = state.g_ab, state.g_ba, state.d_a, state.d_b
  rate = jnp.where(state.step < gan_curriculum, starting_rate, default_rate)

  def objectives(g_params, d_params):
    (p_ab, p_ba), (p_a, p_b) = g_params, d_params
    s = {"ab": g_ab.batch_stats, "ba": g_ba.batch_stats, "a": d_a.batch_stats,
         "b": d_b.batch_stats}
    gens = {"ab": (g_ab, p_ab), "ba": (g_ba, p_ba)}

    def gen(direction, x):
      net, p = gens[direction]
      y, s[direction] = steps.apply_train(net, p, x, s[direction])
      return y

    def disc(domain, x):
      net, p = {"a": (d_a, p_a), "b": (d_b, p_b)}[domain]
      logits, features, s[domain] = _logits_and_features(net, p, x, s[domain])
      return logits, features

    ab, ba = gen("ab", a), gen("ba", b)
    aba, bab = gen("ba", ab), gen("ab", ba)
    m, g_total, d_total = {}, 0.0, 0.0
    # (the domain D judges, its real and generated images, the round trip and its start).
    for domain, real, fake, recon, start, source in (("b", b, ab, aba, "a", a),
                                                    ("a", a, ba, bab, "b", b)):
      real_logits, real_features = disc(domain, real)
      fake_logits, fake_features = disc(domain, fake)
      m[f"d_{domain}_loss"] = 0.5 * d_loss_fn(real_logits, fake_logits)
      m[f"g_gan_{domain}"] = g_loss_fn(fake_logits)
      m[f"g_fm_{domain}"] = feature_matching_loss(real_features, fake_features)
      m[f"recon_{start}"] = jnp.mean(jnp.square(recon - source))
      g_total += ((1 - rate) * (gan_fraction * m[f"g_gan_{domain}"]
                                + (1 - gan_fraction) * m[f"g_fm_{domain}"])
                  + rate * m[f"recon_{start}"])
      d_total += m[f"d_{domain}_loss"]
    return g_total, d_total, s, m

  def both(g_params, d_params):
    g_total, d_total, s, m = objectives(g_params, d_params)
    return (g_total, d_total), (s, m)

  # One forward and ONE backward pass, whose cotangent picks the side this iteration
  # updates (the authors' code, too, backpropagates D's loss through G). Not a lax.cond
  # of two updates: XLA:CPU runs a convolution inside a conditional as a naive loop,
  # 10x slower (see ganjax.steps.alternate).
  d_turn = state.step % update_interval == 0
  (g_total, d_total), vjp, (s, m) = jax.vjp(both, (g_ab.params, g_ba.params),
                                            (d_a.params, d_b.params), has_aux=True)
  pick = d_turn.astype(jnp.float32)
  (grad_ab, grad_ba), (grad_a, grad_b) = vjp((1.0 - pick, pick))

  def update(net, grads, turn):  # The net stepped on its turn, else unchanged (Adam too).
    stepped = net.apply_gradients(grads=grads)
    return jax.tree.map(lambda new, old: jnp.where(turn, new, old), stepped, net)

  def d_stats(net, new_stats):
    # BatchNorm's averages follow every pass, as the authors'; spectral_norm's u moves on
    # D's turns only, as in ganjax.steps, where G's loss evaluates D and drops its stats.
    return spectral_stats_where(d_turn, new_stats, net.batch_stats)

  new = state.replace(
      step=state.step + 1,
      g_ab=update(g_ab, grad_ab, ~d_turn).replace(batch_stats=s["ab"]),
      g_ba=update(g_ba, grad_ba, ~d_turn).replace(batch_stats=s["ba"]),
      d_a=update(d_a, grad_a, d_turn).replace(batch_stats=d_stats(d_a, s["a"])),
      d_b=update(d_b, grad_b, d_turn).replace(batch_stats=d_stats(d_b, s["b"])))
  return new, {**m, "g_loss": g_total, "d_loss": d_total, "rate": rate,
               "d_updated": d_turn.astype(jnp.float32)}


class DiscoGAN(cyclegan.CycleGAN):
  """Unpaired A <-> B translation: encoder-decoders, feature matching, reconstruction."""

  name = "discogan"

  def fields(self) -> dict:
    return dict(
        dataset="digits_bold",       # digits_invert|_bold|_rotate|_font, folder, cycle_gan/<name>
        folder="",                   # dataset 'folder': FOLDER/trainA, trainB, testA, testB
        resolution=32,               # 16, 32, 64 (the paper), 128
        load_size=32,                # random jitter: > resolution crops (the authors: none)
        flip=False,
        width=64,                    # G and D: filters of the first layer, doubling per level
        spectral_norm=False,         # D's kernels over their largest singular value (SN-GAN)
        loss="non_saturating",       # BCE on D's logits, as the authors
        label_smoothing=0.0,
        least_squares_labels=(0.0, 1.0, 1.0),
        gan_fraction=0.1,            # of G's adversarial part: 0.1 GAN + 0.9 feature matching
        gan_curriculum=10000,        # iterations with the starting reconstruction rate
        starting_rate=0.01,          # r before gan_curriculum
        default_rate=0.5,            # r after it
        update_interval=3,           # D on every 3rd iteration, G on the others
        weight_decay=1e-5,           # Adam's L2 weight decay (PyTorch's weight_decay)
    )

  def check_config(self, config):
    base.Family.check_config(self, config)
    self.check_data(config)
    if config.d_steps != 1:
      raise ConfigError(f"discogan alternates by update_interval, not d_steps: d_steps must "
                        f"be 1, got {config.d_steps}")
    if config.resolution not in RESOLUTIONS:
      raise ConfigError(f"discogan resolution must be one of "
                        f"{', '.join(map(str, RESOLUTIONS))}, got {config.resolution}")
    check_load_size(config)
    if config.width < 1 or config.update_interval < 2:
      raise ConfigError(f"width must be >= 1 and update_interval >= 2 (D on one iteration "
                        f"of every update_interval), got {config.width}, "
                        f"{config.update_interval}")
    if not 0 <= config.gan_fraction <= 1:
      raise ConfigError(f"gan_fraction must be in [0, 1], got {config.gan_fraction}")
    for field in ("starting_rate", "default_rate"):
      if not 0 <= config[field] <= 1:
        raise ConfigError(f"{field} must be in [0, 1], got {config[field]}")
    if config.gan_curriculum < 0 or config.weight_decay < 0:
      raise ConfigError("gan_curriculum and weight_decay must be >= 0")
    base.build_losses(config)

  def networks(self, config):
    return (DiscoGANGenerator(channels=config.channels, width=config.width),
            DCGANDiscriminator(resolution=config.resolution, width=config.width,
                               spectral_norm=config.spectral_norm))

  def optimizers(self, config):
    g_tx, d_tx = base.build_optimizers(config)
    if not config.weight_decay:
      return g_tx, d_tx
    # PyTorch's Adam(weight_decay=w) adds w * param to the gradient before the moments.
    decay = optax.add_decayed_weights(config.weight_decay)
    return optax.chain(decay, g_tx), optax.chain(decay, d_tx)

  def create_pools(self, config, shape) -> dict:
    return {}

  def step(self, config):
    g_loss_fn, d_loss_fn = base.build_losses(config)
    return functools.partial(
        discogan_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
        gan_fraction=config.gan_fraction, gan_curriculum=config.gan_curriculum,
        starting_rate=config.starting_rate, default_rate=config.default_rate,
        update_interval=config.update_interval)


FAMILY = DiscoGAN()
