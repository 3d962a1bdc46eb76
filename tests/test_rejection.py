"""Discriminator rejection sampling: the acceptance rule, its calibration, the sampler on a
known density ratio, and the gan family's switch (`drs_keep`)."""

import json
import os

import numpy as np
import pytest

from ganjax import rejection


def normal_pdf(x, mean, std):
  return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


# p_g = N(0, 1) proposes; the data are N(0.5, 0.6^2). An optimal D's logit is the log ratio.
DATA_MEAN, DATA_STD = 0.5, 0.6


def optimal_logit(x):
  return np.log(normal_pdf(x, DATA_MEAN, DATA_STD)) - np.log(normal_pdf(x, 0.0, 1.0))


def propose(i, batch=4000):
  return np.random.default_rng(1000 + i).standard_normal(batch)


def test_at_gamma_zero_the_acceptance_is_the_density_ratio_over_its_maximum():
  logits = np.array([-3.0, -1.0, 0.0, 1.5, 2.0])
  np.testing.assert_allclose(rejection.acceptance(logits, 2.0, 0.0, eps=1e-12),
                             np.exp(logits - 2.0), rtol=1e-6)
  # Above D* (a proposal after calibration): accepted outright, not NaN.
  assert rejection.acceptance(np.array([5.0]), 2.0, 0.0)[0] > 0.999
  # A larger gamma keeps fewer.
  assert np.all(np.diff([rejection.acceptance(logits, 2.0, g).mean() for g in (-2, 0, 2)]) < 0)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_calibration_makes_the_mean_acceptance_the_share_asked_for(keep):
  logits = np.random.default_rng(0).normal(-2.0, 1.0, 5000)
  max_logit, gamma = rejection.calibrate(logits, keep)
  assert max_logit == logits.max()
  assert rejection.acceptance(logits, max_logit, gamma).mean() == pytest.approx(keep, abs=1e-6)


def test_calibration_refuses_bad_input():
  for keep in (0.0, 1.5, -0.1):
    with pytest.raises(ValueError, match="keep must be in"):
      rejection.calibrate(np.zeros(3), keep)
  with pytest.raises(ValueError, match="finite"):
    rejection.calibrate(np.array([0.0, np.nan]), 0.5)


def test_with_an_optimal_discriminator_the_kept_samples_follow_the_data():
  # Exact rejection sampling keeps E_g[exp(D - D*)] of the proposals; at that share gamma ~ 0.
  x = propose(0, 200_000)
  exact = np.mean(np.exp(optimal_logit(x) - optimal_logit(x).max()))
  samples, stats = rejection.rejection_sample(propose, optimal_logit, 20_000, keep=exact)
  assert len(samples) == 20_000 and stats["acceptance"] == pytest.approx(exact, abs=0.02)
  assert abs(stats["gamma"]) < 0.5
  assert samples.mean() == pytest.approx(DATA_MEAN, abs=0.03)
  assert samples.std() == pytest.approx(DATA_STD, abs=0.03)
  # The proposals themselves are far from it: the test would fail without the rejection.
  assert abs(x.mean() - DATA_MEAN) > 0.4 and abs(x.std() - DATA_STD) > 0.3


def test_rejection_is_deterministic_in_its_seed_and_keeps_the_share_asked_for():
  a, stats = rejection.rejection_sample(propose, optimal_logit, 3000, keep=0.5, seed=3)
  b, _ = rejection.rejection_sample(propose, optimal_logit, 3000, keep=0.5, seed=3)
  c, _ = rejection.rejection_sample(propose, optimal_logit, 3000, keep=0.5, seed=4)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert stats["acceptance"] == pytest.approx(0.5, abs=0.05) and stats["kept"] == 3000


def test_a_discriminator_that_drifted_from_its_calibration_fails_clearly():
  calls = []

  def drifting(x):  # Calibration batches score high; every later one far below them.
    calls.append(len(x))
    return np.zeros(len(x)) if len(calls) <= 3 else np.full(len(x), -60.0)

  with pytest.raises(RuntimeError, match="far below keep"):
    rejection.rejection_sample(propose, drifting, 100_000, keep=0.5)


# --------------------------------------------------------------------------- the gan family

from ganjax import evaluate, train  # noqa: E402
from ganjax.config import ConfigError  # noqa: E402
from experiments.configs import mixture as mixture_configs  # noqa: E402
from conftest import shrink  # noqa: E402


def tiny_mixture(**overrides):
  c = shrink(mixture_configs.get_config("grid"), num_steps=2)
  for k, v in overrides.items():
    c[k] = v
  return c


@pytest.mark.parametrize("overrides, match", [
    ({"drs_keep": 0.0}, "drs_keep must be in"),
    ({"drs_keep": 1.2}, "drs_keep must be in"),
    ({"drs_keep": 0.5, "loss": "least_squares"}, "log p_data/p_g"),
    ({"drs_keep": 0.5, "loss": "hinge"}, "log p_data/p_g"),
    ({"drs_keep": 0.5, "pack": 2}, "one sample at a time"),
    ({"drs_calibration_steps": -1}, "drs_calibration_steps must be >= 0"),
    ({"drs_calibration_lr": 0.0}, "drs_calibration_lr > 0"),
])
def test_drs_config_errors(overrides, match):
  from ganjax import families
  c = tiny_mixture(**overrides)
  with pytest.raises(ConfigError, match=match):
    families.of(c).check_config(c)


def test_a_mixture_run_with_drs_evaluates_on_kept_samples(tmp_path):
  c = tiny_mixture(drs_keep=0.25, drs_calibration_steps=2)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(c, workdir)
  with open(os.path.join(workdir, "eval.json")) as f:
    result = json.load(f)
  assert result["num_samples"] == 2500
  assert result["drs_acceptance"] == pytest.approx(0.25, abs=0.05)
  own = result["without_drs"]  # G's own samples, beside.
  assert own["num_modes"] == 25 and 0 <= own["high_quality_fraction"] <= 1
  from ganjax.restore import load_trained
  config, state = load_trained(workdir)
  kept, _ = evaluate.generate(config, state, 600, seed=0)
  z = np.random.default_rng(0).standard_normal((600, config.latent_dim)).astype(np.float32)
  plain, _ = evaluate.generate(config, state, z=z)  # Given z: G's own samples.
  assert kept.shape == plain.shape == (600, 2)
  # The kept samples are those D scores higher, on average.
  from ganjax import families
  logits = families.of(config).discriminator_logits(config)
  assert np.mean(logits(state, kept)) > np.mean(logits(state, plain))


def test_calibration_trains_d_alone_against_the_sampling_generator():
  import jax
  from ganjax import families
  c = tiny_mixture(drs_calibration_steps=3, ema_decay=0.999)
  family = families.of(c)
  state = train.create_state(c, jax.random.key(0))
  off = tiny_mixture(drs_calibration_steps=0)
  assert family.calibrate_discriminator(off, state) is state  # 0 steps: D as trained.
  new = family.calibrate_discriminator(c, state, seed=1)
  same = lambda a, b: all(np.array_equal(x, y) for x, y in
                          zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert not same(new.discriminator.params, state.discriminator.params)
  assert same(new.generator, state.generator) and same(new.ema_params, state.ema_params)
  # The training state of D is the run's: its optimizer, moments and step count.
  assert new.discriminator.tx is state.discriminator.tx
  assert same(new.discriminator.opt_state, state.discriminator.opt_state)
  assert int(new.discriminator.step) == int(state.discriminator.step)
  again = family.calibrate_discriminator(c, state, seed=1)
  assert same(again.discriminator.params, new.discriminator.params)  # Deterministic.
