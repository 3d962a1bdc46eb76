"""ganjax.checkerboard on synthetic images, and benchmarks/checkerboard.py's table and figure.

The benchmark trains DCGANs and pix2pix U-Nets (`python -m benchmarks.checkerboard
[--family=pix2pix]`, by hand). Here its table and figure run on tiny fake inputs, and its
configs and work directories are checked without training.
"""

import numpy as np
import pytest

from benchmarks import checkerboard as bench
from ganjax import checkerboard as cb

H = W = 32
I, J = np.mgrid[:H, :W].astype(np.float64)
BOARD = (-1.0) ** (I + J)
# A smooth digit-sized blob in [-0.8, 0.8]: no power near the Nyquist frequencies.
SMOOTH = 1.6 * np.exp(-((I - 15.5) ** 2 + (J - 15.5) ** 2) / (2 * 5.0 ** 2)) - 0.8


def batch(*images):
  return np.stack(images)[..., None]


def test_smooth_image_has_no_period2_energy():
  assert cb.period2_energy(batch(SMOOTH))[0] < 1e-12


def test_energy_rises_with_the_checkerboard_amplitude():
  energy = cb.period2_energy(batch(*[SMOOTH + a * BOARD for a in (0.0, 0.05, 0.1, 0.2, 0.4)]))
  assert energy[0] < 1e-12 and np.all(np.diff(energy) > 0)
  np.testing.assert_allclose(energy[1:4], [0.0180, 0.0683, 0.2267], atol=5e-4)


def test_pure_patterns_are_all_period2_energy_at_any_brightness_and_contrast():
  stripes = (-1.0) ** I
  energy = cb.period2_energy(batch(BOARD, 3 * BOARD + 0.5, stripes, stripes.T,
                                   stripes * np.cos(2 * np.pi * J / W)))  # Varies along.
  np.testing.assert_allclose(energy, 1.0, atol=1e-12)


def test_one_dimensional_stripes_register_like_a_checkerboard():
  rows, columns = SMOOTH + 0.1 * (-1.0) ** I, SMOOTH + 0.1 * (-1.0) ** J
  energy = cb.period2_energy(batch(rows, columns, SMOOTH + 0.1 * BOARD))
  np.testing.assert_allclose(energy, energy[2], rtol=1e-9)
  assert energy[0] > 0.05


def test_one_pixel_shifts_leave_it_unchanged():
  x = np.random.default_rng(0).uniform(-1, 1, (H, W)) + 0.3 * BOARD
  shifted = [np.roll(x, 1, axis=0), np.roll(x, 1, axis=1), np.roll(x, (1, 1), axis=(0, 1))]
  energy = cb.period2_energy(batch(x, *shifted))
  np.testing.assert_allclose(energy, energy[0], rtol=1e-12)
  # A pattern on a blank background, moved by a pixel: no wrap-around at all.
  patch = np.zeros((H, W))
  patch[8:24, 8:24] = (SMOOTH + 0.2 * BOARD)[8:24, 8:24]
  moved = np.zeros((H, W))
  moved[9:25, 8:24] = patch[8:24, 8:24]
  a, b = cb.period2_energy(batch(patch, moved))
  assert a > 0.01 and a == pytest.approx(b, rel=1e-12)


def test_score_is_one_for_the_data_itself_and_grows_with_artefacts():
  rng = np.random.default_rng(1)
  real = np.tanh(rng.normal(size=(16, H, W, 1)))
  assert cb.checkerboard_score(real, real) == 1.0
  s1, s2 = (cb.checkerboard_score(real + a * BOARD[..., None], real) for a in (0.1, 0.3))
  assert 1.0 < s1 < s2


def test_mean_spectrum_is_shifted_and_its_nyquist_cross_is_the_energy():
  images = batch(SMOOTH + 0.1 * BOARD, SMOOTH + 0.2 * (-1.0) ** I)
  spectrum = cb.mean_spectrum(images)
  assert spectrum.shape == (H, W)
  assert spectrum[H // 2, W // 2] == pytest.approx(-12.0)  # Zero frequency: only the floor.
  power = 10.0 ** spectrum
  cross = power[0].sum() + power[:, 0].sum() - power[0, 0]  # Nyquist on the edges.
  assert cross == pytest.approx(cb.period2_energy(images).mean(), rel=1e-6)
  assert power.sum() == pytest.approx(1.0)


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="even"):
    cb.period2_energy(np.zeros((1, 31, 32, 1)))
  with pytest.raises(ValueError, match="N, H, W, C"):
    cb.period2_energy(np.zeros((32, 32, 1)))
  with pytest.raises(ValueError, match="real images"):
    cb.checkerboard_score(batch(BOARD), np.zeros((2, H, W, 1)))
  assert cb.period2_energy(np.full((1, H, W, 1), 0.5))[0] == 0.0  # A blank image.


def fake_scores(score, energy, fcd):
  return {"step": 10, "checkerboard_score": score, "period2_energy": energy, "fcd": fcd,
          "real_period2_energy": 2e-4, "real_fcd": 0.5, "num_real": 300}


def test_benchmark_table():
  results = {"transposed": [fake_scores(10.0, 2e-3, 4.0), fake_scores(12.0, 2.4e-3, 6.0)],
             "resize": [fake_scores(1.5, 3e-4, 3.0)]}
  lines = bench.table(results, title="title").splitlines()
  assert lines[0] == "title"
  assert lines[1] == "| upsampling | checkerboard score | period-2 energy | FCD |"
  assert lines[3] == "| transposed | 11.00 ± 1.00 | 2.20e-03 ± 2.0e-04 | 5.00 ± 1.00 |"
  assert lines[4] == "| resize | 1.50 ± 0.00 | 3.00e-04 ± 0.0e+00 | 3.00 ± 0.00 |"
  assert lines[5] == "| real test images (300) | 1 | 2.00e-04 | 0.50 |"


def test_benchmark_table_of_pix2pix_runs_adds_their_l1():
  def scores(score, energy, fcd, l1):
    return {**fake_scores(score, energy, fcd), "l1": l1, "real_fcd": 0.0, "real_l1": 0.0}

  results = {"transposed": [scores(3.0, 1e-3, 2.0, 0.1), scores(5.0, 3e-3, 4.0, 0.2)],
             "resize": [scores(1.1, 4e-4, 1.5, 0.12)]}
  lines = bench.table(results, title="pix2pix", real_label="real test targets").splitlines()
  assert lines[:3] == ["pix2pix",
                       "| upsampling | checkerboard score | period-2 energy | FCD | L1 |",
                       "|---|---:|---:|---:|---:|"]
  assert lines[3] == ("| transposed | 4.00 ± 1.00 | 2.00e-03 ± 1.0e-03 | 3.00 ± 1.00 "
                      "| 0.150 ± 0.050 |")
  assert lines[4] == ("| resize | 1.10 ± 0.00 | 4.00e-04 ± 0.0e+00 | 1.50 ± 0.00 "
                      "| 0.120 ± 0.000 |")
  assert lines[5] == "| real test targets (300) | 1 | 2.00e-04 | 0.00 | 0.000 |"


def test_benchmark_figure():
  rng = np.random.default_rng(0)
  samples = rng.uniform(-1, 1, (8, 8, 8, 1))
  rows = {"transposed": (samples, cb.mean_spectrum(samples)),
          "resize": (samples[:4], cb.mean_spectrum(samples))}
  image = bench.figure(rows, cb.mean_spectrum(samples[::-1]), scale=2)
  assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
  # Label, 8 samples with 1-pixel borders, then two spectra, each at scale 2 after a gap.
  assert image.shape[1] == 90 + (8 * 9 + 1) * 2 + 2 * (8 + 8 * 2) + 8
  assert image.std() > 0


def test_benchmark_configs_need_no_training():
  from ganjax import train
  for upsample in bench.UPSAMPLING:
    c = bench.config_of(upsample, seed=2, num_steps=10)
    train.check_config(c)
    assert (c.upsample, c.seed, c.num_steps, c.dataset) == (upsample, 2, 10, "digits")
    assert c.checkpoint_every == c.sample_every == 10
  assert bench.config_of("resize", 0).num_steps == 5000  # The config's.
  assert bench.config_of("resize", 0).info_categories == 0  # As the README's runs.
  with pytest.raises(ValueError, match="upsampling"):
    bench.config_of("bilinear", 0)


def test_benchmark_pix2pix_configs_set_the_unets_upsampling_and_need_no_training():
  from ganjax import train
  for upsample in bench.UPSAMPLING:
    c = bench.config_of(upsample, seed=2, num_steps=10, family="pix2pix")
    train.check_config(c)
    assert (c.family, c.dataset, c.resolution) == ("pix2pix", "digits_edges", 32)
    assert (c.upsample, c.seed, c.num_steps) == (upsample, 2, 10)
    assert c.checkpoint_every == c.sample_every == 10
  assert bench.config_of("resize", 0, family="pix2pix").num_steps == 3000  # The config's.
  with pytest.raises(ValueError, match="upsampling"):
    bench.config_of("bilinear", 0, family="pix2pix")
  with pytest.raises(ValueError, match="unknown family 'cyclegan'"):
    bench.config_of("resize", 0, family="cyclegan")


def test_benchmark_work_directories_name_the_run_and_keep_dcgans_names():
  dcgan = bench.config_of("transposed", 1, 5000)
  assert bench.workdir_of("/w", dcgan) == "/w/transposed_5000_s1"  # Finished runs reused.
  p2p = bench.config_of("resize", 2, 1000, family="pix2pix")
  assert bench.workdir_of("/w", p2p, "pix2pix") == "/w/pix2pix_resize_1000_s2"
  assert bench.workdir_of("/w", bench.config_of("resize", 0, family="pix2pix"),
                          "pix2pix") == "/w/pix2pix_resize_3000_s0"


def test_benchmark_titles_say_which_generator():
  dcgan = bench.config_of("transposed", 0, 1000)
  assert bench.title("dcgan", dcgan, ["0", "1"], num_samples=1000, num_real=300) == (
      "DCGAN on digits 32x32, 1000 steps, seeds 0,1, 1000 samples per run")
  p2p = bench.config_of("transposed", 0, family="pix2pix")
  assert bench.title("pix2pix", p2p, [0], num_samples=1000, num_real=300) == (
      "pix2pix U-Net decoder on digits_edges 32x32, 3000 steps, seeds 0, the 300 test pairs "
      "translated per run (paper mode)")
