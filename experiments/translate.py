"""Applies a trained translation generator (pix2pix, CycleGAN, DiscoGAN) to your own images.

  python -m experiments.translate --workdir=workdirs/pix2pix_digits_edges \
      --input=my_edges/ --out=translated/ [--fit=resize|pad] [--aligned] [--test_mode=eval]
  python -m experiments.translate --workdir=workdirs/cyclegan_digits_bold \
      --input=bold_digits/ --out=thin/ --direction=BtoA [--step=2000]

`--direction`: AtoB or BtoA; a CycleGAN or DiscoGAN run does both (default AtoB), a
pix2pix run only its own (its config's `direction`).

--input is one image file or a folder of them (png, jpg, bmp, gif, tif, webp). Each is
converted to the run's channels (gray by luma, or RGB) and brought to the square the
network takes, then the output is brought back to the input's own size:
- `--fit=resize` (default): stretched to resolution x resolution, and the output
  stretched back (bicubic both ways);
- `--fit=pad`: scaled so its longer side is the resolution (aspect kept), centred on an
  edge-replicated square, and the output cropped to that area before scaling back.
`--aligned` reads A|B images side by side: the half of the direction's source is
translated. One PNG per input is written to --out under the input's name; existing
files are never overwritten (`--overwrite` to allow it). Bad input (an empty folder, an
unreadable image, a run that does not translate, a direction the run cannot do): one line,
exit 2, nothing written.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402

from experiments import launch  # noqa: E402

launch.setup_process()  # The XLA:CPU flag and the compilation cache, before JAX starts.

flags.DEFINE_string("workdir", None, "A trained pix2pix, cyclegan or discogan work directory.",
                    required=True)
flags.DEFINE_string("input", None, "An image file or a folder of images.", required=True)
flags.DEFINE_string("out", None, "Output folder (created).", required=True)
flags.DEFINE_enum("fit", "resize", ["resize", "pad"],
                  "How an image of another size or shape meets the network's square.")
flags.DEFINE_bool("aligned", False, "Inputs are A|B pairs: translate the source half.")
flags.DEFINE_enum("direction", None, ["AtoB", "BtoA"],
                  "Which generator: A -> B or B -> A (default: the run's first).")
flags.DEFINE_enum("test_mode", None, ["paper", "eval"],
                  "pix2pix: dropout and normalisation at test time (default: the run's).")
flags.DEFINE_integer("seed", 0, "Seed of the dropout noise (test_mode paper).")
flags.DEFINE_bool("overwrite", False, "Replace existing output files.")
flags.DEFINE_integer("step", None, "The checkpoint of this step (default: the newest).")
FLAGS = flags.FLAGS


class TranslateError(ValueError):
  """Bad input to translate: printed as one line, exit 2."""


def input_files(path: str) -> list[str]:
  from ganjax import paired
  if os.path.isdir(path):
    try:
      return paired.image_files(path)
    except paired.PairedDataError as e:
      raise TranslateError(str(e)) from None
  if not os.path.isfile(path):
    raise TranslateError(f"no file or folder {path}")
  return [path]


def to_square(image, resolution: int, fit: str):
  """(square PIL image, box): the image brought to resolution^2; box = where it lies in it."""
  import numpy as np
  from PIL import Image
  w, h = image.size
  if fit == "resize":
    return image.resize((resolution, resolution), Image.BICUBIC), (0, 0, resolution, resolution)
  scale = resolution / max(w, h)
  sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
  small = image.resize((sw, sh), Image.BICUBIC)
  left, top = (resolution - sw) // 2, (resolution - sh) // 2
  arr = np.asarray(small)
  pad = ((top, resolution - sh - top), (left, resolution - sw - left)) + ((0, 0),) * (arr.ndim - 2)
  return Image.fromarray(np.pad(arr, pad, mode="edge")), (left, top, left + sw, top + sh)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax's INFO lines would bury the one result line.
  import numpy as np
  from PIL import Image

  from ganjax import images
  from ganjax.checkpoint import CheckpointError
  from ganjax import paired
  from ganjax import families
  from ganjax.restore import load_config, load_trained

  try:
    files = input_files(FLAGS.input)
    config = load_config(FLAGS.workdir)  # The checkpoint only once the input is known good.
    family = families.of(config)
    directions = family.translation_directions(config)
    if not directions:
      raise TranslateError(f"{FLAGS.workdir} is a {config.family} run: translate needs a "
                           f"run that translates images (pix2pix, cyclegan, discogan)")
    if error := launch.missing_step(FLAGS.workdir, FLAGS.step):
      raise TranslateError(error)
    direction = FLAGS.direction or directions[0]
    if direction not in directions:
      raise TranslateError(f"this {config.family} run translates {' and '.join(directions)} "
                           f"only, not {direction}")
    mode = {1: "L", 3: "RGB"}[config.channels]
    outs = [os.path.join(FLAGS.out, os.path.splitext(os.path.basename(f))[0] + ".png")
            for f in files]
    if len(set(outs)) < len(outs):
      raise TranslateError("two inputs have the same name stem; their outputs would collide")
    existing = [o for o in outs if os.path.exists(o)]
    if existing and not FLAGS.overwrite:
      raise TranslateError(f"{existing[0]} exists ({len(existing)} outputs would be "
                           f"replaced): pass --overwrite or choose another --out")
    squares, boxes, sizes = [], [], []
    for path in files:  # Everything is read before anything is written.
      try:
        im = paired.open_image(path, mode)
        if FLAGS.aligned:
          a, b = paired.split_aligned(im, path)
          im = a if direction == "AtoB" else b
      except paired.PairedDataError as e:
        raise TranslateError(str(e)) from None
      square, box = to_square(im, config.resolution, FLAGS.fit)
      arr = np.asarray(square, np.uint8)
      squares.append(arr[..., None] if arr.ndim == 2 else arr)
      boxes.append(box)
      sizes.append(im.size)
    config, state = load_trained(FLAGS.workdir, FLAGS.step)
  except (TranslateError, FileNotFoundError, CheckpointError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)

  if FLAGS.test_mode and "test_mode" in config:
    config.unlock()
    config.test_mode = FLAGS.test_mode
  outputs = family.translate(config, state, paired.to_float(np.stack(squares)), direction,
                             seed=FLAGS.seed)
  os.makedirs(FLAGS.out, exist_ok=True)
  for out_path, out, box, size in zip(outs, outputs, boxes, sizes):
    image = Image.fromarray(images.to_uint8(out).squeeze(-1) if config.channels == 1
                            else images.to_uint8(out))
    image.crop(box).resize(size, Image.BICUBIC).save(out_path)
  note = f", {config.test_mode} mode" if "test_mode" in config else ""
  print(f"translated {len(outs)} image{'s' * (len(outs) != 1)} with the generator of step "
        f"{int(state.step)} ({direction}{note}) into {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
