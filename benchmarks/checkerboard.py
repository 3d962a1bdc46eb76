"""Checkerboard artefacts: transposed vs resize-convolution upsampling, in DCGAN and pix2pix.

  python -m benchmarks.checkerboard                          # DCGAN: both, 3 seeds, 5,000 steps
  python -m benchmarks.checkerboard --seeds=0 --num_steps=1000
  python -m benchmarks.checkerboard --skip_train             # score the runs already there
  python -m benchmarks.checkerboard --family=pix2pix         # U-Net: both, 3 seeds, 3,000 steps
  python -m benchmarks.checkerboard --family=pix2pix --seeds=0 --num_steps=1000

Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts" (Distill). Both
generators grow the image with 4x4 stride-2 transposed convolutions (`upsample="transposed"`)
or with a nearest 2x resize and a 3x3 convolution (`upsample="resize"`).

--family=dcgan (default): each run trains `experiments/configs/dcgan.py` (digits at 32x32)
with one upsampling, a seed and `--num_steps` (default: the config's) in
<workroot>/<upsample>_<steps>_s<seed>. Each run then draws --num_samples images (z from
seed 0, as `python -m experiments.evaluate` does) and is scored three ways:
- the checkerboard score (ganjax.checkerboard) against the test split's images, where
  1 means as much period-2 energy as the data;
- the samples' mean period-2 energy;
- the FCD to the train split (ganjax.evaluate's classifier section).

--family=pix2pix: each run trains `experiments/configs/pix2pix.py` (its default task, digits
edges -> digit at 32x32) with the U-Net decoder's upsampling, a seed and `--num_steps` in
<workroot>/pix2pix_<upsample>_<steps>_s<seed>. Each run translates the whole test split (as
`python -m experiments.evaluate` does, in the config's test mode; --num_samples does not
apply) and is scored by the checkerboard score of the translations against the real test
targets, their period-2 energy, and the evaluation's FCD and L1 to the real targets.

A finished work directory is reused. The script prints a markdown table (mean ± std over
seeds) with a row for the real test images themselves, and writes
<workroot>/checkerboard.json (pix2pix: checkerboard_pix2pix.json). It also writes a figure
(--figure, default <workroot>/checkerboard.png, pix2pix: checkerboard_pix2pix.png): per
upsampling, 8 images of the first seed and their mean log power spectrum (zero frequency at
the centre, the Nyquist row and column on the top and left edges) beside the real test
images' spectrum.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

UPSAMPLING = ("transposed", "resize")
# family -> (config module, variant): the runs start from its default.
CONFIGS = {"dcgan": ("experiments.configs.dcgan", "digits"),
           "pix2pix": ("experiments.configs.pix2pix", "edges")}
FAMILIES = tuple(CONFIGS)
# The table's columns, those a run's scores have (l1: pix2pix only).
METRICS = (("checkerboard_score", "checkerboard score"), ("period2_energy", "period-2 energy"),
           ("fcd", "FCD"), ("l1", "L1"))


def define_flags():
  from absl import flags
  flags.DEFINE_enum("family", "dcgan", list(FAMILIES), "The generator: DCGAN on digits, or "
                    "pix2pix's U-Net (the decoder's upsampling) on digits edges -> digit.")
  flags.DEFINE_list("upsampling", list(UPSAMPLING), "Upsamplings to compare.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
  flags.DEFINE_integer("num_steps", None, "Training steps of every run (default: the "
                       "config's).")
  flags.DEFINE_integer("num_samples", 1000, "Generated images scored per DCGAN run (pix2pix "
                       "translates the whole test split).")
  flags.DEFINE_string("workroot", "/tmp/checkerboard", "Where the work directories go.")
  flags.DEFINE_string("figure", None, "The figure's PNG (default "
                      "<workroot>/checkerboard.png; pix2pix: checkerboard_pix2pix.png).")
  flags.DEFINE_bool("skip_train", False, "Only score the finished work directories there "
                    "are; skip runs that are missing.")


def config_of(upsample: str, seed: int, num_steps: int | None = None, family: str = "dcgan"):
  """The config of one run, with `upsample`, `seed` and `num_steps` set.

  dcgan: `experiments/configs/dcgan.py:digits`; pix2pix: `experiments/configs/pix2pix.py`
  (edges -> digit), where `upsample` is the U-Net decoder's.
  """
  import importlib
  if family not in CONFIGS:
    raise ValueError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")
  if upsample not in UPSAMPLING:
    raise ValueError(f"unknown upsampling {upsample!r}; valid: {', '.join(UPSAMPLING)}")
  module, variant = CONFIGS[family]
  c = importlib.import_module(module).get_config(variant)
  c.upsample, c.seed = upsample, seed
  if "drs_keep" in c:
    c.drs_keep = 1.0  # The generator's own samples: rejection by D could hide its artefacts.
  if family == "dcgan":
    c.info_categories = 0  # The study's runs (README) are of the default before InfoGAN.
  if num_steps:
    c.num_steps = num_steps
    c.sample_every = min(c.sample_every, num_steps)
    c.checkpoint_every = min(c.checkpoint_every, num_steps)
  return c


def workdir_of(workroot: str, config, family: str = "dcgan") -> str:
  """<workroot>/<upsample>_<steps>_s<seed> (DCGAN), pix2pix_<upsample>_<steps>_s<seed> (pix2pix)."""
  prefix = "" if family == "dcgan" else f"{family}_"
  return os.path.join(workroot, f"{prefix}{config.upsample}_{config.num_steps}_s{config.seed}")


def measure(workdir: str, num_samples: int, log=print):
  """(scores, generated images, real test images) of one trained run."""
  from ganjax import checkerboard, evaluate
  from ganjax.restore import load_trained

  config, state = load_trained(workdir)
  if "drs_keep" in config:
    config.drs_keep = 1.0  # G's own samples, whatever the run's evaluation draws.
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


def measure_translations(workdir: str, log=print):
  """(scores, translations, real test targets) of one trained pix2pix run.

  The translations are the test split's sources translated exactly as `python -m
  experiments.evaluate` translates them, and FCD and L1 are its translation section's.
  """
  from ganjax import checkerboard, evaluate
  from ganjax.families import pix2pix
  from ganjax.restore import load_trained

  config, state = load_trained(workdir)
  ctx = evaluate.Context(workdir, config, state, evaluate.Options(log=log))
  section = pix2pix.translation_section(ctx)
  test, translated = pix2pix.translated_test_split(ctx)  # What the section scored (cached).
  real = test.as_float()[1]
  scores = {"step": ctx.step,
            "checkerboard_score": checkerboard.checkerboard_score(translated, real),
            "period2_energy": float(checkerboard.period2_energy(translated).mean()),
            "fcd": section["fcd"], "l1": section["l1"],
            "real_period2_energy": float(checkerboard.period2_energy(real).mean()),
            "real_fcd": 0.0, "real_l1": 0.0,  # The targets against themselves.
            "num_real": len(real)}
  return scores, translated, real


def _cell(values, metric: str) -> str:
  v = np.asarray(values, float)
  if metric == "period2_energy":
    return f"{v.mean():.2e} ± {v.std():.1e}"
  if metric == "l1":
    return f"{v.mean():.3f} ± {v.std():.3f}"
  return f"{v.mean():.2f} ± {v.std():.2f}"


def _real_cell(real: dict, metric: str) -> str:
  if metric == "checkerboard_score":
    return "1"
  value = real[f"real_{metric}"]
  return {"period2_energy": f"{value:.2e}", "l1": f"{value:.3f}"}.get(metric, f"{value:.2f}")


def table(results: dict, *, title: str = "", real_label: str = "real test images") -> str:
  """Markdown: a row per upsampling (mean ± std over its runs' scores), then the test images.

  `results` maps an upsampling to a list of `measure` (or `measure_translations`) scores,
  one per seed; the columns are the METRICS those scores have.
  """
  real = next(iter(results.values()))[0]
  metrics = [(k, name) for k, name in METRICS if k in real]
  head = " | ".join(name for _, name in metrics)
  lines = ([title] if title else []) + [f"| upsampling | {head} |",
                                        "|---|" + "---:|" * len(metrics)]
  for upsample, runs in results.items():
    lines.append(f"| {upsample} | " + " | ".join(_cell([r[k] for r in runs], k)
                                                for k, _ in metrics) + " |")
  lines.append(f"| {real_label} ({real['num_real']}) | "
               + " | ".join(_real_cell(real, k) for k, _ in metrics) + " |")
  return "\n".join(lines)


def _grey(spectrum, lo: float, hi: float, scale: int) -> np.ndarray:
  """A log spectrum as a uint8 (H*scale, W*scale, 3) image: lo black, hi white."""
  x = np.clip((np.asarray(spectrum) - lo) / max(hi - lo, 1e-12), 0, 1)
  x = np.rint(x * 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
  return np.repeat(x[..., None], 3, axis=-1)


def figure(rows: dict, real_spectrum, *, scale: int = 3, heading: str = "samples") -> np.ndarray:
  """uint8 (H, W, 3): per row its label, samples (in [-1, 1]), mean log spectrum, and
  `real_spectrum` (the data's). `rows` maps a label to (samples (n, h, w, C), spectrum);
  `heading` names the samples' column (e.g. "translations").
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
  draw.text((label_w, 2), heading, fill=(0, 0, 0))
  draw.text((x_spec, 2), "log power", fill=(0, 0, 0))
  draw.text((x_real, 2), "real", fill=(0, 0, 0))
  for i, (label, grid, spectrum) in enumerate(tiles):
    y = head_h + i * (row_h + gap)
    draw.text((4, y + row_h // 2 - 6), label, fill=(0, 0, 0))
    canvas.paste(Image.fromarray(grid), (label_w, y))
    canvas.paste(Image.fromarray(spectrum), (x_spec, y))
    canvas.paste(Image.fromarray(real), (x_real, y))
  return np.asarray(canvas)


def title(family: str, config, seeds, *, num_samples: int, num_real: int) -> str:
  """The table's title line: which generator, task, steps, seeds and images per run."""
  size = f"{config.resolution}x{config.resolution}"
  if family == "dcgan":
    return (f"DCGAN on {config.dataset} {size}, {config.num_steps} steps, seeds "
            f"{','.join(map(str, seeds))}, {num_samples} samples per run")
  return (f"{family} U-Net decoder on {config.dataset} {size}, {config.num_steps} steps, "
          f"seeds {','.join(map(str, seeds))}, the {num_real} test pairs translated per run "
          f"({config.test_mode} mode)")


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

  family = FLAGS.family
  suffix = "" if family == "dcgan" else f"_{family}"  # DCGAN's files keep their names.
  os.makedirs(FLAGS.workroot, exist_ok=True)
  results, rows, real = {}, {}, None
  for upsample in FLAGS.upsampling:
    for seed in map(int, FLAGS.seeds):
      c = config_of(upsample, seed, FLAGS.num_steps, family=family)
      workdir = workdir_of(FLAGS.workroot, c, family)
      if FLAGS.skip_train and not os.path.isdir(os.path.join(workdir, "checkpoints")):
        logging.warning("skipping %s: not trained", workdir)
        continue
      if not FLAGS.skip_train:
        train.train_and_evaluate(c, workdir)  # Resumes, or returns at once when finished.
      if family == "dcgan":
        scores, generated, real = measure(workdir, FLAGS.num_samples, log=logging.info)
      else:
        scores, generated, real = measure_translations(workdir, log=logging.info)
      logging.info("%s seed %d: %s", upsample, seed, scores)
      results.setdefault(upsample, []).append({"seed": seed, "workdir": workdir, **scores})
      if upsample not in rows:
        rows[upsample] = (generated[:8], checkerboard.mean_spectrum(generated))
      with open(os.path.join(FLAGS.workroot, f"checkerboard{suffix}.json"), "w") as f:
        json.dump(results, f, indent=2)
  if not results:
    raise app.UsageError(f"no trained runs in {FLAGS.workroot}")
  c = config_of(UPSAMPLING[0], 0, FLAGS.num_steps, family=family)
  print("\n" + table(results, title=title(family, c, FLAGS.seeds, num_samples=FLAGS.num_samples,
                                           num_real=len(real)),
                     real_label="real test images" if family == "dcgan" else "real test targets"))
  path = FLAGS.figure or os.path.join(FLAGS.workroot, f"checkerboard{suffix}.png")
  save_png(path, figure(rows, checkerboard.mean_spectrum(real),
                        heading="samples" if family == "dcgan" else "translations"))
  print(f"figure: {path}")


if __name__ == "__main__":
  from absl import app
  define_flags()
  app.run(main)
