"""The digits DCGAN's sample quality: the recipe of issue 16, each switch on it, the default.

  python -m benchmarks.dcgan_quality                         # every row, 3 seeds, 5,000 steps
  python -m benchmarks.dcgan_quality --rows=recipe,default --seeds=0,1,2
  python -m benchmarks.dcgan_quality --num_steps=1500 --seeds=0     # a quick screen

Each run trains `experiments/configs/dcgan.py` (digits at 32x32) with RECIPE (the config
as issue 16 measured it, pinned here so that the table does not move with the default)
and then the row's overrides; the row "default" is the config file as it is. A run goes
to <workroot>/<row>_<steps>_s<seed>, and a finished one is reused. SAMPLING_ROWS train
nothing of their own: they sample another row's runs another way (discriminator
rejection sampling on or off). Each run then draws
--num_samples images (z from seed 0, as `python -m experiments.evaluate` does) and is
scored by experiments.evaluate's classifier and nearest-neighbour sections against the
train split: FCD, precision, recall, density, coverage. The test split's images, scored
alike, are the last row. Prints a markdown table (mean ± std over seeds, with the
training wall clock of the runs this invocation trained) and writes
<workroot>/dcgan_quality.json.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# The digits DCGAN as issue 16 measured it: tanh output, BatchNorm in D, the
# non-saturating loss, Adam 2e-4 (0.5, 0.999), a generator EMA of 0.999 sampled with the
# live generator's BatchNorm statistics, no InfoGAN code, G's own samples scored.
RECIPE = {"g_output": "tanh", "ema_decay": 0.999, "ema_batch_stats": "live",
          "drs_keep": 1.0, "d_normalization": "batch", "spectral_norm": False,
          "objective": "adversarial",
          "loss": "non_saturating", "label_smoothing": 0.0, "diff_augment": "",
          "optimizer.g_learning_rate": 2e-4, "optimizer.d_learning_rate": 2e-4,
          "optimizer.b1": 0.5, "optimizer.b2": 0.999, "num_steps": 5000, "info_categories": 0}

# The default before InfoGAN's code (issue 16's second stop): the tanh and the live
# generator's statistics replaced, evaluation samples by discriminator rejection.
PREVIOUS_DEFAULT = {"g_output": "linear", "ema_batch_stats": "own", "drs_keep": 0.25}

# (row name, what it changes, overrides on RECIPE); "default" is the config file itself.
ROWS = [
    ("recipe", "issue 16's recipe", {}),
    ("no EMA", "samples from the live generator", {"ema_decay": 0.0}),
    ("EMA own statistics", "the EMA keeps its own BatchNorm statistics",
     {"ema_batch_stats": "own"}),
    ("linear output", "no tanh in training, clipped when sampling", {"g_output": "linear"}),
    ("spectral norm", "SN-GAN's D: spectral norm, no BatchNorm",
     {"spectral_norm": True, "d_normalization": "none"}),
    ("SN + hinge + TTUR", "SN-GAN's recipe: hinge, Adam (0, 0.9), D 4e-4, G 1e-4",
     {"spectral_norm": True, "d_normalization": "none", "loss": "hinge",
      "optimizer.b1": 0.0, "optimizer.b2": 0.9, "optimizer.d_learning_rate": 4e-4,
      "optimizer.g_learning_rate": 1e-4}),
    ("R1 gamma=1", "R1 every 4th D update, no BatchNorm in D",
     {"objective": "r1", "r1_gamma": 1.0, "r1_interval": 4, "d_normalization": "none"}),
    ("DiffAugment translation", "D sees images shifted by up to 1/8 of a side",
     {"diff_augment": "translation"}),
    ("DiffAugment translation+cutout", "... and with a half-side square cut out",
     {"diff_augment": "translation,cutout"}),
    ("label smoothing 0.2", "one-sided", {"label_smoothing": 0.2}),
    ("D lr 5e-5", "D learns 4x slower than G", {"optimizer.d_learning_rate": 5e-5}),
    ("lr 4e-4", "G and D learn 2x faster",
     {"optimizer.g_learning_rate": 4e-4, "optimizer.d_learning_rate": 4e-4}),
    ("previous default", "linear output, the EMA's own statistics, DRS keeping 0.25",
     PREVIOUS_DEFAULT),
    ("previous default + DiffAugment translation", "D sees shifted images (D overfits)",
     {**PREVIOUS_DEFAULT, "diff_augment": "translation"}),
    ("previous default + DiffAugment translation+cutout",
     "... and with a half-side square cut out",
     {**PREVIOUS_DEFAULT, "diff_augment": "translation,cutout"}),
    ("default", "experiments/configs/dcgan.py as it is", None),
]
# Fields that change how a trained run is sampled, not how it trains: rows differing only
# in them share their runs (the work directory is named after the training row).
SAMPLING_FIELDS = ("drs_keep",)
# (row name, what it changes, the row whose runs it samples, its sampling overrides)
SAMPLING_ROWS = [
    ("default without DRS", "the default's generator without rejection sampling", "default",
     {"drs_keep": 1.0}),
    ("default with DRS 0.75", "the default's runs, three quarters of G's samples kept by D",
     "default", {"drs_keep": 0.75}),
    ("default with DRS 0.5", "the default's runs, half of G's samples kept by D",
     "default", {"drs_keep": 0.5}),
    ("default with DRS 0.25", "the default's runs, a quarter of G's samples kept by D",
     "default", {"drs_keep": 0.25}),
    ("previous default without DRS", "its generator's own samples", "previous default",
     {"drs_keep": 1.0}),
    ("previous default with DRS 0.5", "half of G's samples kept by D", "previous default",
     {"drs_keep": 0.5}),
    ("previous default + DiffAugment translation without DRS", "G's own samples",
     "previous default + DiffAugment translation", {"drs_keep": 1.0}),
    ("previous default + DiffAugment translation+cutout without DRS", "G's own samples",
     "previous default + DiffAugment translation+cutout", {"drs_keep": 1.0}),
]
ROW_NAMES = tuple(name for name, _, _ in ROWS) + tuple(name for name, *_ in SAMPLING_ROWS)
METRICS = (("fcd", "FCD"), ("fcd_300", "FCD, sets of 300"), ("precision", "precision"),
           ("recall", "recall"), ("density", "density"), ("coverage", "coverage"))


def define_flags():
  from absl import flags
  flags.DEFINE_list("rows", list(ROW_NAMES), "Rows to run, by name.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
  flags.DEFINE_integer("num_steps", None, "Training steps of every run (default: 5,000, "
                       "RECIPE's; the 'default' row: the config's).")
  flags.DEFINE_integer("num_samples", 1497, "Generated images scored per run.")
  flags.DEFINE_string("workroot", "/tmp/dcgan_quality", "Where the work directories go.")


def _set(config, key: str, value) -> None:
  node = config
  *path, last = key.split(".")
  for part in path:
    node = node[part]
  node[last] = value


def trained_row(row: str) -> str:
  """The row whose runs `row` samples: itself, or a sampling row's training row."""
  return {name: trained for name, _, trained, _ in SAMPLING_ROWS}.get(row, row)


def config_of(row: str, seed: int, num_steps: int | None = None):
  """The digits DCGAN config of one run of `row`."""
  from experiments.configs import dcgan
  rows = {name: overrides for name, _, overrides in ROWS}
  if row not in ROW_NAMES:
    raise ValueError(f"unknown row {row!r}; valid: {', '.join(ROW_NAMES)}")
  c = dcgan.get_config("digits")
  overrides = rows[trained_row(row)]
  if overrides is not None:
    for key, value in {**RECIPE, **overrides}.items():
      _set(c, key, value)
  for key, value in {name: o for name, _, _, o in SAMPLING_ROWS}.get(row, {}).items():
    _set(c, key, value)
  c.seed = seed
  if num_steps:
    c.num_steps = num_steps
  c.sample_every = min(c.sample_every, c.num_steps)
  c.checkpoint_every = min(c.checkpoint_every, c.num_steps)
  return c


def chunked_fcd(real_features, features, size: int) -> float:
  """The mean FCD against `real_features` of the disjoint sets of `size` rows of
  `features` (the rows past the last whole set are left out)."""
  from ganjax import metrics
  sets = [features[i:i + size] for i in range(0, len(features) - size + 1, size)]
  if not sets:
    raise ValueError(f"fewer than {size} samples: {len(features)}")
  return float(np.mean([metrics.frechet_distance(real_features, f) for f in sets]))


def measure(workdir: str, num_samples: int, log=print, sampling: dict | None = None) -> dict:
  """The scores of one trained run and of the test images, as experiments.evaluate's;
  `sampling` overrides fields of SAMPLING_FIELDS in the run's config first."""
  from ganjax import evaluate
  from ganjax.restore import load_trained

  config, state = load_trained(workdir)
  for key, value in (sampling or {}).items():
    _set(config, key, value)
  ctx = evaluate.Context(workdir, config, state,
                         evaluate.Options(num_samples=num_samples, log=log))
  scores = {**evaluate.classifier_section(ctx), **evaluate.nearest_neighbours_section(ctx)}
  # FCD falls as the sample count grows: the samples are also scored in disjoint sets as
  # large as the baseline's test split, and those FCDs averaged (one set's moves by +-10).
  num_real = len(ctx.real("test")[0])
  scores["fcd_300"] = chunked_fcd(ctx.classifier_outputs(ctx.train_split)[0],
                                  ctx.classifier_outputs("generated")[0], num_real)
  scores["fcd_300_real_baseline"] = scores["fcd_real_baseline"]
  return {"step": ctx.step, **{k: scores[k] for k, _ in METRICS},
          **{f"real_{k}": scores[f"{k}_real_baseline"] for k, _ in METRICS},
          "num_real": num_real}


def _cell(values) -> str:
  v = np.asarray(values, float)
  return f"{v.mean():.2f} ± {v.std():.2f}" if len(v) > 1 else f"{v.mean():.2f}"


def table(results: dict, *, title: str = "") -> str:
  """Markdown: a row per config row (mean ± std over its runs), then the test images.

  `results` maps a row name to a list of `measure` scores (plus "train_s" where this
  invocation trained the run), one per seed.
  """
  head = " | ".join(name for _, name in METRICS)
  lines = ([title] if title else []) + [f"| run | seeds | {head} | train (s) |",
                                        "|---|---:|" + "---:|" * (len(METRICS) + 1)]
  for row, runs in results.items():
    times = [r["train_s"] for r in runs if r.get("train_s")]
    cells = [_cell([r[k] for r in runs]) for k, _ in METRICS]
    cells.append(f"{np.mean(times):.0f}" if times else "-")
    lines.append(f"| {row} | {len(runs)} | " + " | ".join(cells) + " |")
  real = next(iter(results.values()))[0]
  lines.append(f"| real test images ({real['num_real']}) | - | "
               + " | ".join(f"{real[f'real_{k}']:.2f}" for k, _ in METRICS) + " | - |")
  return "\n".join(lines)


def slug(row: str) -> str:
  """A row's name as a work directory's."""
  return row.replace(" ", "_").replace("=", "").replace("+", "").replace("__", "_")


def main(argv):
  from absl import app, flags, logging
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  FLAGS = flags.FLAGS
  for row in FLAGS.rows:
    if row not in ROW_NAMES:
      raise app.UsageError(f"unknown row {row!r}; valid: {', '.join(ROW_NAMES)}")
  from experiments import launch
  launch.setup_process()  # Seeds share compiled programs through the compilation cache.
  from ganjax import train

  os.makedirs(FLAGS.workroot, exist_ok=True)
  out = os.path.join(FLAGS.workroot, "dcgan_quality.json")
  results = {}
  for row in FLAGS.rows:
    for seed in map(int, FLAGS.seeds):
      c = config_of(row, seed, FLAGS.num_steps)
      workdir = os.path.join(FLAGS.workroot, f"{slug(trained_row(row))}_{c.num_steps}_s{seed}")
      start = time.perf_counter()
      finished = os.path.exists(os.path.join(workdir, "checkpoints", str(c.num_steps)))
      train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
      train_s = time.perf_counter() - start
      scores = measure(workdir, FLAGS.num_samples, log=logging.info,
                       sampling={k: c[k] for k in SAMPLING_FIELDS})
      if not finished:
        scores["train_s"] = train_s
      logging.info("%s seed %d: %s", row, seed, scores)
      results.setdefault(row, []).append({"seed": seed, "workdir": workdir, **scores})
      with open(out, "w") as f:
        json.dump(results, f, indent=2)
  steps = FLAGS.num_steps or RECIPE["num_steps"]
  print(table(results, title=f"\nDCGAN on digits 32x32, {steps} steps, seeds "
                             f"{','.join(FLAGS.seeds)}, {FLAGS.num_samples} samples a run"))


if __name__ == "__main__":
  from absl import app
  define_flags()
  app.run(main)
