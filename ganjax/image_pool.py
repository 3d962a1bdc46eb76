"""The image history pool of CycleGAN, as a pure function of an immutable pytree.

Shrivastava et al. 2017 ("Learning from Simulated and Unsupervised Images through
Adversarial Training", https://arxiv.org/abs/1612.07828) and Zhu et al. 2017: D is
shown a mix of the newest generated images and older ones, so it does not forget
what G produced before and G cannot oscillate between modes D has unlearnt. As the
reference's util/image_pool.py, image by image: while the pool holds fewer than
`size` images, store the image and return it; once full, with probability 1/2
return a stored image chosen uniformly and store the new one in its place, else
return the new image. The pool lives in the train state, so it is checkpointed and
a resumed run sees exactly the pool an uninterrupted one would.
"""

import flax.struct as struct
import jax
import jax.numpy as jnp


class ImagePool(struct.PyTreeNode):
  """Up to `images.shape[0]` stored images and how many are stored (`count`)."""

  images: jax.Array  # (size, H, W, C)
  count: jax.Array   # int32 scalar, <= size

  @property
  def size(self) -> int:
    return self.images.shape[0]


def create(size: int, image_shape, dtype=jnp.float32) -> ImagePool | None:
  """An empty pool of `size` images of `image_shape`; None for size 0 (no pool: `query`
  returns its input, and a checkpoint holds no zero-size array, which Orbax refuses)."""
  if size < 0:
    raise ValueError(f"the pool size must be >= 0, got {size}")
  if size == 0:
    return None
  return ImagePool(images=jnp.zeros((size, *image_shape), dtype),
                   count=jnp.zeros((), jnp.int32))


def query(pool: ImagePool | None, images: jax.Array, key) -> tuple[jax.Array, ImagePool | None]:
  """(images for D, new pool): each of `images` (B, H, W, C) in turn, as the reference;
  a None pool (size 0) returns `images` themselves."""
  if pool is None:
    return images, pool

  def one(carry, inputs):
    stored, count = carry
    image, k = inputs
    swap_key, index_key = jax.random.split(k)
    full = count >= pool.size
    swap = full & (jax.random.uniform(swap_key) > 0.5)
    slot = jnp.where(full, jax.random.randint(index_key, (), 0, pool.size), count)
    out = jnp.where(swap, stored[slot], image)
    # Not full: store at `count`; full: replace the returned image only when swapping.
    stored = stored.at[slot].set(jnp.where(full & ~swap, stored[slot], image))
    return (stored, jnp.minimum(count + 1, pool.size)), out

  keys = jax.random.split(key, images.shape[0])
  (stored, count), out = jax.lax.scan(one, (pool.images, pool.count), (images, keys))
  return out, ImagePool(images=stored, count=count)
