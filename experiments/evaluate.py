"""Evaluates the latest (or --step's) checkpoint of a work directory; writes DIR/eval.json.

  python -m experiments.evaluate --workdir=workdirs/dcgan_digits [--step=2000]
  python -m experiments.evaluate --workdir=DIR --num_samples=10000 --inception_weights=inception_fid.npz

Metrics: see ganjax/evaluate.py. The domain classifier of a labelled dataset is trained on
first use (digits: well under a minute on a CPU) and cached in --classifier_dir.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

from experiments import launch  # noqa: E402

launch.setup_process()  # The XLA:CPU flag and the compilation cache, before JAX starts.

flags.DEFINE_string("workdir", None, "A trained work directory.", required=True)
flags.DEFINE_integer("num_samples", None,
                     "Generated samples (default: 10,000, or the train split's size if smaller).")
flags.DEFINE_integer("seed", 0, "Seed for z.")
flags.DEFINE_integer("batch_size", 500, "Generator and classifier batch size.")
flags.DEFINE_string("classifier_dir", None,
                    "Where the domain classifier is cached (default: "
                    "~/.cache/ganjax/classifiers/<dataset>_<resolution>_<channels>, or under "
                    "$GANJAX_CACHE_DIR).")
flags.DEFINE_string("inception_weights", None,
                    "InceptionV3 FID weights (.npz, see ganjax/inception.py) for FID, KID, IS; "
                    "skipped without.")
flags.DEFINE_integer("num_inversions", 64, "Held-out and train images to invert into z.")
flags.DEFINE_integer("inversion_steps", 300, "Adam steps per inversion.")
flags.DEFINE_string("out", None, "Output JSON (default: <workdir>/eval.json).")
flags.DEFINE_integer("step", None, "The checkpoint of this step (default: the newest).")
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")

  def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)

  # Flag checks first: they fail in a second, before JAX and TensorFlow load.
  if not os.path.isdir(FLAGS.workdir):
    fail(f"work directory {FLAGS.workdir} does not exist")
  if FLAGS.inception_weights and not os.path.isfile(FLAGS.inception_weights):
    fail(f"--inception_weights: no file {FLAGS.inception_weights}")
  for name in ("num_samples", "batch_size", "num_inversions"):
    value = getattr(FLAGS, name)
    if value is not None and value < 1:
      fail(f"--{name} must be >= 1, got {value}")
  if error := launch.missing_step(FLAGS.workdir, FLAGS.step):
    fail(error)
  # Orbax and TFDS log every file they touch at INFO; keep the console to the results.
  logging.set_verbosity(logging.WARNING)
  from ganjax import evaluate, inception
  from ganjax.checkpoint import CheckpointError
  from ganjax.classifier import ClassifierError
  from ganjax.data import DatasetNotFoundError

  options = evaluate.Options(
      num_samples=FLAGS.num_samples, seed=FLAGS.seed, batch_size=FLAGS.batch_size,
      classifier_dir=FLAGS.classifier_dir, inception_weights=FLAGS.inception_weights,
      num_inversions=FLAGS.num_inversions, inversion_steps=FLAGS.inversion_steps)
  out = FLAGS.out or os.path.join(FLAGS.workdir, "eval.json")
  try:
    result = evaluate.evaluate(FLAGS.workdir, options, out_path=out, step=FLAGS.step)
  except (FileNotFoundError, CheckpointError, ClassifierError, DatasetNotFoundError,
          inception.InceptionWeightsError) as e:
    fail(e)
  print(evaluate.format_table(result))
  print(f"wrote {out}")


if __name__ == "__main__":
  app.run(main)
