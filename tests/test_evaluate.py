"""The evaluate command end to end on a tiny trained work directory, and its bad input."""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ganjax import classifier, evaluate, inception, latent, latent_report, train
from experiments.configs import dcgan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED = ("fcd", "fcd_real_baseline", "classifier_is", "classifier_is_std", "class_coverage",
            "class_kl", "precision", "recall", "density", "coverage", "inversion_psnr_heldout",
            "inversion_psnr_random_baseline", "num_samples", "step")


def _read_json(path):
  with open(path) as f:
    return json.load(f)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A DCGAN trained 4 steps on digits, and a quickly trained digits classifier."""
  root = tmp_path_factory.mktemp("eval")
  c = dcgan.get_config()
  c.data_dir = str(root / "tfds")
  c.resolution = 16  # The classifier below is trained at 16x16 too.
  c.width, c.latent_dim, c.batch_size, c.num_sample_images = 4, 8, 8, 4
  c.info_categories = 4  # The default's InfoGAN code, within the shrunk z.
  c.num_steps, c.log_every, c.sample_every, c.checkpoint_every = 4, 2, 4, 4
  workdir = str(root / "dcgan")
  train.train_and_evaluate(c, workdir)
  clf_dir = str(root / "classifier")
  classifier.get_classifier("digits", resolution=16, channels=1, data_dir=c.data_dir,
                            directory=clf_dir, num_steps=20, log=lambda *_: None)
  return workdir, clf_dir


def _options(clf_dir, **kw):
  kw = {"num_samples": 48, "num_inversions": 4, "inversion_steps": 5, "inversion_random": 8,
        "kid_subset_size": 16, "classifier_dir": clf_dir, "log": lambda *_: None, **kw}
  return evaluate.Options(**kw)


@pytest.fixture(scope="module")
def result(run):
  workdir, clf_dir = run
  return evaluate.evaluate(workdir, _options(clf_dir))


def test_eval_json_has_every_metric_and_the_real_baseline(run, result):
  workdir, _ = run
  on_disk = _read_json(os.path.join(workdir, "eval.json"))
  assert on_disk == json.loads(json.dumps(result))
  for key in REQUIRED:
    assert key in on_disk, key
  for name in ("precision", "recall", "density", "coverage", "classifier_is", "class_kl"):
    assert f"{name}_real_baseline" in on_disk
  assert on_disk["num_samples"] == 48 and on_disk["step"] == 4
  assert on_disk["num_real_train"] == 48 and on_disk["num_real_test"] == 48
  assert set(on_disk["skipped"]) == {"inception"}
  assert "--inception_weights" in on_disk["skipped"]["inception"]
  # A 4-step generator is far from the data; held-out real images are close to it.
  assert on_disk["fcd_real_baseline"] < on_disk["fcd"]
  assert on_disk["precision_real_baseline"] > on_disk["precision"]
  assert 0 <= on_disk["class_coverage"] <= 1 and on_disk["class_kl"] >= 0
  assert on_disk["inversion_psnr_heldout"] >= on_disk["inversion_psnr_random_baseline"]


def test_table_lists_generated_and_baseline_columns(result):
  table = evaluate.format_table(result)
  assert "real test (48) vs train" in table and "generated (48)" in table
  assert any(line.startswith("fcd ") for line in table.splitlines())
  assert "skipped inception" in table


def test_generate_is_deterministic_and_batched(run):
  workdir, _ = run
  from ganjax.restore import load_trained
  config, state = load_trained(workdir)
  assert config.drs_keep < 1  # The digits default samples by rejection ...
  for keep in (config.drs_keep, 1.0):  # ... and G's own samples.
    config.drs_keep = keep
    a, labels = evaluate.generate(config, state, 7, seed=3, batch_size=3)  # padded last batch
    b, _ = evaluate.generate(config, state, 7, seed=3, batch_size=7)
    assert a.shape == (7, 16, 16, 1) and labels is None
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_section_is_a_local_edit(run):
  workdir, clf_dir = run
  extra = evaluate.Section("mine", lambda ctx: {"my_metric": float(len(ctx.generated()[0]))})
  skip = evaluate.Section("never", lambda ctx: (_ for _ in ()).throw(evaluate.Skip("no")))
  out = evaluate.evaluate(workdir, _options(clf_dir), sections=[extra, skip],
                          out_path=os.path.join(workdir, "other.json"))
  assert out["my_metric"] == 48.0 and out["skipped"] == {"never": "no"}


def test_inception_metrics_with_a_weights_file(run, tmp_path, monkeypatch):
  workdir, clf_dir = run
  weights = inception.save_weights(str(tmp_path / "w.npz"), inception.random_variables(0))
  # 75x75 inputs instead of 299, and FID on 64 of the 2048 features (a 2048-d FID costs
  # ~10 s of eigendecompositions; test_metrics checks FID itself), keep this fast.
  monkeypatch.setattr(inception, "load", functools.partial(inception.load, input_size=75))
  fid = evaluate.metrics.frechet_distance
  monkeypatch.setattr(evaluate.metrics, "frechet_distance", lambda a, b: fid(a[:, :64], b[:, :64]))
  sections = [s for s in evaluate.SECTIONS if s.name == "inception"]
  # 4 samples: the batch shape test_inception compiled, when both run in one process.
  out = evaluate.evaluate(workdir, _options(clf_dir, inception_weights=weights, num_samples=4),
                          sections=sections, out_path=str(tmp_path / "eval.json"))
  for key in ("fid", "fid_real_baseline", "kid", "kid_std", "inception_score",
              "inception_score_std"):
    assert np.isfinite(out[key]), key
  assert out["skipped"] == {}
  bad = tmp_path / "bad.npz"
  bad.write_bytes(b"junk")
  with pytest.raises(inception.InceptionWeightsError, match="not a readable"):
    evaluate.evaluate(workdir, _options(clf_dir, inception_weights=str(bad)))


def test_latent_report_writes_its_pngs(run, tmp_path):
  workdir, clf_dir = run
  out = latent_report.latent_report(workdir, out_dir=str(tmp_path), num_rows=2, num_steps=3,
                             arithmetic="[0,1]-[2]+[3]", num_candidates=8, num_inversions=3,
                             inversion_steps=3, classifier_dir=clf_dir, log=lambda *_: None)
  for name in ("interpolation_linear", "interpolation_spherical", "arithmetic", "candidates",
               "inversion"):
    assert os.path.getsize(tmp_path / f"{name}.png") > 0, name
  assert "inversion_psnr_heldout" in _read_json(tmp_path / "latent.json")
  assert out["arithmetic_group_sizes"] == [2, 1, 1]
  with pytest.raises(latent.LatentError, match="not in candidates.png"):
    latent_report.latent_report(workdir, out_dir=str(tmp_path), arithmetic="[200]",
                         num_candidates=8, log=lambda *_: None)


def _cli(module, *args):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_DISABLE_MOST_OPTIMIZATIONS": "true"}
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True)


def test_cli_user_errors_are_one_line(tmp_path, run):
  workdir, _ = run
  cases = [
      ("experiments.evaluate", [f"--workdir={tmp_path / 'missing'}"], "does not exist"),
      ("experiments.evaluate", [f"--workdir={workdir}", "--inception_weights=/no/such.npz"],
       "no file /no/such.npz"),
      ("experiments.evaluate", [f"--workdir={workdir}", "--num_samples=0"], "num_samples"),
      ("experiments.latent", [f"--workdir={tmp_path / 'missing'}"], "does not exist"),
      ("experiments.evaluate", [f"--workdir={tmp_path}"], "config.json"),  # not a run
  ]
  for module, args, message in cases:
    r = _cli(module, *args)
    assert r.returncode == 2, (args, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and message in lines[-1], (args, r.stderr[-2000:])
