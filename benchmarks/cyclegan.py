"""CycleGAN training speed: ganjax against the authors' PyTorch iteration on the same machine.

  python -m benchmarks.cyclegan                                 # 1x128 and 8x64, both sides
  python -m benchmarks.cyclegan --framework=torch --steps=3 --warmup=1
  python -m benchmarks.cyclegan --settings=1x256 --steps=5 --warmup=1
  python -m benchmarks.cyclegan --cores=1                       # single-core work, busy machine

Each setting is BATCHxRESOLUTION (the defaults: the reference's batch of one at 128x128,
where it takes resnet_6blocks, and batch 8 at 64x64). One iteration is
CycleGAN's `optimize_parameters` (Zhu et al. 2017, https://arxiv.org/abs/1703.10593;
junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py) on a fixed pair of
random unpaired batches A and B:

    fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A)
    G update (D_A, D_B frozen), one Adam over G_A's and G_B's params, on
        LSGAN: (D_A(fake_B) - 1)^2 + (D_B(fake_A) - 1)^2          (means over the patches)
      + cycle: 10 |rec_A - A|_1 + 10 |rec_B - B|_1
      + identity: 0.5 x 10 (|G_A(B) - B|_1 + |G_B(A) - A|_1)
    D update, one Adam over D_A's and D_B's params, on
        1/2 [(D_A(B) - 1)^2 + D_A(pool_B(fake_B))^2] + 1/2 [(D_B(A) - 1)^2 + D_B(pool_A(fake_A))^2]

with the fakes detached and each through its 50-image history (util/image_pool.py: while
not full the pool stores and returns each image; then with probability 1/2 an image is
swapped for a stored one drawn at random). Adam 2e-4, betas (0.5, 0.999). G is the
ResnetGenerator (ngf 64: a 7x7 convolution, two stride-2 3x3 down, residual blocks at 1/4
size, two 3x3 transposed convolutions up, a 7x7 convolution and tanh; reflection padding,
no dropout) with 6 residual blocks at <= 128 px and 9 above (resnet_6blocks /
resnet_9blocks), D the 70x70 PatchGAN (NLayerDiscriminator, n_layers 3, ndf 64) on the
image alone; norm 'instance' everywhere: InstanceNorm2d(affine=False,
track_running_stats=False), so every convolution keeps its bias. On the ganjax side that
is `experiments/configs/cyclegan.py` at the setting's size (channels 3, `width` = `d_width`
= ngf = ndf, `res_blocks` as above), through the family's `create_state` and its step
jit-compiled with the state donated, as training runs them. The PyTorch side transcribes
the reference (`torch_cyclegan`, `TorchImagePool`), in-place activations,
`init_weights('normal', 0.02)` and the pool's Python-side `random` included.

The harness is `benchmarks.pix2pix`'s (worker processes, interleaved timing after
`--warmup` untimed iterations, `first_step_s`, `other_load_cores`, the matmul peak, the
JSON line per setting and the Markdown table, `--threads` for PyTorch, which is optional:
`pip install torch==2.13.0`, CPU): read its docstring and `benchmarks.dcgan`'s. On a
machine where other work holds cores, PyTorch's spinning OpenMP threads can slow its side
many times over (`other_load_cores` says so): compare with `--cores=1` there.
`g_params` and `d_params` are those of each generator and each discriminator (the two of
a kind are the same network); at 256 px (9 blocks) the reference's are 11,378,179 and
2,764,737. If the sides' counts differ, `params_match` is false, a warning goes to stderr
and the exit status is 1.
"""

from __future__ import annotations

import functools
import itertools
import random
import sys
import time

from benchmarks import pix2pix

NAME = "cyclegan"
DEFAULT_SETTINGS = "1x128,8x64"
GANJAX_MODULES = ("experiments.configs.cyclegan", "ganjax.families.cyclegan")
CYCLE_WEIGHT = 10.0  # lambda_A = lambda_B of the reference's cycle_gan_model.py.
IDENTITY_WEIGHT = 0.5  # lambda_identity, a fraction of the cycle weight.
POOL_SIZE = 50  # --pool_size.
# The reference's printout at 256 px (resnet_9blocks, 70x70 PatchGAN, RGB): each network.
REFERENCE_PARAMS_256 = {"g_params": 11_378_179, "d_params": 2_764_737}


def _resnet_resolution(r: int) -> bool:
  # Two stride-2 convolutions down and up again; the PatchGAN's last InstanceNorm needs a
  # map larger than 1x1 (r / 8 - 1 pixels across).
  return r >= 24 and r % 4 == 0


parse_settings = functools.partial(pix2pix.parse_settings, valid=_resnet_resolution,
                                   need="a multiple of 4 >= 24")


def res_blocks(resolution: int) -> int:
  """The reference's choice: resnet_6blocks up to 128 px, resnet_9blocks above."""
  return 6 if resolution <= 128 else 9


# --------------------------------------------------------------------------- ganjax


def ganjax_config(batch: int, resolution: int, *, channels: int = 3, width: int = 64):
  """The CycleGAN experiment config at the benchmark's sizes (its dataset is not read)."""
  from experiments.configs import cyclegan

  c = cyclegan.get_config()
  c.batch_size, c.resolution, c.channels = batch, resolution, channels
  c.load_size = resolution  # Jitter only matters to the input pipeline, unused here.
  c.width = c.d_width = width
  c.res_blocks = res_blocks(resolution)
  return c


def _param_counts(state) -> dict:
  """Parameters of each G and each D in a CycleGAN state (the two of a kind must agree)."""
  import jax

  def count(net):
    return sum(x.size for x in jax.tree.leaves(net.params))

  counts = {}
  for key, (a, b) in {"g_params": ("g_ab", "g_ba"), "d_params": ("d_a", "d_b")}.items():
    n_a, n_b = count(getattr(state, a)), count(getattr(state, b))
    if n_a != n_b:
      raise ValueError(f"{a} has {n_a} parameters and {b} {n_b}: not the same network")
    counts[key] = n_a
  return counts


class GanjaxRunner(pix2pix.GanjaxRunner):
  """The ganjax CycleGAN iteration, compiled: `step()` runs one and returns its seconds."""

  make_config = staticmethod(ganjax_config)
  param_counts = staticmethod(_param_counts)
  batch_keys = ("a", "b")  # Unpaired: (d_steps = 1, B, R, R, C) each.


def ganjax_param_counts(resolution: int, *, channels: int = 3, width: int = 64) -> dict:
  """{'g_params', 'd_params'} of the ganjax networks, from shapes only (nothing allocated)."""
  return GanjaxRunner.shape_param_counts(resolution, channels=channels, width=width)


# --------------------------------------------------------------------------- torch


def _instance_norm():
  """The reference's get_norm_layer('instance')."""
  from torch import nn

  return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)


def torch_resnet_generator(channels: int = 3, width: int = 64, n_blocks: int = 9):
  """The reference's ResnetGenerator (models/networks.py) with norm 'instance', no dropout,
  reflection padding, uninitialised; every convolution has a bias."""
  from torch import nn

  norm = _instance_norm()

  class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, ReLU, pad, conv3x3, norm)(x)."""

    def __init__(self, dim):
      super().__init__()
      self.conv_block = nn.Sequential(
          nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), nn.ReLU(True),
          nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim))

    def forward(self, x):
      return x + self.conv_block(x)

  model = [nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7), norm(width), nn.ReLU(True)]
  for mult in (1, 2):  # Down: 64 -> 128 -> 256 channels.
    model += [nn.Conv2d(width * mult, width * mult * 2, 3, stride=2, padding=1),
              norm(width * mult * 2), nn.ReLU(True)]
  model += [ResnetBlock(width * 4) for _ in range(n_blocks)]
  for mult in (4, 2):  # Up, each exactly doubling the size.
    model += [nn.ConvTranspose2d(width * mult, width * mult // 2, 3, stride=2, padding=1,
                                 output_padding=1),
              norm(width * mult // 2), nn.ReLU(True)]
  model += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
  return nn.Sequential(*model)


def torch_cyclegan(resolution: int, channels: int = 3, width: int = 64,
                   n_blocks: int | None = None):
  """(G_A, G_B, D_A, D_B) as the reference's CycleGANModel defines them: define_G(channels,
  channels, width, 'resnet_<n>blocks', 'instance', no dropout) twice and define_D(channels,
  width, 'basic', norm='instance') twice, each through init_weights('normal', 0.02) as it is
  made. Built under `torch.device('meta')` they have parameter shapes and no storage."""
  n_blocks = res_blocks(resolution) if n_blocks is None else n_blocks
  g = functools.partial(torch_resnet_generator, channels, width, n_blocks)
  d = functools.partial(pix2pix.torch_patchgan, channels, width, 3, _instance_norm())
  return tuple(make().apply(pix2pix.torch_init_weights) for make in (g, g, d, d))


def torch_param_counts(resolution: int, *, channels: int = 3, width: int = 64,
                       n_blocks: int | None = None) -> dict:
  """{'g_params', 'd_params'} of each network of `torch_cyclegan`, on the meta device."""
  import torch

  with torch.device("meta"):
    g_a, _, d_a, _ = torch_cyclegan(resolution, channels, width, n_blocks)
  return pix2pix.torch_param_counts_of(g_a, d_a)


class TorchImagePool:
  """The reference's ImagePool (util/image_pool.py), its `random` a seeded instance."""

  def __init__(self, size: int = POOL_SIZE, seed: int = 0):
    self.size, self.images, self.random = size, [], random.Random(seed)

  def query(self, images):
    import torch

    out = []
    for image in images:
      image = torch.unsqueeze(image.data, 0)
      if len(self.images) < self.size:  # Not full: keep and return it.
        self.images.append(image)
        out.append(image)
      elif self.random.uniform(0, 1) > 0.5:  # Return a stored one, keep this one instead.
        i = self.random.randint(0, self.size - 1)
        out.append(self.images[i].clone())
        self.images[i] = image
      else:
        out.append(image)
    return torch.cat(out, 0)


class TorchRunner(pix2pix.TorchRunner):
  """The reference's CycleGANModel.optimize_parameters (CPU, float32, NCHW)."""

  def __init__(self, batch: int, resolution: int, *, channels: int = 3, width: int = 64,
               seed: int = 0, threads: int | None = None):
    torch, t0 = self._begin(threads, seed)
    self.n_blocks = res_blocks(resolution)
    self.g_a, self.g_b, self.d_a, self.d_b = torch_cyclegan(resolution, channels, width)
    chain = itertools.chain
    self.opt_g = self._adam(chain(self.g_a.parameters(), self.g_b.parameters()))
    self.opt_d = self._adam(chain(self.d_a.parameters(), self.d_b.parameters()))
    self.real_a, self.real_b = torch.rand(2, batch, channels, resolution, resolution) * 2 - 1
    self.criterion = torch.nn.MSELoss()  # GANLoss('lsgan'), through `_gan_loss`.
    self.pool_a, self.pool_b = TorchImagePool(seed=seed), TorchImagePool(seed=seed + 1)
    self.params = pix2pix.torch_param_counts_of(self.g_a, self.d_a)
    self.init_s = time.perf_counter() - t0

  def _backward_d(self, netd, real, fake):
    """backward_D_basic: 1/2 [GAN(D(real), 1) + GAN(D(fake.detach()), 0)], backpropagated."""
    loss = (self._gan_loss(netd(real), True) + self._gan_loss(netd(fake.detach()), False))
    (loss * 0.5).backward()

  def step(self) -> float:
    a, b, l1 = self.real_a, self.real_b, self.l1
    ds = (self.d_a, self.d_b)
    t0 = time.perf_counter()
    fake_b = self.g_a(a)  # forward()
    rec_a = self.g_b(fake_b)
    fake_a = self.g_b(b)
    rec_b = self.g_a(fake_a)
    # backward_G, the discriminators frozen.
    for d in ds:
      d.requires_grad_(False)
    self.opt_g.zero_grad()
    idt_weight = CYCLE_WEIGHT * IDENTITY_WEIGHT
    loss_g = (l1(self.g_a(b), b) * idt_weight + l1(self.g_b(a), a) * idt_weight
              + self._gan_loss(self.d_a(fake_b), True)
              + self._gan_loss(self.d_b(fake_a), True)
              + l1(rec_a, a) * CYCLE_WEIGHT + l1(rec_b, b) * CYCLE_WEIGHT)
    loss_g.backward()
    self.opt_g.step()
    # backward_D_A and backward_D_B, on fakes from the pools.
    for d in ds:
      d.requires_grad_(True)
    self.opt_d.zero_grad()
    self._backward_d(self.d_a, b, self.pool_b.query(fake_b))
    self._backward_d(self.d_b, a, self.pool_a.query(fake_a))
    self.opt_d.step()
    return time.perf_counter() - t0

  def info(self) -> dict:
    return {**super().info(), "res_blocks": self.n_blocks}


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
  """`benchmarks.pix2pix.main` with this module's settings, runners and workers."""
  return pix2pix.main(argv, sys.modules[__name__])


if __name__ == "__main__":
  sys.exit(main())
