"""CycleGAN, its paper's ablations and DiscoGAN on digits domain pairs: the README table.

  python -m benchmarks.unpaired_table                         # rotate and bold, 3 seeds
  python -m benchmarks.unpaired_table --variants=rotate --rows=CycleGAN,DiscoGAN --seeds=0
  python -m benchmarks.unpaired_table --num_steps=300          # a quick look

Rows (Zhu et al. 2017, table 4, and Kim et al. 2017): CycleGAN as the reference; "GAN
alone" (no cycle, hence no identity term either: it is weighted by lambda); "GAN +
forward cycle" (lambda_B = 0); "no identity loss"; "no image pool"; DiscoGAN. Each run
trains `experiments/configs/<family>.py:<variant>` with its overrides, a seed and
`--num_steps` in <workroot>/<variant>_<steps>_<row>_s<seed> (a finished work directory is
reused), then scores the test split with the translation section of `python -m
experiments.evaluate`: per direction the target domain classifier's accuracy on the
outputs (is the digit's class kept?), L1 and PSNR against the true counterpart, the
round trip's L1 and the FCD to the target domain's test images. Prints one markdown table
per domain pair and direction (mean ± std over seeds) and writes
<workroot>/unpaired_table.json.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

# row -> (family, config overrides).
ROWS = {
    "CycleGAN": ("cyclegan", {}),
    "GAN alone": ("cyclegan", dict(cycle_weight_a=0.0, cycle_weight_b=0.0)),
    "GAN + forward cycle": ("cyclegan", dict(cycle_weight_b=0.0)),
    "no identity loss": ("cyclegan", dict(identity_weight=0.0)),
    "no image pool": ("cyclegan", dict(pool_size=0)),
    "DiscoGAN": ("discogan", {}),
}
METRICS = ("accuracy", "l1", "psnr", "cycle_l1", "fcd")
DIRECTIONS = ("a2b", "b2a")


def define_flags():
  """The command's flags (defined when it runs, not on import: the table modules share
  flag names, and tests import several of them into one process)."""
  flags.DEFINE_list("variants", ["rotate", "bold"], "Digits domain pairs (config variants).")
  flags.DEFINE_list("rows", list(ROWS), "Which rows.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
  flags.DEFINE_integer("num_steps", 1000, "Training steps of every run.")
  flags.DEFINE_string("workroot", "/tmp/unpaired_table", "Where the work directories go.")


FLAGS = flags.FLAGS


def config_of(row: str, variant: str, seed: int, num_steps: int):
  """The config of one run of the table."""
  import importlib
  if row not in ROWS:
    raise app.UsageError(f"unknown row {row!r}; valid: {', '.join(ROWS)}")
  family, overrides = ROWS[row]
  c = importlib.import_module(f"experiments.configs.{family}").get_config(variant)
  c.seed, c.num_steps = seed, num_steps
  c.sample_every = c.checkpoint_every = num_steps
  if family == "discogan":  # Its curriculum scaled to the run, as its digits config does.
    c.gan_curriculum = num_steps // 3
  c.update(overrides)
  return c


def measure(row: str, variant: str, seed: int) -> dict:
  """Trains (or reuses) one run and returns its translation scores."""
  from ganjax import evaluate, families, train

  c = config_of(row, variant, seed, FLAGS.num_steps)
  slug = row.lower().replace(" ", "_").replace("+", "plus")
  workdir = os.path.join(FLAGS.workroot, f"{variant}_{FLAGS.num_steps}_{slug}_s{seed}")
  train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
  return evaluate.evaluate(workdir, evaluate.Options(log=logging.info),
                           sections=[evaluate.Section(n, fn) for n, fn in
                                     families.of(c).evaluation_sections()])


def cell(values, metric: str) -> str:
  import numpy as np
  v = np.asarray(values, float)
  digits = 1 if metric in ("fcd", "psnr") else 3
  return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def main(argv):
  del argv
  from experiments import launch
  launch.setup_process()  # Seeds share compiled programs through the compilation cache.

  os.makedirs(FLAGS.workroot, exist_ok=True)
  results = {}
  for variant in FLAGS.variants:
    for row in FLAGS.rows:
      for seed in map(int, FLAGS.seeds):
        r = measure(row, variant, seed)
        logging.info("%s %s seed %d: %s", variant, row, seed,
                     {f"{d}_{k}": r[f"{d}_{k}"] for d in DIRECTIONS for k in METRICS})
        results.setdefault(variant, {}).setdefault(row, []).append(r)
        with open(os.path.join(FLAGS.workroot, "unpaired_table.json"), "w") as f:
          json.dump(results, f, indent=2)
  for variant, rows in results.items():
    for d in DIRECTIONS:
      last = next(iter(rows.values()))[-1]
      print(f"\ndigits_{variant} {d}, {FLAGS.num_steps} steps, seeds {','.join(FLAGS.seeds)}; "
            f"input as output: accuracy {last[f'{d}_accuracy_identity']:.3f}, "
            f"l1 {last[f'{d}_l1_identity']:.3f}, fcd {last[f'{d}_fcd_identity']:.1f}; real "
            f"targets' accuracy {last[f'{d}_accuracy_real_targets']:.3f}")
      print("| row | " + " | ".join(METRICS) + " |\n|---|" + "---:|" * len(METRICS))
      for row, runs in rows.items():
        print(f"| {row} | " + " | ".join(cell([r[f"{d}_{k}"] for r in runs], k)
                                         for k in METRICS) + " |")


if __name__ == "__main__":
  define_flags()
  app.run(main)
