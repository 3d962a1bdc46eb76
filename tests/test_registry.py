"""The family registry: one file per family, configs by family, saved runs of older versions,
and a loop that serves any family's state and batches."""

import json
import os
import sys
import tokenize
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganjax import families, parallel, train
from ganjax.config import ConfigError, LOOP_FIELDS, base_config, from_saved
from ganjax.families import base
from ganjax.models.mlp import MLPDiscriminator, MLPGenerator
from ganjax.restore import load_config, load_trained
from ganjax.state import NetState
from experiments.configs import acgan, cgan, dcgan, gan, lsgan, mixture, sgan, wgan, wgan_gp
from conftest import shrink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEGACY = json.load(open(os.path.join(ROOT, "tests", "data", "legacy_configs.json")))


def test_every_family_has_a_config_and_every_entry_config_checks():
  for name in families.FAMILIES:
    c = base_config(name)
    assert c.family == name and families.get(name).name == name
    assert set(LOOP_FIELDS) <= set(c)
  for module, family in [(dcgan, "gan"), (gan, "gan"), (lsgan, "gan"), (wgan, "gan"),
                         (wgan_gp, "gan"), (cgan, "cgan"), (acgan, "acgan"), (sgan, "sgan"),
                         (mixture, "mixture")]:
    for variant in module.VARIANTS:
      c = module.get_config(variant)
      assert c.family == family, (module.__name__, variant)
      train.check_config(c)


def test_fields_belong_to_their_family():
  # A family declares its own fields: the step kind is the unconditional GAN's, the labels
  # are the conditional families'.
  assert "objective" in base_config("gan") and "objective" not in base_config("cgan")
  assert "num_labeled" in base_config("sgan") and "num_labeled" not in base_config("gan")
  assert "class_loss_weight" in base_config("acgan")
  assert "class_loss_weight" not in base_config("cgan")


def test_unknown_family_is_a_one_line_error_listing_the_valid_ones():
  with pytest.raises(ConfigError, match=r"^unknown family 'pix2pox'; valid: gan, mixture, "):
    families.get("pix2pox")
  c = gan.get_config()
  c.family = "pix2pox"
  with pytest.raises(ConfigError, match="unknown family"):
    train.check_config(c)


@pytest.mark.parametrize("name,family", [("cgan", "cgan"), ("acgan", "acgan"), ("sgan", "sgan"),
                                         ("mixture", "mixture"), ("dcgan", "gan")])
def test_config_json_of_the_previous_version_loads_into_its_family(name, family):
  saved = LEGACY[name]  # Written by ganjax before families had names.
  assert "family" not in saved
  c = from_saved(saved)
  assert c.family == family
  for field, value in saved.items():
    if field in c and field != "objective":
      got = c[field].to_dict() if hasattr(c[field], "to_dict") else c[field]
      if isinstance(value, dict):  # Fields added since keep their defaults.
        got = {k: got[k] for k in value}
      assert got == (tuple(value) if isinstance(value, list) else value), field
  if family == "gan":
    assert c.objective == saved["objective"]
  train.check_config(c)


def test_a_saved_config_round_trips_and_unknown_new_fields_are_errors():
  c = sgan.get_config()
  assert from_saved(json.loads(c.to_json_best_effort())).to_dict() == c.to_dict()
  fields = json.loads(c.to_json_best_effort())
  fields["colour"] = "blue"
  with pytest.raises(ConfigError, match="'colour' is not a field of family 'sgan'"):
    from_saved(fields)


def test_a_work_directory_of_the_previous_version_samples_evaluates_and_resumes(
    tmp_path, data_dir):
  c = shrink(cgan.get_config("digits_mlp"), data_dir, num_steps=2, num_sample_images=10)
  workdir = str(tmp_path)
  train.train_and_evaluate(c, workdir)
  # The same run as the previous version saved it: its config.json format, same values.
  legacy = dict(LEGACY["cgan"])
  for field, value in json.loads(c.to_json_best_effort()).items():
    if field in legacy:
      legacy[field] = value
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(legacy, f)
  config, state = load_trained(workdir)
  assert config.family == "cgan" and int(state.step) == 2
  inputs, ncols = train.sample_grid_inputs(config, jax.random.key(0), 20)
  assert ncols == 2 and train.make_sampler(config)(state, *inputs).shape == (20, 8, 8, 1)
  from ganjax import evaluate
  images, labels = evaluate.generate(config, state, 10)
  assert images.shape == (10, 8, 8, 1) and labels.tolist() == list(range(10))
  config.num_steps = 3
  assert int(train.train_and_evaluate(config, workdir).step) == 3  # Resumed at 2.
  assert load_config(workdir).family == "cgan"  # Now recorded in today's format.


def _code_tokens(path):
  """NAME and STRING tokens of a module, without comments and docstrings (strings quoted)."""
  with open(path) as f:
    toks = list(tokenize.generate_tokens(f.readline))
  out, prev = [], tokenize.NEWLINE
  for t in toks:
    docstring = t.type == tokenize.STRING and prev in (tokenize.NEWLINE, tokenize.INDENT,
                                                       tokenize.DEDENT, tokenize.NL)
    if t.type in (tokenize.NAME, tokenize.STRING) and not docstring:
      out.append(t.string)
    if t.type not in (tokenize.COMMENT, tokenize.NL):
      prev = t.type
  return out


@pytest.mark.parametrize("module", ["ganjax/train.py", "ganjax/evaluate.py",
                                    "ganjax/restore.py", "ganjax/models/__init__.py",
                                    "ganjax/latent_report.py", "experiments/sample.py"])
def test_the_loop_and_the_tools_name_no_family_and_no_dataset(module):
  families_ = ("cgan", "acgan", "sgan", "mixture", "objective")
  datasets = ("ring", "grid", "digits", "mnist")
  found = []
  for t in _code_tokens(os.path.join(ROOT, module)):
    words = set(t.strip("'\"").replace(".", " ").split())
    if words & set(families_) or (t[0] in "'\"" and words & set(datasets)):
      found.append(t)
  assert not found, f"{module} names {found}"


def test_the_package_imports_no_module_twice_in_a_circle():
  import importlib
  for name in ("ganjax.latent", "ganjax.evaluate"):
    importlib.import_module(name)
  src = open(os.path.join(ROOT, "ganjax", "latent.py")).read()
  assert "import evaluate" not in src and "from ganjax import" not in src


def test_one_indentation_style_in_the_package():
  for dirpath, _, files in os.walk(os.path.join(ROOT, "ganjax")):
    for name in files:
      if not name.endswith(".py"):
        continue
      path = os.path.join(dirpath, name)
      with open(path) as f:
        indents = {t.string for t in tokenize.generate_tokens(f.readline)
                   if t.type == tokenize.INDENT}
      assert min(map(len, indents), default=2) == 2, path


# --------------------------------------------------------------------------- the loop


def test_parameters_of_every_network_in_any_state_are_counted():
  tx = optax.adam(1e-3)

  def net(module, x):
    return NetState.create(apply_fn=module.apply, tx=tx,
                           params=module.init(jax.random.key(0), x, train=False)["params"])

  g = MLPGenerator(output_shape=(2,), hidden=(3,))
  d = MLPDiscriminator(hidden=(5,))
  state = {"generators": {"a_to_b": net(g, jnp.zeros((1, 4))), "b_to_a": net(g, jnp.zeros((1, 4)))},
           "discriminator": net(d, jnp.zeros((1, 2))), "pool": jnp.zeros((50, 2))}
  counts = train.count_parameters(state)
  assert counts == {"generators.a_to_b": 4 * 3 + 3 + 3 * 2 + 2,
                    "generators.b_to_a": 4 * 3 + 3 + 3 * 2 + 2,
                    "discriminator": 2 * 5 + 5 + 5 + 1}


def test_the_progress_line_shows_every_scalar_the_step_returns():
  line = train.progress_line(50, 200, {"loss_G_GAN": 1.5, "loss_cycle_A": 0.25,
                                       "d_loss": 0.5, "steps_per_sec": 10.0})
  assert line == ("step 50/200 | 10.00 steps/s | ETA 0m15s | loss_G_GAN 1.5 | "
                  "loss_cycle_A 0.25 | d_loss 0.5")


class _Paired(base.Family):
  """A toy family whose examples are (source, target) pairs, for the input path."""

  name = "paired_toy"

  def fields(self):
    return {"side": 4}

  def train_batches(self, config, *, local_batch_size):
    for i in range(100):
      x = np.full((local_batch_size, config.side, config.side, 1), i, np.float32)
      yield {"source": x, "target": -x}


def test_named_features_of_any_family_pass_through_the_input_and_the_sharding(monkeypatch):
  module = types.ModuleType("paired_toy_family")
  module.FAMILY = _Paired()
  monkeypatch.setitem(sys.modules, "paired_toy_family", module)
  monkeypatch.setitem(families.FAMILIES, "paired_toy", "paired_toy_family")
  c = base_config("paired_toy")
  c.d_steps = 2
  batches = train.input_batches(c, local_batch_size=3, skip=1)
  first = next(batches)
  assert set(first) == {"source", "target"} and first["source"].shape == (2, 3, 4, 4, 1)
  assert first["source"][:, 0, 0, 0, 0].tolist() == [2, 3]  # One resumed step skipped.
  mesh = parallel.make_mesh()
  placed = parallel.put_batch(first, mesh, 1)
  np.testing.assert_array_equal(np.asarray(placed["target"]), -first["source"])
