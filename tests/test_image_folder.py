"""A folder of one's own images as a dataset: layouts, conversions, errors, and training on it."""

import os
import re

import numpy as np
import pytest
from PIL import Image

from ganjax import data, train
from ganjax.data import folder
from experiments.configs import cgan
from conftest import run_module, shrink


def _save(path, array, mode=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array, mode).save(path)


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory):
  """The first 60 digits of sklearn's set as PNGs in class folders, as the README shows."""
  from sklearn.datasets import load_digits
  d = load_digits()
  root = tmp_path_factory.mktemp("digit_pngs")
  for i in range(60):
    _save(str(root / str(d.target[i]) / f"{i:03d}.png"), np.uint8(d.images[i] * 255 / 16))
  return str(root)


def test_layouts_give_files_labels_and_splits(tmp_path):
  gray = np.zeros((4, 4), np.uint8)
  _save(str(tmp_path / "flat" / "b.png"), gray)
  _save(str(tmp_path / "flat" / "a.jpg"), gray)
  flat = folder.scan(str(tmp_path / "flat"))
  assert [os.path.basename(f) for f in flat.files] == ["a.jpg", "b.png"] and flat.labels is None
  for name in ("cat/1.png", "cat/2.png", "dog/1.png"):
    _save(str(tmp_path / "classes" / name), gray)
  classes = folder.scan(str(tmp_path / "classes"))
  assert classes.classes == ("cat", "dog") and classes.labels == (0, 0, 1)
  for name in ("train/x/1.png", "train/y/1.png", "test/x/2.png"):
    _save(str(tmp_path / "splits" / name), gray)
  assert len(folder.scan(str(tmp_path / "splits"), "test").files) == 1
  assert data.info(str(tmp_path / "splits")).num_examples == {"train": 2, "test": 1}
  with pytest.raises(folder.ImageFolderError, match="no train/ and test/ folders"):
    folder.scan(str(tmp_path / "flat"), "test")


@pytest.mark.parametrize("make,match", [
    (lambda p: os.makedirs(p / "d" / "empty"), r"^no images \(.*\) in .*d or its subfolders$"),
    (lambda p: (_save(str(p / "d" / "a.png"), np.zeros((2, 2), np.uint8)),
                _save(str(p / "d" / "k" / "b.png"), np.zeros((2, 2), np.uint8))),
     r"mixes images with class subfolders \(k/\.\.\.\)"),
    (lambda p: (os.makedirs(p / "d"), (p / "d" / "bad.png").write_text("not an image")),
     r"^cannot read image .*bad\.png: "),
])
def test_a_folder_that_cannot_be_read_is_one_line(tmp_path, make, match):
  make(tmp_path)
  with pytest.raises(data.DatasetNotFoundError, match=match):
    next(data.load(str(tmp_path / "d"), split="train", batch_size=1, resolution=4))


def test_a_path_that_is_no_folder_is_one_line(tmp_path):
  with pytest.raises(data.DatasetNotFoundError, match="looks like a path, but there is no folder"):
    data.info(str(tmp_path / "nothing"))


def test_images_are_converted_cropped_to_their_central_square_and_resized(tmp_path):
  wide = np.zeros((8, 16, 4), np.uint8)  # RGBA, 8x16: the central 8x8 square is white.
  wide[:, 4:12] = 255
  _save(str(tmp_path / "d" / "rgba.png"), wide, "RGBA")
  palette = Image.new("P", (8, 8), 0)
  palette.putpalette([255, 255, 255] * 256)
  palette.save(tmp_path / "d" / "palette.png")
  _save(str(tmp_path / "d" / "deep.png"), np.full((8, 8), 65535, np.uint16))
  for channels in (1, 3):
    batch = next(data.load(str(tmp_path / "d"), split="train", batch_size=3, resolution=4,
                           channels=channels, shuffle=False))
    assert batch["image"].shape == (3, 4, 4, channels) and "label" not in batch
    np.testing.assert_allclose(batch["image"], 1.0, atol=1e-6)  # All white: the crop kept the
    # middle, the alpha went, the palette and 16 bits became 8-bit white.
  assert data.info(str(tmp_path / "d")).image_shape == (None, None, 3)


def test_processes_read_disjoint_files_and_a_seed_repeats_its_order(digit_pngs):
  def labels(**kw):
    it = data.load(digit_pngs, split="train", batch_size=10, resolution=8, **kw)
    return np.concatenate([next(it)["label"] for _ in range(3)])

  np.testing.assert_array_equal(labels(seed=3), labels(seed=3))
  assert not np.array_equal(labels(seed=3), labels(seed=4))
  halves = [folder.scan(digit_pngs).files[i::2] for i in range(2)]
  assert not set(halves[0]) & set(halves[1])
  batch = next(data.load(digit_pngs, split="train", batch_size=30, resolution=8, shuffle=False,
                         process_index=1, process_count=2))
  assert len(batch["image"]) == 30


def test_a_conditional_family_needs_labels_that_fit_num_classes(digit_pngs, tmp_path):
  c = shrink(cgan.get_config("digits_mlp"), "", dataset=digit_pngs, num_classes=5)
  with pytest.raises(train.ConfigError, match=r"has 10 classes: set num_classes=10"):
    train.train_and_evaluate(c, str(tmp_path / "w"))
  flat = tmp_path / "flat"
  _save(str(flat / "a.png"), np.zeros((8, 8), np.uint8))
  c = shrink(cgan.get_config("digits_mlp"), "", dataset=str(flat))
  with pytest.raises(train.ConfigError, match="trains on class labels .* has none"):
    train.train_and_evaluate(c, str(tmp_path / "w2"))


def test_the_readme_command_trains_a_dcgan_on_a_folder_of_pngs(digit_pngs, tmp_path):
  # The README: python -m experiments.dcgan --config=experiments/configs/dcgan.py
  #   --config.dataset=/path/to/images --config.channels=1 --workdir=...
  workdir = tmp_path / "run"
  r = run_module("experiments.dcgan", "--config=experiments/configs/dcgan.py",
                 f"--config.dataset={digit_pngs}", "--config.channels=1",
                 "--config.resolution=16", "--config.width=4", "--config.latent_dim=8",
                 "--config.info_categories=4",
                 "--config.batch_size=8", "--config.num_steps=2", "--config.log_every=1",
                 "--config.num_sample_images=4", f"--workdir={workdir}")
  assert r.returncode == 0, r.stderr[-3000:]
  assert os.path.exists(workdir / "checkpoints" / "2")
  assert os.path.exists(workdir / "samples" / "step_000002.png")
  r = run_module("experiments.dcgan", "--config=experiments/configs/dcgan.py",
                 f"--config.dataset={tmp_path / 'nothing'}", f"--workdir={tmp_path / 'w'}")
  lines = [line for line in r.stderr.splitlines() if not re.match(r"[IWE]\d{4} ", line)]
  assert r.returncode == 2 and len(lines) == 1 and "looks like a path" in lines[0], r.stderr[-2000:]

