"""StackGAN's networks: conditioning augmentation, the Stage I and Stage II generators, and
the matching-aware discriminator of both stages.

Zhang, Xu, Li, Zhang, Wang, Huang & Metaxas 2017, "StackGAN: Text to Photo-realistic Image
Synthesis with Stacked Generative Adversarial Networks", https://arxiv.org/abs/1612.03242,
as the authors' PyTorch code (hanzhanggit/StackGAN-Pytorch, code/model.py), scaled to the
data (the reference: text embeddings of 1,024, c of 128, 64 px then 256 px):

  CA:       (mu, log sigma^2) = W phi_t + b;  c = mu + sigma * eps,  eps ~ N(0, I)
  Stage I:  [z; c] -> dense -> 4x4 x 8w -> (nearest 2x, 3x3 conv, BN, ReLU)* -> 3x3 conv, tanh
  Stage II: Stage I's image -> 3x3 conv, ReLU, (4x4 s2 conv, BN, ReLU)* -> joined with its
            own c tiled -> 3x3 conv, BN, ReLU -> residual blocks -> (nearest 2x, ...)* -> tanh
  D:        (4x4 s2 conv, [BN], LeakyReLU 0.2)* down to 4x4 -> features h;
            conditional logit: [h; compress(phi_t) tiled] -> 3x3 conv, BN, LReLU -> 4x4 conv
            unconditional logit (Stage II): h -> 4x4 conv

Deviations from the reference, each for a reason: CA is the paper's linear map (the code
puts a ReLU on it, which pins mu >= 0); D compresses the text embedding itself with a dense
layer and leaky ReLU (the TensorFlow code's choice; the PyTorch code feeds D the
generator's mu, so D's condition moves with G); the discriminators output logits (the
losses take logits, not sigmoids). Weights N(0, 0.02), BatchNorm scale N(1, 0.02), as the
reference's weights_init.
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from ganjax import layers
from ganjax.models.dcgan import batch_norm, conv_init


def _conv3x3(features, name=None):
  return nn.Conv(features, (3, 3), padding="SAME", use_bias=False, kernel_init=conv_init,
                 name=name)


def _up_block(x, features, train):
  """Nearest 2x upsampling, a 3x3 convolution, BatchNorm, ReLU (the reference's upBlock)."""
  x = layers.ResizeConv(features, 3, use_bias=False, kernel_init=conv_init)(x)
  return nn.relu(batch_norm(train)(x))


def _down_conv(features):  # PyTorch's Conv2d(4, 2, 1) without bias, fast on CPU.
  return layers.Conv4x4S2(features, use_bias=False, kernel_init=conv_init)


class ConditioningAugmentation(nn.Module):
  """phi_t (B, E), eps (B, c) -> (c, mu, log sigma^2), c = mu + exp(log sigma^2 / 2) * eps.

  With `enabled=False` (the paper's ablation) c = mu, a plain linear compression.
  """

  condition_dim: int
  enabled: bool = True

  @nn.compact
  def __call__(self, embedding, eps):
    stats = nn.Dense(2 * self.condition_dim, kernel_init=nn.initializers.normal(0.02),
                     name="fc")(embedding)
    mu, logvar = jnp.split(stats, 2, axis=-1)
    if not self.enabled:
      return mu, mu, jnp.zeros_like(logvar)
    return mu + jnp.exp(0.5 * logvar) * eps, mu, logvar


class Stage1Generator(nn.Module):
  """(z (B, latent_dim), phi_t (B, E), eps (B, condition_dim)) -> (image (B, R, R, C) in
  [-1, 1], mu, log sigma^2).

  Attributes:
    resolution: R, a power of two >= 8 (4x4 doubled log2(R) - 2 times).
    channels: image channels.
    width: w; the 4x4 map has 8w channels, halved at each doubling (the reference:
      w = GF_DIM = 128, so 1,024 channels at 4x4 for 64 px).
    condition_dim: size of c.
    augment: conditioning augmentation on (off: c = mu).
  """

  resolution: int = 16
  channels: int = 1
  width: int = 32
  condition_dim: int = 32
  augment: bool = True

  @nn.compact
  def __call__(self, z, embedding, eps, train: bool = True):
    c, mu, logvar = ConditioningAugmentation(self.condition_dim, self.augment,
                                             name="ca")(embedding, eps)
    doublings = int(math.log2(self.resolution)) - 2
    features = self.width * 8
    x = nn.Dense(4 * 4 * features, use_bias=False, kernel_init=nn.initializers.normal(0.02),
                 name="fc")(jnp.concatenate([z, c], axis=-1))
    x = nn.relu(batch_norm(train)(x)).reshape(-1, 4, 4, features)
    for _ in range(doublings):
      features = max(features // 2, self.width // 2)
      x = _up_block(x, features, train)
    image = jnp.tanh(_conv3x3(self.channels, name="to_image")(x))
    return image, mu, logvar


class Stage2Generator(nn.Module):
  """(Stage I image (B, r, r, C), phi_t, eps) -> (image (B, R, R, C), mu, log sigma^2).

  The Stage I image is encoded down `downsamplings` times, joined with Stage II's own c,
  refined by `res_blocks` residual blocks and upsampled to R (the reference: 64 -> 16 ->
  256, two downsamplings and four upsamplings; here, by default, 16 -> 8 -> 32).
  """

  resolution: int = 32
  channels: int = 1
  width: int = 32
  condition_dim: int = 32
  res_blocks: int = 2
  downsamplings: int = 1
  augment: bool = True

  @nn.compact
  def __call__(self, low_res, embedding, eps, train: bool = True):
    c, mu, logvar = ConditioningAugmentation(self.condition_dim, self.augment,
                                             name="ca")(embedding, eps)
    x = nn.relu(_conv3x3(self.width, name="encode_in")(low_res))
    features = self.width
    for _ in range(self.downsamplings):
      features *= 2
      x = nn.relu(batch_norm(train)(_down_conv(features)(x)))
    side = x.shape[1]
    tiled = jnp.broadcast_to(c[:, None, None, :], (c.shape[0], side, side, c.shape[-1]))
    x = nn.relu(batch_norm(train)(_conv3x3(features, name="joint")(
        jnp.concatenate([x, tiled], axis=-1))))
    for i in range(self.res_blocks):  # The reference's ResBlock: relu(x + BN(conv(...))).
      h = nn.relu(batch_norm(train)(_conv3x3(features, name=f"res{i}_a")(x)))
      h = batch_norm(train)(_conv3x3(features, name=f"res{i}_b")(h))
      x = nn.relu(x + h)
    for _ in range(int(math.log2(self.resolution // side))):
      features = max(features // 2, self.width // 2)
      x = _up_block(x, features, train)
    image = jnp.tanh(_conv3x3(self.channels, name="to_image")(x))
    return image, mu, logvar


class MatchingDiscriminator(nn.Module):
  """(image (B, R, R, C), phi_t (B, E) or (K, B, E)) -> conditional logits (B,) or (K, B),
  and the unconditional logits (B,) when `unconditional` (Stage II), else None.

  Several text embeddings per image (K, B, E) share one pass of the image encoder (the
  matching-aware loss scores each real image with its caption and with a wrong one).
  `spectral_norm` divides every kernel (the text compression's too) by its largest
  singular value (`layers.spectral`); the BatchNorms stay.
  """

  width: int = 32
  condition_dim: int = 32
  unconditional: bool = False
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, image, embedding, train: bool = True):
    sn = lambda layer: layers.spectral(layer, self.spectral_norm, train)  # noqa: E731
    x = image
    features = self.width
    for i in range(int(math.log2(image.shape[1])) - 2):  # R -> 4x4.
      x = sn(_down_conv(features))(x)
      if i:  # No BatchNorm on the first layer, as DCGAN and the reference.
        x = batch_norm(train)(x)
      x = nn.leaky_relu(x, 0.2)
      features *= 2
    features //= 2
    # Made once, outside `conditional`: K embeddings reuse the same layers (and the same
    # power-iteration state).
    compress = sn(nn.Dense(self.condition_dim, kernel_init=nn.initializers.normal(0.02),
                           name="compress_text"))
    joint = sn(_conv3x3(features, name="joint"))
    joint_norm = batch_norm(train)
    conditional_out = sn(nn.Conv(1, (4, 4), padding="VALID", kernel_init=conv_init,
                                 name="conditional_logit"))

    def conditional(e):
      t = nn.leaky_relu(compress(e), 0.2)
      t = jnp.broadcast_to(t[:, None, None, :], (*x.shape[:3], t.shape[-1]))
      h = nn.leaky_relu(joint_norm(joint(jnp.concatenate([x, t], axis=-1))), 0.2)
      return conditional_out(h).reshape(-1)

    if embedding.ndim == 3:
      logits = jnp.stack([conditional(e) for e in embedding])
    else:
      logits = conditional(embedding)
    unconditional = None
    if self.unconditional:
      unconditional = sn(nn.Conv(1, (4, 4), padding="VALID", kernel_init=conv_init,
                                 name="unconditional_logit"))(x).reshape(-1)
    return logits, unconditional
