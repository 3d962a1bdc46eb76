"""Writes one PNG per generated image, each from its own seed, for FID tools and datasets.

  python -m experiments.generate --workdir=workdirs/dcgan_digits --num=1000 --out=generated/
  python -m experiments.generate --workdir=DIR --seeds=0-4,10 --out=OUT [--label=3] [--step=K] \
      [--npz] [--overwrite] [--batch=64]

Image of seed s is G(z) with z drawn from jax.random.key(s), so it is the same whatever
--num, --seeds or --batch: OUT/seed0007.png. `--num=N` alone means seeds 0..N-1. A
class-conditional run (cgan, acgan) draws class --label, or without it class s % num_classes
for seed s; its files name the class too: OUT/seed0007_label3.png. Images are at the run's
resolution, 8-bit gray (1 channel) or RGB. `--npz` also writes OUT/images.npz: images (uint8
N,H,W,C), seeds and, for a conditional run, labels. An existing non-empty OUT is refused unless
--overwrite. Bad input: one line, exit 2, nothing written.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

from experiments import launch  # noqa: E402
from experiments.seeds import format_seeds, select_seeds  # noqa: E402

launch.setup_process()  # The XLA:CPU flag and the compilation cache, before JAX starts.

flags.DEFINE_string("workdir", None, "A trained work directory.", required=True)
flags.DEFINE_string("out", None, "Output folder (created).", required=True)
flags.DEFINE_integer("num", None, "Number of images: seeds 0..num-1.")
flags.DEFINE_string("seeds", None, "Seeds: 0-99, 3,5,9 or 0-4,10.")
flags.DEFINE_integer("label", None, "Class-conditional runs: the class of every image.")
flags.DEFINE_integer("step", None, "The checkpoint of this step (default: the newest).")
flags.DEFINE_bool("npz", False, "Also write OUT/images.npz.")
flags.DEFINE_bool("overwrite", False, "Write into a non-empty --out.")
flags.DEFINE_integer("batch", 64, "Images per generator call.")
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")

  def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)

  try:
    seeds = select_seeds(FLAGS.num, FLAGS.seeds)
  except ValueError as e:
    fail(e)
  if FLAGS.batch < 1:
    fail(f"--batch must be >= 1, got {FLAGS.batch}")
  out = FLAGS.out
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out) and not FLAGS.overwrite):
    fail(f"{out} exists and is {'not empty' if os.path.isdir(out) else 'not a folder'}: "
         f"pass --overwrite or choose another --out")
  logging.set_verbosity(logging.WARNING)  # Orbax's INFO lines would bury the one result line.
  from ganjax import families
  from ganjax.checkpoint import CheckpointError
  from ganjax.restore import load_config, load_trained

  try:
    config = load_config(FLAGS.workdir)
  except FileNotFoundError as e:
    fail(e)
  family = families.of(config)
  if getattr(family, "text_conditional", False):
    fail(f"a {family.name} run draws images from captions: use python -m experiments.sample "
         f"--workdir={FLAGS.workdir} --caption=\"...\"")
  if not family.samples_from_z:
    fail(f"a {family.name} run translates images, it does not generate them from z: use "
         f"python -m experiments.translate --workdir={FLAGS.workdir}")
  if not family.image_samples:
    fail(f"a {family.name} run generates 2-D points, not images: use python -m "
         f"experiments.sample --workdir={FLAGS.workdir} for its scatter plot")
  conditional = family.conditional_generator
  if FLAGS.label is not None:
    if not conditional:
      fail(f"--label needs a class-conditional run (cgan, acgan); this is a {family.name} run")
    if not 0 <= FLAGS.label < config.num_classes:
      fail(f"--label must be in [0, {config.num_classes}), got {FLAGS.label}")
  if error := launch.missing_step(FLAGS.workdir, FLAGS.step):
    fail(error)
  try:
    config, state = load_trained(FLAGS.workdir, FLAGS.step)
  except (FileNotFoundError, CheckpointError) as e:
    fail(e)

  import jax
  import jax.numpy as jnp
  import numpy as np
  from ganjax import images
  from ganjax.steps import sample_latent

  sampler = family.sampler(config)
  z_of = jax.jit(jax.vmap(lambda seed: sample_latent(jax.random.key(seed), 1,
                                                     config.latent_dim)[0]))
  labels = None
  if conditional:
    labels = np.array([FLAGS.label if FLAGS.label is not None else s % config.num_classes
                       for s in seeds], np.int32)
  batch = min(FLAGS.batch, len(seeds))
  os.makedirs(out, exist_ok=True)
  kept = []
  for start in range(0, len(seeds), batch):  # One batch shape: the last batch is padded.
    chunk = np.array(seeds[start:start + batch], np.int32)
    n = len(chunk)
    z = z_of(jnp.asarray(np.pad(chunk, (0, batch - n))))
    if conditional:
      x = sampler(state, z, jnp.asarray(np.pad(labels[start:start + n], (0, batch - n))))
    else:
      x = sampler(state, z)
    pixels = images.to_uint8(jax.device_get(x)[:n])
    for i, (seed, image) in enumerate(zip(chunk, pixels)):
      name = f"seed{seed:04d}" + (f"_label{labels[start + i]}" if conditional else "")
      images.save_png(os.path.join(out, name + ".png"), image)
    if FLAGS.npz:
      kept.append(pixels)
  if FLAGS.npz:
    extra = {"labels": labels} if conditional else {}
    np.savez(os.path.join(out, "images.npz"), images=np.concatenate(kept),
             seeds=np.array(seeds, np.int64), **extra)
  what = f"seeds {format_seeds(seeds)}"
  if conditional:
    what += f", label {FLAGS.label}" if FLAGS.label is not None else ", label seed % " \
        f"{config.num_classes}"
  print(f"wrote {len(seeds)} image{'s' * (len(seeds) != 1)} ({what}) from step "
        f"{int(state.step)} to {out}")


if __name__ == "__main__":
  app.run(main)
