"""CycleGAN: unpaired translation by two generators tied by cycle consistency.

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", https://arxiv.org/abs/1703.10593, as the
authors' code (junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py).
G: A -> B and F: B -> A (here `g_ab`, `g_ba`); D_A judges domain A, D_B domain B:

    L_G = L_gan(D_B(G(a))) + L_gan(D_A(F(b)))
          + lambda_A |F(G(a)) - a|_1 + lambda_B |G(F(b)) - b|_1             (cycles)
          + lambda_idt (lambda_B |G(b) - b|_1 + lambda_A |F(a) - a|_1)      (identity)
    L_D_B = 1/2 [L_gan(D_B(b), real) + L_gan(D_B(pool_B(G(a))), fake)], L_D_A alike

with the least-squares GAN loss (mean (D - 1)^2 for G; ganjax.losses' least-squares
pair carries Mao et al.'s 1/2, so it is doubled here and lambda weighs the cycle
against the GAN term as in the reference), lambda_A = lambda_B = 10, lambda_idt =
0.5, ResNet generators (ganjax.models.cyclegan), 70x70 PatchGANs with instance norm,
Adam 2e-4 (0.5, 0.999) constant for half the run, then linearly to 0. As the
reference, both generators are updated first and then both discriminators, each
seeing the other's parameters from before this step; D sees generated images
through a 50-image history pool (ganjax.image_pool) kept in the state, so a resumed
run is the uninterrupted one, pools included. The ablations of the paper's Table 4
are switches: `cycle_weight_a=cycle_weight_b=0` (GAN alone), `cycle_weight_b=0`
(GAN + forward cycle), `identity_weight=0`, `pool_size=0`.

Batches: {'a': (1, B, R, R, C), 'b': (1, B, R, R, C)} (unpaired: independent draws).
Sample grids: rows of a | G(a) | F(G(a)) | b | F(b) | G(F(b)) from the test split.
Evaluation (`translation` section of ganjax.evaluate), per direction (a2b_, b2a_):
the cycle's reconstruction L1 and, for the digits domain pairs whose test images come
with their true counterparts, L1 and PSNR against it, the label kept (the accuracy of
a classifier of the target domain on the outputs) and the Frechet distance of its
features to the target domain's test images (FCD), each beside `_identity` (the input
itself as the output).
"""

import functools
from typing import Any

import flax.struct as struct
import jax
import jax.numpy as jnp
import numpy as np

from ganjax import image_pool, losses, paired, steps, unpaired
from ganjax.config import ConfigError
from ganjax.families import base
from ganjax.families.pix2pix import (check_load_size, check_patchgan, check_unet, interleave,
                                     translation_scores)
from ganjax.models.cyclegan import ResNetGenerator, default_res_blocks
from ganjax.models.pix2pix import PatchGANDiscriminator, UNetGenerator
from ganjax.state import NetState, init_net

GENERATORS = ("resnet", "unet")
DIRECTIONS = ("AtoB", "BtoA")
GRID_COLUMNS = 6  # a | G(a) | F(G(a)) | b | F(b) | G(F(b))
# ganjax.losses' least-squares losses are Mao et al.'s 1/2 (r - b)^2; the reference's MSE is
# (r - b)^2: the factor that makes lambda weigh the cycle against the GAN term as there.
_REFERENCE_SCALE = {"least_squares": 2.0}


class CycleState(struct.PyTreeNode):
  """Two generators (A -> B, B -> A), two discriminators (of A, of B), the step, and the
  history pools of generated A and B images (None where a family keeps none)."""

  step: jax.Array
  g_ab: NetState
  g_ba: NetState
  d_a: NetState
  d_b: NetState
  pool_a: Any = None
  pool_b: Any = None

  def generator(self, direction: str) -> NetState:
    return self.g_ab if direction == "AtoB" else self.g_ba


# --------------------------------------------------------------------------- step


def cyclegan_step(state: CycleState, batch, rng, *, g_loss_fn, d_loss_fn, gan_weight: float,
                  cycle_weight_a: float, cycle_weight_b: float, identity_weight: float):
  """One CycleGAN iteration: both generators, then both discriminators (see the module).

  Args:
    state: the CycleState.
    batch: {'a': (1, B, R, R, C), 'b': (1, B, R, R, C)}.
    g_loss_fn, d_loss_fn: a loss pair of ganjax.losses, on D's patch logits.
    gan_weight: the weight of the generators' adversarial terms.
    cycle_weight_a, cycle_weight_b: lambda_A (a -> b -> a) and lambda_B (b -> a -> b).
    identity_weight: lambda_idt, relative to lambda_A and lambda_B.

  Returns:
    (new state, metrics): g_loss and its terms, d_a_loss, d_b_loss, d_loss.
  """
  a, b = batch["a"][0], batch["b"][0]
  key_a, key_b = jax.random.split(jax.random.fold_in(rng, state.step))
  g_ab, g_ba, d_a, d_b = state.g_ab, state.g_ba, state.d_a, state.d_b

  def g_objective(params):
    p_ab, p_ba = params
    stats = {"ab": g_ab.batch_stats, "ba": g_ba.batch_stats}
    nets = {"ab": (g_ab, p_ab), "ba": (g_ba, p_ba)}

    def run(direction, x):  # Each pass through a generator advances its statistics.
      net, p = nets[direction]
      y, stats[direction] = steps.apply_train(net, p, x, stats[direction])
      return y

    fake_b, fake_a = run("ab", a), run("ba", b)
    m = {"g_gan_ab": g_loss_fn(steps.apply_train(d_b, d_b.params, fake_b)[0]),
         "g_gan_ba": g_loss_fn(steps.apply_train(d_a, d_a.params, fake_a)[0])}
    loss = gan_weight * (m["g_gan_ab"] + m["g_gan_ba"])
    if cycle_weight_a:
      m["cycle_a"] = losses.l1_loss(run("ba", fake_b), a)
      loss += cycle_weight_a * m["cycle_a"]
    if cycle_weight_b:
      m["cycle_b"] = losses.l1_loss(run("ab", fake_a), b)
      loss += cycle_weight_b * m["cycle_b"]
    if identity_weight:  # G fed a B image should leave it as it is (colour preservation).
      m["identity_b"] = losses.l1_loss(run("ab", b), b)
      m["identity_a"] = losses.l1_loss(run("ba", a), a)
      loss += identity_weight * (cycle_weight_b * m["identity_b"]
                                 + cycle_weight_a * m["identity_a"])
    return loss, (fake_a, fake_b, stats, m)

  (g_loss, (fake_a, fake_b, g_stats, metrics)), (grad_ab, grad_ba) = jax.value_and_grad(
      g_objective, has_aux=True)((g_ab.params, g_ba.params))
  # D sees G's images of this step through the pools (the older G's, as the reference).
  shown_a, pool_a = image_pool.query(state.pool_a, fake_a, key_a)
  shown_b, pool_b = image_pool.query(state.pool_b, fake_b, key_b)

  def d_objective(params, d, real, fake):
    real_logits, stats = steps.apply_train(d, params, real)
    fake_logits, stats = steps.apply_train(d, params, fake, stats)
    return 0.5 * d_loss_fn(real_logits, fake_logits), stats

  d_grad = jax.value_and_grad(d_objective, has_aux=True)
  (d_a_loss, d_a_stats), d_a_grads = d_grad(d_a.params, d_a, a, shown_a)
  (d_b_loss, d_b_stats), d_b_grads = d_grad(d_b.params, d_b, b, shown_b)
  new = state.replace(
      step=state.step + 1,
      g_ab=g_ab.apply_gradients(grads=grad_ab).replace(batch_stats=g_stats["ab"]),
      g_ba=g_ba.apply_gradients(grads=grad_ba).replace(batch_stats=g_stats["ba"]),
      d_a=d_a.apply_gradients(grads=d_a_grads).replace(batch_stats=d_a_stats),
      d_b=d_b.apply_gradients(grads=d_b_grads).replace(batch_stats=d_b_stats),
      pool_a=pool_a, pool_b=pool_b)
  return new, {**metrics, "g_loss": g_loss, "d_a_loss": d_a_loss, "d_b_loss": d_b_loss,
               "d_loss": d_a_loss + d_b_loss}


# --------------------------------------------------------------------------- translation


def translator(family, config):
  """A jitted fn(state, images, direction) -> the generator of `direction` on images, in
  inference mode (BatchNorm's running averages; instance norm is the same in both)."""
  generator = family.networks(config)[0]

  @functools.partial(jax.jit, static_argnums=2)
  def translate(state, images, direction):
    return generator.apply(state.generator(direction).variables(), images, train=False)

  return translate


def translate_all(translate, state, images, direction: str, *, batch_size: int = 100):
  """`translate` (a `translator`) on a numpy array of any length, in batches of one shape."""
  out = []
  for start in range(0, len(images), batch_size):
    chunk = np.asarray(images[start:start + batch_size], np.float32)
    n = len(chunk)
    if n < batch_size and len(images) > batch_size:  # Pad to the compiled shape.
      chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]), np.float32)])
    out.append(np.asarray(translate(state, chunk, direction))[:n])
  return np.concatenate(out)


# --------------------------------------------------------------------------- evaluation


def domain_classifier(config, domain: str, ctx):
  """The classifier of digits domain `domain` ('A' or 'B') of the config's task: the shipped
  digits classifier where the domain is the digits themselves, else one trained (and
  cached) on that domain's form of every train digit."""
  from ganjax import classifier as classifier_lib
  task, size = config.dataset, config.resolution
  kwargs = dict(directory=None, log=ctx.log)
  if domain == "A" and task in ("digits_invert", "digits_rotate", "digits_font"):
    return classifier_lib.get_classifier("digits", resolution=size, channels=1,
                                         data_dir=config.data_dir or None, **kwargs)
  index = "AB".index(domain)

  def load_images():  # Only when the classifier is not cached yet.
    out = []
    for split in ("train", "test"):
      forms = unpaired.digits_split(task, split, size, config.data_dir or None)
      out.append((paired.to_float(forms[index]), forms[2]))
    return out

  return classifier_lib.classifier_for_images(f"{task}_{domain}", load_images,
                                              resolution=size, channels=1, num_classes=10,
                                              **kwargs)


def translation_section(ctx) -> dict:
  """ganjax.evaluate section: both directions on the test split (see the module)."""
  c, state = ctx.config, ctx.state
  family = ctx.family
  test = load_domains(c, "test")
  a, b = test.as_float()
  out = {"num_test_images": len(a) + len(b)}
  translate = translator(family, c)  # One compilation per direction for all four passes.
  for name, direction, back, source, target, target_domain in (
      ("a2b", "AtoB", "BtoA", a, b, "B"), ("b2a", "BtoA", "AtoB", b, a, "A")):
    outputs = translate_all(translate, state, source, direction)
    cycled = translate_all(translate, state, outputs, back)
    out[f"{name}_cycle_l1"] = float(np.mean(np.abs(cycled - source)))
    if not test.paired:
      continue
    clf = domain_classifier(c, target_domain, ctx)
    real_features, real_probs = clf.predict(target)
    out[f"{name}_accuracy_real_targets"] = float(
        np.mean(np.argmax(real_probs, -1) == test.labels))
    from ganjax import metrics
    for suffix, images in (("", outputs), ("_identity", source)):
      scores = translation_scores(images, target)
      out[f"{name}_l1{suffix}"], out[f"{name}_psnr{suffix}"] = scores["l1"], scores["psnr"]
      features, probs = clf.predict(np.ascontiguousarray(images))
      out[f"{name}_accuracy{suffix}"] = float(np.mean(np.argmax(probs, -1) == test.labels))
      out[f"{name}_fcd{suffix}"] = metrics.frechet_distance(features, real_features)
  return out


# --------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=8)
def _cached_domains(dataset, split, size, channels, data_dir, folder):
  return unpaired.load_domains(dataset, split, size=size, channels=channels,
                               data_dir=data_dir or None, folder=folder)


def load_domains(config, split: str, *, jitter: bool = False) -> unpaired.Domains:
  """The config's domains of `split`, at the load size (jitter) or the resolution."""
  size = config.load_size if jitter else config.resolution
  try:
    return _cached_domains(config.dataset, split, size, config.channels, config.data_dir,
                           config.folder)
  except unpaired.UnpairedDataError as e:
    raise ConfigError(str(e)) from None


# --------------------------------------------------------------------------- the family


class CycleGAN(base.Family):
  """Unpaired A <-> B translation: two generators, two discriminators, cycle consistency."""

  name = "cyclegan"
  samples_from_z = False

  def fields(self) -> dict:
    return dict(
        dataset="digits_bold",       # digits_invert|_bold|_rotate|_font, folder, cycle_gan/<name>
        folder="",                   # dataset 'folder': FOLDER/trainA, trainB, testA, testB
        resolution=32,
        load_size=36,                # random jitter: images resized to this, cropped to resolution
        flip=False,                  # random jitter: left-right flips (not for digits)
        generator="resnet",          # resnet | unet
        width=64,                    # G: filters of the first layer (ngf)
        res_blocks=0,                # ResNet G: residual blocks; 0 = 6 up to 128 px, 9 above
        d_width=64,                  # D: filters of the first PatchGAN layer (ndf)
        d_layers=3,                  # PatchGAN: 0, 1, 2, 3 -> patches of 1, 16, 34, 70 px
        normalization="instance",    # instance | batch, in G and D
        spectral_norm=False,         # D's kernels over their largest singular value (SN-GAN)
        loss="least_squares",        # D's and G's loss pair (ganjax.losses.LOSS_FAMILIES)
        label_smoothing=0.0,
        least_squares_labels=(0.0, 1.0, 1.0),
        gan_weight=1.0,              # weight of the generators' adversarial terms
        cycle_weight_a=10.0,         # lambda_A: |F(G(a)) - a|_1; 0 drops the forward cycle
        cycle_weight_b=10.0,         # lambda_B: |G(F(b)) - b|_1; 0 drops the backward cycle
        identity_weight=0.5,         # lambda_idt, times lambda_A / lambda_B; 0: none
        pool_size=50,                # images in each history pool; 0: D sees the newest only
    )

  def check_config(self, config):
    super().check_config(config)
    self.check_data(config)
    if config.d_steps != 1:
      raise ConfigError(f"{self.name} updates each network once a step: d_steps must be 1, "
                        f"got {config.d_steps}")
    check_load_size(config)
    if min(config.width, config.d_width) < 1:
      raise ConfigError("width and d_width must be >= 1")
    if config.generator not in GENERATORS:
      raise ConfigError(f"unknown generator {config.generator!r}; valid: "
                        f"{', '.join(GENERATORS)}")
    check_patchgan(config)
    if config.generator == "unet":
      check_unet(config)
    elif config.resolution < 4 or config.resolution % 4:
      raise ConfigError(f"the ResNet generator halves the image twice: resolution must be "
                        f"a multiple of 4, got {config.resolution}")
    if config.res_blocks < 0:
      raise ConfigError(f"res_blocks must be >= 0 (0: the reference's choice), got "
                        f"{config.res_blocks}")
    weights = (config.gan_weight, config.cycle_weight_a, config.cycle_weight_b,
               config.identity_weight)
    if min(weights) < 0 or not config.gan_weight:
      raise ConfigError(f"gan_weight must be > 0 and the cycle and identity weights >= 0, "
                        f"got {weights}")
    if config.pool_size < 0:
      raise ConfigError(f"pool_size must be >= 0, got {config.pool_size}")
    base.build_losses(config)

  def check_data(self, config):
    try:
      unpaired.check(config.dataset, channels=config.channels, folder=config.folder)
    except unpaired.UnpairedDataError as e:
      raise ConfigError(str(e)) from None

  def networks(self, config):
    """(generator, discriminator): the module of both generators and of both discriminators."""
    if config.generator == "unet":
      generator = UNetGenerator(channels=config.channels, width=config.width,
                                normalization=config.normalization, dropout_blocks=0)
    else:
      generator = ResNetGenerator(
          channels=config.channels, width=config.width, normalization=config.normalization,
          res_blocks=config.res_blocks or default_res_blocks(config.resolution))
    return generator, PatchGANDiscriminator(n_layers=config.d_layers, width=config.d_width,
                                            normalization=config.normalization,
                                            spectral_norm=config.spectral_norm)

  def optimizers(self, config):
    """(generators' optax optimizer, discriminators')."""
    return base.build_optimizers(config)

  def create_state(self, config, rng) -> CycleState:
    generator, discriminator = self.networks(config)
    g_tx, d_tx = self.optimizers(config)
    shape = (config.resolution, config.resolution, config.channels)
    image = jnp.zeros((1, *shape))
    keys = jax.random.split(rng, 4)
    pools = self.create_pools(config, shape)
    return CycleState(step=jnp.zeros((), jnp.int32),
                      g_ab=init_net(keys[0], generator, image, g_tx),
                      g_ba=init_net(keys[1], generator, image, g_tx),
                      d_a=init_net(keys[2], discriminator, image, d_tx),
                      d_b=init_net(keys[3], discriminator, image, d_tx), **pools)

  def create_pools(self, config, shape) -> dict:
    return {"pool_a": image_pool.create(config.pool_size, shape),
            "pool_b": image_pool.create(config.pool_size, shape)}

  def step(self, config):
    g_loss_fn, d_loss_fn = base.build_losses(config)
    scale = _REFERENCE_SCALE.get(config.loss, 1.0)
    return functools.partial(
        cyclegan_step, g_loss_fn=lambda x: scale * g_loss_fn(x),
        d_loss_fn=lambda r, f: scale * d_loss_fn(r, f), gan_weight=config.gan_weight,
        cycle_weight_a=config.cycle_weight_a, cycle_weight_b=config.cycle_weight_b,
        identity_weight=config.identity_weight)

  def train_batches(self, config, *, local_batch_size: int):
    return unpaired.batches(load_domains(config, config.train_split, jitter=True),
                            batch_size=local_batch_size, resolution=config.resolution,
                            flip=config.flip, seed=config.seed,
                            shard_index=jax.process_index(), shard_count=jax.process_count())

  # Samples: both round trips of test images.
  def sampler(self, config):
    """A jitted fn(state, a, b) -> a | G(a) | F(G(a)) | b | F(b) | G(F(b)) interleaved."""
    translate = translator(self, config)

    @jax.jit
    def sample(state, a, b):
      ab, ba = translate(state, a, "AtoB"), translate(state, b, "BtoA")
      return interleave(a, ab, translate(state, ab, "BtoA"),
                        b, ba, translate(state, ba, "AtoB"))

    return sample

  def grid_inputs(self, config, rng, num_images: int):
    """(a, b) of the first test images: num_images // 6 rows of both round trips."""
    del rng
    test = load_domains(config, "test")
    n = max(1, min(num_images // GRID_COLUMNS, len(test.a), len(test.b)))
    a, b = test.as_float()
    return (jnp.asarray(a[:n]), jnp.asarray(b[:n])), GRID_COLUMNS

  def translation_directions(self, config):
    return DIRECTIONS

  def translate(self, config, state, images, direction, *, seed=0):
    del seed  # The generators draw no noise.
    return translate_all(translator(self, config), state, images, direction,
                         batch_size=min(len(images), 64))

  def evaluation_sections(self):
    return (("translation", translation_section),)

  def num_eval_samples(self, config) -> int:
    """Every test image of both domains is translated."""
    test = load_domains(config, "test")
    return len(test.a) + len(test.b)


FAMILY = CycleGAN()
