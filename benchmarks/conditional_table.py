"""Measures the conditional family on the offline digits: the numbers of the README table.

  python -m benchmarks.conditional_table --runs=cgan:digits,acgan:digits --seeds=0,1,2
  python -m benchmarks.conditional_table --runs=sgan:digits --seeds=0,1,2

For each run and seed: trains `python -m experiments.<family>` with that
variant and seed in <workroot>/<family>_<variant>_s<seed> (an existing finished
work directory is reused), then evaluates it with the conditional section of
`python -m experiments.evaluate` (which also writes <workdir>/eval.json):
- cgan/acgan: conditional_accuracy, the share of generated samples (as many
  as the train split has, every class in turn) that the domain classifier
  (ganjax.classifier, trained and cached on first use; its test accuracy is
  reported beside) assigns to the requested class;
- sgan: classification_accuracy, the discriminator's test accuracy, and
  supervised_baseline_accuracy, the same network trained on the same labelled
  examples only (ganjax.families.sgan).
Prints a markdown table (mean +- std over seeds) and writes
<workroot>/conditional_table.json.
"""

import ast
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_list("runs", ["cgan:digits", "acgan:digits", "sgan:digits"],
                  "family:variant pairs.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
flags.DEFINE_string("workroot", "/tmp/conditional_table", "Where the work directories go.")
flags.DEFINE_multi_string("override", [], "Config overrides for every run: key=value, "
                          "e.g. optimizer.d_learning_rate=1e-4.")
flags.DEFINE_integer("num_steps", 0, "Override num_steps (0: the config's).")
FLAGS = flags.FLAGS


# --------------------------------------------------------------------------- a digit classifier

_CLASSIFIERS = {}


def digit_classifier(resolution: int):
  """(fn(images) -> class probabilities, test accuracy): ganjax.classifier's, cached."""
  from ganjax import classifier

  if resolution not in _CLASSIFIERS:
    clf = classifier.get_classifier("digits", resolution=resolution, channels=1)
    _CLASSIFIERS[resolution] = (lambda x: clf.predict(x)[1], clf.test_accuracy)
  return _CLASSIFIERS[resolution]


# --------------------------------------------------------------------------- runs


def _config(family: str, variant: str, seed: int):
  import importlib

  module = importlib.import_module(f"experiments.configs.{family}")
  c = module.get_config(variant)
  c.seed = seed
  if FLAGS.num_steps:
    c.num_steps = FLAGS.num_steps
  for item in FLAGS.override:
    key, value = item.split("=", 1)
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass  # A string.
    c.update_from_flattened_dict({key: value})
  return c


def measure(family: str, variant: str, seed: int) -> dict:
  """Trains (or reuses) one run, then evaluates it as `python -m experiments.evaluate` does."""
  from ganjax import evaluate, families, train

  c = _config(family, variant, seed)
  workdir = os.path.join(FLAGS.workroot, f"{family}_{variant}_s{seed}")
  train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
  # Only evaluate's conditional section (it also writes <workdir>/eval.json).
  result = evaluate.evaluate(workdir, evaluate.Options(log=logging.info),
                             sections=[evaluate.Section(name, fn) for name, fn in
                                       families.of(c).evaluation_sections()])
  keys = ("classification_accuracy", "supervised_baseline_accuracy") if family == "sgan" \
      else ("conditional_accuracy",)
  out = {k: result[k] for k in keys}
  if family != "sgan":
    out["classifier_test_accuracy"] = digit_classifier(c.resolution)[1]
  return out


def main(argv):
  del argv
  import numpy as np

  os.makedirs(FLAGS.workroot, exist_ok=True)
  results = {}
  for run in FLAGS.runs:
    family, variant = run.split(":")
    for seed in map(int, FLAGS.seeds):
      m = measure(family, variant, seed)
      logging.info("%s %s seed %d: %s", family, variant, seed, m)
      results.setdefault(run, []).append({"seed": seed, **m})
      with open(os.path.join(FLAGS.workroot, "conditional_table.json"), "w") as f:
        json.dump(results, f, indent=2)
  print("| run | metric | mean ± std | per seed |\n|---|---|---|---|")
  for run, rows in results.items():
    for key in rows[0]:
      if key == "seed":
        continue
      v = np.array([r[key] for r in rows])
      print(f"| {run} | {key} | {v.mean():.4f} ± {v.std():.4f} | "
            f"{', '.join(f'{x:.4f}' for x in v)} |")


if __name__ == "__main__":
  app.run(main)
