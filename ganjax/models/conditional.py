"""`build` for the families that use labels: cgan, acgan and sgan (see `config.objective`).

`config.model` picks the architecture ("mlp" or "dcgan") as for the unconditional
GANs; the objective picks how the labels enter:

- cgan:  ConditionalGenerator(G) and ConditionalDiscriminator(D) (cgan.py);
- acgan: ConditionalGenerator(G) and an ACGANDiscriminator (acgan.py);
- sgan:  the unconditional G and an SGANDiscriminator, K class logits (sgan.py).

Optional config fields (read with defaults, so a config that lacks them still
builds): `label_embedding` (0 = one-hot labels, else the size of a learned
embedding), and for ACGAN/SGAN discriminators `d_input_noise`, `d_hidden_noise`
(Gaussian noise std) and `d_dropout`.
"""

from ganjax.models.acgan import ACGANDiscriminator
from ganjax.models.cgan import ConditionalDiscriminator, ConditionalGenerator
from ganjax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganjax.models.features import ConvFeatures, MLPFeatures
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator
from ganjax.models.sgan import SGANDiscriminator

OBJECTIVES = ("cgan", "acgan", "sgan")
ARCHITECTURES = ("dcgan", "mlp")


def _generator(config):
  if config.model == "dcgan":
    return DCGANGenerator(resolution=config.resolution, channels=config.channels,
                          width=config.width, upsample=config.upsample)
  shape = (config.resolution, config.resolution, config.channels)
  return MLPGenerator(output_shape=shape, hidden=tuple(config.hidden))


def _features(config):
  noise, dropout = config.get("d_input_noise", 0.0), config.get("d_dropout", 0.0)
  if config.model == "dcgan":
    return ConvFeatures(resolution=config.resolution, width=config.width,
                        normalization=config.d_normalization, input_noise=noise,
                        dropout=dropout)
  return MLPFeatures(hidden=tuple(config.hidden), input_noise=noise,
                     hidden_noise=config.get("d_hidden_noise", 0.0), dropout=dropout)


def build(config):
  """(generator, discriminator) flax modules for a conditional `config.objective`."""
  if config.model not in ARCHITECTURES:
    raise ValueError(f"objective {config.objective!r} builds on model "
                     f"{' or '.join(ARCHITECTURES)}, got {config.model!r}")
  k, embedding = config.num_classes, config.get("label_embedding", 0)
  generator = _generator(config)
  if config.objective in ("cgan", "acgan"):
    generator = ConditionalGenerator(generator, num_classes=k, embedding_dim=embedding)
  if config.objective == "cgan":
    if config.model == "dcgan":
      base = DCGANDiscriminator(resolution=config.resolution, width=config.width,
                                normalization=config.d_normalization)
      join = "maps"
    else:
      base, join = MLPDiscriminator(hidden=tuple(config.hidden)), "vector"
    return generator, ConditionalDiscriminator(base, num_classes=k, join=join,
                                               embedding_dim=embedding)
  if config.objective == "acgan":
    return generator, ACGANDiscriminator(_features(config), num_classes=k)
  if config.objective == "sgan":
    return generator, SGANDiscriminator(_features(config), num_classes=k)
  raise ValueError(f"not a conditional objective: {config.objective!r}; "
                   f"valid: {', '.join(OBJECTIVES)}")
