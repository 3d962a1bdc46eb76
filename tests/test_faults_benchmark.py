"""benchmarks/faults.py: its helpers count, hash and tabulate right, and one real trial runs.

The fault-injection matrix itself is run by hand (`python -m benchmarks.faults`); here, its
pure helpers on made-up inputs, and one bad-input case against the real CLI both ways: one
the CLI refuses (a pass) and one it does not (a failure the script must report).
"""

import json
import os
import signal

import pytest

from benchmarks import faults

STDERR = """\
I1202 21:39:42.571681 140085261314944 launch.py:63] config:
batch_size: 16
optimizer:
  b1: 0.5
hidden: !!python/tuple
- 256

I1202 21:39:43.522315 140085261314944 train.py:199] generator: 4272 params
W1202 21:39:43.9 1 train.py:247] warning: the checkpoint of step 40 is damaged: moved it
E1202 21:39:44.0 1 train.py:1] something
error: cannot restore the checkpoint of step 40
"""


# --------------------------------------------------------------------------- stderr


def test_message_lines_skip_absl_records_and_their_config_dump():
  assert faults.message_lines(STDERR) == ["error: cannot restore the checkpoint of step 40"]
  assert faults.one_line(STDERR, "error:") == (True, ["error: cannot restore the checkpoint "
                                                      "of step 40"])
  assert faults.one_line(STDERR, "stopped:")[0] is False


def test_every_other_line_counts():
  tb = STDERR + "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: x\n"
  ok, lines = faults.one_line(tb, "error:")
  assert not ok and len(lines) == 4 and lines[1].startswith("Traceback")
  # A plain line right after a one-line record is the user's, not the record's.
  ok, lines = faults.one_line("I1202 1 x.py:1] done\nwarning: x\nstopped: y\n", "stopped:")
  assert not ok and lines == ["warning: x", "stopped: y"]
  assert faults.message_lines("\n  \n") == []


def test_warning_lines_are_plain_or_absl_warnings():
  assert faults.warning_lines(STDERR + "warning: plain\n") == [
      "warning: the checkpoint of step 40 is damaged: moved it", "warning: plain"]
  assert faults.warning_lines("I1202 1 a.py:1] warning: info is not a warning\n") == []


# --------------------------------------------------------------------------- steps lost


def _workdir(tmp_path, steps, ckpts, torn=False):
  w = tmp_path / "w"
  (w / "checkpoints").mkdir(parents=True)
  with open(w / "metrics.jsonl", "w") as f:
    for s in steps:
      f.write(json.dumps({"step": s, "d_loss": 1.0}) + "\n")
    if torn:
      f.write('{"step": 99, "d_lo')  # SIGKILL in the middle of a row.
  for c in ckpts:
    (w / "checkpoints" / str(c)).mkdir()
  return str(w)


def test_steps_lost_is_last_row_minus_newest_checkpoint(tmp_path):
  w = _workdir(tmp_path, range(1, 18), [5, 10, 15], torn=True)
  (tmp_path / "w" / "checkpoints" / "20.orbax-checkpoint-tmp-1").mkdir()  # Unfinished save.
  (tmp_path / "w" / "checkpoints" / "25").write_text("")  # A file, not a checkpoint.
  assert faults.metrics_steps(w)[-1] == 17
  assert faults.checkpoint_steps(w) == [5, 10, 15]
  assert faults.steps_lost(w) == (17, 15, 2)


def test_steps_lost_without_checkpoints_or_metrics(tmp_path):
  assert faults.steps_lost(_workdir(tmp_path, [1, 2, 3], [])) == (3, 0, 3)
  assert faults.steps_lost(str(tmp_path / "nothing")) == (0, 0, 0)


# --------------------------------------------------------------------------- files


def test_flip_byte_changes_exactly_one_byte_and_tree_hashes_see_it(tmp_path):
  (tmp_path / "ck" / "d").mkdir(parents=True)
  data = bytes(range(256)) * 4
  (tmp_path / "ck" / "d" / "big").write_bytes(data)
  (tmp_path / "ck" / "small").write_bytes(b"abc")
  root = str(tmp_path / "ck")
  before = faults.tree_hashes(root)
  assert sorted(before) == [os.path.join("d", "big"), "small"]
  path = faults.largest_file(root)
  assert path.endswith(os.path.join("d", "big"))
  assert faults.flip_byte(path) == len(data) // 2
  new = (tmp_path / "ck" / "d" / "big").read_bytes()
  diff = [i for i in range(len(data)) if new[i] != data[i]]
  assert diff == [512] and new[512] == data[512] ^ 0xFF
  after = faults.tree_hashes(root)
  assert faults.lost_files(before, after) == [os.path.join("d", "big") + " (changed)"]
  faults.flip_byte(path, 512)  # Flipped back: the same bytes again.
  assert faults.tree_hashes(root) == before


def test_lost_files_ignores_new_files_and_names_gone_ones(tmp_path):
  (tmp_path / "a").write_text("1")
  (tmp_path / "b").write_text("2")
  before = faults.tree_hashes(str(tmp_path))
  (tmp_path / "b").unlink()
  (tmp_path / "c").write_text("new")
  assert faults.lost_files(before, faults.tree_hashes(str(tmp_path))) == ["b (gone)"]
  assert faults.tree_hashes(str(tmp_path / "a")) == {"": before["a"]}


def test_truncate_file(tmp_path):
  p = tmp_path / "f"
  p.write_bytes(b"x" * 101)
  assert faults.truncate_file(str(p)) == 50 and p.stat().st_size == 50
  assert faults.truncate_file(str(p), 7) == 7 and p.read_bytes() == b"x" * 7


def test_identical_compares_paths_dtypes_and_bits():
  import numpy as np
  a = {".g": np.arange(3, dtype=np.float32), ".step": np.int32(4)}
  assert faults.identical(a, dict(a))
  assert not faults.identical(a, {".g": np.arange(3, dtype=np.float64), ".step": np.int32(4)})
  assert not faults.identical(a, {".g": np.arange(3, dtype=np.float32) + 1e-7,
                                  ".step": np.int32(4)})
  assert not faults.identical(a, {".g": a[".g"]})
  assert faults.differing(a, {".g": a[".g"] * 2, ".x": a[".g"]}) == [".g", ".step", ".x"]


def test_code_fingerprint_sees_an_edit(tmp_path):
  (tmp_path / "ganjax" / "sub").mkdir(parents=True)
  (tmp_path / "experiments").mkdir()
  (tmp_path / "ganjax" / "sub" / "a.py").write_text("x = 1\n")
  (tmp_path / "ganjax" / "notes.txt").write_text("not code")
  before = faults.code_fingerprint(str(tmp_path))
  (tmp_path / "ganjax" / "notes.txt").write_text("still not code")
  assert faults.code_fingerprint(str(tmp_path)) == before
  (tmp_path / "ganjax" / "sub" / "a.py").write_text("x = 2\n")
  assert faults.code_fingerprint(str(tmp_path)) != before


# --------------------------------------------------------------------------- tables


def test_tables():
  summary = faults.summary_table([{"kind": "kill9", "trials": 3, "passed": 2,
                                   "figure": "steps lost max 6 | mean 2.0"}])
  assert summary.splitlines() == [
      "| kind | trials | passed | figure |", "|---|---|---|---|",
      "| kill9 | 3 | 2/3 | steps lost max 6 \\| mean 2.0 |"]
  cases = faults.cases_table([
      {"case": "width=0", "exit": 2, "lines": ["error: " + "w" * 200], "lost": []},
      {"case": "read-only", "skipped": "root"},
      {"case": "x", "exit": 1, "lines": [], "lost": ["ckpt (gone)"]}]).splitlines()
  assert cases[2] == f"| width=0 | 2 | 1 | yes | error: {'w' * 93} |"
  assert cases[3] == "| read-only | - | - | - | skipped (root) |"
  assert cases[4] == "| x | 1 | 0 | no: ckpt (gone) |  |"


def test_summarize_a_signal_kind_and_bad_inputs():
  trials = [
      {"passed": True, "exit": 143, "steps_lost": 0, "identical": True, "late": False},
      {"passed": False, "exit": 1, "steps_lost": 3, "identical": False, "late": False},
      {"passed": True, "exit": 0, "steps_lost": 0, "identical": True, "late": True}]
  s = faults.summarize("sigterm", trials)
  assert (s["trials"], s["passed"]) == (3, 2)
  assert s["figure"] == ("steps lost max 3 / mean 1.5; exit 143 1/2; bit-identical 2/3; "
                         "1 after the end")
  cases = [{"case": "a", "passed": True, "exit": 2, "lines": ["error: a"], "lost": []},
           {"case": "b", "passed": False, "exit": 0, "lines": [], "lost": ["x (gone)"]},
           {"case": "ro", "passed": None, "skipped": "root"}]
  s = faults.summarize("bad_input", cases)
  assert (s["trials"], s["passed"]) == (2, 1)
  assert s["figure"] == ("exit 2 1/2; one line 1/2; nothing lost 1/2; skipped: ro (root)")


def test_parse_kinds_and_exit_status():
  assert faults.parse_kinds("") == list(faults.KINDS)
  assert faults.parse_kinds("sigterm,corrupt,sigterm") == [
      "sigterm", "corrupt_flip", "corrupt_truncate"]
  with pytest.raises(ValueError, match="unknown kind 'kil9'"):
    faults.parse_kinds("kil9")
  assert faults.exit_status(-signal.SIGKILL) == 137
  assert faults.exit_status(-signal.SIGTERM) == 143 and faults.exit_status(3) == 3


def test_the_command_is_the_tiny_config():
  bench = faults.Bench("/tmp/unused", data_dir="/data")
  argv = bench.train_argv("/w", bench.overrides(width=0))
  assert argv[1:5] == ["-m", "experiments.dcgan", f"--config={faults.CONFIG}", "--workdir=/w"]
  assert "--config.width=0" in argv and "--config.data_dir=/data" in argv
  assert "--config.num_steps=40" in argv and "--config.log_every=1" in argv
  assert bench.env["JAX_PLATFORMS"] == "cpu"


# --------------------------------------------------------------------------- one real trial


def _base(tmp_path):
  base = tmp_path / "base"
  (base / "checkpoints" / "5").mkdir(parents=True)
  (base / "checkpoints" / "5" / "data").write_bytes(b"\x00" * 64)
  (base / "metrics.jsonl").write_text('{"step": 5}\n')
  return str(base)


def test_a_bad_input_trial_against_the_real_cli(tmp_path, data_dir):
  bench = faults.Bench(str(tmp_path), data_dir=data_dir, timeout=200, log=lambda s: None)
  r = faults.bad_input_case(bench, "unknown config key", {"no_such_field": 1}, _base(tmp_path))
  assert (r["exit"], r["lost"], r["passed"]) == (2, [], True), r
  assert len(r["lines"]) == 1 and "no_such_field" in r["lines"][0], r


def test_a_bad_input_case_the_cli_mishandles_is_a_failure(tmp_path, monkeypatch):
  bench = faults.Bench(str(tmp_path), log=lambda s: None)
  seen = []

  def run(argv, logs):  # The CLI as it might fail: a traceback, exit 1, a checkpoint gone.
    seen.append(argv)
    workdir = argv[4].split("=", 1)[1]
    os.remove(os.path.join(workdir, "checkpoints", "5", "data"))
    return faults.Run(1, "", "I1202 1 a.py:1] config:\nx: 1\n\nTraceback (most recent call "
                      "last):\nZeroDivisionError: integer division or modulo by zero\n", 1.0)

  monkeypatch.setattr(bench, "run", run)
  base = _base(tmp_path)
  r = faults.bad_input_case(bench, "log_every=0", {"log_every": 0}, base)
  assert "--config.log_every=0" in seen[0] and seen[0][4] != f"--workdir={base}"
  assert os.path.exists(os.path.join(base, "checkpoints", "5", "data"))  # Only the copy.
  assert r["passed"] is False and r["exit"] == 1 and len(r["lines"]) == 2
  assert r["lost"] == [os.path.join("checkpoints", "5", "data") + " (gone)"]
  assert r["reasons"] == ["exit 1, not 2", "2 message lines, not one 'error:' line",
                          f"files lost or changed: {r['lost'][0]}"]
  if os.geteuid() == 0:
    assert faults.bad_input_case(bench, "ro", {"__workdir__": "readonly"})["skipped"] == "root"
