"""Conditional GAN: the class label joins the generator's and the discriminator's inputs.

Mirza & Osindero 2014, "Conditional Generative Adversarial Nets",
https://arxiv.org/abs/1411.1784.

Both wrappers take any unconditional network of ganjax (an MLP or a DCGAN) and
feed it the label as well: the generator sees [z, y] (y one-hot, or a learned
embedding), the discriminator sees [x, y], with y either appended to the
flattened input (MLPs) or stacked as K constant feature maps on the image's
channels (conv nets), so that every convolution window knows the class.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

LABEL_JOINS = ("vector", "maps")


def encode_labels(labels, num_classes: int, embedding_dim: int = 0):
  """int labels (B,) -> (B, K) one-hot, or (B, embedding_dim) learned (inside a module)."""
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(f"labels must be integer class ids, got dtype {labels.dtype}")
  if embedding_dim:
    return nn.Embed(num_classes, embedding_dim, name="label_embedding")(labels)
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def label_maps(codes, height: int, width: int):
  """(B, K) label codes -> (B, H, W, K) constant feature maps."""
  return jnp.broadcast_to(codes[:, None, None, :], (codes.shape[0], height, width,
                                                    codes.shape[-1]))


class ConditionalGenerator(nn.Module):
  """(z (B, latent_dim), labels (B,)) -> images: `base` applied to [z, code(labels)].

  `base` is any generator that takes a latent vector (MLPGenerator,
  DCGANGenerator): its input simply grows by the code's size.
  """

  base: nn.Module
  num_classes: int
  embedding_dim: int = 0  # 0: one-hot

  @nn.compact
  def __call__(self, z, labels, train: bool = True):
    codes = encode_labels(labels, self.num_classes, self.embedding_dim)
    return self.base(jnp.concatenate([z, codes.astype(z.dtype)], axis=-1), train=train)


class ConditionalDiscriminator(nn.Module):
  """(x (B, H, W, C), labels (B,)) -> logits (B,): `base` applied to [x, code(labels)].

  `join="vector"` flattens x and appends the code (for MLPDiscriminator);
  `join="maps"` stacks the code as constant maps on the channels (for
  DCGANDiscriminator, whose first convolution then reads C + K channels).
  The base's features stay sown under `intermediates/base/features`.
  """

  base: nn.Module
  num_classes: int
  join: str = "vector"
  embedding_dim: int = 0  # 0: one-hot

  @nn.compact
  def __call__(self, x, labels, train: bool = True):
    if labels.shape != x.shape[:1]:
      raise ValueError(f"need one label per example: images {x.shape}, labels {labels.shape}")
    codes = encode_labels(labels, self.num_classes, self.embedding_dim).astype(x.dtype)
    if self.join == "vector":
      x = jnp.concatenate([x.reshape((x.shape[0], -1)), codes], axis=-1)
    elif self.join == "maps":
      x = jnp.concatenate([x, label_maps(codes, x.shape[1], x.shape[2])], axis=-1)
    else:
      raise ValueError(f"join must be one of {LABEL_JOINS}, got {self.join!r}")
    return self.base(x, train=train)
