"""PacGAN packing: the discriminator judges m samples at once.

Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in generative
adversarial networks", https://arxiv.org/abs/1712.04086.

A batch (B, ...) becomes (B / m, ...) "packs" of m consecutive examples, all
real or all generated; the discriminator gives one logit per pack. A generator
that drops modes makes packs of look-alike samples, which are easier to tell
from real packs than single samples are: packing penalises mode collapse.
"""

import jax


def pack(x: jax.Array, m: int) -> jax.Array:
  """Concatenates groups of `m` consecutive examples.

  Images (B, H, W, C) are stacked on the channel axis, as in the paper:
  (B / m, H, W, m * C). Anything else is flattened per example and concatenated:
  (B, ...) -> (B / m, m * prod(...)). `m = 1` returns `x` unchanged.
  """
  if m == 1:
    return x
  b = x.shape[0]
  if b % m:
    raise ValueError(f"cannot pack a batch of {b} into groups of {m}")
  if x.ndim == 4:
    _, h, w, c = x.shape
    # (B/m, m, H, W, C) -> (B/m, H, W, m, C): example j of a pack owns channels j*C..
    return x.reshape(b // m, m, h, w, c).transpose(0, 2, 3, 1, 4).reshape(b // m, h, w, m * c)
  return x.reshape(b // m, -1)
