"""Writes a grid of samples from the latest (or --step's) checkpoint of a work directory.

  python -m experiments.sample --workdir=workdirs/dcgan_digits --num=64 --out=samples.png
  python -m experiments.sample --workdir=DIR --step=2000

A class-conditional run (cgan, acgan) gets the class grid training draws: one
row per class, one fixed z per column, num // num_classes columns (at least one).

A text-to-image run (stackgan) draws a row for each caption you type, the caption printed
above it (a Stage II run: Stage I | Stage II pairs), embedded by the run's own text encoder;
without --caption, the grid training draws:

  python -m experiments.sample --workdir=workdirs/stackgan_captioned_digits \
      --caption="a large slanted three" --caption="a thin two in the top left"
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

from experiments import launch  # noqa: E402

launch.setup_process()  # The XLA:CPU flag and the compilation cache, before JAX starts.

flags.DEFINE_string("workdir", None, "A trained work directory.", required=True)
flags.DEFINE_integer("num", 64, "Number of samples.")
flags.DEFINE_string("out", None, "Output PNG (default: <workdir>/samples/sample.png).")
flags.DEFINE_integer("seed", 0, "Seed for z.")
flags.DEFINE_integer("step", None, "The checkpoint of this step (default: the newest).")
flags.DEFINE_multi_string("caption", None, "Text-to-image runs: a caption to draw (repeat "
                          "for more rows).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax's INFO lines would bury the one result line.
  from ganjax import images
  from ganjax.checkpoint import CheckpointError
  from ganjax.restore import load_trained

  if error := launch.missing_step(FLAGS.workdir, FLAGS.step):
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
  try:
    config, state = load_trained(FLAGS.workdir, FLAGS.step)
  except (FileNotFoundError, CheckpointError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  import jax
  from ganjax import families, train
  family = families.of(config)
  text = getattr(family, "text_conditional", False)
  if FLAGS.caption and not text:
    print(f"error: --caption is for text-to-image runs (stackgan); {FLAGS.workdir} is a "
          f"{family.name} run", file=sys.stderr)
    sys.exit(2)
  if not family.samples_from_z and not text:
    print(f"error: a {family.name} run translates images, it does not sample them from z: "
          f"use python -m experiments.translate --workdir={FLAGS.workdir}", file=sys.stderr)
    sys.exit(2)
  captions = None
  if FLAGS.caption:
    captions = [c.strip() for c in FLAGS.caption]
    try:
      args, ncols = family.caption_grid_inputs(config, FLAGS.workdir, captions,
                                               jax.random.key(FLAGS.seed), FLAGS.num)
    except ValueError as e:  # Words the run's text encoder does not know, say.
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
  else:
    args, ncols = train.sample_grid_inputs(config, jax.random.key(FLAGS.seed), FLAGS.num)
  samples = jax.device_get(train.make_sampler(config)(state, *args))
  out = FLAGS.out or os.path.join(FLAGS.workdir, "samples", "sample.png")
  if text:  # The captions printed above their rows.
    family.write_samples(out, config, samples, ncols=ncols, captions=captions)
  elif family.image_samples:
    grid = images.make_grid(samples, ncols=ncols)
    images.save_png(out, grid, scale=max(1, 256 // grid.shape[0]))
  else:  # The 2-D mixtures: the family's own picture (a scatter plot over the modes).
    family.write_samples(out, config, samples, ncols=ncols, step=int(state.step))
  print(f"wrote {len(samples)} samples from step {int(state.step)} to {out}")


if __name__ == "__main__":
  app.run(main)
