"""pix2pix: paired image-to-image translation (U-Net, PatchGAN, cGAN + L1).

Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", https://arxiv.org/abs/1611.07004; the networks are
ganjax.models.pix2pix, the data ganjax.paired.

    L_D = 1/2 [ loss_D(D(x, y), D(x, G(x))) ]
    L_G = gan_weight * loss_G(D(x, G(x))) + l1_weight * E|y - G(x)|

with x the source, y the target, loss_* a pair of ganjax.losses (binary
cross-entropy on logits by default, one per PatchGAN patch), lambda = l1_weight =
100, D updated first, then G, Adam 2e-4 (0.5, 0.999), constant for the first
half of the run and then decaying linearly to 0. G has no z: dropout is its noise.
The paper's ablations are switches: `l1_weight=0` (cGAN only), `gan_weight=0`
(L1 only), `conditional_d=False` (D sees y alone: L1 + GAN), `d_layers` 0..3
(patches of 1, 16, 34, 70 pixels).

At test time the paper keeps dropout on and normalises with the statistics of the
image itself (its batch is one image): `test_mode='paper'`, the default. Most
users expect `test_mode='eval'`: dropout off, BatchNorm's running averages.

Batches: {'source': (d_steps, B, R, R, C), 'target': (d_steps, B, R, R, C)}.
Sample grids: rows of source | output | target triplets from the test split.
Evaluation (`translation` section of ganjax.evaluate): the held-out test split
translated; L1, PSNR and SSIM against the targets, and for the digits tasks the
domain classifier's accuracy on the outputs and the Frechet distance of its
features to the real targets (FCD); the same for the trivial baselines (the
source itself, the mean training target) beside them.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ganjax import losses, steps
from ganjax.config import ConfigError
from ganjax import paired
from ganjax.families import base
from ganjax.models.pix2pix import (NORMALIZATIONS, UPSAMPLING, PatchGANDiscriminator,
                                   UNetGenerator, min_patchgan_resolution, unet_depth)
from ganjax.state import GANState, create_gan_state

TEST_MODES = ("paper", "eval")
GRID_TRIPLETS_PER_ROW = 2


# --------------------------------------------------------------------------- step


def discriminator_input(source, image, conditional: bool):
  """What D judges: concat(source, image) on channels, or the image alone."""
  return jnp.concatenate([source, image], axis=-1) if conditional else image


def pix2pix_step(state: GANState, batch, rng, *, g_loss_fn, d_loss_fn, l1_weight: float,
                 gan_weight: float, conditional_d: bool, ema_decay: float | None = None):
  """One pix2pix update: D on 1/2 loss_D, then G on gan_weight * loss_G + l1_weight * L1.

  Args:
    state: the GANState (G a U-Net, D a PatchGAN).
    batch: {'source': (d_steps, B, R, R, C), 'target': (d_steps, B, R, R, C)}.
    g_loss_fn, d_loss_fn: a loss pair of ganjax.losses, on D's patch logits.
    l1_weight, gan_weight: lambda and the weight of the adversarial term of G's loss.
    conditional_d: D sees (source, image), as in the paper; False: the image alone.
    ema_decay: the generator EMA's decay (used when the state keeps an EMA).

  Returns:
    (new state, metrics): d_loss, g_loss, its g_gan and g_l1 terms, mean patch logits.
  """

  def generator_inputs(key, minibatch):
    return minibatch["source"], {"rngs": {"dropout": key}}  # Dropout is G's noise.

  def d_loss(params, d, minibatch, fake, gen_kwargs, key):
    del gen_kwargs, key
    source = minibatch["source"]
    real_logits, stats = steps.apply_train(
        d, params, discriminator_input(source, minibatch["target"], conditional_d))
    fake_logits, stats = steps.apply_train(
        d, params, discriminator_input(source, fake, conditional_d), stats)
    # Halved, as the reference: D then learns at half G's rate relative to its loss.
    return 0.5 * d_loss_fn(real_logits, fake_logits), (stats, {
        "d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)})

  def g_loss(fake, d, minibatch, gen_kwargs, key):
    del gen_kwargs, key
    l1 = losses.l1_loss(fake, minibatch["target"])
    metrics = {"g_l1": l1}
    loss = l1_weight * l1
    if gan_weight:
      logits, _ = steps.apply_train(
          d, d.params, discriminator_input(minibatch["source"], fake, conditional_d))
      metrics["g_gan"] = g_loss_fn(logits)
      loss = loss + gan_weight * metrics["g_gan"]
    return loss, metrics

  return steps.alternate(state, batch, rng, generator_inputs=generator_inputs,
                         d_loss=d_loss, g_loss=g_loss, ema_decay=ema_decay)


# --------------------------------------------------------------------------- translation


def translator(config):
  """A jitted fn(state, source, key) -> G(source) in `config.test_mode`.

  'paper': dropout on (drawn from `key`) and each image normalised by its own
  statistics, as the paper's test script (batch of one) does; the result does not
  depend on which other images share the batch. 'eval': dropout off, running averages.
  """
  generator = networks(config)[0]

  @jax.jit
  def translate(state, source, key):
    variables = state.sampling_variables()
    if config.test_mode == "eval":
      return generator.apply(variables, source, train=False)

    def one(x, k):
      out, _ = generator.apply(variables, x[None], train=True, mutable=["batch_stats"],
                               rngs={"dropout": k})
      return out[0]

    return jax.vmap(one)(source, jax.random.split(key, source.shape[0]))

  return translate


def translate_all(config, state, source, *, seed: int = 0, batch_size: int = 100):
  """G(source) for a numpy array of any length, in batches of one compiled shape."""
  fn = translator(config)
  key = jax.random.key(seed)
  out = []
  for start in range(0, len(source), batch_size):
    chunk = np.asarray(source[start:start + batch_size], np.float32)
    n = len(chunk)
    if n < batch_size and len(source) > batch_size:  # Pad to the compiled shape.
      chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]), np.float32)])
    out.append(np.asarray(fn(state, chunk, jax.random.fold_in(key, start)))[:n])
  return np.concatenate(out)


def interleave(*columns):
  """Images (N, ...) of each column -> (N * len(columns), ...) row-major: a0 b0 c0 a1 b1 ..."""
  return jnp.stack(columns, axis=1).reshape(-1, *columns[0].shape[1:])


# --------------------------------------------------------------------------- evaluation


def translation_scores(outputs, targets) -> dict:
  """Mean L1, PSNR (dB) and SSIM of outputs against their targets, all (N, H, W, C)."""
  from ganjax import pixel_metrics
  return {"l1": float(np.mean(pixel_metrics.l1(outputs, targets))),
          "psnr": float(np.mean(pixel_metrics.psnr(outputs, targets))),
          "ssim": float(np.mean(pixel_metrics.ssim(outputs, targets)))}


def translated_test_split(ctx) -> tuple[paired.Pairs, np.ndarray]:
  """(the test pairs, G of their sources (N, R, R, C)): what `translation_section` scores.

  Translated once per ganjax.evaluate Context (from its seed), so a caller that also
  wants the images (benchmarks/checkerboard.py) gets the very outputs the section scored.
  """
  def translate():
    test = _pairs(ctx.config, "test")
    return test, translate_all(ctx.config, ctx.state, test.as_float()[0],
                               seed=ctx.options.seed)

  return ctx.cached("pix2pix_translated_test_split", translate)


def translation_section(ctx) -> dict:
  """ganjax.evaluate section: the test split translated, scored beside trivial baselines.

  Keys: l1, psnr, ssim (and for digits tasks accuracy, fcd), each also with the
  suffix _identity (the source as the output) and _mean (the mean training target).
  """
  c = ctx.config
  test, translated = translated_test_split(ctx)
  source, target = test.as_float()
  mean_target = np.mean(_pairs(c, "train", jitter=False).as_float()[1], axis=0, keepdims=True)
  candidates = {"": translated,
                "_identity": source,
                "_mean": np.broadcast_to(mean_target, target.shape)}
  out = {"num_test_pairs": len(test), "test_mode": c.test_mode}
  clf = None
  if test.labels is not None:
    from ganjax import classifier as classifier_lib
    clf = classifier_lib.get_classifier("digits", resolution=c.resolution, channels=1,
                                        data_dir=c.data_dir or None,
                                        directory=ctx.options.classifier_dir, log=ctx.log)
    real_features, real_probs = clf.predict(target)
  from ganjax import metrics
  for suffix, images in candidates.items():
    out.update({k + suffix: v for k, v in translation_scores(images, target).items()})
    if clf is not None:
      features, probs = clf.predict(np.ascontiguousarray(images))
      out["accuracy" + suffix] = float(np.mean(np.argmax(probs, -1) == test.labels))
      out["fcd" + suffix] = metrics.frechet_distance(features, real_features)
  if clf is not None:
    out["accuracy_real_targets"] = float(np.mean(np.argmax(real_probs, -1) == test.labels))
  return out


# --------------------------------------------------------------------------- the family


def networks(config):
  """(U-Net generator, PatchGAN discriminator) of the config."""
  return (UNetGenerator(channels=config.channels, width=config.width,
                        normalization=config.normalization,
                        dropout_blocks=config.dropout_blocks, upsample=config.upsample),
          PatchGANDiscriminator(n_layers=config.d_layers, width=config.d_width,
                                normalization=config.normalization,
                                spectral_norm=config.spectral_norm))


@functools.lru_cache(maxsize=8)
def _cached_pairs(dataset, split, size, channels, data_dir, folder, direction):
  return paired.load_pairs(dataset, split, size=size, channels=channels,
                           data_dir=data_dir or None, folder=folder, direction=direction)


def _pairs(config, split: str, *, jitter: bool = False) -> paired.Pairs:
  """The config's pairs of `split`, at the load size (jitter) or the resolution."""
  size = config.load_size if jitter else config.resolution
  try:
    return _cached_pairs(config.dataset, split, size, config.channels, config.data_dir,
                         config.folder, config.direction)
  except paired.PairedDataError as e:
    raise ConfigError(str(e)) from None


# The checks the image-to-image families (pix2pix, CycleGAN, DiscoGAN) share.


def check_unet(config) -> None:
  """ConfigError unless the U-Net can take `config.resolution`."""
  try:
    unet_depth(config.resolution)
  except ValueError as e:
    raise ConfigError(str(e)) from None


def check_load_size(config) -> None:
  """ConfigError unless the random jitter's load size can be cropped to the resolution."""
  if config.load_size < config.resolution:
    raise ConfigError(f"load_size {config.load_size} must be >= resolution "
                      f"{config.resolution} (equal: no random crop)")


def check_patchgan(config) -> None:
  """ConfigError unless `normalization` is known and the PatchGAN fits the resolution."""
  if config.normalization not in NORMALIZATIONS:
    raise ConfigError(f"unknown normalization {config.normalization!r}; "
                      f"valid: {', '.join(NORMALIZATIONS)}")
  if config.d_layers < 0 or config.resolution < min_patchgan_resolution(config.d_layers):
    raise ConfigError(f"a PatchGAN of d_layers={config.d_layers} needs images of at least "
                      f"{min_patchgan_resolution(config.d_layers)} px, got resolution "
                      f"{config.resolution}")


class Pix2Pix(base.Family):
  """Paired source -> target translation: a U-Net G judged by a PatchGAN D with an L1 term."""

  name = "pix2pix"
  samples_from_z = False

  def fields(self) -> dict:
    return dict(
        dataset="digits_edges",      # digits_edges | digits_halves | digits_superres | aligned
        folder="",                   # dataset 'aligned': FOLDER/train/, FOLDER/test/ of A|B images
        direction="AtoB",            # dataset 'aligned': AtoB | BtoA
        resolution=32,
        load_size=36,                # random jitter: pairs resized to this, cropped to resolution
        flip=False,                  # random jitter: flip both images (not for digits)
        width=64,                    # G: filters of the outermost U-Net level (ngf)
        d_width=64,                  # D: filters of the first PatchGAN layer (ndf)
        d_layers=3,                  # PatchGAN: 0, 1, 2, 3 -> patches of 1, 16, 34, 70 px
        normalization="batch",       # batch | instance, in G and D
        spectral_norm=False,         # D's kernels over their largest singular value (SN-GAN)
        dropout_blocks=3,            # decoder blocks with dropout 0.5 (G's noise); 0 = none
        upsample="transposed",       # G's upsampling: transposed (paper) | resize (nearest + 3x3)
        conditional_d=True,          # D sees (source, image); False: the image alone
        l1_weight=100.0,             # lambda of the L1 term; 0: cGAN only
        gan_weight=1.0,              # weight of G's adversarial term; 0: L1 only
        loss="non_saturating",       # D's and G's loss pair (ganjax.losses.LOSS_FAMILIES)
        label_smoothing=0.0,
        least_squares_labels=(0.0, 1.0, 1.0),
        test_mode="paper",           # paper: dropout on, per-image statistics | eval
    )

  def check_config(self, config):
    super().check_config(config)
    try:
      paired.check(config.dataset, channels=config.channels, folder=config.folder,
                   direction=config.direction)
    except paired.PairedDataError as e:
      raise ConfigError(str(e)) from None
    check_unet(config)
    check_load_size(config)
    check_patchgan(config)
    if min(config.width, config.d_width) < 1 or config.dropout_blocks < 0:
      raise ConfigError("width and d_width must be >= 1 and dropout_blocks >= 0")
    if config.upsample not in UPSAMPLING:
      raise ConfigError(f"unknown upsample {config.upsample!r}; valid: {', '.join(UPSAMPLING)}")
    if config.l1_weight < 0 or config.gan_weight < 0 or not (config.l1_weight or config.gan_weight):
      raise ConfigError(f"l1_weight and gan_weight must be >= 0 and not both 0, got "
                        f"{config.l1_weight} and {config.gan_weight}")
    if config.test_mode not in TEST_MODES:
      raise ConfigError(f"unknown test_mode {config.test_mode!r}; valid: {', '.join(TEST_MODES)}")
    base.build_losses(config)

  def networks(self, config):
    return networks(config)

  def create_state(self, config, rng) -> GANState:
    generator, discriminator = self.networks(config)
    g_tx, d_tx = base.build_optimizers(config)
    image = jnp.zeros((1, config.resolution, config.resolution, config.channels))
    return create_gan_state(rng, generator=generator, discriminator=discriminator,
                            generator_tx=g_tx, discriminator_tx=d_tx, sample_z=image,
                            sample_x=discriminator_input(image, image, config.conditional_d),
                            use_ema=config.ema_decay > 0)

  def step(self, config):
    g_loss_fn, d_loss_fn = base.build_losses(config)
    return functools.partial(pix2pix_step, g_loss_fn=g_loss_fn, d_loss_fn=d_loss_fn,
                             l1_weight=config.l1_weight, gan_weight=config.gan_weight,
                             conditional_d=config.conditional_d,
                             ema_decay=config.ema_decay or None)

  def train_batches(self, config, *, local_batch_size: int):
    return paired.batches(_pairs(config, config.train_split, jitter=True),
                          batch_size=local_batch_size, resolution=config.resolution,
                          flip=config.flip, seed=config.seed,
                          shard_index=jax.process_index(), shard_count=jax.process_count())

  # Samples: triplets of the test split.
  def sampler(self, config):
    """A jitted fn(state, source, key, target=None) -> G(source) in config.test_mode.

    With `target`, the source | output | target triplets interleaved, for a grid.
    """
    translate = translator(config)

    @jax.jit
    def sample(state, source, key, target=None):
      out = translate(state, source, key)
      return out if target is None else interleave(source, out, target)

    return sample

  def grid_inputs(self, config, rng, num_images: int):
    """(source, key, target) of the first test pairs: num_images // 3 triplets, 2 a row."""
    per_row = GRID_TRIPLETS_PER_ROW
    n = max(1, num_images // 3 // per_row * per_row)  # Full rows.
    source, target = _pairs(config, "test").as_float()
    return (jnp.asarray(source[:n]), rng, jnp.asarray(target[:n])), 3 * min(n, per_row)

  def translation_directions(self, config):
    """One: the run's source -> target (`direction` of an aligned folder)."""
    return (config.direction,)

  def translate(self, config, state, images, direction, *, seed=0):
    del direction  # The run's own: translation_directions has one.
    return translate_all(config, state, images, seed=seed, batch_size=min(len(images), 64))

  def evaluation_sections(self):
    return (("translation", translation_section),)

  def num_eval_samples(self, config) -> int:
    """The test split's pairs: every one is translated."""
    return len(_pairs(config, "test"))


FAMILY = Pix2Pix()
