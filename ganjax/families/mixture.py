"""The 2-D Gaussian-mixture benchmark of mode collapse, as a family of its own.

The unconditional GAN family (ganjax.families.gan: every step kind, loss and
remedy) on points instead of images: MLPs whose generator has no tanh, batches
of the ring or grid mixture from memory (ganjax.mixture), scatter plots for
samples, and the mode metrics (modes covered, high-quality fraction, reverse KL)
written to eval.json at the end of every run and in `evaluate`.
"""

import jax
from absl import logging

from ganjax import mixture, parallel, steps
from ganjax.config import ConfigError
from ganjax.families import base
from ganjax.families.gan import GAN


def mixture_section(ctx) -> dict:
  """Modes covered, high-quality fraction and reverse KL of the generated points."""
  samples, _ = ctx.generated()
  return mixture.mode_metrics(samples, mixture.get(ctx.config.dataset))


class Mixture(GAN):
  """z -> 2-D points from the ring (8 modes) or grid (25 modes) mixture."""

  name = "mixture"
  image_samples = False

  def fields(self) -> dict:
    return dict(super().fields(), dataset="ring", model="mlp", hidden=(128, 128, 128),
                latent_dim=2)

  def check_config(self, config):
    # The family's own checks first: a DCGAN here fails the gan checks for other reasons.
    if not mixture.is_mixture(config.dataset):
      raise ConfigError(f"the mixture family's dataset is one of "
                        f"{', '.join(mixture.MIXTURES)}, not {config.dataset!r}")
    if config.model != "mlp":
      raise ConfigError(f"the 2-D mixture {config.dataset!r} needs model='mlp', "
                        f"not {config.model!r}")
    super().check_config(config)

  def example_shape(self, config):
    return (2,)

  def mlp_generator(self, config):
    # Points are unbounded: no tanh squashing them into [-1, 1].
    return base.image_generator(config, output_shape=(2,), output_activation="linear")

  def train_batches(self, config, *, local_batch_size: int):
    return mixture.load(config.dataset, batch_size=local_batch_size, seed=config.seed,
                        shard_index=jax.process_index(), shard_count=jax.process_count())

  def write_samples(self, path, config, samples, *, ncols=None, step=0):
    del ncols
    return mixture.save_samples(path, config.dataset, samples, step=step)

  def finish(self, config, workdir, state, sampler, rng):
    """eval.json and eval.png: the mode metrics of 2,500 samples (by discriminator
    rejection where drs_keep < 1: then eval.json also has `drs_acceptance` and
    `without_drs`, the metrics of 2,500 of G's own samples)."""
    key = jax.random.fold_in(rng, 1)
    z = steps.sample_latent(key, mixture.NUM_EVAL_SAMPLES, config.latent_dim)
    samples = parallel.fetch(sampler(state, z))  # Every process: the state is global.
    if jax.process_index() != 0:
      return
    extra = {}
    if config.drs_keep < 1:
      from ganjax import evaluate
      # On this process's copy of the state: D's calibration and the rejection are local.
      stats, own = {}, samples
      samples = evaluate.rejection_generate(
          config, parallel.fetch(state), mixture.NUM_EVAL_SAMPLES, seed=config.seed,
          log=logging.info, stats=stats)
      extra = {"drs_acceptance": stats["acceptance"],
               "without_drs": mixture.mode_metrics(own, mixture.get(config.dataset))}
    metrics = mixture.write_evaluation(workdir, config.dataset, samples,
                                       step=int(parallel.fetch(state.step)), **extra)
    logging.info("eval: %d/%d modes covered, high quality %.3f, reverse KL %.3f",
                 metrics["modes_covered"], metrics["num_modes"],
                 metrics["high_quality_fraction"], metrics["reverse_kl"])

  def evaluation_sections(self):
    return (("mixture", mixture_section),)

  def num_eval_samples(self, config):
    return mixture.NUM_EVAL_SAMPLES


FAMILY = Mixture()
