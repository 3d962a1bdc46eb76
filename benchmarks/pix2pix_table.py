"""The pix2pix paper's two ablations on a digits task: the numbers of the README table.

  python -m benchmarks.pix2pix_table                       # both ablations, 3 seeds
  python -m benchmarks.pix2pix_table --ablations=objective --seeds=0 --num_steps=300

Isola et al. 2017, tables 1 and 2 (on Cityscapes labels -> photo): the objective (L1 only,
cGAN only, L1 + cGAN, L1 + an unconditional GAN) and the discriminator's receptive field
(1, 16, 34, 70 px patches; at 32x32 the 70 px PatchGAN sees the whole image, like the
paper's 286 px "ImageGAN"). Each row trains `experiments/configs/pix2pix.py:<variant>` with
its overrides and a seed in <workroot>/<row>_s<seed> (a finished work directory is reused),
then scores the held-out test split with the translation section of
`python -m experiments.evaluate` (L1, PSNR, SSIM; the digits classifier's accuracy on the
outputs, the paper's FCN-score analogue; FCD against the real targets). Prints a markdown
table (mean ± std over seeds) and writes <workroot>/pix2pix_table.json.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

# row -> config overrides; L1 + cGAN with the 70 px PatchGAN is the paper's default.
ABLATIONS = {
    "objective": {
        "L1": dict(gan_weight=0.0),
        "cGAN": dict(l1_weight=0.0),
        "L1+cGAN": {},
        "L1+GAN": dict(conditional_d=False),
    },
    "receptive_field": {
        "PixelGAN 1x1": dict(d_layers=0),
        "PatchGAN 16x16": dict(d_layers=1),
        "PatchGAN 34x34": dict(d_layers=2),
        "PatchGAN 70x70": {},
    },
}
METRICS = ("l1", "psnr", "ssim", "accuracy", "fcd")


def define_flags():
  """The command's flags (defined when it runs, not on import: the table modules share
  flag names, and tests import several of them into one process)."""
  flags.DEFINE_list("ablations", list(ABLATIONS), "Which ablations.")
  flags.DEFINE_string("variant", "edges", "The digits task (a variant of configs/pix2pix.py).")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
  flags.DEFINE_integer("num_steps", 1000, "Training steps of every run.")
  flags.DEFINE_string("workroot", "/tmp/pix2pix_table", "Where the work directories go.")


FLAGS = flags.FLAGS


def rows() -> dict:
  """{row name: overrides} of the chosen ablations, each row once."""
  out = {}
  for ablation in FLAGS.ablations:
    if ablation not in ABLATIONS:
      raise app.UsageError(f"unknown ablation {ablation!r}; valid: {', '.join(ABLATIONS)}")
    out.update(ABLATIONS[ablation])
  return out


def measure(name: str, overrides: dict, seed: int) -> dict:
  """Trains (or reuses) one run and returns its translation scores."""
  from experiments.configs import pix2pix as configs
  from ganjax import evaluate, families, train

  c = configs.get_config(FLAGS.variant)
  c.seed, c.num_steps = seed, FLAGS.num_steps
  c.sample_every = c.checkpoint_every = FLAGS.num_steps
  c.update(overrides)
  del name  # Rows with the same overrides (the paper's default, twice) share one run.
  slug = "_".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "default"
  workdir = os.path.join(FLAGS.workroot, f"{FLAGS.variant}_{FLAGS.num_steps}_{slug}_s{seed}")
  train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
  result = evaluate.evaluate(workdir, evaluate.Options(log=logging.info),
                             sections=[evaluate.Section(n, fn) for n, fn in
                                       families.of(c).evaluation_sections()])
  return result


def main(argv):
  del argv
  from experiments import launch
  launch.setup_process()  # Seeds share compiled programs through the compilation cache.
  import numpy as np

  os.makedirs(FLAGS.workroot, exist_ok=True)
  results = {}
  for name, overrides in rows().items():
    for seed in map(int, FLAGS.seeds):
      r = measure(name, overrides, seed)
      logging.info("%s seed %d: %s", name, seed, {k: r[k] for k in METRICS})
      results.setdefault(name, []).append(r)
      with open(os.path.join(FLAGS.workroot, "pix2pix_table.json"), "w") as f:
        json.dump(results, f, indent=2)
  last = next(iter(results.values()))[-1]
  print(f"digits_{FLAGS.variant}, {FLAGS.num_steps} steps, seeds {','.join(FLAGS.seeds)}; "
        f"identity baseline: " + ", ".join(f"{k} {last[k + '_identity']:.3g}" for k in METRICS)
        + "; mean-image baseline: " + ", ".join(f"{k} {last[k + '_mean']:.3g}" for k in METRICS))
  print("| row | " + " | ".join(METRICS) + " |\n|---|" + "---:|" * len(METRICS))
  for name, runs in results.items():
    cells = []
    for k in METRICS:
      v = np.array([r[k] for r in runs])
      cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if k != "fcd" else
                   f"{v.mean():.1f} ± {v.std():.1f}")
    print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  define_flags()
  app.run(main)
