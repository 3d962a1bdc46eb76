"""The semi-supervised GAN's discriminator: a K-class classifier that also spots fakes.

Salimans et al. 2016, "Improved Techniques for Training GANs",
https://arxiv.org/abs/1606.03498, section 5; Odena 2016, "Semi-Supervised
Learning with Generative Adversarial Networks", https://arxiv.org/abs/1606.01583.

The discriminator outputs K class logits l_1..l_K and no separate fake logit:
fixing the (K+1)-th logit to 0 loses nothing (softmax is invariant to a shift
of all logits), and then the probability that x is real is Z / (Z + 1) with
Z = sum_k exp(l_k). The losses on these logits are in ganjax.losses
(`semi_supervised_*`, `auxiliary_classifier_loss`).
"""

import flax.linen as nn

from ganjax import layers


class SGANDiscriminator(nn.Module):
  """image (B, ...) -> class logits (B, K); the features are sown for feature matching.

  `body` is any module of models/features.py; the feature-matching
  generator loss matches the batch means of `intermediates/features`.
  `spectral_norm` normalises the class head's kernel (the body has its own switch;
  see `layers.spectral`).
  """

  body: nn.Module
  num_classes: int
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    h = self.body(x, train=train)
    self.sow("intermediates", "features", h)
    return layers.spectral(nn.Dense(self.num_classes, name="classes"), self.spectral_norm,
                           train)(h)
