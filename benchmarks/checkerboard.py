"""DCGAN's checkerboard artefacts on digits: transposed vs resize-convolution upsampling.

  python -m benchmarks.checkerboard                          # both, 3 seeds, 5,000 steps
  python -m benchmarks.checkerboard --seeds=0 --num_steps=1000
  python -m benchmarks.checkerboard --skip_train             # score the runs already there

Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts" (Distill). The
DCGAN generator grows the image with 4x4 stride-2 transposed convolutions
(`upsample="transposed"`) or with a nearest 2x resize and a 3x3 convolution
(`upsample="resize"`). Each run trains `experiments/configs/dcgan.py` (digits at 32x32)
with one upsampling, a seed and `--num_steps` (default: the config's) in
<workroot>/<upsample>_<steps>_s<seed>. A finished work directory is reused. Each run then
draws --num_samples images (z from seed 0, as `python -m experiments.evaluate` does) and
is scored three ways:
- the checkerboard score (ganjax.checkerboard) against the test split's images, where
  1 means as much period-2 energy as the data;
- the samples' mean period-2 energy;
- the FCD to the train split (ganjax.evaluate's classifier section).
The script prints a markdown table (mean ± std over seeds) with a row for the test images
themselves, and writes <workroot>/checkerboard.json. It also writes a figure (--figure):
per upsampling, 8 samples of the first seed and their mean log power spectrum (zero
frequency at the centre, the Nyquist row and column on the top and left edges) beside
the test images' spectrum.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

UPSAMPLING = ("transposed", "resize")
METRICS = (("checkerboard_score", "checkerboard score"), ("period2_energy", "period-2 energy"),
           ("fcd", "FCD"))


def define_flags():
  from absl import flags
  flags.DEFINE_list("upsampling", list(UPSAMPLING), "DCGAN upsamplings to compare.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
  flags.DEFINE_integer("num_steps", None, "Training steps of every run (default: the "
                       "config's).")
  flags.DEFINE_integer("num_samples", 1000, "Generated images scored per run.")
  flags.DEFINE_string("workroot", "/tmp/checkerboard", "Where the work directories go.")
  flags.DEFINE_string("figure", None, "The figure's PNG (default "
                      "<workroot>/checkerboard.png).")
  flags.DEFINE_bool("skip_train", False, "Only score the finished work directories there "
                    "are; skip runs that are missing.")


def config_of(upsample: str, seed: int, num_steps: int | None = None):
  """The digits DCGAN config of one run, with `upsample`, `seed` and `num_steps` set."""
  from experiments.configs import dcgan
  if upsample not in UPSAMPLING:
    raise ValueError(f"unknown upsampling {upsample!r}; valid: {', '.join(UPSAMPLING)}")
  c = dcgan.get_config("digits")
  c.upsample, c.seed = upsample, seed
  if num_steps:
    c.num_steps = num_steps
    c.sample_every = min(c.sample_every, num_steps)
    c.checkpoint_every = min(c.checkpoint_every, num_steps)
  return c


def measure(workdir: str, num_samples: int, log=print):
  """(scores, generated images, real test images) of one trained run."""
  from ganjax import checkerboard, evaluate
  from ganjax.restore import load_trained

  config, state = load_trained(workdir)
  ctx = evaluate.Context(workdir, config, state,
                         evaluate.Options(num_samples=num_samples, log=log))
  generated, real = ctx.generated()[0], ctx.real("test")[0]
  fcd = evaluate.classifier_section(ctx)  # FCD as experiments.evaluate computes it.
  scores = {"step": ctx.step,
            "checkerboard_score": checkerboard.checkerboard_score(generated, real),
            "period2_energy": float(checkerboard.period2_energy(generated).mean()),
            "fcd": fcd["fcd"],
            "real_period2_energy": float(checkerboard.period2_energy(real).mean()),
            "real_fcd": fcd["fcd_real_baseline"], "num_real": len(real)}
  return scores, generated, real


def _cell(values, metric: str) -> str:
  v = np.asarray(values, float)
  if metric == "period2_energy":
    return f"{v.mean():.2e} ± {v.std():.1e}"
  return f"{v.mean():.2f} ± {v.std():.2f}"


def table(results: dict, *, title: str = "") -> str:
  """Markdown: a row per upsampling (mean ± std over its runs' scores), then the test images.

  `results` maps an upsampling to a list of `measure` scores, one per seed.
  """
  head = " | ".join(name for _, name in METRICS)
  lines = ([title] if title else []) + [f"| upsampling | {head} |",
                                        "|---|" + "---:|" * len(METRICS)]
  for upsample, runs in results.items():
    lines.append(f"| {upsample} | " + " | ".join(_cell([r[k] for r in runs], k)
                                                for k, _ in METRICS) + " |")
  real = next(iter(results.values()))[0]
  lines.append(f"| real test images ({real['num_real']}) | 1 | "
               f"{real['real_period2_energy']:.2e} | {real['real_fcd']:.2f} |")
  return "\n".join(lines)


def _grey(spectrum, lo: float, hi: float, scale: int) -> np.ndarray:
  """A log spectrum as a uint8 (H*scale, W*scale, 3) image: lo black, hi white."""
  x = np.clip((np.asarray(spectrum) - lo) / max(hi - lo, 1e-12), 0, 1)
  x = np.rint(x * 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
  return np.repeat(x[..., None], 3, axis=-1)


def figure(rows: dict, real_spectrum, *, scale: int = 3) -> np.ndarray:
  """uint8 (H, W, 3): per row its label, samples (in [-1, 1]), mean log spectrum, and
  `real_spectrum` (the data's). `rows` maps a label to (samples (n, h, w, C), spectrum).
  All spectra share one grey scale: their 1st percentile is black and their maximum white."""
  from PIL import Image, ImageDraw
  from ganjax import images

  spectra = [s for _, s in rows.values()] + [real_spectrum]
  lo, hi = np.percentile(np.stack(spectra), [1, 100])
  label_w, head_h, gap = 90, 16, 8
  tiles = []
  for label, (samples, spectrum) in rows.items():
    grid = images.make_grid(samples, ncols=len(samples))
    grid = np.repeat(grid, 3 // grid.shape[-1], axis=-1).repeat(scale, 0).repeat(scale, 1)
    tiles.append((label, grid, _grey(spectrum, lo, hi, scale)))
  real = _grey(real_spectrum, lo, hi, scale)
  row_h = max(max(g.shape[0], s.shape[0]) for _, g, s in tiles)
  grid_w = max(g.shape[1] for _, g, _ in tiles)
  spec_w = real.shape[1]
  width = label_w + grid_w + 2 * (gap + spec_w) + gap
  canvas = Image.new("RGB", (width, head_h + len(tiles) * (row_h + gap)), (255, 255, 255))
  draw = ImageDraw.Draw(canvas)
  x_spec = label_w + grid_w + gap
  x_real = x_spec + spec_w + gap
  draw.text((label_w, 2), "samples", fill=(0, 0, 0))
  draw.text((x_spec, 2), "log power", fill=(0, 0, 0))
  draw.text((x_real, 2), "real", fill=(0, 0, 0))
  for i, (label, grid, spectrum) in enumerate(tiles):
    y = head_h + i * (row_h + gap)
    draw.text((4, y + row_h // 2 - 6), label, fill=(0, 0, 0))
    canvas.paste(Image.fromarray(grid), (label_w, y))
    canvas.paste(Image.fromarray(spectrum), (x_spec, y))
    canvas.paste(Image.fromarray(real), (x_real, y))
  return np.asarray(canvas)


def main(argv):
  from absl import app, flags, logging
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  FLAGS = flags.FLAGS
  for upsample in FLAGS.upsampling:
    if upsample not in UPSAMPLING:
      raise app.UsageError(f"unknown upsampling {upsample!r}; valid: {', '.join(UPSAMPLING)}")
  from experiments import launch
  launch.setup_process()  # Seeds share compiled programs through the compilation cache.
  from ganjax import checkerboard, train
  from ganjax.images import save_png

  os.makedirs(FLAGS.workroot, exist_ok=True)
  results, rows, real = {}, {}, None
  for upsample in FLAGS.upsampling:
    for seed in map(int, FLAGS.seeds):
      c = config_of(upsample, seed, FLAGS.num_steps)
      workdir = os.path.join(FLAGS.workroot, f"{upsample}_{c.num_steps}_s{seed}")
      if FLAGS.skip_train and not os.path.isdir(os.path.join(workdir, "checkpoints")):
        logging.warning("skipping %s: not trained", workdir)
        continue
      if not FLAGS.skip_train:
        train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
      scores, generated, real = measure(workdir, FLAGS.num_samples, log=logging.info)
      logging.info("%s seed %d: %s", upsample, seed, scores)
      results.setdefault(upsample, []).append({"seed": seed, "workdir": workdir, **scores})
      if upsample not in rows:
        rows[upsample] = (generated[:8], checkerboard.mean_spectrum(generated))
      with open(os.path.join(FLAGS.workroot, "checkerboard.json"), "w") as f:
        json.dump(results, f, indent=2)
  if not results:
    raise app.UsageError(f"no trained runs in {FLAGS.workroot}")
  steps = FLAGS.num_steps or config_of(UPSAMPLING[0], 0).num_steps
  print(table(results, title=f"\nDCGAN on digits 32x32, {steps} steps, seeds "
                             f"{','.join(FLAGS.seeds)}, {FLAGS.num_samples} samples per run"))
  path = FLAGS.figure or os.path.join(FLAGS.workroot, "checkerboard.png")
  save_png(path, figure(rows, checkerboard.mean_spectrum(real)))
  print(f"figure: {path}")


if __name__ == "__main__":
  from absl import app
  define_flags()
  app.run(main)
