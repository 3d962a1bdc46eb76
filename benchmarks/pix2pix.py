"""pix2pix training speed: ganjax against the authors' PyTorch networks on the same machine.

  python -m benchmarks.pix2pix                                  # 1x256 and 16x64, both sides
  python -m benchmarks.pix2pix --settings=1x256 --steps=5 --warmup=1
  python -m benchmarks.pix2pix --framework=ganjax --settings=4x128,16x64
  python -m benchmarks.pix2pix --cores=1                        # single-core work, busy machine

Each setting is BATCHxRESOLUTION (the defaults: the paper's batch of one at 256x256, and
batch 16 at 64x64). One iteration is pix2pix's `optimize_parameters` (Isola et al. 2017,
https://arxiv.org/abs/1611.07004; junyanz/pytorch-CycleGAN-and-pix2pix,
models/pix2pix_model.py) on a fixed pair of random images A -> B:

    fake = G(A)                                    (one forward, with dropout)
    D update on  1/2 [BCE(D(A, fake.detach()), 0) + BCE(D(A, B), 1)]
    G update on  BCE(D(A, fake), 1) + 100 |fake - B|_1      (no gradients for D's params)

BCE on logits, one per PatchGAN patch; Adam 2e-4, betas (0.5, 0.999) for both networks.
G is the U-Net (UnetGenerator: num_downs = log2(resolution) levels down to 1x1, 8 at 256,
ngf 64, BatchNorm, dropout 0.5 in the num_downs - 5 decoder blocks above the innermost) and
D the 70x70 PatchGAN (NLayerDiscriminator, n_layers 3, ndf 64) on concat(A, image): 3
channels in, 6 into D. On the ganjax side that is `experiments/configs/pix2pix.py:aligned`
at the setting's size, through the family's `create_state` and its step
(`ganjax.families.pix2pix.pix2pix_step`) jit-compiled with the state donated, as training
runs them; `dropout_blocks` is set to the reference's num_downs - 5 (the config's 3 is
unet_256's). The PyTorch side transcribes the reference's networks.py (`torch_pix2pix`),
in-place activations and `init_weights('normal', 0.02)` included.

The worker processes, the interleaved timing (A B, B A, ...) after `--warmup` untimed
iterations, `first_step_s`, `other_load_cores` and the matmul peak are those of
`benchmarks.dcgan`: read its docstring. Output: one JSON line per setting with each side's
median milliseconds per iteration (`ganjax_ms`, `torch_ms`), `torch_over_ganjax` (the
ratio of the medians: > 1 means ganjax is faster) and `paired_ratio_median` (of the
per-round ratios), the parameter counts of G and D on each side (`g_params`, `d_params`;
they must agree, else `params_match` is false, a warning goes to stderr and the exit
status is 1) and each side's details under its name; then a Markdown table of them all.

PyTorch is an optional peer: `pip install torch==2.13.0` (CPU). Its intra-op threads are
`--threads` (default: `--cores`, else every core), as in `benchmarks.dcgan`.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import time

from benchmarks import dcgan
from benchmarks.dcgan import FRAMEWORKS, ROOT

NAME = "pix2pix"  # `python -m benchmarks.<NAME>`; its record's "benchmark".
DEFAULT_SETTINGS = "1x256,16x64"
# Imported in the ganjax worker before its first step, so that `import_s` times them.
GANJAX_MODULES = ("experiments.configs.pix2pix", "ganjax.families.pix2pix")
L1_WEIGHT = 100.0  # lambda_L1 of the reference's pix2pix_model.py.


def _unet_resolution(r: int) -> bool:
  return r >= 32 and not r & (r - 1)


def parse_settings(text: str, valid=_unet_resolution,
                   need: str = "a power of two >= 32") -> list[tuple[int, int]]:
  """'1x256,16x64' -> [(1, 256), (16, 64)]; ValueError on anything else.

  By default the resolution is a power of two >= 32: the reference's U-Net has at least 5
  levels (its 4 outer blocks and the innermost) down to 1x1. Another benchmark passes its
  own rule: `valid(resolution)`, and `need` to say it.
  """
  settings = []
  for item in filter(None, text.split(",")):
    batch, _, resolution = item.partition("x")
    if not (batch.isdigit() and resolution.isdigit()):
      raise ValueError(f"a setting is BATCHxRESOLUTION, e.g. 16x64; got {item!r}")
    b, r = int(batch), int(resolution)
    if b < 1 or not valid(r):
      raise ValueError(f"{item}: need batch >= 1 and a resolution that is {need}")
    settings.append((b, r))
  if not settings:
    raise ValueError("no setting given")
  return settings


def num_downs(resolution: int) -> int:
  """The U-Net's levels down to 1x1 (unet_256: 8)."""
  return int(math.log2(resolution))


# --------------------------------------------------------------------------- ganjax


def ganjax_config(batch: int, resolution: int, *, channels: int = 3, width: int = 64):
  """The `aligned` experiment config (the paper's facades setting) at the benchmark's sizes."""
  from experiments.configs import pix2pix

  c = pix2pix.get_config("aligned")
  c.batch_size, c.resolution, c.channels = batch, resolution, channels
  c.load_size = resolution  # Jitter only matters to the input pipeline, unused here.
  c.width = c.d_width = width
  c.dropout_blocks = num_downs(resolution) - 5  # The reference's, at every depth.
  return c


def _param_counts(state) -> dict:
  """Parameters (not BatchNorm's running statistics) of G and D in a GANState."""
  import jax

  def count(tree):
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))

  return {"g_params": count(state.generator.params),
          "d_params": count(state.discriminator.params)}


def ganjax_param_counts(resolution: int, *, channels: int = 3, width: int = 64) -> dict:
  """{'g_params', 'd_params'} of the ganjax networks, from shapes only (nothing allocated)."""
  return GanjaxRunner.shape_param_counts(resolution, channels=channels, width=width)


class GanjaxRunner(dcgan.GanjaxRunner):
  """The ganjax pix2pix iteration, compiled: `step()` runs one and returns its seconds.

  Another image-to-image benchmark subclasses it with its own `make_config`,
  `param_counts` and `batch_keys` (the batch's images, each (d_steps, B, R, R, C)).
  """

  make_config = staticmethod(ganjax_config)
  param_counts = staticmethod(_param_counts)
  batch_keys = ("source", "target")

  @classmethod
  def shape_param_counts(cls, resolution: int, *, channels: int = 3, width: int = 64) -> dict:
    """`param_counts` of a state made from shapes only (nothing allocated)."""
    import jax

    from ganjax import families

    c = cls.make_config(1, resolution, channels=channels, width=width)
    shapes = jax.eval_shape(functools.partial(families.of(c).create_state, c),
                            jax.random.key(0))
    return cls.param_counts(shapes)

  def __init__(self, batch: int, resolution: int, *, channels: int = 3, width: int = 64,
               seed: int = 0):
    import jax
    import numpy as np

    from ganjax import families

    self._jax = jax
    t0 = time.perf_counter()
    c = self.config = self.make_config(batch, resolution, channels=channels, width=width)
    family = families.of(c)
    self.state = jax.jit(functools.partial(family.create_state, c))(jax.random.key(seed))
    # Images as the family's input pipeline yields them: (d_steps, B, R, R, C) each.
    shape = (c.d_steps, batch, resolution, resolution, channels)
    draw = np.random.default_rng(seed).uniform
    self.batch = {k: jax.device_put(draw(-1, 1, shape).astype(np.float32))
                  for k in self.batch_keys}
    self.rng = jax.random.key(seed + 1)  # Dropout's; the step folds in its count.
    jax.block_until_ready(self.state)
    self.init_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    step = jax.jit(family.step(c), donate_argnums=0)
    self._step = step.lower(self.state, self.batch, self.rng).compile()
    self.compile_s = time.perf_counter() - t0
    cost = self._step.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
    self.xla_flops = float((cost or {}).get("flops", float("nan")))
    self.params = self.param_counts(self.state)

  def info(self) -> dict:
    return {**super().info(), **self.params}


# --------------------------------------------------------------------------- torch


def torch_init_weights(m) -> None:
  """The reference's init_weights('normal', 0.02) on one module (for `net.apply`): conv
  weights N(0, 0.02) and biases 0, BatchNorm scales N(1, 0.02) and shifts 0."""
  from torch import nn

  name = type(m).__name__
  if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
    nn.init.normal_(m.weight, 0.0, 0.02)
    if m.bias is not None:
      nn.init.constant_(m.bias, 0.0)
  elif "BatchNorm2d" in name:
    nn.init.normal_(m.weight, 1.0, 0.02)
    nn.init.constant_(m.bias, 0.0)


def torch_patchgan(input_nc: int, width: int = 64, n_layers: int = 3, norm=None):
  """The reference's NLayerDiscriminator (models/networks.py), uninitialised.

  `norm` is its norm_layer: BatchNorm2d (the default) or a partial of InstanceNorm2d; as
  in the reference, the middle convolutions have a bias only with InstanceNorm.
  """
  from torch import nn

  norm = norm or nn.BatchNorm2d
  use_bias = getattr(norm, "func", norm) is nn.InstanceNorm2d
  seq = [nn.Conv2d(input_nc, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
  mult = 1
  for n in range(1, n_layers + 1):  # The last one is stride 1.
    prev, mult = mult, min(2 ** n, 8)
    seq += [nn.Conv2d(width * prev, width * mult, 4, 2 if n < n_layers else 1, 1,
                      bias=use_bias), norm(width * mult), nn.LeakyReLU(0.2, True)]
  seq.append(nn.Conv2d(width * mult, 1, 4, 1, 1))
  return nn.Sequential(*seq)


def torch_param_counts_of(netg, netd) -> dict:
  """{'g_params', 'd_params'} of two torch modules."""
  return {"g_params": sum(p.numel() for p in netg.parameters()),
          "d_params": sum(p.numel() for p in netd.parameters())}


def torch_pix2pix(resolution: int, channels: int = 3, width: int = 64, n_layers: int = 3):
  """The reference's UnetGenerator and NLayerDiscriminator (models/networks.py), transcribed.

  define_G(channels, channels, width, 'unet_<resolution>', 'batch', use_dropout=True) with
  num_downs = log2(resolution), and define_D(2 * channels, width, 'basic'), both through
  init_weights('normal', 0.02): conv weights N(0, 0.02) and biases 0, BatchNorm scales
  N(1, 0.02) and shifts 0. With BatchNorm only the outermost transposed convolution and
  D's first and last convolutions have a bias. Built under `torch.device('meta')` the
  modules have parameter shapes and no storage (for counting).
  """
  import torch
  from torch import nn

  norm = nn.BatchNorm2d

  class UnetSkipConnectionBlock(nn.Module):
    """X -> cat(X, up(submodule(down(X)))); the outermost returns up(...) alone."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, use_dropout=False):
      super().__init__()
      self.outermost = outermost
      downconv = nn.Conv2d(input_nc or outer_nc, inner_nc, 4, 2, 1, bias=False)
      # In place, as the reference: LeakyReLU overwrites the block's input, so the skip
      # carries lrelu(X); the parent's ReLU makes that relu(X) either way.
      downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
      if outermost:
        upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)
        model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
      elif innermost:
        upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=False)
        model = [downrelu, downconv, uprelu, upconv, norm(outer_nc)]
      else:
        upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=False)
        model = [downrelu, downconv, norm(inner_nc), submodule, uprelu, upconv,
                 norm(outer_nc)] + ([nn.Dropout(0.5)] if use_dropout else [])
      self.model = nn.Sequential(*model)

    def forward(self, x):
      return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)

  def unet_generator(num_downs):
    block = UnetSkipConnectionBlock(width * 8, width * 8, innermost=True)
    for _ in range(num_downs - 5):
      block = UnetSkipConnectionBlock(width * 8, width * 8, submodule=block, use_dropout=True)
    for mult in (4, 2, 1):
      block = UnetSkipConnectionBlock(width * mult, width * mult * 2, submodule=block)
    return UnetSkipConnectionBlock(channels, width, input_nc=channels, submodule=block,
                                   outermost=True)

  netg = unet_generator(num_downs(resolution))
  netd = torch_patchgan(2 * channels, width, n_layers, norm)
  netg.apply(torch_init_weights)
  netd.apply(torch_init_weights)
  return netg, netd


def torch_param_counts(resolution: int, *, channels: int = 3, width: int = 64) -> dict:
  """{'g_params', 'd_params'} of `torch_pix2pix`, built on the meta device (nothing allocated)."""
  import torch

  with torch.device("meta"):
    return torch_param_counts_of(*torch_pix2pix(resolution, channels, width))


class TorchRunner(dcgan.TorchRunner):
  """The reference's Pix2PixModel.optimize_parameters (CPU, float32, NCHW)."""

  def __init__(self, batch: int, resolution: int, *, channels: int = 3, width: int = 64,
               seed: int = 0, threads: int | None = None):
    torch, t0 = self._begin(threads, seed)
    self.netg, self.netd = torch_pix2pix(resolution, channels, width)
    self.opt_g, self.opt_d = (self._adam(net.parameters()) for net in (self.netg, self.netd))
    self.real_a, self.real_b = torch.rand(2, batch, channels, resolution, resolution) * 2 - 1
    # GANLoss('vanilla'): BCE on logits against a label expanded to the patch map.
    self.criterion = torch.nn.BCEWithLogitsLoss()
    self.params = torch_param_counts_of(self.netg, self.netd)
    self.init_s = time.perf_counter() - t0

  def _begin(self, threads: int | None, seed: int):
    """Imports torch, sets its threads and seed, makes GANLoss's labels and the L1 loss;
    returns (torch, the start time of the set-up)."""
    import torch

    self._torch, t0 = torch, time.perf_counter()
    torch.set_num_threads(threads or os.cpu_count())
    torch.manual_seed(seed)
    self.l1 = torch.nn.L1Loss()
    self.real_label, self.fake_label = torch.tensor(1.0), torch.tensor(0.0)
    return torch, t0

  def _adam(self, params):
    """The reference's Adam: lr 2e-4, betas (0.5, 0.999)."""
    return self._torch.optim.Adam(params, lr=self.learning_rate, betas=self.betas)

  def _gan_loss(self, logits, real: bool):
    label = self.real_label if real else self.fake_label
    return self.criterion(logits, label.expand_as(logits))

  def step(self) -> float:
    cat = functools.partial(self._torch.cat, dim=1)
    netd, a, b = self.netd, self.real_a, self.real_b
    t0 = time.perf_counter()
    fake = self.netg(a)  # forward()
    # backward_D: the fake detached (no gradient into G), then the real pair.
    netd.requires_grad_(True)
    self.opt_d.zero_grad()
    loss_d_fake = self._gan_loss(netd(cat((a, fake)).detach()), False)
    loss_d_real = self._gan_loss(netd(cat((a, b))), True)
    ((loss_d_fake + loss_d_real) * 0.5).backward()
    self.opt_d.step()
    # backward_G: D frozen; the same fake, now with its graph.
    netd.requires_grad_(False)
    self.opt_g.zero_grad()
    loss_g = self._gan_loss(netd(cat((a, fake))), True) + self.l1(fake, b) * L1_WEIGHT
    loss_g.backward()
    self.opt_g.step()
    return time.perf_counter() - t0

  def info(self) -> dict:
    return {**super().info(), **self.params}


# --------------------------------------------------------------------------- worker
#
# The harness below serves any benchmark module `bench` shaped as this one (this one by
# default): its NAME, DEFAULT_SETTINGS, parse_settings, GANJAX_MODULES, GanjaxRunner and
# TorchRunner (each built as (batch, resolution, channels=, width=), the torch one with
# threads=) and its docstring; `benchmarks.cyclegan` is another.


def _bench(bench):
  return bench or sys.modules[__name__]


def worker(args, bench=None) -> None:
  """One framework at one setting, driven over stdin/stdout as `benchmarks.dcgan.Worker`
  drives its workers: a 'ready' line after the first iteration, then one line per
  'step', and the peak RSS (and matmul rate) on 'finish'."""
  bench = _bench(bench)
  proto = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)  # Library chatter on stdout must not corrupt the protocol.
  t_begin, t0 = time.time(), time.perf_counter()
  if args.cores:  # Before any thread pool starts.
    os.sched_setaffinity(0, range(args.cores))
  ((batch, resolution),) = args.settings
  sizes = dict(channels=args.channels, width=args.width)
  if args._worker == "ganjax":
    from ganjax import xla_cpu
    xla_cpu.apply()  # As the entry points do, before JAX starts.
    import jax  # noqa: F401

    for name in bench.GANJAX_MODULES:  # Imports timed apart from the first step.
      importlib.import_module(name)
    import_s = time.perf_counter() - t0
    runner = bench.GanjaxRunner(batch, resolution, **sizes)
  else:
    import torch  # noqa: F401
    import_s = time.perf_counter() - t0
    runner = bench.TorchRunner(batch, resolution, threads=args.threads, **sizes)
  first_run_s = runner.step()

  def send(obj):
    proto.write(json.dumps(obj) + "\n")

  send({"event": "ready", "t_begin": t_begin, "t_ready": time.time(), "import_s": import_s,
        "first_run_s": first_run_s, **runner.info()})
  for command in map(str.strip, sys.stdin):
    if command == "finish":
      mm = runner.matmul_gflops() if args.matmul_peak else None
      send({"peak_rss_mb": dcgan._peak_rss_mb(), "matmul_gflops": mm})
      return
    cpu = time.process_time()
    wall = runner.step()
    send({"t": wall, "cpu": time.process_time() - cpu})


class Worker(dcgan.Worker):
  """A worker subprocess of `benchmarks.<name>` (this module by default):
  `benchmarks.dcgan.Worker`'s protocol and timing."""

  def __init__(self, framework: str, batch: int, resolution: int, args, name: str = NAME):
    cmd = [sys.executable, "-m", f"benchmarks.{name}", f"--_worker={framework}",
           f"--settings={batch}x{resolution}", f"--channels={args.channels}",
           f"--width={args.width}", f"--threads={args.threads}", f"--cores={args.cores}",
           "--matmul_peak" if args.matmul_peak else "--no-matmul_peak"]
    self.framework, self.times, self.cpu_times = framework, [], []
    started = time.time()
    self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, bufsize=1)
    ready = self._recv()
    ready["first_step_s"] = ready.pop("t_ready") - started
    ready["startup_s"] = ready.pop("t_begin") - started  # Python, this module.
    self.ready = ready


# --------------------------------------------------------------------------- parent


def interleave(workers, warmup: int, steps: int):
  """`warmup` untimed rounds, then `steps` timed ones, the workers' order alternating
  (A B, B A, ...); returns the cores other processes kept busy during the timed rounds."""
  for i in range(warmup + steps):
    if i == warmup:
      busy, wall = dcgan._busy_cpu_s(), time.perf_counter()
    for w in workers[::1 if i % 2 == 0 else -1]:
      t, cpu = w.step()
      if i >= warmup:
        w.times.append(t)
        w.cpu_times.append(cpu)
  end_busy, elapsed = dcgan._busy_cpu_s(), time.perf_counter() - wall
  if busy is None or end_busy is None:
    return None
  others = end_busy - busy - sum(map(sum, (w.cpu_times for w in workers)))
  return round(max(0.0, others) / elapsed, 2)


def run_setting(frameworks, batch: int, resolution: int, args, bench=None) -> dict:
  """Benchmarks one BATCHxRESOLUTION with each framework; returns its JSON record."""
  name = _bench(bench).NAME
  load = [dcgan._load()]
  workers = [Worker(f, batch, resolution, args, name) for f in frameworks]  # One at a time.
  other_cores = interleave(workers, args.warmup, args.steps)
  load.append(dcgan._load())
  rec = {"benchmark": name, "batch": batch, "resolution": resolution,
         "steps": args.steps, "warmup": args.warmup, "width": args.width}
  medians = {}
  for w in workers:
    end = w.finish()
    medians[w.framework] = med = statistics.median(w.times)
    rec[f"{w.framework}_ms"] = round(1000 * med, 2)
    side = {k: round(v, 3) if isinstance(v, float) and k != "xla_flops_per_step" else v
            for k, v in w.ready.items() if k != "event"}
    side.update({
        "img_per_s": round(batch / med, 3), "step_ms_min": round(1000 * min(w.times), 2),
        "step_ms_max": round(1000 * max(w.times), 2),
        "cpu_s_median": round(statistics.median(w.cpu_times), 4),
        "peak_rss_mb": round(end["peak_rss_mb"], 1),
        "matmul_gflops": end["matmul_gflops"] and round(end["matmul_gflops"], 1)})
    rec[w.framework] = side
  if len(workers) == 2:
    g, t = workers
    rec["torch_over_ganjax"] = round(medians["torch"] / medians["ganjax"], 3)
    rec["paired_ratio_median"] = round(
        statistics.median(tt / tg for tg, tt in zip(g.times, t.times)), 3)
  for key in ("g_params", "d_params"):
    rec[key] = {w.framework: w.ready[key] for w in workers}
  rec["params_match"] = all(len(set(rec[k].values())) == 1 for k in ("g_params", "d_params"))
  rec.update({"load_avg_1m": load, "other_load_cores": other_cores,
              "cpu_count": os.cpu_count(), "pinned_cores": args.cores or None,
              "threads": args.threads})
  return rec


COLUMNS = ("setting", "ganjax_ms", "torch_ms", "torch_over_ganjax", "g_params", "d_params",
           "other_load_cores")


def table(records: list[dict]) -> str:
  """The records as a Markdown table: one row per setting."""

  def cell(rec, col):
    if col == "setting":
      return f"{rec['batch']}x{rec['resolution']}"
    value = rec.get(col)
    if isinstance(value, dict):  # Parameter counts: one number if they agree.
      counts = sorted(set(value.values()))
      return " vs ".join(f"{n:,}" for n in counts) + ("" if len(counts) == 1 else " (DIFFER)")
    return "" if value is None else str(value)

  rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
  rows += ["| " + " | ".join(cell(r, c) for c in COLUMNS) + " |" for r in records]
  return "\n".join(rows)


def parse_args(argv=None, bench=None):
  bench = _bench(bench)
  p = argparse.ArgumentParser(prog=f"python -m benchmarks.{bench.NAME}",
                              description=bench.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--framework", choices=FRAMEWORKS + ("both",), default="both")
  p.add_argument("--settings", default=bench.DEFAULT_SETTINGS,
                 help=f"comma-separated BATCHxRESOLUTION (default {bench.DEFAULT_SETTINGS})")
  p.add_argument("--steps", type=int, default=10, help="timed iterations per framework")
  p.add_argument("--warmup", type=int, default=2, help="untimed iterations after the first")
  p.add_argument("--channels", type=int, default=3, help="of the images A and B")
  p.add_argument("--width", type=int, default=64, help="ngf = ndf (64 in the paper)")
  p.add_argument("--threads", type=int, default=None,
                 help="PyTorch's intra-op threads (default: --cores, else every core)")
  p.add_argument("--cores", type=int, default=0,
                 help="pin both workers to the first N cores (0: no pinning)")
  p.add_argument("--matmul_peak", action=argparse.BooleanOptionalAction, default=True,
                 help="measure the best matmul GFLOP/s in each framework at the end")
  p.add_argument("--_worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  try:
    args.settings = bench.parse_settings(args.settings)
  except ValueError as e:
    p.error(str(e))
  if args.threads is None:  # As benchmarks.dcgan.
    args.threads = args.cores or os.cpu_count()
  if args.steps < 1 or args.warmup < 0 or args.width < 1:
    p.error("--steps and --width must be >= 1 and --warmup >= 0")
  return args


def main(argv=None, bench=None) -> int:
  args = parse_args(argv, bench)
  if args._worker:
    worker(args, bench)
    return 0
  frameworks = dcgan.chosen_frameworks(args.framework)
  if frameworks is None:  # torch asked for and missing: said why.
    return 2
  records = []
  for batch, resolution in args.settings:
    rec = run_setting(frameworks, batch, resolution, args, bench)
    if not rec["params_match"]:
      print(f"WARNING: at {batch}x{resolution} the two sides' parameter counts DIFFER: "
            f"G {rec['g_params']}, D {rec['d_params']}: not the same networks",
            file=sys.stderr, flush=True)
    print(json.dumps(rec), flush=True)
    records.append(rec)
  print(table(records))
  return 0 if all(r["params_match"] for r in records) else 1


if __name__ == "__main__":
  sys.exit(main())
