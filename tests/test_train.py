"""End to end: train_and_evaluate, resume, checkpoints, entry points, bad input."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from ganjax import train
from ganjax.checkpoint import CheckpointError
from ganjax.data import DatasetNotFoundError
from ganjax.restore import load_trained
from experiments.configs import cgan, dcgan, gan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from conftest import shrink as tiny


def _leaves(state):
  return jax.tree.leaves(jax.device_get((state.generator, state.discriminator,
                                         state.ema_params)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
  """A tiny DCGAN trained 4 steps on digits, with EMA."""
  workdir = str(tmp_path_factory.mktemp("dcgan"))
  state = train.train_and_evaluate(tiny(dcgan.get_config(), data_dir, ema_decay=0.9), workdir)
  return workdir, state


def test_writes_samples_metrics_checkpoints_and_config(trained):
  workdir, state = trained
  assert int(state.step) == 4
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
      "step_000002.png", "step_000004.png"]
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [2, 4]
  for r in rows:
    # The README's fields of the default DCGAN's metrics.jsonl (InfoGAN's code included).
    assert set(r) == {"step", "d_loss", "g_loss", "d_real_logit", "d_fake_logit",
                      "d_info_loss", "g_info_loss", "steps_per_sec", "g_learning_rate",
                      "d_learning_rate"}, sorted(r)
    assert np.isfinite(r["g_loss"])
    assert r["g_learning_rate"] == r["d_learning_rate"] == 2e-4
  assert sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))
                if s.isdigit()) == [2, 4]
  assert os.listdir(os.path.join(workdir, "tensorboard"))
  assert json.load(open(os.path.join(workdir, "config.json")))["num_steps"] == 4


def test_learning_rates_follow_the_schedule():
  from ganjax.families.base import learning_rates
  c = dcgan.get_config()
  c.num_steps, c.d_steps, c.optimizer.schedule = 100, 5, "linear"
  c.optimizer.g_learning_rate, c.optimizer.d_learning_rate = 1e-3, 1e-4
  assert learning_rates(c, 0) == pytest.approx({"g_learning_rate": 1e-3, "d_learning_rate": 1e-4})
  # Half way: G has taken 50 of its 100 updates, D 250 of its 500.
  assert learning_rates(c, 50) == pytest.approx({"g_learning_rate": 5e-4,
                                                 "d_learning_rate": 5e-5})


def test_load_trained_restores_the_final_state(trained):
  workdir, state = trained
  config, restored = load_trained(workdir)
  assert config.width == 4 and int(restored.step) == 4
  for a, b in zip(_leaves(state), _leaves(restored)):
    np.testing.assert_array_equal(a, b)
  # Typed exactly as restored ones (no weakly typed step counters): a resumed run's step
  # has the fresh one's signature and reads it from the compilation cache.
  weak = [jax.tree_util.keystr(path) for path, x in jax.tree_util.tree_leaves_with_path(state)
          if jax.typeof(x).weak_type]
  assert weak == []


def test_resumed_run_ends_with_exactly_the_uninterrupted_params(tmp_path, data_dir):
  c = lambda n: tiny(gan.get_config(), data_dir, num_steps=n, checkpoint_every=3)
  straight = train.train_and_evaluate(c(6), str(tmp_path / "straight"))
  train.train_and_evaluate(c(3), str(tmp_path / "resumed"))
  resumed = train.train_and_evaluate(c(6), str(tmp_path / "resumed"))
  assert int(resumed.step) == 6
  for a, b in zip(_leaves(straight), _leaves(resumed)):
    np.testing.assert_array_equal(a, b)


def test_the_ema_generators_own_statistics_are_checkpointed_and_resume_exactly(
    tmp_path, data_dir):
  c = lambda n: tiny(dcgan.get_config(), data_dir, num_steps=n, checkpoint_every=2,
                     ema_decay=0.9, ema_batch_stats="own")
  straight = train.train_and_evaluate(c(4), str(tmp_path / "straight"))
  train.train_and_evaluate(c(2), str(tmp_path / "resumed"))
  train.train_and_evaluate(c(4), str(tmp_path / "resumed"))
  _, resumed = load_trained(str(tmp_path / "resumed"))
  assert int(resumed.step) == 4
  for a, b in zip(jax.tree.leaves(jax.device_get(straight)), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  variables = resumed.sampling_variables()
  for a, b in zip(jax.tree.leaves(variables["batch_stats"]),
                  jax.tree.leaves(resumed.ema_batch_stats)):
    np.testing.assert_array_equal(a, b)


def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_deleted(tmp_path, data_dir):
  workdir = str(tmp_path)
  c = tiny(gan.get_config(), data_dir, num_steps=2)
  train.train_and_evaluate(c, workdir)
  ckpt = os.path.join(workdir, "checkpoints", "2")
  before = sorted(os.path.relpath(os.path.join(d, f), ckpt)
                  for d, _, fs in os.walk(ckpt) for f in fs)
  for d, _, files in os.walk(ckpt):
    for f in files:
      with open(os.path.join(d, f), "wb") as fh:
        fh.write(b"\x00garbage")
  with pytest.raises(CheckpointError, match="cannot restore the checkpoint of step 2"):
    train.train_and_evaluate(tiny(gan.get_config(), data_dir, num_steps=4), workdir)
  after = sorted(os.path.relpath(os.path.join(d, f), ckpt)
                 for d, _, fs in os.walk(ckpt) for f in fs)
  assert after == before


def test_checkpoint_of_another_config_is_a_clear_error(trained, data_dir):
  workdir, _ = trained
  wider = tiny(dcgan.get_config(), data_dir, width=8, num_steps=6)
  before = open(os.path.join(workdir, "config.json")).read()
  with pytest.raises(CheckpointError, match="different config"):
    train.train_and_evaluate(wider, workdir)
  assert open(os.path.join(workdir, "config.json")).read() == before  # Nothing overwritten.


def test_bad_config_values_are_clear_errors(tmp_path, data_dir):
  for field, value, match in [("loss", "wasserstien", "valid names are: minimax"),
                              ("objective", "magic", "unknown objective"),
                              ("model", "resnet", "unknown model"),
                              ("ema_decay", 1.5, "ema_decay")]:
    c = tiny(gan.get_config(), data_dir)
    setattr(c, field, value)
    with pytest.raises(train.ConfigError, match=match):
      train.train_and_evaluate(c, str(tmp_path))
  c = tiny(gan.get_config(), data_dir)
  c.optimizer.name = "sgd"
  with pytest.raises(train.ConfigError, match="unknown optimizer"):
    train.train_and_evaluate(c, str(tmp_path))


def test_dataset_that_is_not_prepared_is_a_clear_error(tmp_path, monkeypatch):
  # A proxy that refuses connections: offline on any machine, so nothing is downloaded.
  for key in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
    monkeypatch.delenv(key, raising=False)
  monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
  monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
  c = tiny(dcgan.get_config("mnist"), str(tmp_path / "empty"))
  with pytest.raises(DatasetNotFoundError, match="mnist"):
    train.train_and_evaluate(c, str(tmp_path / "work"))


@pytest.mark.parametrize("name,variant", [
    ("dcgan", "mnist"), ("dcgan", "fashion_mnist"), ("dcgan", "cifar10"),
    ("dcgan", "celeb_a"), ("gan", "mnist"), ("gan", "fashion_mnist")])
def test_every_tfds_variant_trains_a_step_on_mock_data(tmp_path, name, variant):
  module = {"dcgan": dcgan, "gan": gan}[name]
  c = tiny(module.get_config(variant), str(tmp_path / "tfds"), num_steps=1)
  with tfds.testing.mock_data(num_examples=16):
    state = train.train_and_evaluate(c, str(tmp_path / "work"))
  assert int(state.step) == 1
  assert os.path.exists(tmp_path / "work" / "samples" / "step_000001.png")


def test_resize_upsampling_trains(tmp_path, data_dir):
  c = tiny(dcgan.get_config(), data_dir, num_steps=1, upsample="resize")
  assert int(train.train_and_evaluate(c, str(tmp_path)).step) == 1


# ----------------------------------------------------------------------------- CLI


def _cli(*args, timeout=300):
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="true", JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def test_cli_trains_then_samples(tmp_path, data_dir):
  workdir = str(tmp_path / "w")
  out = _cli("experiments.gan", "--config=experiments/configs/gan.py:digits",
             f"--workdir={workdir}", f"--config.data_dir={data_dir}", "--config.num_steps=2",
             "--config.hidden=(16,)", "--config.seed=3")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "step 2/2" in out.stderr
  png = str(tmp_path / "s.png")
  out = _cli("experiments.sample", f"--workdir={workdir}", "--num=9", f"--out={png}")
  assert out.returncode == 0, out.stderr[-2000:]
  from PIL import Image
  assert Image.open(png).size[0] > 3 * 8
  # Rerunning with the same work directory resumes.
  out = _cli("experiments.gan", f"--workdir={workdir}", f"--config.data_dir={data_dir}",
             "--config.num_steps=3", "--config.hidden=(16,)", "--config.seed=3")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "Resumed from the checkpoint of step 2" in out.stderr


def test_cli_samples_a_class_grid_from_a_conditional_run(tmp_path, data_dir):
  """cgan/acgan: one row per class, one fixed z per column, as training draws it."""
  workdir = str(tmp_path / "w")
  # The 8x8 MLP cGAN of test_conditional.py, one step.
  c = tiny(cgan.get_config("digits_mlp"), data_dir, num_steps=1, num_sample_images=20)
  train.train_and_evaluate(c, workdir)
  png = str(tmp_path / "s.png")
  out = _cli("experiments.sample", f"--workdir={workdir}", "--num=30", f"--out={png}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "wrote 30 samples" in out.stdout
  from PIL import Image
  width, height = Image.open(png).size
  # 10 rows (classes) x 3 columns of 8x8 tiles with 1-pixel padding, enlarged; a square
  # grid of 30 would be 5 x 6.
  rows, cols = c.num_classes * 9 + 1, 3 * 9 + 1
  assert height % rows == 0 and (width, height) == (cols * height // rows, height)


def _one_error_line(out):
  lines = [l for l in out.stderr.splitlines() if l.strip()]
  assert out.returncode == 2 and len(lines) == 1, out.stderr[-3000:]
  assert lines[0].startswith("error: ")
  return lines[0]


def test_cli_unknown_config_key_is_one_line_exit_2_naming_it():
  # The README's promise: an unknown key, variant or flag is a one-line error, exit code 2.
  assert "nmu_steps" in _one_error_line(_cli("experiments.dcgan", "--config.nmu_steps=3",
                                             timeout=120))
  assert "'nmu'" in _one_error_line(_cli("experiments.dcgan", "--nmu=3", timeout=120))


def test_cli_unknown_variant_and_missing_workdir(tmp_path):
  out = _cli("experiments.dcgan", "--config=experiments/configs/dcgan.py:svhn", timeout=120)
  assert "svhn" in _one_error_line(out)
  out = _cli("experiments.sample", f"--workdir={tmp_path}", timeout=120)
  assert out.returncode == 2
  assert out.stderr.strip().startswith("error:") and "config.json" in out.stderr


def test_work_dir_saved_before_a_new_config_field_still_loads(trained, tmp_path):
  """A field ganjax added after a run was saved takes its default."""
  import shutil
  from ganjax.restore import load_config
  workdir = str(tmp_path / "old")
  shutil.copytree(trained[0], workdir)
  path = os.path.join(workdir, "config.json")
  fields = json.load(open(path))
  del fields["ema_decay"], fields["keep_checkpoints"]
  json.dump(fields, open(path, "w"))
  config = load_config(workdir)
  from ganjax.config import base_config
  assert config.ema_decay == base_config().ema_decay and config.width == 4


def _imported_modules(path):
  """The modules a file imports, read from its tokens.

  Not `ast.parse`: CPython 3.11.7 can raise "AST constructor recursion depth mismatch"
  when it is called deep in a stack (gh-106905), which failed a CI run.
  """
  import tokenize
  with open(path, "rb") as f:
    tokens = [t for t in tokenize.tokenize(f.readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING)]
  modules = []
  for i, t in enumerate(tokens):
    at_statement_start = i == 0 or tokens[i - 1].type in (
        tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) or tokens[i - 1].string == ";"
    if t.type != tokenize.NAME or t.string not in ("import", "from") or not at_statement_start:
      continue
    j, names, name = i + 1, [], ""
    while tokens[j].type != tokenize.NEWLINE and tokens[j].string != ";":
      s = tokens[j].string
      if t.string == "from" and s == "import":
        break
      if s in (",", "as"):
        names.append(name)
        name = "" if s == "," else None
      elif name is not None and (tokens[j].type == tokenize.NAME or s == "."):
        name += s
      elif s == ",":
        name = ""
      j += 1
    names.append(name)
    modules += [n for n in names if n]
  return modules


def test_imported_modules_reads_every_import_form(tmp_path):
  path = tmp_path / "m.py"
  path.write_text('"""from experiments import x"""\nimport os, experiments.a as b\n'
                  'if True:\n  from experiments.c import (d,\n    e)\n'
                  'x = 1; import numpy as np\n# import experiments\nfrom . import f\n')
  assert _imported_modules(path) == ["os", "experiments.a", "experiments.c", "numpy", "."]


def test_the_library_does_not_import_the_experiments():
  """ganjax stands alone: experiments/ builds on it, never the other way round."""
  import ganjax
  package = os.path.dirname(ganjax.__file__)
  found = []
  for directory, _, files in os.walk(package):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(directory, name)
        found += [f"{os.path.relpath(path, package)}: {m}" for m in _imported_modules(path)
                  if m.split(".")[0] == "experiments"]
  assert not found


def test_keeps_only_the_last_k_checkpoints(tmp_path, data_dir):
  c = tiny(gan.get_config(), data_dir, num_steps=7, checkpoint_every=2, keep_checkpoints=2)
  train.train_and_evaluate(c, str(tmp_path))
  steps = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
  assert steps == [6, 7]  # Every 2 steps, the final step, and only the last 2 kept.


def test_warm_start_takes_the_networks_of_another_run_and_fresh_optimizers(trained, tmp_path,
                                                                            data_dir):
  source, source_state = trained
  c = tiny(dcgan.get_config(), data_dir, ema_decay=0.9, num_steps=0, warm_start=source,
           warm_start_networks="generator")
  state = train.train_and_evaluate(c, str(tmp_path / "g"))
  fresh = train.create_state(c, jax.random.split(jax.random.key(c.seed), 3)[0])  # As train does.
  for a, b in zip(jax.tree.leaves(jax.device_get(state.generator.params)),
                  jax.tree.leaves(jax.device_get(source_state.generator.params))):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree.leaves(jax.device_get((state.discriminator, state.generator.opt_state))),
                  jax.tree.leaves(jax.device_get((fresh.discriminator, fresh.generator.opt_state)))):
    # D and the optimizers: this run's own, fresh (initialised under jit there: to a ULP).
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
  assert int(state.step) == 0
  c = tiny(dcgan.get_config(), data_dir, num_steps=0, warm_start=source, width=8)
  with pytest.raises(train.ConfigError, match="warm_start: the generator of .* other layers"):
    train.train_and_evaluate(c, str(tmp_path / "w"))
  c = tiny(dcgan.get_config(), data_dir, warm_start=str(tmp_path / "none"))
  with pytest.raises(train.ConfigError, match=r"warm_start: .*config\.json not found"):
    train.train_and_evaluate(c, str(tmp_path / "x"))
