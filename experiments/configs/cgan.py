"""Conditional GAN (Mirza & Osindero 2014): the label joins G's and D's inputs.

  python -m experiments.cgan --config=experiments/configs/cgan.py             # digits, DCGAN
  python -m experiments.cgan --config=experiments/configs/cgan.py:digits_mlp  # digits, MLPs (8x8)
  python -m experiments.cgan --config=experiments/configs/cgan.py:mnist       # 32x32, DCGAN
  python -m experiments.cgan --config=experiments/configs/cgan.py:mnist_mlp   # 28x28, MLPs
  python -m experiments.cgan --config=experiments/configs/cgan.py:cifar10     # 32x32 RGB, DCGAN

Samples are a class grid: row r is class r, column c one fixed z. Evaluate the
share of samples a digit classifier assigns to the requested class with
`python -m experiments.evaluate --workdir=...` (conditional_accuracy).
Override any field: `--config.num_steps=500 --config.label_embedding=16`.
"""

from experiments.configs import common

VARIANTS = ("digits", "digits_mlp", "mnist", "mnist_mlp", "fashion_mnist", "cifar10")


def get_config(arg=None):
  return configure(common.base_config("cgan"), common.parse_variant(arg, VARIANTS))


def configure(c, variant: str):
  """A class-conditional family's config `c` set up for `variant` (cgan's and acgan's)."""
  dataset = variant.removesuffix("_mlp")
  common.set_dataset(c, dataset)
  c.model = "mlp" if variant.endswith("_mlp") else "dcgan"
  c.num_sample_images = 100       # a 10 x 10 class grid
  c.ema_decay = 0.999             # samples and evaluation from an EMA of G
  if c.model == "mlp":
    c.latent_dim = 64
    c.hidden = (256, 256)
    c.resolution = 8 if dataset == "digits" else 28  # the dataset's own size
  else:
    c.latent_dim = 100
  if dataset == "digits":
    c.width = 32
    # MLP steps are ~5x cheaper but need more of them: 3,000 gave 87% conditional
    # accuracy, 10,000 gave 99% (seed 0).
    c.num_steps = 10000 if c.model == "mlp" else 3000
    c.sample_every = 1000
    c.checkpoint_every = 1000
  else:
    c.width = 64
    c.num_steps = 20000
    c.sample_every = 1000
    c.checkpoint_every = 1000
  return c
