"""The 2-D mixture table: every loss family and mode-collapse remedy, ring and grid, seeds.

  nice -n 10 python -m benchmarks.mixture_table --workdir=/tmp/mixture_table

Trains each row of ROWS on ring and grid for each seed with
ganjax.train.train_and_evaluate (experiments/configs/mixture.py, then BASE,
then the row's overrides), reads each run's eval.json, and prints a markdown
table of mean ± std over the seeds. Runs whose eval.json exists are reused, so
an interrupted sweep continues where it stopped. `--rows` picks rows by name;
`--set key=value` overrides the config of every run (e.g. to try defaults).
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
  """The command line's flags (defined by `__main__` only: importing the module, as the tests
  do beside other benchmarks with flags of the same names, defines none)."""
  flags.DEFINE_string("workdir", "/tmp/mixture_table", "Where the runs go (one dir each).")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
  flags.DEFINE_list("datasets", ["ring", "grid"], "Mixtures.")
  flags.DEFINE_list("rows", [], "Row names to run (default: all).")
  flags.DEFINE_multi_string("set", [], "key=value overrides for every run (Python literals).")
  flags.DEFINE_string("json_out", "", "Also write the per-run results here.")

# Every run starts from BASE (experiments/configs/mixture.py with every remedy off and
# the non-saturating loss), so the table does not move when the default config does.
BASE = {"objective": "adversarial", "loss": "non_saturating", "label_smoothing": 0.0,
        "top_k": 1.0, "drs_keep": 1.0, "drs_calibration_steps": 0, "minibatch_kernels": 0,
        "pack": 1, "d_steps": 1, "optimizer.name": "adam",
        "optimizer.g_learning_rate": 1e-3, "optimizer.d_learning_rate": 2e-3,
        "optimizer.b1": 0.5, "optimizer.b2": 0.999, "optimizer.schedule": "linear",
        "hidden": (128, 128, 128), "latent_dim": 2, "batch_size": 256, "num_steps": 10000}
# The Wasserstein families keep their papers' recipes (5 critic steps, equal learning
# rates, RMSProp / Adam(0, 0.9)) with learning rates raised for a short budget: 5,000
# generator steps (25,000 critic updates, 2.5x the critic updates of the other rows).
_WGAN = {"objective": "weight_clipping", "loss": "wasserstein", "d_steps": 5,
         "optimizer.name": "rmsprop", "optimizer.g_learning_rate": 5e-4,
         "optimizer.d_learning_rate": 5e-4, "num_steps": 5000}
_WGAN_GP = {"objective": "gradient_penalty", "loss": "wasserstein", "d_steps": 5,
            "optimizer.b1": 0.0, "optimizer.b2": 0.9, "optimizer.g_learning_rate": 1e-3,
            "optimizer.d_learning_rate": 1e-3, "num_steps": 5000}

# (row name, what it is, config overrides on top of BASE)
ROWS = [
    ("non_saturating", "loss family", {}),
    ("minimax", "loss family", {"loss": "minimax"}),
    ("least_squares", "loss family", {"loss": "least_squares"}),
    ("wasserstein (clip)", "loss family", _WGAN),
    ("wgan_gp", "loss family", _WGAN_GP),
    ("hinge", "loss family", {"loss": "hinge"}),
    ("minibatch discrimination", "remedy", {"minibatch_kernels": 5}),
    ("feature matching", "remedy", {"objective": "feature_matching"}),
    ("label smoothing 0.1", "remedy", {"label_smoothing": 0.1}),
    ("packing m=2", "remedy", {"pack": 2}),
    ("packing m=4", "remedy", {"pack": 4}),
    ("R1 gamma=1", "regulariser", {"objective": "r1", "r1_gamma": 1.0}),
    ("R1 gamma=0.1", "regulariser", {"objective": "r1", "r1_gamma": 0.1}),
    ("spectral norm", "regulariser", {"spectral_norm": True}),
    ("R1 gamma=0.1 + spectral norm", "regulariser",
     {"objective": "r1", "r1_gamma": 0.1, "spectral_norm": True}),
    ("top-k 0.5", "remedy", {"top_k": 0.5}),
    ("R1 gamma=0.1 + top-k 0.75", "regulariser",
     {"objective": "r1", "r1_gamma": 0.1, "top_k": 0.75}),
    # 4x the steps, then discriminator rejection sampling keeping half of G's samples, D
    # first trained 2,000 updates more against the final G (eval.json's without_drs: the
    # same runs' own samples). The default of experiments/configs/mixture.py.
    ("R1 gamma=0.1 + 40k steps + DRS 0.5", "sampling",
     {"objective": "r1", "r1_gamma": 0.1, "num_steps": 40000, "drs_keep": 0.5,
      "drs_calibration_steps": 2000, "drs_calibration_lr": 3e-4}),
    # The same with twice the steps on the grid (a dict value is per dataset): the
    # default of experiments/configs/mixture.py.
    ("R1 gamma=0.1 + 40k (ring) / 80k (grid) steps + DRS 0.5", "sampling",
     {"objective": "r1", "r1_gamma": 0.1, "num_steps": {"ring": 40000, "grid": 80000},
      "drs_keep": 0.5, "drs_calibration_steps": 2000, "drs_calibration_lr": 3e-4}),
]


def _set(c, key, value):
  *parents, leaf = key.split(".")
  for p in parents:
    c = getattr(c, p)
  setattr(c, leaf, value)


def _parse(assignment):
  import ast
  key, _, value = assignment.partition("=")
  try:
    return key, ast.literal_eval(value)
  except (ValueError, SyntaxError):
    return key, value


def _slug(name):
  return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


# The row that is experiments/configs/mixture.py's default.
DEFAULT_ROW = "R1 gamma=0.1 + 40k (ring) / 80k (grid) steps + DRS 0.5"


def config_of(overrides: dict, dataset: str, seed: int, settings=()):
  """The config of one run: the mixture config, BASE, a row's overrides, then `settings`
  ((key, value) pairs, as --set gives them). A dict value maps each dataset to its own."""
  from experiments.configs import mixture as mixture_config
  c = mixture_config.get_config(dataset)
  for k, v in [*BASE.items(), *overrides.items(), *settings]:
    _set(c, k, v[dataset] if isinstance(v, dict) else v)
  c.seed = seed
  return c


def run_one(row, overrides, dataset, seed):
  from ganjax import train
  c = config_of(overrides, dataset, seed, map(_parse, FLAGS.set))
  workdir = os.path.join(FLAGS.workdir, _slug(row), f"{dataset}_seed{seed}")
  out = os.path.join(workdir, "eval.json")
  if not os.path.exists(out):
    t = time.time()
    train.train_and_evaluate(c, workdir)
    print(f"  {row} {dataset} seed {seed}: {time.time() - t:.1f} s", file=sys.stderr)
  with open(out) as f:
    return json.load(f)


def _cell(values, fmt):
  return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values))}"


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  seeds = [int(s) for s in FLAGS.seeds]
  rows = [r for r in ROWS if not FLAGS.rows or r[0] in FLAGS.rows]
  results = {}
  for name, _, overrides in rows:
    for dataset in FLAGS.datasets:
      results[name, dataset] = [run_one(name, overrides, dataset, s) for s in seeds]
  if FLAGS.json_out:
    with open(FLAGS.json_out, "w") as f:
      json.dump({f"{n}|{d}": v for (n, d), v in results.items()}, f, indent=1)

  head = "| row | kind |"
  rule = "|---|---|"
  for d in FLAGS.datasets:
    k = results[rows[0][0], d][0]["num_modes"]
    head += f" {d}: modes (of {k}) | {d}: high quality | {d}: reverse KL |"
    rule += "---:|---:|---:|"
  print(f"\n{len(seeds)} seeds ({', '.join(map(str, seeds))}), mean ± std\n")
  print(head)
  print(rule)
  for name, kind, _ in rows:
    line = f"| {name} | {kind} |"
    for d in FLAGS.datasets:
      r = results[name, d]
      line += (f" {_cell([x['modes_covered'] for x in r], '{:.1f}')} |"
               f" {_cell([x['high_quality_fraction'] for x in r], '{:.3f}')} |"
               f" {_cell([x['reverse_kl'] for x in r], '{:.3f}')} |")
    print(line)


if __name__ == "__main__":
  define_flags()
  app.run(main)
