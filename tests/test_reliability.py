"""Training that survives signals, divergence and a second run on the same work directory."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from ganjax import train, workdir_lock
from ganjax.checkpoint import CheckpointError
from ganjax.interrupts import Interrupted, StopRequests
from ganjax.restore import load_trained
from experiments.configs import gan
from conftest import shrink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _steps(workdir):
  return sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())


# --------------------------------------------------------------------------- signals


def test_a_signal_only_records_itself_and_a_second_one_acts():
  # Python's own SIGINT handler, as in a terminal: a test worker may have inherited SIGINT
  # ignored, and then nothing would act on the second signal.
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with StopRequests() as stop:
      os.kill(os.getpid(), signal.SIGINT)
      assert stop.requested == signal.SIGINT  # No KeyboardInterrupt inside the block.
      with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)  # The second one: the handler from before.
  finally:
    signal.signal(signal.SIGINT, previous)
  assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_stop_request_saves_the_last_complete_step_and_resumes_exactly(
    tmp_path, data_dir, monkeypatch):
  c = shrink(gan.get_config(), data_dir, num_steps=6, checkpoint_every=100, log_every=100,
             sample_every=100)
  full = train.train_and_evaluate(shrink(gan.get_config(), data_dir, num_steps=6),
                                  str(tmp_path / "full"))
  # SIGTERM arrives during step 3 (here: raised from inside the input pipeline).
  real_batches = train.input_batches

  def batches(config, **kwargs):
    for i, b in enumerate(real_batches(config, **kwargs)):
      if i == 2:
        os.kill(os.getpid(), signal.SIGTERM)
      yield b

  monkeypatch.setattr(train, "input_batches", batches)
  with pytest.raises(Interrupted) as e:
    train.train_and_evaluate(c, str(tmp_path / "cut"))
  assert (e.value.step, e.value.saved, e.value.exit_code) == (3, True, 143)
  assert str(e.value) == ("stopped by SIGTERM: saved the checkpoint of step 3; rerun the same "
                          "command to resume")
  assert _steps(tmp_path / "cut") == [3]
  monkeypatch.setattr(train, "input_batches", real_batches)
  resumed = train.train_and_evaluate(c, str(tmp_path / "cut"))
  for a, b in zip(jax.tree.leaves(jax.device_get(full)), jax.tree.leaves(jax.device_get(resumed))):
    np.testing.assert_array_equal(a, b)


def test_sigterm_to_the_cli_saves_and_exits_143_in_one_line(tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="true", JAX_PLATFORMS="cpu",
             GANJAX_COMPILATION_CACHE="0")
  proc = subprocess.Popen(
      [sys.executable, "-m", "experiments.gan", "--config=experiments/configs/gan.py",
       f"--workdir={workdir}", f"--config.data_dir={data_dir}", "--config.num_steps=100000",
       "--config.log_every=10", "--config.checkpoint_every=100000", "--config.batch_size=8",
       "--config.hidden=(16,)", "--config.latent_dim=8"],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and not os.path.exists(os.path.join(workdir, "metrics.jsonl")):
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-2000:]
  lines = [l for l in err.splitlines() if l.startswith("stopped:")]
  assert len(lines) == 1 and "stopped by SIGTERM: saved the checkpoint of step" in lines[0]
  assert "Traceback" not in err
  step = int(lines[0].split("step ")[1].split(";")[0])
  assert _steps(workdir) == [step] and step >= 10


# --------------------------------------------------------------------------- divergence


def test_divergence_stops_naming_the_step_and_keeps_the_good_checkpoints(tmp_path, data_dir):
  workdir = str(tmp_path)
  c = shrink(gan.get_config(), data_dir, num_steps=4, checkpoint_every=2, log_every=1)
  train.train_and_evaluate(c, workdir)  # Steps 2 and 4: good.
  c.num_steps, c.keep_checkpoints = 20, 2
  c.optimizer.g_learning_rate = c.optimizer.d_learning_rate = 1e30
  with pytest.raises(train.Diverged, match=r"^training diverged: .* non-finite at step \d+; no "
                     r"checkpoint was written from it, the newest is the checkpoint of step "):
    train.train_and_evaluate(c, workdir)
  _, state = load_trained(workdir)  # The newest checkpoint is finite, and loads.
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(jax.device_get(state)))


def test_a_non_finite_checkpoint_is_refused_by_sample_and_evaluate(tmp_path, data_dir):
  workdir = str(tmp_path)
  c = shrink(gan.get_config(), data_dir, num_steps=2, checkpoint_every=2)
  state = train.train_and_evaluate(c, workdir)
  from ganjax.checkpoint import Checkpointer
  poisoned = state.replace(step=state.step + 1, generator=state.generator.replace(
      params=jax.tree.map(lambda x: x * np.nan, state.generator.params)))
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), save_every=1)
  ckpt.save(3, poisoned, force=True)
  ckpt.close()
  with pytest.raises(CheckpointError, match="step 3 .* non-finite values: that run diverged"):
    load_trained(workdir)


# --------------------------------------------------------------------------- one run per dir


def test_a_work_directory_holds_one_live_run(tmp_path, data_dir):
  workdir = str(tmp_path)
  c = shrink(gan.get_config(), data_dir, num_steps=2)
  with workdir_lock.hold(workdir):  # A live run (this very process) holds it.
    with pytest.raises(workdir_lock.WorkdirBusyError, match="already in use"):
      train.train_and_evaluate(c, workdir)
  other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    with open(os.path.join(workdir, "lock"), "w") as f:
      json.dump({"pid": other.pid, "host": socket.gethostname(), "started": "then"}, f)
    with pytest.raises(workdir_lock.WorkdirBusyError,
                       match=rf"in use by process {other.pid} on .* delete .*lock"):
      train.train_and_evaluate(c, workdir)
  finally:
    other.kill()
    other.wait()
  # Now the lock's process is dead: a stale lock is taken over, and released at the end.
  assert int(train.train_and_evaluate(c, workdir).step) == 2
  assert not os.path.exists(os.path.join(workdir, "lock"))


# --------------------------------------------------------------------------- damaged checkpoints


def _largest_file(directory):
  files = [os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs]
  return max(files, key=os.path.getsize)


def _assert_same(a, b):
  for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))):
    np.testing.assert_array_equal(x, y)


def test_checksums_catch_array_data_that_orbax_reads_without_complaint(tmp_path, data_dir):
  from ganjax.checkpoint import Checkpointer
  state = train.create_state(shrink(gan.get_config(), data_dir), jax.random.key(0))
  ckpt = Checkpointer(str(tmp_path), save_every=1)
  ckpt.save(1, state, force=True)
  ckpt.wait()
  _assert_same(ckpt.restore(state), state)
  # Damage that reads back cleanly: one array's recorded CRC no longer matches its data.
  path = tmp_path / "1" / "checksums" / "metadata"
  with open(path) as f:
    sums = json.load(f)
  key = sorted(sums["crc32"])[0]
  sums["crc32"][key] ^= 1
  with open(path, "w") as f:
    json.dump(sums, f)
  with pytest.raises(CheckpointError, match=rf"step 1 .*: array data of {re.escape(key)} "
                     r"differ from their checksums\. It is corrupt"):
    ckpt.restore(state)
  ckpt.close()


def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_from_an_intact_one(
    tmp_path, data_dir, caplog):
  full = train.train_and_evaluate(shrink(gan.get_config(), data_dir, num_steps=8),
                                  str(tmp_path / "full"))
  workdir = tmp_path / "run"
  c = shrink(gan.get_config(), data_dir, num_steps=6, keep_checkpoints=3)
  train.train_and_evaluate(c, str(workdir))
  path = _largest_file(workdir / "checkpoints" / "6" / "default")
  with open(path, "r+b") as f:  # One flipped byte in the middle of the array data.
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0xFF]))
  damaged = open(path, "rb").read()
  c.num_steps = 8
  with caplog.at_level("WARNING"):
    resumed = train.train_and_evaluate(c, str(workdir))
  assert re.search(r"warning: the checkpoint of step 6 is damaged \(.+\): moved it to "
                   r".*damaged_checkpoints/6; resuming from step 4", caplog.text)
  kept = workdir / "damaged_checkpoints" / "6" / os.path.relpath(
      path, workdir / "checkpoints" / "6")
  assert open(kept, "rb").read() == damaged  # Kept as it was, for a post-mortem.
  assert _steps(workdir) == [4, 6, 8]
  _assert_same(resumed, full)  # Steps 5-8 redone: exactly the uninterrupted run.


def test_when_no_checkpoint_restores_nothing_is_called_damaged_or_moved(tmp_path, data_dir):
  workdir = str(tmp_path)
  train.train_and_evaluate(shrink(gan.get_config(), data_dir, num_steps=4), workdir)
  c = shrink(gan.get_config(), data_dir, num_steps=6, hidden=(32,))  # Other widths.
  with pytest.raises(CheckpointError, match="step 4 .* different config"):
    train.train_and_evaluate(c, workdir)
  assert _steps(workdir) == [2, 4]
  assert not os.path.exists(os.path.join(workdir, "damaged_checkpoints"))


# --------------------------------------------------------------------------- resume records


def test_a_resume_names_the_changed_fields_and_keeps_every_runs_config(
    tmp_path, data_dir, caplog):
  workdir = str(tmp_path)
  c = shrink(gan.get_config(), data_dir, num_steps=2)
  train.train_and_evaluate(c, workdir)
  c.num_steps, c.optimizer.g_learning_rate = 4, 1e-3
  with caplog.at_level("WARNING"):
    train.train_and_evaluate(c, workdir)
  assert ("resuming from step 2 with changed fields: num_steps 2 -> 4, "
          "optimizer.g_learning_rate 0.0002 -> 0.001") in caplog.text
  with open(os.path.join(workdir, "config_history.jsonl")) as f:
    runs = [json.loads(line) for line in f]
  assert [r["started_at_step"] for r in runs] == [0, 2]
  assert runs[0]["changed"] == {} and runs[0]["config"]["optimizer"]["g_learning_rate"] == 2e-4
  assert runs[1]["changed"] == {"num_steps": [2, 4], "optimizer.g_learning_rate": [2e-4, 1e-3]}
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f) == runs[1]["config"]  # The latest run's, for sample and evaluate.


def test_metrics_have_one_row_per_logged_step_after_a_resume(tmp_path, data_dir):
  workdir = str(tmp_path)
  c = shrink(gan.get_config(), data_dir, num_steps=6, log_every=1, checkpoint_every=4)
  train.train_and_evaluate(c, workdir)
  # As if killed after logging step 6 but before its checkpoint: steps 5 and 6 are redone.
  import shutil
  shutil.rmtree(os.path.join(workdir, "checkpoints", "6"))
  with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
    f.write('{"step": 7, "d_lo')  # And a row torn by the kill.
  train.train_and_evaluate(c, workdir)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert [json.loads(line)["step"] for line in f] == [1, 2, 3, 4, 5, 6]


def test_sample_and_evaluate_skip_a_damaged_newest_checkpoint(tmp_path, data_dir, caplog):
  workdir = str(tmp_path)
  train.train_and_evaluate(shrink(gan.get_config(), data_dir, num_steps=4), workdir)
  shutil.rmtree(os.path.join(workdir, "checkpoints", "4", "default"))  # Array data gone.
  with caplog.at_level("WARNING"):
    _, state = load_trained(workdir)
  assert int(state.step) == 2
  assert "warning: skipping the damaged checkpoint of step 4 (" in caplog.text
  assert _steps(workdir) == [2, 4]  # Left in place: only training sets checkpoints aside.
  with pytest.raises(CheckpointError, match="step 4"):
    load_trained(workdir, step=4)  # A step asked for by name is that step or an error.


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("field,value,message", [
    ("log_every", 0, "log_every must be >= 1, got 0"),
    ("sample_every", 0, "sample_every must be >= 1, got 0"),
    ("checkpoint_every", -1, "checkpoint_every must be >= 1, got -1"),
    ("keep_checkpoints", 0, "keep_checkpoints must be >= 1, got 0"),
    ("num_sample_images", 0, "num_sample_images must be >= 1, got 0"),
    ("batch_size", 0, "batch_size must be >= 1, got 0"),
    ("num_steps", -1, "num_steps must be >= 0, got -1"),
    ("ema_decay", float("nan"), "ema_decay must be in [0, 1), got nan"),
    ("optimizer.g_learning_rate", -1.0, "optimizer.g_learning_rate must be > 0, got -1.0"),
    ("optimizer.b2", 1.0, "optimizer.b2 must be in [0, 1), got 1.0"),
    ("width", 0, "width must be >= 1, got 0"),
    ("latent_dim", 0, "latent_dim must be >= 1, got 0"),
    ("resolution", 20, "resolution must be one of 16, 32, 64, 128, got 20"),
])
def test_every_config_value_is_checked_before_anything_compiles(field, value, message):
  from experiments.configs import dcgan
  c = dcgan.get_config()
  *parents, name = field.split(".")
  node = c
  for p in parents:
    node = node[p]
  node[name] = value
  with pytest.raises(train.ConfigError, match=re.escape(message)):
    train.check_config(c)


def test_a_work_directory_that_is_a_file_or_unwritable_is_one_line(tmp_path, data_dir,
                                                                     monkeypatch):
  c = shrink(gan.get_config(), data_dir)
  path = tmp_path / "file"
  path.write_text("mine")
  with pytest.raises(train.ConfigError, match=r"^the work directory .*file is a file: pass"):
    train.train_and_evaluate(c, str(path))
  assert path.read_text() == "mine"
  real_open = open

  def read_only(file, mode="r", *args, **kwargs):  # As a read-only or full file system does.
    if "w" in mode:
      raise PermissionError(13, "Permission denied")
    return real_open(file, mode, *args, **kwargs)

  monkeypatch.setattr("builtins.open", read_only)
  with pytest.raises(train.ConfigError, match=r"^cannot write to the work directory .*: "
                     r"Permission denied$"):
    train.train_and_evaluate(c, str(tmp_path / "run"))


def test_a_data_dir_that_is_a_file_is_one_line(tmp_path):
  from ganjax import data
  path = tmp_path / "file"
  path.write_text("")
  with pytest.raises(data.DatasetNotFoundError, match=r"^data_dir .* is a file"):
    data.info("digits", data_dir=str(path))


def test_a_full_disk_is_one_line_exit_2_and_the_rerun_resumes(tmp_path, data_dir):
  import resource

  def small_files():  # A file-size limit: every write past 3 kB fails, as on a full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

  workdir = str(tmp_path / "run")
  args = [sys.executable, "-m", "experiments.gan", "--config=experiments/configs/gan.py",
          f"--workdir={workdir}", f"--config.data_dir={data_dir}", "--config.num_steps=4",
          "--config.checkpoint_every=2", "--config.batch_size=8", "--config.hidden=(16,)",
          "--config.latent_dim=8", "--config.log_every=1"]
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANJAX_COMPILATION_CACHE="0")
  full = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                        preexec_fn=small_files)
  errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
  assert full.returncode == 2 and len(errors) == 1, full.stderr[-3000:]
  assert re.match(r"error: cannot write .*: File too large\. The newest complete checkpoint "
                  r"is kept: free space .* rerun the same command to resume$", errors[0])
  # Orbax's abandoned writes are not reported one by one (TensorStore's own threads still
  # print a few "Event loop is closed" tracebacks, out of Python's reach).
  assert "Exception ignored" not in full.stderr
  again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert again.returncode == 0, again.stderr[-3000:]
  assert _steps(workdir) == [2, 4]
