"""StackGAN on the captioned digits, per stage, and the paper's ablations: the README table.

  python -m benchmarks.stackgan_table                       # 3 seeds, every row
  python -m benchmarks.stackgan_table --rows=StackGAN --seeds=0

Rows (Zhang et al. 2017, section 5.2): "StackGAN" trains the default config (Stage I, then
Stage II on it) and is scored per stage: Stage I's 16 px images, the same upsampled to 32 px
(the paper's "Stage II against Stage I upsampled"), and Stage II's 32 px images. The
ablations train Stage I alone without conditioning augmentation (`augment=False`: c = mu,
no KL) and without mismatched pairs (`mismatched_pairs=False`), compared with the default
run's Stage I. Each run goes to <workroot>/<row>_s<seed> (a finished one is reused) and is
scored by the `text_to_image` section of `python -m experiments.evaluate` on the 600 test
captions. Prints one markdown table (mean ± std over seeds), with the real test images'
scores as the first rows, and writes <workroot>/stackgan_table.json.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

# row -> (config variant, overrides, the stages of its evaluation it reports).
ROWS = {
    "StackGAN": ("both", {}, ("stage1", "stage1_upsampled", "stage2")),
    "no conditioning augmentation": ("stage1", dict(augment=False), ("stage1",)),
    "no mismatched pairs": ("stage1", dict(mismatched_pairs=False), ("stage1",)),
}
STAGE_NAMES = {"stage1": "Stage I (16 px)", "stage1_upsampled": "Stage I upsampled (32 px)",
               "stage2": "Stage II (32 px)"}
METRICS = ("accuracy", "size_rank_correlation", "thickness_rank_correlation",
           "slant_rank_correlation", "position_accuracy", "r_precision", "fcd",
           "classifier_is", "diversity_l1")
HEADERS = ("class acc.", "size rho", "thickness rho", "slant rho", "position acc.",
           "R-precision", "FCD", "IS", "diversity")


def define_flags():
  """The command's flags (defined when it runs, not on import: the table modules share
  flag names, and tests import several of them into one process)."""
  flags.DEFINE_list("rows", list(ROWS), "Which rows.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
  flags.DEFINE_string("workroot", "/tmp/stackgan_table", "Where the work directories go.")


FLAGS = flags.FLAGS


def config_of(row: str, seed: int):
  """The config of one run of the table."""
  from experiments.configs import stackgan
  if row not in ROWS:
    raise app.UsageError(f"unknown row {row!r}; valid: {', '.join(ROWS)}")
  variant, overrides, _ = ROWS[row]
  c = stackgan.get_config(variant)
  c.seed = seed
  c.update(overrides)
  return c


def measure(row: str, seed: int) -> dict:
  """Trains (or reuses) one run and returns its text_to_image scores."""
  from ganjax import evaluate, families, train
  c = config_of(row, seed)
  workdir = os.path.join(FLAGS.workroot, f"{row.lower().replace(' ', '_')}_s{seed}")
  train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
  return evaluate.evaluate(workdir, evaluate.Options(log=logging.info),
                           sections=[evaluate.Section(n, fn) for n, fn in
                                     families.of(c).evaluation_sections()])


def cell(values) -> str:
  import numpy as np
  v = np.asarray(values, float)
  if np.all(np.isnan(v)):
    return "-"
  digits = 1 if np.nanmax(np.abs(v)) >= 10 else 3
  return f"{np.nanmean(v):.{digits}f} ± {np.nanstd(v):.{digits}f}"


def main(argv):
  del argv
  from experiments import launch
  launch.setup_process()

  os.makedirs(FLAGS.workroot, exist_ok=True)
  results = {}
  for row in FLAGS.rows:
    for seed in map(int, FLAGS.seeds):
      r = measure(row, seed)
      results.setdefault(row, []).append(r)
      with open(os.path.join(FLAGS.workroot, "stackgan_table.json"), "w") as f:
        json.dump(results, f, indent=2)
  print(f"\ncaptioned digits, 600 test captions, seeds {','.join(FLAGS.seeds)}")
  print("| row | " + " | ".join(HEADERS) + " |\n|---|" + "---:|" * len(HEADERS))
  first = next(iter(results.values()))[0]
  for stage, size in (("stage1", "16 px"), ("stage2", "32 px")):
    if f"{stage}_accuracy_real_baseline" in first:
      print(f"| real test images ({size}) | " + " | ".join(
          cell([first.get(f"{stage}_{k}_real_baseline", float("nan"))]).split(" ±")[0]
          for k in METRICS) + " |")
  for row, runs in results.items():
    for stage in ROWS[row][2]:
      name = STAGE_NAMES[stage] if row == "StackGAN" else f"Stage I, {row}"
      print(f"| {name} | " + " | ".join(cell([r[f"{stage}_{k}"] for r in runs])
                                       for k in METRICS) + " |")


if __name__ == "__main__":
  define_flags()
  app.run(main)
