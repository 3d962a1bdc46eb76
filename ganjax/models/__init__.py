"""Generators and discriminators, one GAN family per file, and `build` from a config."""

from ganjax import mixture
from ganjax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator
from ganjax.models import conditional

MODELS = ("dcgan", "mlp")


def example_shape(config) -> tuple[int, ...]:
  """The shape of one training example: (2,) for the 2-D mixtures, else (R, R, C)."""
  if mixture.is_mixture(config.dataset):
    return (2,)
  return (config.resolution, config.resolution, config.channels)


def build(config):
  """(generator, discriminator) flax modules for `config.model`."""
  if config.objective in conditional.OBJECTIVES:  # Networks that take or predict labels.
    return conditional.build(config)
  # Mode-collapse switches of the discriminator (off by default).
  remedies = dict(pack=config.pack, minibatch_kernels=config.minibatch_kernels,
                  minibatch_kernel_dim=config.minibatch_kernel_dim)
  if config.model == "dcgan":
    return (DCGANGenerator(resolution=config.resolution, channels=config.channels,
                           width=config.width, upsample=config.upsample),
            DCGANDiscriminator(resolution=config.resolution, width=config.width,
                               normalization=config.d_normalization, **remedies))
  if config.model == "mlp":
    shape = example_shape(config)
    # Points are unbounded: no tanh squashing them into [-1, 1].
    activation = "linear" if mixture.is_mixture(config.dataset) else "tanh"
    return (MLPGenerator(output_shape=shape, hidden=tuple(config.hidden),
                         output_activation=activation),
            MLPDiscriminator(hidden=tuple(config.hidden), **remedies))
  raise ValueError(f"unknown model {config.model!r}; valid: {', '.join(MODELS)}")
