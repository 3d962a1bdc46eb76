"""ACGAN: a discriminator with two heads, real/fake and the class.

Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary
Classifier GANs", https://arxiv.org/abs/1610.09585.

The generator is the conditional one of cgan.py ([z, y] in); the
discriminator sees only the image and answers twice from shared features: a
source logit (real or generated?) and K class logits (which class?).
"""

import flax.linen as nn

from ganjax import layers
from ganjax.models import dcgan


class ACGANDiscriminator(nn.Module):
  """image (B, ...) -> (source logits (B,), class logits (B, K)).

  `body` is any module of models/features.py. The features are sown as
  `intermediates/features`. `spectral_norm` normalises both heads' kernels (the body
  has its own switch; see `layers.spectral`).
  """

  body: nn.Module
  num_classes: int
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    h = self.body(x, train=train)
    self.sow("intermediates", "features", h)
    source = layers.spectral(nn.Dense(1, kernel_init=dcgan.conv_init, name="source"),
                             self.spectral_norm, train)(h)[:, 0]
    classes = layers.spectral(nn.Dense(self.num_classes, name="classes"),
                              self.spectral_norm, train)(h)
    return source, classes
