"""ganjax/xla_cpu.py: the XLA:CPU flag is added only where it is safe and wanted."""

import os
import subprocess
import sys

import pytest

from ganjax import xla_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def known_jaxlib(monkeypatch):
  monkeypatch.setattr(xla_cpu, "_jaxlib_version", lambda: xla_cpu.KNOWN_JAXLIB[0])


def test_adds_the_flag_to_an_empty_environment(known_jaxlib):
  env = {}
  assert xla_cpu.apply(env)
  assert env["XLA_FLAGS"] == xla_cpu.FLAG


def test_keeps_the_flags_already_there(known_jaxlib):
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
  assert xla_cpu.apply(env)
  assert env["XLA_FLAGS"].split() == ["--xla_force_host_platform_device_count=4", xla_cpu.FLAG]


def test_the_users_own_setting_of_the_flag_wins(known_jaxlib):
  env = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=individual_convolution"}
  assert not xla_cpu.apply(env)
  assert env["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=individual_convolution"


def test_opt_out(known_jaxlib):
  env = {"GANJAX_XLA_CPU_FLAGS": "0"}
  assert not xla_cpu.apply(env)
  assert "XLA_FLAGS" not in env


def test_unknown_jaxlib_is_left_alone(monkeypatch):
  # An XLA that does not know a flag aborts at start-up: never guess.
  monkeypatch.setattr(xla_cpu, "_jaxlib_version", lambda: (0, 99))
  env = {}
  assert not xla_cpu.apply(env)
  assert env == {}


def test_the_installed_jaxlib_is_known():
  # requirements.txt pins a jaxlib the flag was measured with; if the pin moves, check
  # the flag still exists there and still helps (python -m benchmarks.dcgan), then
  # extend KNOWN_JAXLIB.
  assert xla_cpu._jaxlib_version() in xla_cpu.KNOWN_JAXLIB


def _run(code, **env):
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | env
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  return out.stdout.strip()


def test_importing_ganjax_leaves_xla_flags_alone_and_the_entry_points_set_them():
  assert _run("import os, ganjax, ganjax.train, ganjax.families.gan; "
              "print(os.environ.get('XLA_FLAGS', 'unset'))") == "unset"
  # An entry point sets the flag (and the cache) before it parses its flags.
  flags = _run("import os; from absl import app; "
               "app.run = lambda main, **kw: print(os.environ.get('XLA_FLAGS', 'unset')); "
               "from experiments import launch; launch.main('dcgan')",
               GANJAX_COMPILATION_CACHE="0")
  assert flags == xla_cpu.FLAG


def test_too_late_is_refused_not_half_applied():
  # After JAX started its backend, XLA_FLAGS are never read again: say so by doing nothing.
  assert _run("import os, jax; jax.numpy.zeros(1).block_until_ready(); "
              "from ganjax import xla_cpu; print(xla_cpu.apply(), "
              "os.environ.get('XLA_FLAGS', 'unset'))") == "False unset"
