"""Measures the conditional family on the offline digits: the numbers of the README table.

  python -m benchmarks.conditional_table --runs=cgan:digits,acgan:digits --seeds=0,1,2
  python -m benchmarks.conditional_table --runs=sgan:digits --seeds=0,1,2

For each run and seed: trains `python -m experiments.<family>` with that
variant and seed in <workroot>/<family>_<variant>_s<seed> (an existing finished
work directory is reused), then measures
- cgan/acgan: conditional accuracy, the share of 1,000 generated samples (100
  per class) that a digit classifier assigns to the requested class;
- sgan: the discriminator's test accuracy and that of the same network trained
  on the same labelled examples only (ganjax.conditional_eval).
The digit classifier is ganjax.classifier's when that module exists, else a
small convnet trained here on the digits train split (its test accuracy is
printed). Prints a markdown table (mean +- std over seeds) and writes
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


def _fallback_classifier(resolution: int):
  """A small convnet trained on digits train at `resolution`: fn(images) -> logits."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  from ml_collections import ConfigDict

  from ganjax import conditional_eval

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = nn.relu(nn.Conv(32, (3, 3))(x))
      x = nn.relu(nn.Conv(64, (3, 3), strides=(2, 2))(x))
      x = nn.relu(nn.Dense(128)(x.reshape((x.shape[0], -1))))
      return nn.Dense(10)(x)

  cfg = ConfigDict(dict(dataset="digits", resolution=resolution, channels=1, data_dir="",
                        center_crop=0))
  x_train, y_train = conditional_eval.load_split(cfg, "train")
  x_test, y_test = conditional_eval.load_split(cfg, "test")
  net = Net()
  params = net.init(jax.random.key(0), x_train[:1])
  tx = optax.adam(1e-3)
  opt = tx.init(params)

  @jax.jit
  def update(params, opt, x, y):
    def loss(p):
      return optax.softmax_cross_entropy_with_integer_labels(net.apply(p, x), y).mean()
    grads = jax.grad(loss)(params)
    updates, opt = tx.update(grads, opt)
    return optax.apply_updates(params, updates), opt

  rng = np.random.default_rng(0)
  for _ in range(1500):
    idx = rng.integers(0, len(x_train), 64)
    # Small random shifts: generated digits are not always centred like the data.
    shift = rng.integers(-1, 2, 2)
    x = np.roll(x_train[idx], tuple(shift * resolution // 8), axis=(1, 2))
    params, opt = update(params, opt, x, y_train[idx])
  classify = jax.jit(lambda x: net.apply(params, x))
  acc = conditional_eval.conditional_accuracy(classify(x_test), y_test)
  logging.info("fallback digit classifier at %dx%d: test accuracy %.4f", resolution,
               resolution, acc)
  return classify, acc


_CLASSIFIERS = {}


def digit_classifier(resolution: int):
  """(fn(images) -> logits, its test accuracy) for digits at `resolution`."""
  if resolution not in _CLASSIFIERS:
    _CLASSIFIERS[resolution] = _fallback_classifier(resolution)
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
  from ganjax import conditional_eval, train
  from ganjax.restore import load_trained

  c = _config(family, variant, seed)
  workdir = os.path.join(FLAGS.workroot, f"{family}_{variant}_s{seed}")
  train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
  config, state = load_trained(workdir)
  if family == "sgan":
    return conditional_eval.semi_supervised_metrics(config, state)
  classify, classifier_acc = digit_classifier(config.resolution)
  images, labels = conditional_eval.generate_per_class(config, state, num_per_class=100,
                                                       seed=1)
  return {"conditional_accuracy": conditional_eval.conditional_accuracy(
      classify(images), labels), "classifier_test_accuracy": classifier_acc}


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
