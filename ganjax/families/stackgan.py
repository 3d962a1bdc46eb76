"""StackGAN: text to image in two stages.

Zhang, Xu, Li, Zhang, Wang, Huang & Metaxas 2017, "StackGAN: Text to Photo-realistic Image
Synthesis with Stacked Generative Adversarial Networks", https://arxiv.org/abs/1612.03242,
as the authors' code (hanzhanggit/StackGAN-Pytorch: code/model.py, trainer.py,
miscc/utils.py), scaled to the data (ganjax.models.stackgan):

  Stage I  (stage=1): G0(z, c0) -> a low-resolution image; D0 judges (image, text) pairs.
  Stage II (stage=2): G(G0's image, c) -> the image at twice (or 4x) the side; G0 is frozen
                      (its params ride in the state: no gradient, no optimizer state);
                      D has a conditional and an unconditional logit.

  c = mu(phi_t) + sigma(phi_t) * eps                     (conditioning augmentation)
  L_D = matching-aware (ganjax.losses.matching_aware_discriminator_loss): real image with
        its text -> 1; real image with a mismatched text -> 0; generated -> 0
  L_G = BCE(D(G(z, c), phi_t), 1) [+ the unconditional term] + kl_weight KL(N(mu, sigma) || N(0, I))

Adam 2e-4 (0.5, 0.999), both rates halved every optimizer.halve_every steps. Each step
updates D on the generated batch, then G against the updated D (the reference's order).
phi_t is a caption's embedding by a frozen text encoder (ganjax.text_encoder), computed
once when the data is loaded (ganjax.text_data); a run keeps a copy of its encoder in
<workdir>/text_encoder/ so that `experiments.sample --caption="..."` embeds typed text
exactly as training did.

A Stage II run names its Stage I run (`stage1_workdir`), or leaves it empty: then this run
trains Stage I first in <workdir>/stage1 (`stage1_steps` steps; a rerun resumes whichever
stage was interrupted) and Stage II after it: one command for both stages.

Batches: {'image': (1, B, R, R, C), 'embedding': (1, B, E), 'wrong_embedding': (1, B, E)}.
Sample grids: one caption a row (printed above it); Stage I runs show samples of several z,
Stage II runs Stage I | Stage II pairs for several z.
Evaluation (`text_to_image` section of ganjax.evaluate), per stage: class accuracy against
the caption's digit, requested-vs-measured attributes, R-precision, FCD, classifier IS and
the diversity among images of one caption (see `text_to_image_section`).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import flax.struct as struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganjax import images as images_lib
from ganjax import losses, paired, steps, text_data
from ganjax.config import ConfigError
from ganjax.families import base
from ganjax.families.pix2pix import interleave
from ganjax.models.stackgan import MatchingDiscriminator, Stage1Generator, Stage2Generator
from ganjax.state import NetState, init_net, update_ema

STAGES = (1, 2)
GRID_ROWS = 8
# Fields a Stage II run must share with its Stage I run (Stage I's generator is rebuilt
# from this run's config when a checkpoint is restored).
STAGE1_SHARED = ("dataset", "folder", "channels", "latent_dim", "condition_dim", "augment")


class StackState(struct.PyTreeNode):
  """G and D of this stage, the step, the frozen Stage I generator of a Stage II run (None
  in Stage I), and G's EMA (None unless config.ema_decay > 0)."""

  step: jax.Array
  generator: NetState
  discriminator: NetState
  stage1: Any = None
  ema_params: Any = None

  def sampling_variables(self):
    return self.generator.variables(self.ema_params)


def _normal(key, shape):
  return jax.random.normal(key, shape, jnp.float32)


def stage1_images(state: StackState, z, embedding, eps):
  """The frozen Stage I generator's images (inference mode) of a Stage II state."""
  return state.stage1.apply_fn(state.stage1.variables(), z, embedding=embedding, eps=eps,
                               train=False)[0]


# --------------------------------------------------------------------------- step


def stackgan_step(state: StackState, batch, rng, *, latent_dim: int, condition_dim: int,
                  kl_weight: float, mismatched_pairs: bool, ema_decay: float):
  """One StackGAN iteration of either stage: D on this step's images, then G (see module).

  Returns:
    (new state, metrics): d_loss (and its real / wrong / fake terms), g_loss, g_gan, kl.
  """
  real, embedding = batch["image"][0], batch["embedding"][0]
  b = real.shape[0]
  key_z, key_1, key_c = jax.random.split(jax.random.fold_in(rng, state.step), 3)
  z = _normal(key_z, (b, latent_dim))
  eps = _normal(key_c, (b, condition_dim))
  g, d = state.generator, state.discriminator
  # Stage II draws from the frozen Stage I (its own eps); Stage I from z.
  source = z if state.stage1 is None else stage1_images(state, z, embedding,
                                                        _normal(key_1, (b, condition_dim)))

  def generate(params):
    return steps.apply_train(g, params, source, embedding=embedding, eps=eps)

  (fake, mu, logvar), g_vjp, g_stats = jax.vjp(generate, g.params, has_aux=True)

  def d_objective(params):
    texts = jnp.stack([embedding, batch["wrong_embedding"][0]]) if mismatched_pairs \
        else embedding[None]
    (real_logits, real_unconditional), stats = steps.apply_train(d, params, real,
                                                                 embedding=texts)
    (fake_logits, fake_unconditional), stats = steps.apply_train(
        d, params, jax.lax.stop_gradient(fake), stats, embedding=embedding)
    wrong = real_logits[1] if mismatched_pairs else None
    loss = losses.matching_aware_discriminator_loss(
        real_logits[0], wrong, fake_logits, unconditional_real=real_unconditional,
        unconditional_fake=fake_unconditional)
    terms = {"d_real": jnp.mean(jax.nn.sigmoid(real_logits[0])),
             "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    if mismatched_pairs:
      terms["d_wrong"] = jnp.mean(jax.nn.sigmoid(wrong))
    return loss, (stats, terms)

  (d_loss, (d_stats, d_terms)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(
      d.params)
  d = d.apply_gradients(grads=d_grads).replace(batch_stats=d_stats)

  def g_objective(fake, mu, logvar):
    (logits, unconditional), _ = steps.apply_train(d, d.params, fake, embedding=embedding)
    gan = losses.matching_aware_generator_loss(logits, unconditional_fake=unconditional)
    kl = losses.kl_standard_normal(mu, logvar)
    return gan + kl_weight * kl, (gan, kl)

  (g_loss, (g_gan, kl)), cotangents = jax.value_and_grad(
      g_objective, argnums=(0, 1, 2), has_aux=True)(fake, mu, logvar)
  (g_grads,) = g_vjp(cotangents)
  g = g.apply_gradients(grads=g_grads).replace(batch_stats=g_stats)
  ema = state.ema_params
  if ema is not None:
    ema = update_ema(ema, g.params, ema_decay, num_updates=state.step)
  new = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema)
  return new, {"d_loss": d_loss, **d_terms, "g_loss": g_loss, "g_gan": g_gan, "kl": kl}


# --------------------------------------------------------------------------- Stage I runs


def stage1_workdir(config, workdir: str) -> str:
  """The Stage I run of a Stage II config trained in `workdir`."""
  return config.stage1_workdir or os.path.join(workdir, "stage1")


def stage1_config(config):
  """The Stage I config that a Stage II config trains first (stage1_workdir empty)."""
  c = config.copy_and_resolve_references()
  c.stage, c.resolution, c.num_steps = 1, config.stage1_resolution, config.stage1_steps
  c.stage1_workdir = ""
  return c


def check_stage1_run(config, directory: str) -> None:
  """ConfigError, in one line, unless `directory` is a Stage I run this config can build on."""
  path = os.path.join(directory, "config.json")
  if not os.path.exists(path):
    raise ConfigError(f"stage1_workdir {directory}: no trained run there (no config.json); "
                      f"train Stage I first or leave stage1_workdir empty to train both")
  with open(path) as f:
    other = json.load(f)
  if other.get("family") != "stackgan" or other.get("stage") != 1:
    raise ConfigError(f"stage1_workdir {directory} is not a StackGAN Stage I run (family "
                      f"{other.get('family')!r}, stage {other.get('stage')!r})")
  expected = {"resolution": config.stage1_resolution,
              **{k: config[k] for k in STAGE1_SHARED}}
  for key, value in expected.items():
    theirs = other.get(key)
    if theirs != value:
      raise ConfigError(f"stage1_workdir {directory} was trained with {key}={theirs!r}; this "
                        f"Stage II config has {'stage1_resolution' if key == 'resolution' else key}"
                        f"={value!r}")


# --------------------------------------------------------------------------- samples


def grid_captions(config, rows: int = GRID_ROWS):
  """(captions, embeddings (rows, E)) of the sample grid: test images of distinct groups
  (digits: one of each class first), the first caption of each."""
  test = text_data.load(config, "test")
  chosen, seen = [], set()
  for i, group in enumerate(test.groups):
    if int(group) not in seen:
      chosen.append(i)
      seen.add(int(group))
    if len(chosen) == rows:
      break
  chosen += [i for i in range(len(test)) if i not in chosen][:rows - len(chosen)]
  return [test.captions[i][0] for i in chosen], test.embeddings[np.asarray(chosen), 0]


def captioned_grid(samples, captions, ncols: int, *, min_width: int = 512) -> np.ndarray:
  """uint8 (H, W, C): the sample grid (one caption a row) with each caption printed above
  its row."""
  from PIL import Image, ImageDraw, ImageFont
  grid = images_lib.make_grid(samples, ncols=ncols)
  scale = max(1, -(-min_width // grid.shape[1]))
  grid = grid.repeat(scale, 0).repeat(scale, 1)
  rows = -(-len(samples) // ncols)
  row_h = grid.shape[0] // rows
  band = 14
  channels = grid.shape[-1]
  out = np.zeros((rows * (row_h + band), grid.shape[1], channels), np.uint8)
  font = ImageFont.load_default()
  for r in range(rows):
    top = r * (row_h + band)
    out[top + band:top + band + row_h] = grid[r * row_h:(r + 1) * row_h]
    text = Image.new("L", (grid.shape[1], band), 0)
    ImageDraw.Draw(text).text((3, 1), captions[r] if r < len(captions) else "", fill=255,
                              font=font)
    out[top:top + band] = np.asarray(text)[..., None]
  return out


def upsample_to(images, size: int):
  """Nearest-neighbour upsampling of (N, r, r, C) to (N, size, size, C)."""
  k = size // images.shape[1]
  return jnp.repeat(jnp.repeat(images, k, axis=1), k, axis=2)


def caption_inputs(config, embeddings, rng, per_caption: int):
  """Sampler inputs for `per_caption` samples of each caption embedding (rows), the same
  z and eps in each column: (z, embedding, eps1, eps2), all (rows * per_caption, ...)."""
  rows = len(embeddings)
  kz, k1, k2 = jax.random.split(rng, 3)

  def per_column(key, dim):
    return jnp.tile(_normal(key, (per_caption, dim)), (rows, 1))

  emb = jnp.repeat(jnp.asarray(embeddings, jnp.float32), per_caption, axis=0)
  return (per_column(kz, config.latent_dim), emb, per_column(k1, config.condition_dim),
          per_column(k2, config.condition_dim))


# --------------------------------------------------------------------------- evaluation


def _requested(captions, attribute: str):
  """(indices, codes) of the captions that state `attribute`."""
  from ganjax import captioned_digits
  idx, codes = [], []
  for i, text in enumerate(captions):
    value = captioned_digits.parse_caption(text).get(attribute)
    if value is not None:
      idx.append(i)
      codes.append(value)
  return np.asarray(idx, np.int64), np.asarray(codes)


def _rank_correlation(a, b) -> float:
  """Spearman's rho of requested codes `a` and measured values `b` (images without ink,
  measured NaN, rank lowest: a blank image of a 'large' caption counts against it)."""
  from scipy import stats
  if len(a) < 3 or np.all(a == a[0]):
    return float("nan")
  b = np.where(np.isnan(b), -np.inf, b)
  if np.all(b == b[0]):
    return 0.0  # Nothing measured varies: no agreement at all.
  return float(stats.spearmanr(a, b).statistic)


def image_scores(images, captions, *, clf, real_features, encoder, candidates, attributes):
  """The scores of generated (or real) images (N, R, R, C) in [-1, 1] of `captions`."""
  from ganjax import captioned_digits, metrics, text_encoder
  out = {}
  if clf is not None:
    features, probs = clf.predict(np.ascontiguousarray(images))
    idx, labels = _requested(captions, "label")
    out["accuracy"] = float(np.mean(np.argmax(probs[idx], -1) == labels))
    out["fcd"] = metrics.frechet_distance(features, real_features)
    out["classifier_is"] = metrics.inception_score(probs)[0]
  if attributes:
    measured = captioned_digits.measure(images)
    for name in ("size", "thickness", "slant"):
      idx, codes = _requested(captions, name)
      out[f"{name}_rank_correlation"] = _rank_correlation(codes, measured[name][idx])
    idx, codes = _requested(captions, "position")
    out["position_accuracy"] = float(np.mean(measured["position"][idx] == codes))
  if encoder is not None:
    side = text_data.ENCODER_RESOLUTION
    resized = np.asarray(upsample_to(jnp.asarray(images), side)) \
        if images.shape[1] < side else images
    image_emb = encoder.embed_images(resized)
    true_emb = encoder.embed_captions(list(captions))
    out["r_precision"] = text_encoder.r_precision_from_embeddings(image_emb, true_emb,
                                                                  candidates)
  return out


def text_to_image_section(ctx) -> dict:
  """ganjax.evaluate section: every test image's caption (its captions in turn) drawn
  once by each stage and scored, beside the real test images (`_real_baseline`; their FCD
  is to as many train images):

    accuracy: the caption's digit recognised by a classifier of the captioned digits at
      that resolution; fcd, classifier_is: Frechet distance of its features to the real
      test images', and the Inception Score of its class probabilities;
    size/thickness/slant_rank_correlation: Spearman's rho between the requested attribute
      (captions that state it) and the one measured in the image; position_accuracy;
    r_precision: the caption ranked first among it and 99 captions of other test images
      (other classes) by the text encoder's image-text cosine (Xu et al. 2018);
    diversity_l1: the mean L1 between two images of one caption (10 captions x 10 draws).

  A Stage II run scores Stage I (`stage1_`), Stage II (`stage2_`) and Stage I's image
  upsampled to Stage II's size (`stage1_upsampled_`), the paper's baseline.
  """
  from ganjax import classifier as classifier_lib
  c, state, family = ctx.config, ctx.state, ctx.family
  test = text_data.load(c, "test")
  n = min(ctx.options.num_samples or len(test), len(test))
  k = len(test.captions[0])
  captions = [test.captions[i][i % len(test.captions[i])] for i in range(n)]
  embeddings = test.embeddings[np.arange(n), np.arange(n) % k]
  rng = np.random.default_rng(ctx.options.seed)
  encoder = None  # The run's own copy: the encoder its embeddings came from.
  if os.path.isdir(os.path.join(ctx.workdir, "text_encoder")):
    from ganjax import text_encoder
    encoder = text_encoder.load_from_run(ctx.workdir)
  candidates = None
  if encoder is not None:  # 99 mismatched captions of each test caption (other groups).
    picks = np.stack([text_data.wrong_indices(test.groups, np.arange(n), rng)
                      for _ in range(99)], axis=1)
    cand_text = [test.captions[j][rng.integers(len(test.captions[j]))] for j in picks.ravel()]
    candidates = encoder.embed_captions(cand_text).reshape(n, 99, -1)
  digits = c.dataset == "captioned_digits"

  def scorer(size, real_split="test"):
    """image_scores with FCD against `real_split`'s real images (the generated images are
    compared with the test images; the test images themselves with the train images)."""
    clf, real_features = None, None
    if digits:
      from ganjax import captioned_digits

      def load_images():
        out = []
        for split in ("train", "test"):
          d = captioned_digits.load(split, resolution=size)
          out.append((paired.to_float(d.images), d.attributes["label"]))
        return out

      clf = classifier_lib.classifier_for_images(
          f"captioned_digits_{size}", load_images, resolution=size, channels=1,
          num_classes=10, log=ctx.log)
      real = text_data.load(c, real_split, resolution=size).as_float()
      real = real[np.linspace(0, len(real) - 1, min(n, len(real))).astype(int)]  # Spread.
      real_features = clf.predict(np.ascontiguousarray(real))[0]
    return functools.partial(image_scores, clf=clf, real_features=real_features,
                             encoder=encoder, candidates=candidates, attributes=digits)

  sample = family.sampler(c)
  outputs = []
  for start in range(0, n, 100):  # Batches of one shape (the last padded): one compilation.
    chunk = embeddings[start:start + 100]
    m = len(chunk)
    chunk = np.concatenate([chunk, np.zeros((100 - m, chunk.shape[1]), chunk.dtype)])
    kz, k1, k2 = jax.random.split(jax.random.fold_in(jax.random.key(ctx.options.seed), start), 3)
    x = sample(state, _normal(kz, (100, c.latent_dim)), jnp.asarray(chunk),
               _normal(k1, (100, c.condition_dim)), _normal(k2, (100, c.condition_dim)))
    x = np.asarray(x)
    outputs.append(x[:2 * m] if c.stage == 2 else x[:m])
  stages = split_stages(c, np.concatenate(outputs))
  # Diversity: 10 captions x 10 draws, one sampler call for every stage.
  z, emb, eps1, eps2 = caption_inputs(c, embeddings[:10], jax.random.key(7), 10)
  draws = split_stages(c, np.asarray(sample(state, z, emb, eps1, eps2)))
  out = {"num_test_captions": n}
  scorers, real_scores = {}, {}
  for name, images in stages.items():
    size = images.shape[1]
    if size not in scorers:
      scorers[size] = scorer(size)
      # The real test images at this size, scored alike: what the scores can reach.
      real = text_data.load(c, "test", resolution=size).as_float()[:n]
      real_scores[size] = scorer(size, "train")(real, captions)
    for key, value in scorers[size](images, captions).items():
      out[f"{name}_{key}"] = value
      out[f"{name}_{key}_real_baseline"] = real_scores[size][key]
    out[f"{name}_diversity_l1"] = _diversity(draws[name], 10)
  return out


def split_stages(config, outputs) -> dict:
  """{stage name: images} of the sampler's outputs: Stage I's alone, or (Stage II runs,
  which interleave Stage I upsampled and Stage II) stage1, stage1_upsampled and stage2."""
  if config.stage == 1:
    return {"stage1": outputs}
  upsampled = outputs[0::2]
  factor = config.resolution // config.stage1_resolution
  return {"stage1": upsampled[:, ::factor, ::factor], "stage1_upsampled": upsampled,
          "stage2": outputs[1::2]}


def _diversity(images, draws: int) -> float:
  """Mean L1 between two draws of one caption, images (captions x draws, ...) in [-1, 1]."""
  x = images.reshape(-1, draws, images[0].size)
  d = np.abs(x[:, :, None] - x[:, None, :]).mean(-1)
  return float(d.sum() / (len(x) * draws * (draws - 1)))


# --------------------------------------------------------------------------- the family


class StackGAN(base.Family):
  """Text -> image in two stages, each a matching-aware conditional GAN."""

  name = "stackgan"
  samples_from_z = False  # G maps (z, text): the family's own section scores its images.
  text_conditional = True

  def fields(self) -> dict:
    return dict(
        dataset="captioned_digits",  # captioned_digits | folder (see ganjax.text_data)
        folder="",                   # dataset 'folder': FOLDER/train, FOLDER/test (NAME.txt)
        stage=1,                     # 1: text -> low resolution; 2: Stage I's image -> resolution
        stage1_workdir="",           # Stage II: the Stage I run ("": <workdir>/stage1, trained first)
        stage1_resolution=16,        # Stage II: the side of Stage I's images
        stage1_steps=2000,           # Stage II, stage1_workdir "": Stage I's num_steps
        latent_dim=100,              # size of the noise z
        condition_dim=32,            # size of c (the reference: 128)
        augment=True,                # conditioning augmentation (False: c = mu, no KL term)
        kl_weight=2.0,               # weight of KL(N(mu, sigma) || N(0, I)) in G's loss
        mismatched_pairs=True,       # D also sees real images with wrong captions (GAN-CLS)
        width=32,                    # G: Stage I has 8 x width channels at 4x4; Stage II's base
        d_width=32,                  # D: filters of the first layer
        spectral_norm=False,         # D's kernels over their largest singular value (SN-GAN)
        res_blocks=2,                # Stage II: residual blocks (the reference: 4)
        downsamplings=1,             # Stage II: halvings of Stage I's image before the join
    )

  def check_config(self, config):
    super().check_config(config)
    try:
      text_data.check(config)
    except text_data.TextDataError as e:
      raise ConfigError(str(e)) from None
    if config.stage not in STAGES:
      raise ConfigError(f"stage must be 1 or 2, got {config.stage!r}")
    if config.d_steps != 1:
      raise ConfigError(f"stackgan updates D once a step: d_steps must be 1, got "
                        f"{config.d_steps}")
    for field in ("latent_dim", "condition_dim", "width", "d_width", "stage1_steps"):
      if config[field] < 1:
        raise ConfigError(f"{field} must be >= 1, got {config[field]}")
    for field in ("res_blocks", "downsamplings"):
      if config[field] < 0:
        raise ConfigError(f"{field} must be >= 0, got {config[field]}")
    if config.kl_weight < 0:
      raise ConfigError(f"kl_weight must be >= 0, got {config.kl_weight}")
    sizes = (8, 16, 32, 64, 128, 256)
    if config.resolution not in sizes:
      raise ConfigError(f"resolution must be one of {', '.join(map(str, sizes))}, got "
                        f"{config.resolution}")
    if config.stage == 2:
      r0 = config.stage1_resolution
      if r0 not in sizes or config.resolution not in (2 * r0, 4 * r0):
        raise ConfigError(f"Stage II doubles or quadruples Stage I's side: resolution must be "
                          f"{2 * r0} or {4 * r0} for stage1_resolution={r0}, got "
                          f"{config.resolution}")
      if r0 >> config.downsamplings < 4:
        raise ConfigError(f"downsamplings={config.downsamplings} takes Stage I's {r0} px "
                          f"below 4 px")
      if config.stage1_workdir:
        check_stage1_run(config, config.stage1_workdir)

  def networks(self, config):
    """(generator, discriminator) of the config's stage."""
    augment = config.augment
    if config.stage == 1:
      generator = Stage1Generator(resolution=config.resolution, channels=config.channels,
                                  width=config.width, condition_dim=config.condition_dim,
                                  augment=augment)
    else:
      generator = Stage2Generator(resolution=config.resolution, channels=config.channels,
                                  width=config.width, condition_dim=config.condition_dim,
                                  res_blocks=config.res_blocks,
                                  downsamplings=config.downsamplings, augment=augment)
    discriminator = MatchingDiscriminator(width=config.d_width,
                                          condition_dim=config.condition_dim,
                                          unconditional=config.stage == 2,
                                          spectral_norm=config.spectral_norm)
    return generator, discriminator

  def embedding_dim(self, config) -> int:
    # create_state runs under jit: the encoder (trained on a first call) must run eagerly.
    with jax.ensure_compile_time_eval():
      return text_data.embedding_dim(config)

  def create_state(self, config, rng) -> StackState:
    generator, discriminator = self.networks(config)
    g_tx, d_tx = base.build_optimizers(config)
    b = 2
    emb = jnp.zeros((b, self.embedding_dim(config)))
    eps = jnp.zeros((b, config.condition_dim))
    image = jnp.zeros((b, config.resolution, config.resolution, config.channels))
    k_g, k_d, k_1 = jax.random.split(rng, 3)
    stage1 = None
    if config.stage == 2:  # Filled from the Stage I run when this run starts (fresh_state).
      g1 = self.networks(stage1_config(config))[0]
      stage1 = init_net(k_1, g1, jnp.zeros((b, config.latent_dim)), optax.set_to_zero(),
                        dict(embedding=emb, eps=eps))
      source = jnp.zeros((b, config.stage1_resolution, config.stage1_resolution,
                          config.channels))
    else:
      source = jnp.zeros((b, config.latent_dim))
    g = init_net(k_g, generator, source, g_tx, dict(embedding=emb, eps=eps))
    d = init_net(k_d, discriminator, image, d_tx, dict(embedding=emb))
    ema = jax.tree.map(jnp.copy, g.params) if config.ema_decay > 0 else None
    return StackState(step=jnp.zeros((), jnp.int32), generator=g, discriminator=d,
                      stage1=stage1, ema_params=ema)

  def step(self, config):
    return functools.partial(
        stackgan_step, latent_dim=config.latent_dim, condition_dim=config.condition_dim,
        kl_weight=config.kl_weight if config.augment else 0.0,
        mismatched_pairs=config.mismatched_pairs, ema_decay=config.ema_decay)

  def minibatch_rank(self, config, feature: str) -> int:
    return 2 if "embedding" in feature else 4

  def train_batches(self, config, *, local_batch_size: int):
    data = text_data.load(config, config.train_split)
    if len(data) // jax.process_count() < local_batch_size:
      raise ConfigError(f"batch_size {config.batch_size} is more than the {len(data)} "
                        f"training images")
    return text_data.batches(data, batch_size=local_batch_size, seed=config.seed,
                             shard_index=jax.process_index(),
                             shard_count=jax.process_count())

  # ------------------------------------------------------------------ two stages
  def prepare(self, config, workdir: str) -> None:
    """Before training: a Stage II run with no stage1_workdir trains Stage I first (or
    finishes it, after an interruption); every run keeps a copy of its text encoder."""
    if config.stage == 2 and not config.stage1_workdir:
      from ganjax import train
      first = stage1_config(config)
      directory = stage1_workdir(config, workdir)
      from ganjax.checkpoint import Checkpointer
      done = False
      if os.path.isdir(os.path.join(directory, "checkpoints")):
        ckpt = Checkpointer(os.path.join(directory, "checkpoints"), save_every=1, keep=10**6)
        done = ckpt.latest_step() == first.num_steps
        ckpt.close()
      if not done:
        train.train_and_evaluate(first, directory)
    if jax.process_index() == 0 and text_data.has_text_encoder(config):
      from ganjax import text_encoder
      text_encoder.save_to_run(workdir, text_data.text_encoder(config))

  def fresh_state(self, config, state, workdir: str):
    """A Stage II run's first state: Stage I's trained generator (its EMA weights where it
    kept them) in place of the random one."""
    if config.stage != 2:
      return state
    from ganjax.checkpoint import CheckpointError
    from ganjax.restore import load_trained
    directory = stage1_workdir(config, workdir)
    check_stage1_run(config, directory)
    try:
      _, first = load_trained(directory)
    except (FileNotFoundError, CheckpointError) as e:
      raise ConfigError(f"stage1_workdir: {e}") from None
    g = first.generator
    params = g.params if first.ema_params is None else first.ema_params
    return state.replace(stage1=state.stage1.replace(params=params,
                                                     batch_stats=g.batch_stats))

  # ------------------------------------------------------------------ samples
  def sampler(self, config):
    """A jitted fn(state, z, embedding, eps1, eps2) -> images: Stage I's (Stage I runs), or
    Stage I's upsampled and Stage II's interleaved (Stage II runs)."""
    generator, _ = self.networks(config)

    @jax.jit
    def sample(state, z, embedding, eps1, eps2):
      if state.stage1 is None:
        return generator.apply(state.sampling_variables(), z, embedding=embedding, eps=eps1,
                               train=False)[0]
      low = stage1_images(state, z, embedding, eps1)
      high = generator.apply(state.sampling_variables(), low, embedding=embedding, eps=eps2,
                             train=False)[0]
      return interleave(upsample_to(low, high.shape[1]), high)

    return sample

  def _grid(self, config, embeddings, rng, num_images: int):
    """(inputs, ncols) of a grid of about num_images images, a row per caption embedding
    (a Stage II run's cells are Stage I | Stage II pairs)."""
    pair = 2 if config.stage == 2 else 1
    per = max(1, num_images // len(embeddings) // pair)
    return caption_inputs(config, embeddings, rng, per), per * pair

  def grid_inputs(self, config, rng, num_images: int):
    return self._grid(config, grid_captions(config)[1], rng, num_images)

  def write_samples(self, path, config, samples, *, ncols=None, step=0, captions=None):
    del step
    captions = captions if captions is not None else grid_captions(config)[0]
    grid = captioned_grid(samples, captions, ncols or len(samples))
    return images_lib.save_png(path, grid)

  def caption_grid_inputs(self, config, workdir: str, captions, rng, num_images: int):
    """(inputs, ncols) of a grid of the typed `captions` (one a row), embedded by the run's
    own text encoder. ValueError, in one line, for words it does not know, or for a run
    that conditions on precomputed embeddings."""
    from ganjax import text_encoder
    if not os.path.isdir(os.path.join(workdir, "text_encoder")):
      raise ValueError(f"{workdir} has no text encoder (it was trained on precomputed "
                       f"embeddings): typed captions cannot be embedded")
    embeddings = text_encoder.load_from_run(workdir).embed_captions(list(captions))
    return self._grid(config, embeddings, rng, num_images)

  def default_workdir(self, name: str, config) -> str:
    suffix = "_stage1" if config.stage == 1 else ""
    return os.path.join("workdirs", f"{name}_{config.dataset}{suffix}")

  def evaluation_sections(self):
    return (("text_to_image", text_to_image_section),)

  def num_eval_samples(self, config) -> int:
    return len(text_data.load(config, "test"))


FAMILY = StackGAN()
