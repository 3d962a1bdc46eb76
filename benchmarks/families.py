"""Training-step speed of every family's entry config, in one command.

  python -m benchmarks.families                          # every config in experiments/configs
  python -m benchmarks.families --configs=wgan,wgan_gp --steps=20
  python -m benchmarks.families --cache                  # warm: JAX's compilation cache on
  python -m benchmarks.families --configs=dcgan --override=d_steps=5 --override=resolution=64

Each config (`experiments/configs/<name>.py`, its default variant: the offline digits or
the 2-D mixture) runs in its own worker process, one after the other: the worker builds
the state and the jit-compiled, state-donating step as `train_and_evaluate` does, draws
one real batch from the family's own input pipeline, and steps on it. New families are
covered as soon as their config file exists.

Per config, one JSON line and a row of the table: `steps_per_s` (median of `--steps`
timed steps after `--warmup`), `examples_per_s` (batch x steps/s), `first_step_s` from the
worker's process start to the end of its first step, split into `import_s` (jax and
ganjax), `data_s` (the first batch, TensorFlow's start included where the family reads
TFDS), `init_s` (the state, compiled), `compile_s` (the step) and `first_run_s`, and
`peak_rss_mb`, the worker's peak resident memory. With `--cache` the workers use JAX's
persistent compilation cache in `--cache_dir` (run twice: the second run is the warm one).

Compare the rows across commits on one machine, not against numbers from another: a
step that became many times slower (issue 17: WGAN's critic loop, 60x) shows up at once.
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_names() -> list[str]:
  """Every experiment config: experiments/configs/*.py but the shared helpers."""
  names = [os.path.basename(p)[:-3]
           for p in glob.glob(os.path.join(ROOT, "experiments", "configs", "*.py"))]
  return sorted(n for n in names if n not in ("__init__", "common"))


def worker(name: str, steps: int, warmup: int, cache_dir: str | None,
           overrides: list[str] = ()) -> dict:
  """Runs in its own process: times config `name`'s step (with `key=value` overrides)."""
  t0 = time.time()
  from ganjax import compilation_cache, xla_cpu
  xla_cpu.apply()
  import importlib
  import jax
  import numpy as np
  from ganjax import families, parallel, train
  if cache_dir:
    compilation_cache.enable(cache_dir)
  t_import = time.time()

  config = importlib.import_module(f"experiments.configs.{name}").get_config()
  for item in overrides:
    key, value = item.split("=", 1)
    config[key] = value if isinstance(config[key], str) else ast.literal_eval(value)
  family = families.of(config)
  family.check_config(config)
  mesh = parallel.make_mesh()
  batch = next(train.input_batches(config, local_batch_size=config.batch_size))
  batch = parallel.put_batch(batch, mesh, 1)
  jax.block_until_ready(batch)
  t_data = time.time()

  repl = parallel.replicated(mesh)
  state = jax.jit(lambda key: family.create_state(config, key), out_shardings=repl)(
      jax.random.key(0))
  jax.block_until_ready(state)
  t_init = time.time()
  step = jax.jit(family.step(config),
                 in_shardings=(repl, parallel.batch_sharding(mesh, 1), repl),
                 out_shardings=(repl, repl), donate_argnums=0)
  rng = jax.random.key(1)
  compiled = step.lower(state, batch, rng).compile()
  t_compile = time.time()
  state, metrics = compiled(state, batch, rng)
  jax.block_until_ready(state)
  t_first = time.time()

  times = []
  for i in range(warmup + steps):
    t = time.perf_counter()
    state, metrics = compiled(state, batch, rng)
    jax.block_until_ready(state)
    if i >= warmup:
      times.append(time.perf_counter() - t)
  median = statistics.median(times)
  finite = all(np.isfinite(float(v)) for v in jax.device_get(metrics).values())
  return {
      "config": name, "family": config.family, "model": config.get("model"),
      "objective": config.get("objective"), "resolution": config.resolution,
      "batch": config.batch_size, "d_steps": config.d_steps,
      "steps_per_s": round(1 / median, 3),
      "examples_per_s": round(config.batch_size / median, 1),
      "step_ms_median": round(1000 * median, 2),
      "first_step_s": round(t_first - _process_start(t0), 2),
      "import_s": round(t_import - t0, 2), "data_s": round(t_data - t_import, 2),
      "init_s": round(t_init - t_data, 2), "compile_s": round(t_compile - t_init, 2),
      "first_run_s": round(t_first - t_compile, 2),
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
      "losses_finite": bool(finite), "cache": bool(cache_dir), "overrides": list(overrides),
  }


def _process_start(fallback: float) -> float:
  """This process's start time (Linux), so first_step_s includes Python's own start-up."""
  try:
    with open(f"/proc/{os.getpid()}/stat") as f:
      start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    return time.time() - uptime + start_ticks / os.sysconf("SC_CLK_TCK")
  except (OSError, ValueError, IndexError):
    return fallback


COLUMNS = ("config", "family", "objective", "resolution", "batch", "d_steps", "steps_per_s",
           "examples_per_s", "first_step_s", "compile_s", "peak_rss_mb")


def table(rows: list[dict]) -> str:
  """The rows as a Markdown table (the README's)."""
  out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
  for r in rows:
    out.append("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in COLUMNS)
               + " |")
  return "\n".join(out)


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--configs", default="",
                 help="comma-separated config names (default: every experiments/configs file)")
  p.add_argument("--steps", type=int, default=10, help="timed steps per config")
  p.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
  p.add_argument("--cache", action="store_true", help="use JAX's persistent compilation cache")
  p.add_argument("--cache_dir", default=os.path.expanduser("~/.cache/ganjax/benchmark_jax"))
  p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                 help="set a config field in every config (repeatable), e.g. d_steps=5")
  p.add_argument("--timeout", type=int, default=900, help="seconds per config")
  p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  known = config_names()
  args.names = [n for n in args.configs.split(",") if n] or known
  unknown = sorted(set(args.names) - set(known))
  if unknown:
    p.error(f"unknown config {', '.join(unknown)}; valid: {', '.join(known)}")
  if any("=" not in o for o in args.override):
    p.error("--override takes KEY=VALUE")
  if args.steps < 1 or args.warmup < 0:
    p.error("need --steps >= 1 and --warmup >= 0")
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  cache_dir = args.cache_dir if args.cache else None
  if args._worker:
    print(json.dumps(worker(args._worker, args.steps, args.warmup, cache_dir, args.override)),
          flush=True)
    return 0
  rows = []
  for name in args.names:
    cmd = [sys.executable, "-m", "benchmarks.families", f"--_worker={name}",
           f"--steps={args.steps}", f"--warmup={args.warmup}", f"--cache_dir={args.cache_dir}"]
    cmd += ["--cache"] if args.cache else []
    cmd += [f"--override={o}" for o in args.override]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
      out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired:
      row = {"config": name, "error": f"no result in {args.timeout} s"}
    else:
      lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
      row = json.loads(lines[-1]) if out.returncode == 0 and lines else {
          "config": name, "error": (out.stderr.strip().splitlines() or ["?"])[-1][:300]}
    print(json.dumps(row), flush=True)
    rows.append(row)
  print(table(rows))
  return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
  sys.exit(main())
