"""experiments.generate (a PNG per seed) and the --step flag of sample, evaluate, latent, translate."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from ganjax import train
from experiments.configs import cgan, gan, mixture, pix2pix
from conftest import run_module, shrink


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
  """{'gan': an 8x8 gray MLP GAN, 'cgan': an 8x8 RGB MLP cGAN}: 4 steps, checkpoints 2 and 4."""
  root = tmp_path_factory.mktemp("runs")
  configs = {"gan": shrink(gan.get_config(), data_dir),
             "cgan": shrink(cgan.get_config("digits_mlp"), data_dir, channels=3)}
  for name, config in configs.items():
    train.train_and_evaluate(config, str(root / name))
  return {name: str(root / name) for name in configs}


def _generate(workdir, out, *args):
  return run_module("experiments.generate", f"--workdir={workdir}", f"--out={out}", *args)


def _error(r, *words):
  """The one stderr line of a refused command (exit 2) that names all `words`."""
  lines = [line for line in r.stderr.splitlines() if line.strip()]
  assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
  assert lines[0].startswith("error: ") and all(w in lines[0] for w in words), lines[0]


def _files(folder):
  return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_seed_parser():
  from experiments.seeds import format_seeds, parse_seeds, select_seeds
  assert parse_seeds("0-4,10") == [0, 1, 2, 3, 4, 10]
  assert parse_seeds("3, 5,9") == [3, 5, 9] and parse_seeds("7") == [7]
  assert parse_seeds("0-99") == list(range(100))
  for bad in ("", "a", "5-3", "1,,2", "-3", "1-2-3", "0-2,2", "4-"):
    with pytest.raises(ValueError, match="--seeds"):
      parse_seeds(bad)
  assert format_seeds([0, 1, 2, 3, 4, 10, 12, 13]) == "0-4,10,12-13"
  assert select_seeds(3, None) == [0, 1, 2] and select_seeds(None, "4-5") == [4, 5]
  assert select_seeds(2, "4-5") == [4, 5]
  for num, seeds, match in [(3, "0-1", "--num=3 but --seeds=0-1 names 2 seeds"),
                            (None, None, "--num"), (0, None, "--num")]:
    with pytest.raises(ValueError, match=match):
      select_seeds(num, seeds)


def test_unconditional_images_by_seed_step_and_overwrite(runs, tmp_path):
  out = tmp_path / "a"
  r = _generate(runs["gan"], out, "--num=8", "--batch=3", "--npz")
  assert r.returncode == 0, r.stderr[-2000:]
  assert r.stdout.strip() == f"wrote 8 images (seeds 0-7) from step 4 to {out}"
  first = _files(out)
  assert list(first) == ["images.npz"] + [f"seed{s:04d}.png" for s in range(8)]
  image = Image.open(out / "seed0005.png")
  assert (image.mode, image.size) == ("L", (8, 8))
  npz = np.load(out / "images.npz")
  assert sorted(npz.files) == ["images", "seeds"] and npz["images"].dtype == np.uint8
  assert npz["images"].shape == (8, 8, 8, 1) and list(npz["seeds"]) == list(range(8))
  np.testing.assert_array_equal(npz["images"][5, ..., 0], np.asarray(image))
  assert len({first[f"seed{s:04d}.png"] for s in range(8)}) == 8  # Each seed its own z.

  # A non-empty folder is refused, nothing touched; --overwrite writes into it.
  _error(_generate(runs["gan"], out, "--num=2"), str(out), "--overwrite")
  assert _files(out) == first
  r = _generate(runs["gan"], out, "--seeds=7,1", "--batch=1", "--overwrite")
  assert r.returncode == 0 and "(seeds 7,1) from step 4" in r.stdout, r.stderr[-2000:]
  assert _files(out) == first  # Seed 7 and 1 again, byte for byte, whatever --num and --batch.

  # --step=2: another generator; a step that was not saved names those that were.
  r = _generate(runs["gan"], tmp_path / "b", "--seeds=0-1", "--step=2")
  assert r.returncode == 0 and "from step 2" in r.stdout, r.stderr[-2000:]
  assert (tmp_path / "b" / "seed0000.png").read_bytes() != first["seed0000.png"]
  _error(_generate(runs["gan"], tmp_path / "c", "--num=1", "--step=3"), "step 3", "2, 4")
  _error(_generate(runs["gan"], tmp_path / "c", "--num=1", "--label=1"), "--label", "gan run")
  assert not (tmp_path / "c").exists()


def test_conditional_images_by_label(runs, tmp_path):
  out = tmp_path / "a"
  r = _generate(runs["cgan"], out, "--seeds=0-1,7", "--label=3", "--npz")
  assert r.returncode == 0 and "from step 4" in r.stdout, r.stderr[-2000:]
  assert sorted(os.listdir(out)) == ["images.npz", "seed0000_label3.png", "seed0001_label3.png",
                                     "seed0007_label3.png"]
  image = Image.open(out / "seed0007_label3.png")
  assert (image.mode, image.size) == ("RGB", (8, 8))
  npz = np.load(out / "images.npz")
  assert npz["images"].shape == (3, 8, 8, 3) and list(npz["seeds"]) == [0, 1, 7]
  assert list(npz["labels"]) == [3, 3, 3]
  np.testing.assert_array_equal(npz["images"][2], np.asarray(image))
  # Without --label the classes cycle: seed s draws class s % 10.
  r = _generate(runs["cgan"], tmp_path / "b", "--seeds=7-12", "--batch=4")
  assert r.returncode == 0, r.stderr[-2000:]
  assert sorted(os.listdir(tmp_path / "b")) == [
      "seed0007_label7.png", "seed0008_label8.png", "seed0009_label9.png",
      "seed0010_label0.png", "seed0011_label1.png", "seed0012_label2.png"]
  _error(_generate(runs["cgan"], tmp_path / "c", "--num=1", "--label=10"), "[0, 10)")


def test_sample_step(runs, tmp_path):
  r = run_module("experiments.sample", f"--workdir={runs['gan']}", "--num=4", "--step=2",
                 f"--out={tmp_path / 's.png'}")
  assert r.returncode == 0 and "from step 2" in r.stdout, r.stderr[-2000:]
  _error(run_module("experiments.sample", f"--workdir={runs['gan']}", "--step=5"),
         "step 5", "2, 4")


def test_evaluate_step(tmp_path):
  c = mixture.get_config("ring")
  c.hidden, c.latent_dim, c.batch_size = (16,), 4, 32
  c.num_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 4, 4, 2
  c.keep_checkpoints = 2
  train.train_and_evaluate(c, str(tmp_path / "mix"))
  r = run_module("experiments.evaluate", f"--workdir={tmp_path / 'mix'}", "--step=2",
                 "--num_samples=100", f"--out={tmp_path / 'e.json'}")
  assert r.returncode == 0, r.stderr[-2000:]
  assert json.load(open(tmp_path / "e.json"))["step"] == 2
  _error(_generate(tmp_path / "mix", tmp_path / "o", "--num=1"), "2-D points",
         "experiments.sample")  # generate refuses a run that makes no images.


def test_latent_step(runs, tmp_path):
  r = run_module("experiments.latent", f"--workdir={runs['gan']}", "--step=2",
                 f"--out_dir={tmp_path}", "--arithmetic=", "--num_rows=1", "--num_steps=2",
                 "--num_inversions=1", "--inversion_steps=1")
  assert r.returncode == 0, r.stderr[-2000:]
  assert json.load(open(tmp_path / "latent.json"))["step"] == 2


def test_translate_step(tmp_path, data_dir):
  c = shrink(pix2pix.get_config("edges"), data_dir)
  c.resolution, c.load_size, c.d_layers, c.d_width, c.batch_size = 8, 10, 1, 4, 4
  workdir = str(tmp_path / "p2p")
  train.train_and_evaluate(c, workdir)
  (tmp_path / "in").mkdir()
  Image.new("L", (8, 8), 128).save(tmp_path / "in" / "x.png")
  args = [f"--workdir={workdir}", f"--input={tmp_path / 'in'}", f"--out={tmp_path / 'o'}"]
  r = run_module("experiments.translate", *args, "--step=2")
  assert r.returncode == 0 and "generator of step 2" in r.stdout, r.stderr[-2000:]
  _error(_generate(workdir, tmp_path / "g", "--num=1"), "pix2pix", "experiments.translate")
