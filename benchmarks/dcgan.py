"""DCGAN and WGAN-GP training speed: ganjax against PyTorch on the same machine.

  python -m benchmarks.dcgan --framework=both --batch=64 --resolution=64 --steps=20
  python -m benchmarks.dcgan --framework=both --batch=16,64,128 --resolution=32,64
  python -m benchmarks.dcgan --framework=both --cores=1      # single-core work, busy machine
  python -m benchmarks.dcgan --recipe=wgan_gp --framework=both --batch=64 --resolution=64

Both sides train the same network, the DCGAN of Radford et al. 2016 as PyTorch's
examples/dcgan builds it (nz 100, 64 filters, BatchNorm, ReLU / LeakyReLU 0.2), with
BCE-with-logits and Adam (2e-4, beta1 0.5) on a fixed batch of random "real" images.
One iteration is what PyTorch's example does per batch: a D step on real and fake
(fake generated once, detached) and a G step that reuses the same fake. On the ganjax
side that is `ganjax.train.create_state` and `ganjax.train.build_step`
(`ganjax.families.gan.adversarial_step`), jit-compiled with the state donated, as `train_and_evaluate`
runs them.

`--recipe=wgan_gp` times one WGAN-GP iteration instead (Gulrajani et al. 2017, Algorithm
1; `experiments/configs/wgan_gp.py`: `steps.alternate` through the family's
`gradient_penalty_step`): 5 critic updates, each on its own real minibatch (the batch
is (5, B, H, W, C)) and a fresh G(z) (G in train mode, no gradient into G), on
mean D(fake) - mean D(real) + 10 mean_i (||grad_x D(x_hat_i)||_2 - 1)^2 at random
interpolates x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per example; then one G update
on -mean D(G(z)) that reuses the last critic update's G(z) and computes no gradients for
D's params. Adam 1e-4, betas (0, 0.9), for both networks. The critic is the DCGAN
discriminator with LayerNorm in place of BatchNorm, flax's `nn.LayerNorm` as ganjax's
critic has it: over the channel axis of each pixel, scale and bias per channel, epsilon
1e-5 (not over (C, H, W), and not `GroupNorm(1, C)`); in PyTorch an `nn.LayerNorm(C)`
applied channels-last. The PyTorch side takes the penalty's input gradient with
`torch.autograd.grad(..., create_graph=True)` and backpropagates the whole critic loss
once. One difference in bookkeeping only: PyTorch's BatchNorm updates G's running
statistics on every one of the 5 forwards, ganjax keeps those of the last (the one G's
update uses); both compute them. For this recipe `img_per_s` counts the real images an
iteration consumes, 5 x batch (`d_steps` in the record).

Each framework runs in its own worker process, so its peak RSS and its time to first
step are its own. `first_step_s` runs from the worker's process start to the end of its
first iteration: Python start-up (`startup_s`), imports (`import_s`; for ganjax that is
`ganjax.xla_cpu.apply()`, which sets the XLA:CPU flag as the entry points do, jax and
ganjax.train, which loads TensorFlow for tf.data; no compilation cache), state creation
(`init_s`, its compilation included), compilation of the step (`compile_s`) and the
first run (`first_run_s`). With `--framework=both` the workers are set up one after the
other, then step in turn (A B, B A, ...), so a change of machine load hits both; after
`--warmup` untimed iterations, `--steps` iterations are timed one by one (blocked until
done).

Output: one JSON line per framework, recipe and setting, with `img_per_s` = batch (x 5
for wgan_gp) / median step time and `cpu_s_median` the process CPU time of an iteration
(all threads), and with `both` a line `"framework": "ganjax/torch"` with the ratios
(`img_per_s_ratio` of the medians, `paired_ratio_median` of the per-round ratios).
`other_load_cores` is how many cores other processes kept busy during the timed
iterations (from /proc/stat, less the workers' own CPU time): on a shared machine, read
every number next to it. PyTorch's OpenMP threads spin while they wait, so a busy
machine slows it far more than XLA; `--cores=1` pins both workers to one core (and
PyTorch to one thread) for a load-tolerant comparison of the work each framework does.

`flops_per_step` is counted analytically (2 x the multiply-adds of every convolution of
the iteration, no D parameter gradients in the G step; `dcgan_flops`, and
`wgan_gp_flops` with the penalty's double backward), the same number for both
frameworks; `gflops_per_s` divides it by the median step time, `fraction_of_peak` by
`--peak_gflops` (180, the issue's figure for this machine), and
`fraction_of_measured_peak` by the best float32 matmul rate measured at the end of the
run (`matmul_gflops`, per framework; the larger of the two is the machine's). The
ganjax line also reports `xla_flops_per_step`, XLA's cost analysis of the compiled
step, and the `XLA_FLAGS` it ran with.

PyTorch is an optional peer: `pip install torch==2.13.0` (CPU). Its intra-op threads
are `--threads` (default: `--cores`, else every core); XLA sizes its own thread pool
(every core the worker may use).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = ("ganjax", "torch")
RECIPES = ("dcgan", "wgan_gp")
TORCH_MISSING = ("PyTorch is not installed; the torch side of this benchmark needs it: "
                 "pip install torch==2.13.0  (CPU build)")


def num_stages(resolution: int) -> int:
  """2x stages between 4x4 and `resolution` (as ganjax.models.dcgan, without importing jax)."""
  n = int(round(math.log2(resolution))) - 2
  if n < 1 or 2 ** (n + 2) != resolution:
    raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
  return n


# --------------------------------------------------------------------------- FLOPs


def conv_macs(resolution: int, channels: int = 3, width: int = 64,
              latent_dim: int = 100) -> tuple[list[int], list[int]]:
  """Multiply-adds per image of each convolution of G and of D, input layer first."""
  n = num_stages(resolution)
  macs_g = [16 * latent_dim * width * 2 ** (n - 1)]  # 1x1 -> 4x4
  size = 4
  for i in range(n):
    cin = width * 2 ** (n - 1 - i)
    cout = width * 2 ** (n - 2 - i) if i < n - 1 else channels
    size *= 2
    macs_g.append(size * size * 4 * cin * cout)  # each output pixel meets 2x2 taps
  macs_d = []
  size = resolution
  for i in range(n):
    cin = channels if i == 0 else width * 2 ** (i - 1)
    size //= 2
    macs_d.append(size * size * 16 * cin * width * 2 ** i)
  macs_d.append(16 * width * 2 ** (n - 1))  # 4x4 -> 1 logit
  return macs_g, macs_d


def dcgan_flops(batch: int, resolution: int, channels: int = 3, width: int = 64,
                latent_dim: int = 100) -> int:
  """Floating-point operations (2 x multiply-adds) of the convolutions in one iteration.

  With F the forward cost of a network and F1 that of its first layer, a layer's weight
  gradient and input gradient each cost what its forward does, so:
    G: forward, weight gradients, input gradients except into z   = 3 F_G - F_G1
    D step: D(real) and D(fake) forward and weight gradients, input
      gradients except into the images                             = 6 F_D - 2 F_D1
    G step: D(fake) forward and input gradients down to the image  = 2 F_D
  BatchNorm, activations, the loss and Adam are left out (under 1% here).
  """
  macs_g, macs_d = conv_macs(resolution, channels, width, latent_dim)
  f_g, f_d = 2 * sum(macs_g), 2 * sum(macs_d)
  total = (3 * f_g - 2 * macs_g[0]) + (8 * f_d - 2 * 2 * macs_d[0])
  return batch * total


def wgan_gp_flops(batch: int, resolution: int, channels: int = 3, width: int = 64,
                  latent_dim: int = 100, d_steps: int = 5) -> int:
  """Floating-point operations (2 x multiply-adds) of the convolutions in one WGAN-GP iteration.

  As `dcgan_flops` counts them; each of the `d_steps` critic updates costs
    G forward (no gradient)                                        = F_G
    D(real), D(fake): forward, weight gradients, input gradients
      except into the images                                       = 6 F_D - 2 F_D1
    the penalty at x_hat: D forward and input gradients down to x_hat
      (2 F_D), then both differentiated in D's params: the forward
      convolutions' weight and input gradients (none into x_hat,
      2 F_D - F_D1), the backward ones' (each a convolution of the
      cotangent with the weights) weight and cotangent gradients
      (2 F_D)                                                      = 6 F_D - F_D1
  and the G update after the last one
    D(fake) forward and input gradients down to the image          = 2 F_D
    G weight gradients, input gradients except into z              = 2 F_G - F_G1
  so d_steps (F_G + 12 F_D - 3 F_D1) + 2 F_D + 2 F_G - F_G1 in all. The forward
  convolutions' gradients in the double backward are there because LayerNorm's backward
  reads its input (with no normalisation in D autodiff drops them: the LeakyReLU masks
  have zero derivative). Terms autodiff may skip are counted (the last layer's forward
  at x_hat, whose value the penalty does not use, and its cotangent gradients: under
  0.01%). LayerNorm (and its double backward), activations, the losses and Adam are
  left out. XLA's cost analysis leaves out the taps that fall on a convolution's
  padding, so at small maps it reports less: 0.85 of this count at 32x32, batch 8.
  """
  macs_g, macs_d = conv_macs(resolution, channels, width, latent_dim)
  f_g, f_d = 2 * sum(macs_g), 2 * sum(macs_d)
  f_g1, f_d1 = 2 * macs_g[0], 2 * macs_d[0]
  critic = f_g + (6 * f_d - 2 * f_d1) + (6 * f_d - f_d1)
  return batch * (d_steps * critic + 2 * f_d + 2 * f_g - f_g1)


def iteration_flops(recipe: str, batch: int, resolution: int, channels: int = 3,
                    width: int = 64, latent_dim: int = 100) -> int:
  """`dcgan_flops` or `wgan_gp_flops` of `recipe`."""
  fn = {"dcgan": dcgan_flops, "wgan_gp": wgan_gp_flops}[recipe]
  return fn(batch, resolution, channels, width, latent_dim)


# --------------------------------------------------------------------------- runners


def ganjax_config(recipe: str, batch: int, resolution: int, *, channels: int = 3,
                  width: int = 64, latent_dim: int = 100):
  """The experiment config of `recipe` (its celeb_a variant), at the benchmark's sizes."""
  from experiments.configs import dcgan, wgan_gp

  c = {"dcgan": dcgan, "wgan_gp": wgan_gp}[recipe].get_config("celeb_a")
  c.resolution, c.channels, c.width = resolution, channels, width
  c.latent_dim, c.batch_size = latent_dim, batch
  return c


class GanjaxRunner:
  """The ganjax iteration of `recipe`, compiled: `step()` runs one and returns its seconds."""

  framework = "ganjax"

  def __init__(self, batch: int, resolution: int, *, recipe: str = "dcgan",
               channels: int = 3, width: int = 64, latent_dim: int = 100, seed: int = 0):
    import jax
    import numpy as np

    from ganjax import train

    self._jax = jax
    t0 = time.perf_counter()
    c = ganjax_config(recipe, batch, resolution, channels=channels, width=width,
                      latent_dim=latent_dim)
    self.config = c
    self.state = jax.jit(functools.partial(train.create_state, c))(jax.random.key(seed))
    # One real minibatch per D update: (d_steps, B, H, W, C).
    real = np.random.default_rng(seed).uniform(
        -1, 1, (c.d_steps, batch, resolution, resolution, channels)).astype(np.float32)
    self.batch = {"image": jax.device_put(real)}
    self.rng = jax.random.key(seed + 1)
    jax.block_until_ready(self.state)
    self.init_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    step = jax.jit(train.build_step(c), donate_argnums=0)
    self._step = step.lower(self.state, self.batch, self.rng).compile()
    self.compile_s = time.perf_counter() - t0
    cost = self._step.cost_analysis()
    if isinstance(cost, (list, tuple)):  # Older jaxlibs: one dict per computation.
      cost = cost[0] if cost else {}
    self.xla_flops = float((cost or {}).get("flops", float("nan")))

  def step(self) -> float:
    t0 = time.perf_counter()
    self.state, metrics = self._step(self.state, self.batch, self.rng)
    self._jax.block_until_ready((self.state, metrics))
    return time.perf_counter() - t0

  def info(self) -> dict:
    return {"init_s": self.init_s, "compile_s": self.compile_s,
            "xla_flops_per_step": self.xla_flops, "cores": len(os.sched_getaffinity(0)),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}

  def matmul_gflops(self) -> float:
    """Best float32 GFLOP/s of square matmuls (1024, 2048): the machine's usable peak."""
    jax = self._jax
    mm = jax.jit(lambda x, y: x @ y)

    def run(a):
      return mm(a, a).block_until_ready()

    return _best_matmul_gflops(
        lambda n: jax.random.normal(jax.random.key(0), (n, n), "float32"), run)


def torch_dcgan(resolution: int, channels: int, width: int, latent_dim: int,
                d_normalization: str = "batch"):
  """PyTorch's examples/dcgan Generator and Discriminator, for any power-of-two size.

  The discriminator ends in the logit (no Sigmoid): the loss is BCEWithLogitsLoss.
  `d_normalization="layer"` is WGAN-GP's critic as ganjax builds it: flax's
  `nn.LayerNorm` normalises each pixel's C features (the last axis of NHWC), with a
  scale and a bias per channel and epsilon 1e-5, so `nn.LayerNorm(C)` channels-last.
  """
  from torch import nn

  class ChannelLayerNorm(nn.LayerNorm):
    """nn.LayerNorm(C) over the channel axis of an NCHW map, per pixel (flax's LayerNorm)."""

    def forward(self, x):
      return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

  norms = {"batch": nn.BatchNorm2d, "layer": lambda c: ChannelLayerNorm(c, eps=1e-5)}
  if d_normalization not in norms:
    raise ValueError(
        f"d_normalization must be one of {tuple(norms)}, got {d_normalization!r}")
  n = num_stages(resolution)
  g = [nn.ConvTranspose2d(latent_dim, width * 2 ** (n - 1), 4, 1, 0, bias=False),
       nn.BatchNorm2d(width * 2 ** (n - 1)), nn.ReLU(True)]
  for i in range(n - 1):
    cin, cout = width * 2 ** (n - 1 - i), width * 2 ** (n - 2 - i)
    g += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
          nn.ReLU(True)]
  g += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
  d = []
  for i in range(n):
    cin, cout = (channels if i == 0 else width * 2 ** (i - 1)), width * 2 ** i
    d.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
    if i > 0:
      d.append(norms[d_normalization](cout))
    d.append(nn.LeakyReLU(0.2, inplace=True))
  d.append(nn.Conv2d(width * 2 ** (n - 1), 1, 4, 1, 0, bias=False))

  def weights_init(m):  # As the example: conv N(0, 0.02), BatchNorm scale N(1, 0.02).
    if "Conv" in type(m).__name__:  # LayerNorm keeps flax's and torch's 1 and 0.
      nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in type(m).__name__:
      nn.init.normal_(m.weight, 1.0, 0.02)
      nn.init.zeros_(m.bias)

  netg, netd = nn.Sequential(*g), nn.Sequential(*d)
  netg.apply(weights_init)
  netd.apply(weights_init)
  return netg, netd


class TorchRunner:
  """PyTorch's DCGAN example iteration (CPU, float32, NCHW)."""

  framework = "torch"
  d_normalization = "batch"
  d_steps = 1  # Real minibatches (and D updates) per iteration.
  learning_rate, betas = 2e-4, (0.5, 0.999)

  def __init__(self, batch: int, resolution: int, *, channels: int = 3, width: int = 64,
               latent_dim: int = 100, seed: int = 0, threads: int | None = None):
    import torch

    self._torch = torch
    t0 = time.perf_counter()
    torch.set_num_threads(threads or os.cpu_count())
    torch.manual_seed(seed)
    self.netg, self.netd = torch_dcgan(resolution, channels, width, latent_dim,
                                       self.d_normalization)
    self.opt_g = torch.optim.Adam(self.netg.parameters(), lr=self.learning_rate,
                                  betas=self.betas)
    self.opt_d = torch.optim.Adam(self.netd.parameters(), lr=self.learning_rate,
                                  betas=self.betas)
    self.real = torch.rand(self.d_steps, batch, channels, resolution, resolution) * 2 - 1
    self.batch, self.latent_dim = batch, latent_dim
    self.criterion = torch.nn.BCEWithLogitsLoss()
    self.ones, self.zeros = torch.ones(batch), torch.zeros(batch)
    self.init_s = time.perf_counter() - t0

  def step(self) -> float:
    torch = self._torch
    t0 = time.perf_counter()
    # (1) D: maximise log D(x) + log(1 - D(G(z))).
    self.netd.zero_grad()
    err_real = self.criterion(self.netd(self.real[0]).view(-1), self.ones)
    err_real.backward()
    fake = self.netg(torch.randn(self.batch, self.latent_dim, 1, 1))
    err_fake = self.criterion(self.netd(fake.detach()).view(-1), self.zeros)
    err_fake.backward()
    self.opt_d.step()
    # (2) G: maximise log D(G(z)), with the same fake.
    self.netg.zero_grad()
    err_g = self.criterion(self.netd(fake).view(-1), self.ones)
    err_g.backward()
    self.opt_g.step()
    return time.perf_counter() - t0

  def info(self) -> dict:
    return {"init_s": self.init_s, "threads": self._torch.get_num_threads(),
            "cores": len(os.sched_getaffinity(0))}

  def matmul_gflops(self) -> float:
    """Best float32 GFLOP/s of square matmuls (1024, 2048), as `GanjaxRunner`'s."""
    torch = self._torch
    return _best_matmul_gflops(lambda n: torch.randn(n, n), lambda a: torch.mm(a, a))


class TorchWganGpRunner(TorchRunner):
  """The WGAN-GP iteration of ganjax's `gradient_penalty_step`, transcribed to PyTorch.

  The usual PyTorch form of Gulrajani et al.'s Algorithm 1 (the penalty through
  `torch.autograd.grad(..., create_graph=True)`, D's params frozen for G's update), with
  ganjax's order of work: G's update reuses the last critic update's G(z).
  """

  d_normalization = "layer"
  d_steps = 5
  learning_rate, betas = 1e-4, (0.0, 0.9)
  gp_weight = 10.0

  def step(self) -> float:
    torch = self._torch
    netg, netd = self.netg, self.netd
    t0 = time.perf_counter()
    for i in range(self.d_steps):
      real = self.real[i]
      z = torch.randn(self.batch, self.latent_dim, 1, 1)
      if i < self.d_steps - 1:
        with torch.no_grad():
          fake = netg(z)
      else:
        fake = netg(z)  # With its graph: G's update below reuses it.
      # (1) the critic: minimise mean D(G(z)) - mean D(x) + lambda * GP.
      netd.zero_grad()
      d_real = netd(real).view(-1)
      d_fake = netd(fake.detach()).view(-1)
      eps = torch.rand(self.batch, 1, 1, 1)
      x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
      (grad,) = torch.autograd.grad(netd(x_hat).sum(), x_hat, create_graph=True)
      penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
      err_d = d_fake.mean() - d_real.mean() + self.gp_weight * penalty
      err_d.backward()
      self.opt_d.step()
    # (2) G: minimise -mean D(G(z)) on the last fake; no gradients for D's params.
    netd.requires_grad_(False)
    netg.zero_grad()
    err_g = -netd(fake).view(-1).mean()
    err_g.backward()
    self.opt_g.step()
    netd.requires_grad_(True)
    return time.perf_counter() - t0


TORCH_RUNNERS = {"dcgan": TorchRunner, "wgan_gp": TorchWganGpRunner}


def _best_matmul_gflops(make, run, sizes=(1024, 2048), reps=8) -> float:
  best = 0.0
  for n in sizes:
    a = make(n)
    run(a)
    for _ in range(reps):
      t0 = time.perf_counter()
      run(a)
      best = max(best, 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
  return best


# --------------------------------------------------------------------------- worker


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux.


def worker(args) -> None:
  """Runs one framework, driven by the parent over stdin/stdout (one JSON line each)."""
  proto = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)  # Library chatter on stdout must not corrupt the protocol.

  def send(obj):
    proto.write(json.dumps(obj) + "\n")

  t_begin, t0 = time.time(), time.perf_counter()
  if args.cores:  # Before any framework starts its thread pools.
    os.sched_setaffinity(0, range(args.cores))
  kwargs = dict(channels=args.channels, width=args.width, latent_dim=args.latent_dim)
  if args._worker == "ganjax":
    # As the entry points do, before JAX starts: the XLA:CPU flag (no compilation cache,
    # so that compile_s is a compilation). Timed as the import with jax and ganjax's train
    # loop (which loads TensorFlow for tf.data).
    from ganjax import xla_cpu
    xla_cpu.apply()
    import jax  # noqa: F401

    import experiments.configs.dcgan  # noqa: F401
    import experiments.configs.wgan_gp  # noqa: F401
    import ganjax.train  # noqa: F401
    import_s = time.perf_counter() - t0
    runner = GanjaxRunner(args.batch, args.resolution, recipe=args.recipe, **kwargs)
  else:
    import torch  # noqa: F401
    import_s = time.perf_counter() - t0
    runner = TORCH_RUNNERS[args.recipe](args.batch, args.resolution, threads=args.threads,
                                        **kwargs)
  first = runner.step()
  send({"event": "ready", "t_begin": t_begin, "t_ready": time.time(), "import_s": import_s,
        "first_run_s": first, **runner.info()})
  for line in sys.stdin:
    cmd = line.strip()
    if cmd == "step":
      cpu = time.process_time()
      wall = runner.step()
      send({"t": wall, "cpu": time.process_time() - cpu})
    elif cmd == "finish":
      mm = runner.matmul_gflops() if args.matmul_peak else None
      send({"peak_rss_mb": _peak_rss_mb(), "matmul_gflops": mm})
      return


class Worker:
  """A worker subprocess for one framework and setting."""

  def __init__(self, framework: str, batch: int, resolution: int, args):
    cmd = [sys.executable, "-m", "benchmarks.dcgan", f"--_worker={framework}",
           f"--recipe={args.recipe}", f"--batch={batch}", f"--resolution={resolution}",
           f"--channels={args.channels}", f"--width={args.width}",
           f"--latent_dim={args.latent_dim}", f"--threads={args.threads}",
           f"--cores={args.cores}",
           "--matmul_peak" if args.matmul_peak else "--no-matmul_peak"]
    self.framework = framework
    t_start = time.time()
    self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, bufsize=1)
    self.ready = self._recv()
    self.ready["first_step_s"] = self.ready.pop("t_ready") - t_start
    self.ready["startup_s"] = self.ready.pop("t_begin") - t_start  # Python, this module.
    self.times: list[float] = []
    self.cpu_times: list[float] = []

  def _recv(self) -> dict:
    line = self.proc.stdout.readline()
    if not line:
      code = self.proc.wait()
      raise RuntimeError(f"the {self.framework} worker exited with code {code} "
                         f"(its error is above)")
    return json.loads(line)

  def _send(self, cmd: str) -> None:
    self.proc.stdin.write(cmd + "\n")
    self.proc.stdin.flush()

  def step(self) -> tuple[float, float]:
    """Runs one iteration; returns its (wall, process CPU) seconds."""
    self._send("step")
    out = self._recv()
    return out["t"], out["cpu"]

  def finish(self) -> dict:
    self._send("finish")
    out = self._recv()
    self.proc.wait()
    return out


# --------------------------------------------------------------------------- parent


def chosen_frameworks(framework: str):
  """The frameworks `--framework` names; None, after saying why, when torch is one and missing."""
  frameworks = FRAMEWORKS if framework == "both" else (framework,)
  if "torch" in frameworks and importlib.util.find_spec("torch") is None:
    print(TORCH_MISSING, file=sys.stderr)
    return None
  return frameworks


def _load() -> float:
  return round(os.getloadavg()[0], 2)


def _busy_cpu_s() -> float | None:
  """CPU seconds that every process on the machine has used since boot (Linux)."""
  try:
    with open("/proc/stat") as f:
      fields = [int(v) for v in f.readline().split()[1:9]]
  except (OSError, ValueError):
    return None
  user, nice, system, _, _, irq, softirq, steal = fields
  return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_setting(frameworks, batch: int, resolution: int, args) -> list[dict]:
  """Benchmarks one (batch, resolution) for each framework; returns the JSON records."""
  load_start = _load()
  workers = [Worker(f, batch, resolution, args) for f in frameworks]  # One at a time.
  for i in range(args.warmup + args.steps):
    if i == args.warmup:
      busy0, wall0 = _busy_cpu_s(), time.perf_counter()
    order = workers if i % 2 == 0 else workers[::-1]
    for w in order:
      t, cpu = w.step()
      if i >= args.warmup:
        w.times.append(t)
        w.cpu_times.append(cpu)
  busy1, wall1 = _busy_cpu_s(), time.perf_counter()
  load_end = _load()
  # Cores that other processes kept busy while the timed iterations ran: the machine's
  # busy CPU time less our workers' own.
  other_cores = None
  if busy0 is not None and busy1 is not None:
    ours = sum(sum(w.cpu_times) for w in workers)
    other_cores = round(max(0.0, busy1 - busy0 - ours) / (wall1 - wall0), 2)
  flops = iteration_flops(args.recipe, batch, resolution, args.channels, args.width,
                          args.latent_dim)
  images = TORCH_RUNNERS[args.recipe].d_steps * batch  # Real images an iteration consumes.
  records = []
  ends = [w.finish() for w in workers]
  measured = [e["matmul_gflops"] for e in ends if e["matmul_gflops"]]
  machine_peak = max(measured) if measured else None
  for w, end in zip(workers, ends):
    med = statistics.median(w.times)
    gflops = flops / med / 1e9
    rec = {"framework": w.framework, "recipe": args.recipe, "batch": batch,
           "resolution": resolution, "d_steps": images // batch,
           "img_per_s": round(images / med, 2), "step_s_median": round(med, 4),
           "step_s_min": round(min(w.times), 4), "step_s_max": round(max(w.times), 4),
           "cpu_s_median": round(statistics.median(w.cpu_times), 4),
           "steps": len(w.times), "warmup": args.warmup,
           "first_step_s": round(w.ready["first_step_s"], 2),
           "peak_rss_mb": round(end["peak_rss_mb"], 1),
           "flops_per_step": flops, "flops_source": "analytic (convolutions)",
           "gflops_per_s": round(gflops, 1),
           "fraction_of_peak": round(gflops / args.peak_gflops, 3),
           "peak_gflops": args.peak_gflops,
           "matmul_gflops": end["matmul_gflops"] and round(end["matmul_gflops"], 1),
           "fraction_of_measured_peak": (round(gflops / machine_peak, 3)
                                         if machine_peak else None),
           "load_avg_1m": [load_start, load_end], "other_load_cores": other_cores,
           "cpu_count": os.cpu_count(), "pinned_cores": args.cores or None}
    for k, v in w.ready.items():
      if k not in ("event", "first_step_s"):
        rec[k] = round(v, 3) if isinstance(v, float) and k != "xla_flops_per_step" else v
    records.append(rec)
  if len(workers) == 2:
    g, t = workers
    paired = [tt / tg for tg, tt in zip(g.times, t.times)]
    records.append({
        "framework": "ganjax/torch", "recipe": args.recipe, "batch": batch,
        "resolution": resolution,
        "img_per_s_ratio": round(statistics.median(t.times) / statistics.median(g.times), 3),
        "paired_ratio_median": round(statistics.median(paired), 3),
        "first_step_s_ratio": round(records[0]["first_step_s"] / records[1]["first_step_s"], 3),
        "peak_rss_ratio": round(records[0]["peak_rss_mb"] / records[1]["peak_rss_mb"], 3),
        "load_avg_1m": [load_start, load_end], "other_load_cores": other_cores})
  return records


def _ints(s: str) -> list[int]:
  return [int(x) for x in s.split(",") if x]


def parse_args(argv=None):
  p = argparse.ArgumentParser(prog="python -m benchmarks.dcgan", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--recipe", choices=RECIPES, default="dcgan",
                 help="the iteration timed: dcgan, or wgan_gp (5 critic updates with the "
                      "gradient penalty, layer-norm critic, then one G update)")
  p.add_argument("--framework", choices=FRAMEWORKS + ("both",), default="both")
  p.add_argument("--batch", type=_ints, default=[64], help="comma-separated, e.g. 16,64,128")
  p.add_argument("--resolution", type=_ints, default=[64], help="comma-separated, e.g. 32,64")
  p.add_argument("--steps", type=int, default=20, help="timed iterations per framework")
  p.add_argument("--warmup", type=int, default=3, help="untimed iterations after the first")
  p.add_argument("--channels", type=int, default=3)
  p.add_argument("--width", type=int, default=64)
  p.add_argument("--latent_dim", type=int, default=100)
  p.add_argument("--threads", type=int, default=None,
                 help="PyTorch intra-op threads (default: --cores, else every core; XLA "
                      "sizes its own pool)")
  p.add_argument("--cores", type=int, default=0,
                 help="pin both workers to the first N cores (0: no pinning); e.g. 1 "
                      "compares single-core work on a machine others are using")
  p.add_argument("--peak_gflops", type=float, default=180.0,
                 help="the machine's float32 matmul peak that fraction_of_peak divides by")
  p.add_argument("--matmul_peak", action=argparse.BooleanOptionalAction, default=True,
                 help="measure a 2048^3 matmul in each framework at the end")
  p.add_argument("--_worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.threads is None:
    args.threads = args.cores or os.cpu_count()
  if args._worker:
    args.batch, args.resolution = args.batch[0], args.resolution[0]
  elif args.steps < 1 or args.warmup < 0:
    p.error("--steps must be >= 1 and --warmup >= 0")
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  if args._worker:
    worker(args)
    return 0
  frameworks = chosen_frameworks(args.framework)
  if frameworks is None:  # torch asked for and missing: said why.
    return 2
  for resolution in args.resolution:
    for batch in args.batch:
      for rec in run_setting(frameworks, batch, resolution, args):
        print(json.dumps(rec), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
