"""The latent space of a trained work directory: interpolation, arithmetic, inversion PNGs.

  python -m experiments.latent --workdir=workdirs/dcgan_digits [--step=2000]
  python -m experiments.latent --workdir=DIR --arithmetic='[0,5,9]-[3,4]+[7]'

Writes <workdir>/latent/{interpolation_linear,interpolation_spherical,arithmetic,candidates,
inversion}.png and latent.json (see ganjax.latent_report).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

from experiments import launch  # noqa: E402

launch.setup_process()  # The XLA:CPU flag and the compilation cache, before JAX starts.

flags.DEFINE_string("workdir", None, "A trained work directory.", required=True)
flags.DEFINE_string("out_dir", None, "Where the PNGs go (default: <workdir>/latent).")
flags.DEFINE_integer("seed", 0, "Seed for z.")
flags.DEFINE_integer("num_rows", 8, "Interpolation rows.")
flags.DEFINE_integer("num_steps", 10, "Interpolation steps per row, endpoints included.")
flags.DEFINE_string("arithmetic", "7-1+4",
                    "Vector arithmetic: classes (7-1+4, grouped by the domain classifier) or "
                    "sample indices of candidates.png ([0,1,2]-[3,4]+[5]); '' to skip.")
flags.DEFINE_integer("group_size", 8, "Samples averaged per class operand.")
flags.DEFINE_integer("num_inversions", 64, "Held-out images inverted into z.")
flags.DEFINE_integer("inversion_steps", 300, "Adam steps per inversion.")
flags.DEFINE_string("classifier_dir", None, "Where the domain classifier is cached.")
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
  if FLAGS.num_steps < 2 or FLAGS.num_rows < 1 or FLAGS.num_inversions < 1:
    fail("need --num_steps >= 2, --num_rows >= 1 and --num_inversions >= 1")
  if error := launch.missing_step(FLAGS.workdir, FLAGS.step):
    fail(error)
  logging.set_verbosity(logging.WARNING)  # Orbax and TFDS are chatty at INFO.
  from ganjax import latent, latent_report
  from ganjax.checkpoint import CheckpointError
  from ganjax.classifier import ClassifierError
  from ganjax.data import DatasetNotFoundError
  from ganjax.evaluate import Skip
  if FLAGS.arithmetic:
    try:
      latent.parse_expression(FLAGS.arithmetic)
    except ValueError as e:
      fail(e)
  try:
    latent_report.latent_report(
        FLAGS.workdir, step=FLAGS.step, out_dir=FLAGS.out_dir, seed=FLAGS.seed,
        num_rows=FLAGS.num_rows,
        num_steps=FLAGS.num_steps, arithmetic=FLAGS.arithmetic, group_size=FLAGS.group_size,
        num_inversions=FLAGS.num_inversions, inversion_steps=FLAGS.inversion_steps,
        classifier_dir=FLAGS.classifier_dir)
  except (FileNotFoundError, CheckpointError, ClassifierError, DatasetNotFoundError, Skip,
          latent.LatentError) as e:
    fail(e)


if __name__ == "__main__":
  app.run(main)
