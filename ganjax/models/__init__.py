"""Generators and discriminators, one GAN family per file, and `build` from a config."""

from ganjax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator

MODELS = ("dcgan", "mlp")


def build(config):
  """(generator, discriminator) flax modules for `config.model`."""
  if config.model == "dcgan":
    return (DCGANGenerator(resolution=config.resolution, channels=config.channels,
                           width=config.width, upsample=config.upsample),
            DCGANDiscriminator(resolution=config.resolution, width=config.width,
                               normalization=config.d_normalization))
  if config.model == "mlp":
    shape = (config.resolution, config.resolution, config.channels)
    return (MLPGenerator(output_shape=shape, hidden=tuple(config.hidden)),
            MLPDiscriminator(hidden=tuple(config.hidden)))
  raise ValueError(f"unknown model {config.model!r}; valid: {', '.join(MODELS)}")
