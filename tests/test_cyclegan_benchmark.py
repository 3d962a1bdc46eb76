"""benchmarks/cyclegan.py keeps working (no timing assertions), on the reference's networks.

The benchmark itself is run by hand (`python -m benchmarks.cyclegan`); these tests check its
settings, that the PyTorch transcription has the reference's parameter counts (its printout
at 256 px: 11,378,179 per ResNet generator with 9 blocks, 2,764,737 per 70x70 PatchGAN),
that one PyTorch iteration runs and trains all four networks, the image pool, the command
line end to end on the torch side at a tiny size, and, where ganjax's CycleGAN family
imports, that its networks have the same counts.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from benchmarks import cyclegan as bench
from benchmarks import dcgan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ganjax_cyclegan():
  try:
    return importlib.util.find_spec("ganjax.families.cyclegan") is not None
  except ImportError:
    return False


needs_ganjax = pytest.mark.skipif(not _ganjax_cyclegan(),
                                  reason="ganjax.families.cyclegan is not there")


def test_settings_and_blocks():
  assert bench.parse_settings(bench.DEFAULT_SETTINGS) == [(1, 128), (8, 64)]
  assert bench.parse_settings("1x256,2x24,4x100") == [(1, 256), (2, 24), (4, 100)]
  for bad in ("16", "2x20", "2x30", "0x64", "axb", ""):
    with pytest.raises(ValueError):
      bench.parse_settings(bad)
  assert [bench.res_blocks(r) for r in (64, 128, 132, 256)] == [6, 6, 9, 9]


def test_torch_transcription_has_the_reference_parameter_counts():
  pytest.importorskip("torch")
  assert bench.torch_param_counts(256) == bench.REFERENCE_PARAMS_256
  # 3 fewer blocks of two 3x3 convolutions (256 -> 256 channels, with biases) at 128 px.
  assert bench.torch_param_counts(128)["g_params"] == 11_378_179 - 3 * 2 * (256 * 256 * 9 + 256)


def test_torch_iteration_trains_all_four_networks():
  torch = pytest.importorskip("torch")
  runner = bench.TorchRunner(2, 32, width=4, threads=1)
  nets = {"g_a": runner.g_a, "g_b": runner.g_b, "d_a": runner.d_a, "d_b": runner.d_b}
  before = {k: [p.detach().clone() for p in net.parameters()] for k, net in nets.items()}
  assert runner.step() > 0
  for name, net in nets.items():
    assert any(not torch.equal(p, q) for p, q in zip(before[name], net.parameters())), name
    assert all(p.requires_grad for p in net.parameters()), name  # D unfrozen again.
  assert len(runner.pool_a.images) == len(runner.pool_b.images) == 2
  info = runner.info()
  assert info["res_blocks"] == 6 and info["threads"] == 1
  assert {k: info[k] for k in ("g_params", "d_params")} == bench.torch_param_counts(32, width=4)


def test_torch_image_pool_fills_then_swaps():
  torch = pytest.importorskip("torch")
  pool = bench.TorchImagePool(size=2, seed=0)
  first = torch.tensor([[1.0], [2.0]])
  assert torch.equal(pool.query(first), first)  # Not full: returned and kept.
  seen = set()
  for i in range(20):  # Full: each image either itself or one kept before, swapped in.
    out = float(pool.query(torch.tensor([[10.0 + i]]))[0, 0])
    assert out == 10.0 + i or out in {1.0, 2.0} | {10.0 + j for j in range(i)}
    seen.add(out == 10.0 + i)
  assert seen == {True, False}
  assert len(pool.images) == 2


def test_command_line_times_the_torch_side():
  pytest.importorskip("torch")
  cmd = [sys.executable, "-m", "benchmarks.cyclegan", "--framework=torch", "--settings=1x24",
         "--width=2", "--steps=1", "--warmup=0", "--cores=1", "--no-matmul_peak"]
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  (line,) = [l for l in out.stdout.splitlines() if l.startswith("{")]
  rec = json.loads(line)
  assert (rec["benchmark"], rec["batch"], rec["resolution"]) == ("cyclegan", 1, 24)
  assert rec["torch_ms"] > 0 and rec["torch"]["threads"] == 1 and rec["params_match"]
  assert rec["g_params"] == {"torch": bench.torch_param_counts(24, width=2)["g_params"]}
  assert "| 1x24 |" in out.stdout


def test_missing_torch_is_said(monkeypatch, capsys):
  monkeypatch.setattr(dcgan.importlib.util, "find_spec", lambda name: None)
  assert bench.main(["--framework=torch"]) == 2
  assert "pip install torch==2.13.0" in capsys.readouterr().err


@needs_ganjax
def test_ganjax_networks_have_the_reference_parameter_counts():
  assert bench.ganjax_param_counts(256) == bench.REFERENCE_PARAMS_256
  pytest.importorskip("torch")
  assert bench.ganjax_param_counts(32, width=4) == bench.torch_param_counts(32, width=4)


def test_unpaired_table_rows_are_valid_configs_of_the_papers_ablations():
  from benchmarks import unpaired_table
  from ganjax import train
  assert list(unpaired_table.ROWS) == ["CycleGAN", "GAN alone", "GAN + forward cycle",
                                       "no identity loss", "no image pool", "DiscoGAN"]
  for row in unpaired_table.ROWS:
    for variant in ("rotate", "bold"):
      c = unpaired_table.config_of(row, variant, seed=1, num_steps=300)
      train.check_config(c)
      assert c.seed == 1 and c.num_steps == 300 and c.dataset == f"digits_{variant}"
  ablation = unpaired_table.config_of("GAN + forward cycle", "rotate", 0, 300)
  assert (ablation.cycle_weight_a, ablation.cycle_weight_b) == (10.0, 0.0)
  assert unpaired_table.config_of("DiscoGAN", "bold", 0, 300).gan_curriculum == 100
