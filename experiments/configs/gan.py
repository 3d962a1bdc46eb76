"""Vanilla GAN (Goodfellow et al. 2014): MLPs, non-saturating loss, Adam 2e-4, batch 100.

  python -m experiments.gan --config=experiments/configs/gan.py          # digits (8x8), offline
  python -m experiments.gan --config=experiments/configs/gan.py:mnist    # 28x28
"""

from experiments.configs import common

VARIANTS = ("digits", "mnist", "fashion_mnist")


def get_config(arg=None):
  variant = common.parse_variant(arg, VARIANTS)
  c = common.set_dataset(common.base_config(), variant)
  c.model = "mlp"
  c.latent_dim = 64
  c.hidden = (256, 256)
  c.loss = "non_saturating"
  c.batch_size = 100
  c.optimizer.b1 = 0.5
  # The MLP works at the dataset's own size: no upscaling.
  c.resolution = 8 if variant == "digits" else 28
  c.num_steps = 5000 if variant == "digits" else 30000
  c.sample_every = 1000
  c.checkpoint_every = 1000
  return c
