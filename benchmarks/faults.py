"""Fault injection against the real training CLI: what a signal, a crash, a bad input cost.

  python -m benchmarks.faults                    # the matrix: 7 trials per signal kind, 3 per
                                                 # other kind (~20 min on 2 cores)
  python -m benchmarks.faults --trials=1         # one trial of every kind (~6 min)
  python -m benchmarks.faults --kinds=sigterm,bad_input --trials=3 --json=faults.json

Every trial runs `python -m experiments.dcgan --config=experiments/configs/dcgan.py
--workdir=W --config.<field>=...` in a subprocess (JAX_PLATFORMS=cpu, the environment
passed through) on a tiny config (TINY: 16x16 digits, width 8, batch 16, 40 steps, a
checkpoint every 5, a metrics row every step), one training process at a time (the
`concurrent` kind runs two, by design). The contract checked (README, "Stopping, resuming
and what can go wrong"):

  exit 0 finished; exit 2 a user error, exit 3 divergence, 143 SIGTERM, 130 SIGINT, each
  with exactly one line on stderr besides absl's log records ("error: ...", "stopped: ...");
  rerunning the same command resumes and ends bit-identical to an uninterrupted run.

Kinds (one table row each):

  kill9, sigterm, sigint   signal at a uniform random time after the first metrics row
                           (over the reference run's training window), then the same
                           command to the end: steps lost (last metrics row - newest
                           checkpoint), exit code and line, final state bit-identical. A
                           signal that lands after the last step is counted "after the end".
  diverge                  g_learning_rate=1e30, alternately resumed on a copy of a finished
                           run (its checkpoints must stay) and from scratch: exit 3 in one
                           line naming the step, every checkpoint left finite, and what
                           `experiments.sample` does with the work directory.
  concurrent               a second run on a live run's work directory (LONG_STEPS steps):
                           exit 2 in one line, and the first run still ends bit-identical.
  corrupt_flip,            a finished run's newest checkpoint damaged (one byte flipped /
  corrupt_truncate         the file cut, in its largest file), then 10 more steps: the damage
                           named in a "warning:" line, the checkpoint kept in
                           <workdir>/damaged_checkpoints/<step>, the run bit-identical to an
                           uninterrupted one. (`--kinds=corrupt` runs both.)
  bad_input                BAD_INPUTS, each once on a copy of a finished work directory:
                           exit 2, one "error:" line, every file that was there unchanged.

Final states are compared leaf by leaf (np.array_equal) after ganjax.restore.load_trained
in this process. The printed report: the config, machine, wall time, the table, the
bad-input cases and every failure with the stderr line that shows it. Exit 1 when any
trial failed: a case the CLI does not handle yet shows up here, on purpose.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "experiments/configs/dcgan.py"

# The tiny run every trial starts from (`--config.<field>=<value>`).
TINY = {
    "resolution": 16, "width": 8, "batch_size": 16, "latent_dim": 8, "num_steps": 40,
    "checkpoint_every": 5, "keep_checkpoints": 3, "log_every": 1, "sample_every": 1000,
    "num_sample_images": 4,
}
LONG_STEPS = 300   # `concurrent`: run A must outlive run B's start-up (~8 s on 2 cores).
MORE_STEPS = 10    # `corrupt`: the rerun trains this many steps past the finished run.

SIGNAL_KINDS = {"kill9": signal.SIGKILL, "sigterm": signal.SIGTERM, "sigint": signal.SIGINT}
KINDS = ("kill9", "sigterm", "sigint", "diverge", "concurrent", "corrupt_flip",
         "corrupt_truncate", "bad_input")
ALIASES = {"corrupt": ("corrupt_flip", "corrupt_truncate")}

# name -> (overrides of TINY, or a special: "file_workdir" / "readonly_workdir" / a list of
# extra argv replacing --config). Each must exit 2 in one line and change no file.
BAD_INPUTS = (
    ("unknown config key", {"no_such_field": 1}),
    ("unknown variant", {"__config__": f"{CONFIG}:nope"}),
    ("log_every=0", {"log_every": 0}),
    ("sample_every=0", {"sample_every": 0}),
    ("checkpoint_every=0", {"checkpoint_every": 0}),
    ("keep_checkpoints=0", {"keep_checkpoints": 0}),
    ("width=0", {"width": 0}),
    ("resolution=20", {"resolution": 20}),
    ("latent_dim=0", {"latent_dim": 0}),
    ("batch_size=0", {"batch_size": 0}),
    ("optimizer.g_learning_rate=-1", {"optimizer.g_learning_rate": -1}),
    ("num_sample_images=0", {"num_sample_images": 0}),
    ("workdir is a regular file", {"__workdir__": "file"}),
    ("read-only workdir", {"__workdir__": "readonly"}),
    ("data_dir is a file", {"data_dir": "__file__"}),
    ("dataset=no_such_dataset", {"dataset": "no_such_dataset"}),
    ("resume with resolution=32", {"resolution": 32}),
)

_ABSL = re.compile(r"^[IWEF]\d{4} ")


# --------------------------------------------------------------------------- pure helpers


def message_lines(stderr: str) -> list[str]:
  """The non-empty lines of stderr that are not absl log records: what a user reads.

  A line matching absl's prefix (r"^[IWEF]\\d{4} ") is a log record. A record whose
  message ends with ":" (e.g. `config:`) continues over the following lines up to the
  first blank line or the next record (the config dump); those lines are its own, too.
  Every other non-empty line counts.
  """
  out, in_block = [], False
  for line in stderr.splitlines():
    if _ABSL.match(line):
      in_block = line.rstrip().endswith(":")
      continue
    if not line.strip():
      in_block = False
      continue
    if not in_block:
      out.append(line.rstrip())
  return out


def one_line(stderr: str, prefix: str) -> tuple[bool, list[str]]:
  """(exactly one message line and it starts with `prefix`, the message lines)."""
  lines = message_lines(stderr)
  return len(lines) == 1 and lines[0].startswith(prefix), lines


def warning_lines(stderr: str) -> list[str]:
  """The warnings on stderr: plain lines starting "warning:", and absl WARNING records whose
  message starts "warning:" (returned as the message)."""
  out = []
  for line in stderr.splitlines():
    if line.startswith("warning:"):
      out.append(line.rstrip())
    elif line.startswith("W") and _ABSL.match(line) and "] " in line:
      message = line.split("] ", 1)[1]
      if message.startswith("warning:"):
        out.append(message.rstrip())
  return out


def metrics_steps(workdir: str) -> list[int]:
  """The `step` of every complete row of <workdir>/metrics.jsonl (a torn last row skipped)."""
  path = os.path.join(workdir, "metrics.jsonl")
  steps = []
  try:
    with open(path) as f:
      for line in f:
        try:
          steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError, TypeError):
          continue
  except FileNotFoundError:
    pass
  return steps


def checkpoint_steps(workdir: str) -> list[int]:
  """The numeric subdirectories of <workdir>/checkpoints, ascending."""
  try:
    names = os.listdir(os.path.join(workdir, "checkpoints"))
  except (FileNotFoundError, NotADirectoryError):
    return []
  return sorted(int(n) for n in names
                if n.isdigit() and os.path.isdir(os.path.join(workdir, "checkpoints", n)))


def steps_lost(workdir: str) -> tuple[int, int, int]:
  """(last step with a metrics row, newest checkpoint's step or 0, the first minus the second)."""
  rows, ckpts = metrics_steps(workdir), checkpoint_steps(workdir)
  last = rows[-1] if rows else 0
  saved = ckpts[-1] if ckpts else 0
  return last, saved, last - saved


def file_hash(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def tree_hashes(root: str) -> dict[str, str]:
  """{path relative to root: sha256} of every regular file under root ({"": hash} for a file)."""
  if os.path.isfile(root):
    return {"": file_hash(root)}
  out = {}
  for dirpath, _, files in os.walk(root):
    for name in files:
      path = os.path.join(dirpath, name)
      if os.path.isfile(path) and not os.path.islink(path):
        out[os.path.relpath(path, root)] = file_hash(path)
  return out


def lost_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
  """The files of `before` missing or changed in `after` ("path (gone)" / "path (changed)")."""
  return [f"{p} ({'gone' if p not in after else 'changed'})"
          for p, h in sorted(before.items()) if after.get(p) != h]


def largest_file(directory: str) -> str:
  """The largest regular file under `directory` (ties: the first path in sorted order)."""
  best, size = None, -1
  for dirpath, _, files in sorted(os.walk(directory)):
    for name in sorted(files):
      path = os.path.join(dirpath, name)
      s = os.path.getsize(path)
      if s > size:
        best, size = path, s
  if best is None:
    raise FileNotFoundError(f"no file under {directory}")
  return best


def flip_byte(path: str, offset: int | None = None) -> int:
  """XORs one byte of `path` with 0xFF (default: the middle one); returns its offset."""
  size = os.path.getsize(path)
  if size == 0:
    raise ValueError(f"{path} is empty: no byte to flip")
  offset = size // 2 if offset is None else offset
  with open(path, "r+b") as f:
    f.seek(offset)
    b = f.read(1)
    f.seek(offset)
    f.write(bytes([b[0] ^ 0xFF]))
  return offset


def truncate_file(path: str, size: int | None = None) -> int:
  """Cuts `path` to `size` bytes (default: half of it); returns the new size."""
  size = os.path.getsize(path) // 2 if size is None else size
  with open(path, "r+b") as f:
    f.truncate(size)
  return size


def code_fingerprint(root: str = ROOT) -> str:
  """A hash of every .py file under ganjax/ and experiments/: the code the trials run.

  Taken before and after the matrix: a reference run and a trial made with different code
  need not be bit-identical, so an edit during the run is named in the report.
  """
  h = hashlib.sha256()
  for top in ("ganjax", "experiments"):
    for dirpath, dirnames, files in os.walk(os.path.join(root, top)):
      dirnames.sort()
      for name in sorted(f for f in files if f.endswith(".py")):
        path = os.path.join(dirpath, name)
        h.update(os.path.relpath(path, root).encode() + b"\0" + file_hash(path).encode())
  return h.hexdigest()[:12]


def cell(text) -> str:
  """A value as one Markdown table cell: no newlines, '|' escaped."""
  return str(text).replace("\n", " ").replace("|", "\\|")


def markdown_table(columns, rows) -> str:
  out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(out)


def summary_table(summaries: list[dict]) -> str:
  """One row per kind: kind, trials, passed, figure."""
  return markdown_table(("kind", "trials", "passed", "figure"),
                        [(s["kind"], s["trials"], f"{s['passed']}/{s['trials']}", s["figure"])
                         for s in summaries])


def cases_table(cases: list[dict]) -> str:
  """One row per bad input: case, exit, message lines, nothing lost, its first line."""
  rows = []
  for c in cases:
    if c.get("skipped"):
      rows.append((c["case"], "-", "-", "-", f"skipped ({c['skipped']})"))
      continue
    first = c["lines"][0] if c["lines"] else ""
    rows.append((c["case"], c["exit"], len(c["lines"]), "yes" if not c["lost"] else
                 f"no: {', '.join(c['lost'][:3])}", first[:100]))
  return markdown_table(("case", "exit", "lines", "nothing lost", "line"), rows)


def k_of(flags: list[bool]) -> str:
  return f"{sum(bool(f) for f in flags)}/{len(flags)}"


def lost_figure(values: list[int]) -> str:
  if not values:
    return "steps lost -"
  return f"steps lost max {max(values)} / mean {statistics.mean(values):.1f}"


# --------------------------------------------------------------------------- runs


@dataclasses.dataclass
class Run:
  """A finished subprocess: its exit status (128 + signal when a signal killed it)."""
  exit: int
  stdout: str
  stderr: str
  seconds: float
  timed_out: bool = False


def exit_status(returncode: int) -> int:
  """Popen's returncode as a shell reports it: -N (killed by signal N) -> 128 + N."""
  return 128 - returncode if returncode < 0 else returncode


class Bench:
  """Builds and runs the CLI commands of the trials under `root`."""

  def __init__(self, root: str, *, data_dir: str = "", timeout: float = 300,
               rng: random.Random | None = None, log=print):
    self.root = root
    self.data_dir = data_dir
    self.timeout = timeout
    self.rng = rng or random.Random(0)
    self.log = log
    self.env = dict(os.environ, JAX_PLATFORMS="cpu")
    self._refs: dict[int, dict] = {}
    self._n = 0
    self._live: dict[subprocess.Popen, float] = {}  # Running subprocess -> start time.

  def fresh(self, name: str) -> str:
    """A new directory under root for one trial."""
    self._n += 1
    path = os.path.join(self.root, f"{self._n:03d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}")
    os.makedirs(path)
    return path

  def overrides(self, **changes) -> dict:
    o = dict(TINY)
    if self.data_dir:
      o["data_dir"] = self.data_dir
    o.update(changes)
    return o

  def train_argv(self, workdir: str, overrides: dict, config: str = CONFIG) -> list[str]:
    return ([sys.executable, "-m", "experiments.dcgan", f"--config={config}",
             f"--workdir={workdir}"] + [f"--config.{k}={v}" for k, v in overrides.items()])

  def start(self, argv: list[str], logs: str) -> tuple[subprocess.Popen, str, str]:
    """Starts argv in the checkout with stdout/stderr to files `logs`.out/.err."""
    out, err = logs + ".out", logs + ".err"
    with open(out, "w") as fo, open(err, "w") as fe:
      # Its own session: a Ctrl-C to this script is not also a signal to the trial.
      proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=fo, stderr=fe,
                              start_new_session=True)
    self._live[proc] = time.time()
    return proc, out, err

  def finish(self, proc, out: str, err: str, timeout: float | None = None) -> Run:
    timeout = self.timeout if timeout is None else timeout
    timed_out = False
    try:
      proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      timed_out = True
      proc.kill()
      proc.wait()
    t0 = self._live.pop(proc)
    with open(out, errors="replace") as f:
      stdout = f.read()
    with open(err, errors="replace") as f:
      stderr = f.read()
    if timed_out:  # Shows in the trial's lines and reasons.
      stderr += f"\nfaults: killed after the --timeout of {timeout:.0f} s\n"
    return Run(exit_status(proc.returncode), stdout, stderr, time.time() - t0, timed_out)

  def kill_all(self):
    """Kills every subprocess still running (this script is stopping)."""
    for proc in list(self._live):
      if proc.poll() is None:
        proc.kill()
        proc.wait()
      self._live.pop(proc, None)

  def run(self, argv: list[str], logs: str) -> Run:
    return self.finish(*self.start(argv, logs))

  def wait_for_row(self, proc, workdir: str, step: int | None = None,
                   timeout: float | None = None) -> float | None:
    """Time when metrics.jsonl first has a row (of `step`, if given); None if proc ended first."""
    deadline = time.time() + (self.timeout if timeout is None else timeout)
    while time.time() < deadline:
      steps = metrics_steps(workdir)
      if steps and (step is None or step in steps):
        return time.time()
      if proc.poll() is not None:
        return None
      time.sleep(0.01)
    return None

  # ------------------------------------------------------------------ references

  def reference(self, num_steps: int) -> dict:
    """An uninterrupted run of num_steps (made once): its workdir, state, training window."""
    if num_steps in self._refs:
      return self._refs[num_steps]
    workdir = os.path.join(self.fresh(f"reference_{num_steps}"), "w")
    proc, out, err = self.start(self.train_argv(workdir, self.overrides(num_steps=num_steps)),
                                workdir + "_log")
    t_first = self.wait_for_row(proc, workdir)
    t_last = self.wait_for_row(proc, workdir, step=num_steps) if t_first else None
    run = self.finish(proc, out, err)
    ref = {"workdir": workdir, "run": run, "leaves": None, "error": None,
           "window_s": (t_last - t_first) if t_first and t_last else None}
    if run.exit != 0:
      ref["error"] = (f"the reference run of {num_steps} steps exited {run.exit}: "
                      f"{(message_lines(run.stderr) or ['?'])[-1][:200]}")
    else:
      try:
        ref["leaves"] = final_leaves(workdir)
      except Exception as e:  # noqa: BLE001
        ref["error"] = f"the reference run of {num_steps} steps does not load: {e!r:.200}"
    self.log(f"  reference {num_steps} steps: {run.seconds:.1f} s, exit {run.exit}, training "
             f"window {ref['window_s'] and round(ref['window_s'], 2)} s")
    self._refs[num_steps] = ref
    return ref


def final_leaves(workdir: str, step: int | None = None) -> dict:
  """{key path: numpy array} of every leaf of the work directory's latest (or given) state."""
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  import jax
  from ganjax.restore import load_trained
  _, state = load_trained(workdir, step)
  leaves, _ = jax.tree_util.tree_flatten_with_path(jax.device_get(state))
  return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def identical(leaves_a: dict, leaves_b: dict) -> bool:
  """The same leaf paths, and every leaf np.array_equal with the same dtype and shape.

  (Paths, not treedefs: two loads of one state differ in their treedefs' static callables,
  the optimizers built afresh.)
  """
  import numpy as np
  if list(leaves_a) != list(leaves_b):
    return False
  for k, x in leaves_a.items():
    x, y = np.asarray(x), np.asarray(leaves_b[k])
    if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
      return False
  return True


def differing(leaves_a: dict, leaves_b: dict) -> list[str]:
  """The leaf paths whose values (or dtypes, shapes, presence) differ."""
  import numpy as np
  out = sorted(set(leaves_a) ^ set(leaves_b))
  for k in leaves_a.keys() & leaves_b.keys():
    x, y = np.asarray(leaves_a[k]), np.asarray(leaves_b[k])
    if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
      out.append(k)
  return sorted(out)


def identical_to(workdir: str, ref: dict) -> tuple[bool, str]:
  """(bit-identical to the reference, why not: which leaves differ or why it does not load)."""
  try:
    leaves = final_leaves(workdir)
  except Exception as e:  # noqa: BLE001
    return False, f"final state does not load: {type(e).__name__}: {str(e)[:200]}"
  if identical(leaves, ref["leaves"]):
    return True, ""
  diff = differing(leaves, ref["leaves"])
  return False, (f"not bit-identical to the uninterrupted run: {len(diff)} of "
                 f"{len(ref['leaves'])} leaves differ, e.g. {', '.join(diff[:2])}")


# --------------------------------------------------------------------------- trials


def _fail(trial: dict, reason: str):
  trial.setdefault("reasons", []).append(reason)


def _done(trial: dict) -> dict:
  trial["passed"] = not trial.get("reasons")
  return trial


def signal_trial(bench: Bench, kind: str) -> dict:
  """Signal `kind` at a random time of the training window, then resume to the end."""
  sig = SIGNAL_KINDS[kind]
  ref = bench.reference(TINY["num_steps"])
  trial = {"kind": kind}
  if ref["error"]:
    _fail(trial, ref["error"])
    return _done(trial)
  workdir = os.path.join(bench.fresh(kind), "w")
  argv = bench.train_argv(workdir, bench.overrides())
  proc, out, err = bench.start(argv, workdir + "_log1")
  t_first = bench.wait_for_row(proc, workdir)
  if t_first is None:
    run = bench.finish(proc, out, err)
    _fail(trial, f"no metrics row before the run ended (exit {run.exit}): "
                 f"{(message_lines(run.stderr) or ['?'])[-1][:200]}")
    return _done(trial)
  delay = bench.rng.uniform(0, ref["window_s"] or 1.0)
  trial["delay_s"] = round(delay, 3)
  time.sleep(max(0.0, delay - (time.time() - t_first)))
  if proc.poll() is None:
    os.kill(proc.pid, sig)
  run = bench.finish(proc, out, err)
  last, saved, lost = steps_lost(workdir)
  trial.update(exit=run.exit, last_step=last, saved_step=saved, steps_lost=lost,
               lines=message_lines(run.stderr))
  late = run.exit == 0 and last == TINY["num_steps"]
  trial["late"] = late  # The signal came after training ended: nothing to resume.
  if kind == "kill9":
    if run.exit != 128 + sig and not late:
      _fail(trial, f"exit {run.exit}, not {128 + sig}")
  elif not late:
    code, name = 128 + sig, signal.Signals(sig).name
    if run.exit != code:
      _fail(trial, f"exit {run.exit}, not {code}")
    ok, lines = one_line(run.stderr, "stopped:")
    if not ok:
      _fail(trial, f"{len(lines)} message lines, not one 'stopped:' line: "
                   f"{' / '.join(lines)[:300]}")
    else:
      m = re.search(r"step (\d+)", lines[0])
      if name not in lines[0] or not m or int(m.group(1)) != saved:
        _fail(trial, f"the line does not name {name} and the saved step {saved}: {lines[0]}")
    if "Traceback" in run.stderr:
      _fail(trial, "a Traceback on stderr")
    if lost > 1:
      _fail(trial, f"{lost} steps lost (goal <= 1)")
  rerun = bench.run(argv, workdir + "_log2")
  trial["rerun_exit"] = rerun.exit
  if rerun.exit != 0:
    _fail(trial, f"rerun exit {rerun.exit}: {(message_lines(rerun.stderr) or ['?'])[-1][:200]}")
  else:
    same, why = identical_to(workdir, ref)
    trial["identical"] = same
    if not same:
      _fail(trial, "rerun " + why)
  return _done(trial)


def diverge_trial(bench: Bench, resumed: bool = True) -> dict:
  """g_learning_rate=1e30: resumed on a copy of a finished run (its good checkpoints must
  stay) or from scratch (it diverges before its first checkpoint)."""
  trial = {"kind": "diverge", "variant": "resumed" if resumed else "fresh"}
  workdir = os.path.join(bench.fresh("diverge"), "w")
  changes = {"optimizer.g_learning_rate": 1e30}
  good = []
  if resumed:
    ref = bench.reference(TINY["num_steps"])
    if ref["error"]:
      _fail(trial, ref["error"])
      return _done(trial)
    shutil.copytree(ref["workdir"], workdir, symlinks=True)
    good = checkpoint_steps(workdir)
    changes["num_steps"] = TINY["num_steps"] + 20
  run = bench.run(bench.train_argv(workdir, bench.overrides(**changes)), workdir + "_log")
  ok, lines = one_line(run.stderr, "error: training diverged")
  trial.update(exit=run.exit, lines=lines, checkpoints=checkpoint_steps(workdir))
  if run.exit != 3:
    _fail(trial, f"exit {run.exit}, not 3")
  if not ok:
    _fail(trial, f"{len(lines)} message lines, not one 'error: training diverged' line: "
                 f"{' / '.join(lines)[:300]}")
  elif not re.search(r"step \d+", lines[0]):
    _fail(trial, f"the line names no step: {lines[0]}")
  gone = sorted(set(good) - set(trial["checkpoints"]))
  if gone:
    _fail(trial, f"good checkpoints rotated out: {gone}")
  from ganjax.checkpoint import CheckpointError
  non_finite = []
  for step in trial["checkpoints"]:
    try:
      final_leaves(workdir, step)
    except CheckpointError as e:
      if "non-finite" in str(e):
        non_finite.append(step)
      else:
        trial.setdefault("unreadable", []).append(f"{step}: {str(e)[:150]}")
    except Exception as e:  # noqa: BLE001  (recorded; only a non-finite one fails the trial)
      trial.setdefault("unreadable", []).append(f"{step}: {type(e).__name__}: {str(e)[:150]}")
  trial["non_finite"] = non_finite
  if non_finite:
    _fail(trial, f"non-finite checkpoints on disk: {non_finite}")
  sample = bench.run([sys.executable, "-m", "experiments.sample", f"--workdir={workdir}",
                      "--num=4", f"--out={workdir}_sample.png"], workdir + "_sample")
  m = re.search(r"from step (\d+)", sample.stdout)
  s_ok, s_lines = one_line(sample.stderr, "error:")
  if sample.exit == 0 and m:
    trial["sample"] = f"used step {m.group(1)}"
  elif sample.exit == 2 and s_ok:
    trial["sample"] = "refused (exit 2, one line)"
  else:
    trial["sample"] = f"exit {sample.exit}, {len(s_lines)} lines"
    _fail(trial, f"sample: exit {sample.exit}, {' / '.join(s_lines)[:200]}")
  return _done(trial)


def concurrent_trial(bench: Bench) -> dict:
  ref = bench.reference(LONG_STEPS)
  trial = {"kind": "concurrent"}
  if ref["error"]:
    _fail(trial, ref["error"])
    return _done(trial)
  workdir = os.path.join(bench.fresh("concurrent"), "w")
  argv = bench.train_argv(workdir, bench.overrides(num_steps=LONG_STEPS))
  a = bench.start(argv, workdir + "_logA")
  if bench.wait_for_row(a[0], workdir) is None:
    run = bench.finish(*a)
    _fail(trial, f"run A wrote no metrics row (exit {run.exit})")
    return _done(trial)
  b = bench.run(argv, workdir + "_logB")
  a_alive = a[0].poll() is None
  run_a = bench.finish(*a)
  ok, lines = one_line(b.stderr, "error:")
  trial.update(exit=b.exit, lines=lines, a_exit=run_a.exit, a_alive_when_b_ended=a_alive,
               b_seconds=round(b.seconds, 1))
  if not a_alive and b.exit != 2:
    _fail(trial, "run A ended before run B reached the lock: no test (raise LONG_STEPS)")
  if b.exit != 2:
    _fail(trial, f"run B exit {b.exit}, not 2")
  if not ok:
    _fail(trial, f"run B: {len(lines)} message lines, not one 'error:' line: "
                 f"{' / '.join(lines)[:300]}")
  elif not re.search(r"in use|busy", lines[0]):
    _fail(trial, f"run B's line does not say the work directory is busy: {lines[0]}")
  if run_a.exit != 0:
    _fail(trial, f"run A exit {run_a.exit}: {(message_lines(run_a.stderr) or ['?'])[-1][:200]}")
  else:
    same, why = identical_to(workdir, ref)
    trial["identical"] = same
    if not same:
      _fail(trial, "run A " + why)
  return _done(trial)


_DAMAGE = re.compile(r"damag|corrupt|checksum|mismatch|invalid|unreadable", re.I)


def corrupt_trial(bench: Bench, kind: str) -> dict:
  """Damages the newest checkpoint of a finished run, then trains MORE_STEPS further."""
  ref, ref_more = bench.reference(TINY["num_steps"]), bench.reference(TINY["num_steps"] + MORE_STEPS)
  trial = {"kind": kind}
  if ref["error"] or ref_more["error"]:
    _fail(trial, ref["error"] or ref_more["error"])
    return _done(trial)
  workdir = os.path.join(bench.fresh(kind), "w")
  shutil.copytree(ref["workdir"], workdir, symlinks=True)
  step = checkpoint_steps(workdir)[-1]
  ckpt_dir = os.path.join(workdir, "checkpoints", str(step))
  path = largest_file(ckpt_dir)
  size = os.path.getsize(path)
  rel = os.path.relpath(path, ckpt_dir)
  if kind == "corrupt_flip":
    trial["damage"] = f"flipped byte {flip_byte(path, bench.rng.randrange(size // 4, 3 * size // 4 + 1))} of {rel} ({size} B)"
  else:
    trial["damage"] = f"cut {rel} from {size} to {truncate_file(path, bench.rng.randrange(size // 4, 3 * size // 4 + 1))} B"
  damaged_hash = file_hash(path)
  run = bench.run(bench.train_argv(workdir, bench.overrides(
      num_steps=TINY["num_steps"] + MORE_STEPS)), workdir + "_log")
  warnings = warning_lines(run.stderr)
  detected = any(re.search(rf"\b{step}\b", l) and _DAMAGE.search(l) for l in warnings)
  kept_at = os.path.join(workdir, "damaged_checkpoints", str(step), rel)
  kept = os.path.isfile(kept_at) and file_hash(kept_at) == damaged_hash
  trial.update(step=step, exit=run.exit, warnings=warnings, detected=detected, kept=kept,
               lines=message_lines(run.stderr))
  if not kept:  # Where did it go, if anywhere?
    found = [p for p, h in tree_hashes(workdir).items() if h == damaged_hash]
    trial["damaged_file_now_at"] = found
  if not detected:
    _fail(trial, f"no 'warning:' line naming the damaged checkpoint {step}")
  if not kept:
    _fail(trial, f"not kept at damaged_checkpoints/{step}/{rel}"
                 + (f" (found at {trial['damaged_file_now_at']})" if trial.get("damaged_file_now_at") else ""))
  if run.exit != 0:
    _fail(trial, f"exit {run.exit}: {(message_lines(run.stderr) or ['?'])[-1][:200]}")
    trial["identical"] = False
  else:
    same, why = identical_to(workdir, ref_more)
    trial["identical"] = same
    if not same:
      _fail(trial, f"{why} ({TINY['num_steps'] + MORE_STEPS} steps)")
  return _done(trial)


def bad_input_case(bench: Bench, name: str, spec: dict, base: str | None = None) -> dict:
  """One bad input on a fresh copy of the work directory `base` (None: an empty one)."""
  case = {"kind": "bad_input", "case": name}
  spec = dict(spec)
  what = spec.pop("__workdir__", None)
  if what == "readonly" and os.geteuid() == 0:
    case["skipped"] = "root"
    case["passed"] = None
    return case
  trial_dir = bench.fresh("bad_" + name)
  workdir = os.path.join(trial_dir, "w")
  if what == "file":
    with open(workdir, "w") as f:
      f.write("not a directory\n")
  elif what == "readonly":
    os.makedirs(workdir)
    os.chmod(workdir, 0o555)
  elif base:
    shutil.copytree(base, workdir, symlinks=True)
  else:
    os.makedirs(workdir)
  config = spec.pop("__config__", CONFIG)
  if spec.get("data_dir") == "__file__":
    spec["data_dir"] = os.path.join(trial_dir, "data_dir_file")
    with open(spec["data_dir"], "w") as f:
      f.write("not a directory\n")
  before = tree_hashes(workdir)
  run = bench.run(bench.train_argv(workdir, bench.overrides(**spec), config), workdir + "_log")
  after = tree_hashes(workdir)
  ok, lines = one_line(run.stderr, "error:")
  case.update(exit=run.exit, lines=lines, lost=lost_files(before, after),
              new_files=sorted(set(after) - set(before))[:10], seconds=round(run.seconds, 1))
  if run.exit != 2:
    _fail(case, f"exit {run.exit}, not 2")
  if not ok:
    _fail(case, f"{len(lines)} message lines, not one 'error:' line")
  if case["lost"]:
    _fail(case, f"files lost or changed: {', '.join(case['lost'][:5])}")
  if what == "readonly":
    os.chmod(workdir, 0o755)
  return _done(case)


# --------------------------------------------------------------------------- the matrix


def summarize(kind: str, trials: list[dict]) -> dict:
  """The table row of one kind."""
  n = len(trials)
  passed = sum(bool(t["passed"]) for t in trials)
  ident = [t.get("identical", False) for t in trials]
  if kind in SIGNAL_KINDS:
    lost = [t["steps_lost"] for t in trials if "steps_lost" in t and not t.get("late")]
    parts = [lost_figure(lost)]
    if kind != "kill9":
      code = 128 + SIGNAL_KINDS[kind]
      parts.append(f"exit {code} {k_of([t.get('exit') == code for t in trials if not t.get('late')])}")
    late = sum(bool(t.get("late")) for t in trials)
    parts.append(f"bit-identical {k_of(ident)}")
    if late:
      parts.append(f"{late} after the end")
    figure = "; ".join(parts)
  elif kind == "diverge":
    samples = sorted({t.get("sample", "?") for t in trials})
    variants = ", ".join(f"{sum(t.get('variant') == v for t in trials)} {v}"
                         for v in ("resumed", "fresh"))
    figure = (f"{variants}; exit 3 {k_of([t.get('exit') == 3 for t in trials])}; non-finite checkpoints "
              f"{sum(len(t.get('non_finite', [])) for t in trials)}; sample: {', '.join(samples)}")
  elif kind == "concurrent":
    figure = (f"B exit 2 {k_of([t.get('exit') == 2 for t in trials])}; A bit-identical "
              f"{k_of(ident)}")
  elif kind.startswith("corrupt"):
    figure = (f"detected {k_of([t.get('detected') for t in trials])}; kept "
              f"{k_of([t.get('kept') for t in trials])}; bit-identical {k_of(ident)}")
  else:  # bad_input: the cases.
    ran = [t for t in trials if not t.get("skipped")]
    skipped = [t["case"] for t in trials if t.get("skipped")]
    n, passed = len(ran), sum(bool(t["passed"]) for t in ran)
    figure = (f"exit 2 {k_of([t['exit'] == 2 for t in ran])}; one line "
              f"{k_of([len(t['lines']) == 1 for t in ran])}; nothing lost "
              f"{k_of([not t['lost'] for t in ran])}")
    if skipped:
      figure += f"; skipped: {', '.join(skipped)} (root)"
  return {"kind": kind, "trials": n, "passed": passed, "figure": figure}


def run_kind(bench: Bench, kind: str, trials: int, other_trials: int) -> list[dict]:
  results = []
  if kind == "bad_input":
    base = bench.reference(TINY["num_steps"])
    for name, spec in BAD_INPUTS:
      r = bad_input_case(bench, name, spec, None if base["error"] else base["workdir"])
      results.append(r)
      bench.log(f"  bad_input {name}: " + ("skipped" if r.get("skipped") else
                f"{'pass' if r['passed'] else 'FAIL'} (exit {r['exit']}, {len(r['lines'])} lines)"))
    return results
  n = trials if kind in SIGNAL_KINDS else other_trials
  for i in range(n):
    if kind in SIGNAL_KINDS:
      r = signal_trial(bench, kind)
    elif kind == "diverge":
      r = diverge_trial(bench, resumed=i % 2 == 0)
    elif kind == "concurrent":
      r = concurrent_trial(bench)
    else:
      r = corrupt_trial(bench, kind)
    results.append(r)
    bench.log(f"  {kind} {i + 1}/{n}: {'pass' if r['passed'] else 'FAIL'}"
              + ("" if r["passed"] else f" ({'; '.join(r['reasons'])[:300]})"))
  return results


def parse_kinds(text: str) -> list[str]:
  kinds = []
  for k in (k.strip() for k in text.split(",") if k.strip()):
    for name in ALIASES.get(k, (k,)):
      if name not in KINDS:
        raise ValueError(f"unknown kind {name!r}; valid: {', '.join(KINDS)}, corrupt")
      if name not in kinds:
        kinds.append(name)
  return kinds or list(KINDS)


def report(summaries, results, *, header: dict) -> str:
  out = ["# Fault injection: python -m benchmarks.faults",
         "",
         f"- command per trial: `python -m experiments.dcgan --config={CONFIG} --workdir=W "
         + " ".join(f"--config.{k}={v}" for k, v in TINY.items()) + "`",
         f"- kinds: {', '.join(header['kinds'])}; trials: {header['trials']} per signal kind, "
         f"{header['other_trials']} per other kind, each bad input once; seed {header['seed']}",
         f"- machine: {header['cpus']} CPUs, {header['platform']}; wall time "
         f"{header['wall_s']:.0f} s",
         f"- code (ganjax/, experiments/): {header['code_before']}"
         + ("" if header["code_after"] == header["code_before"] else
            f" -> {header['code_after']}: CHANGED during the run, so a trial and its "
            "reference may have run different code"), "", summary_table(summaries)]
  cases = [r for r in results if r["kind"] == "bad_input"]
  if cases:
    out += ["", cases_table(cases)]
  failed = [r for r in results if r.get("passed") is False]
  if failed:
    out += ["", "Failures:"]
    for r in failed:
      what = r["kind"] + (f" {r['case']}" if "case" in r else "")
      out.append(f"- {what}: {'; '.join(r.get('reasons', []))[:400]}")
      if r.get("lines"):
        out.append(f"  stderr: {' / '.join(r['lines'])[:300]}")
  return "\n".join(out)


def _rmtree(path: str):
  def onerror(func, p, _):
    os.chmod(os.path.dirname(p), 0o755)
    func(p)
  if os.path.isdir(path):
    shutil.rmtree(path, onerror=onerror)


def define_flags():
  from absl import flags
  flags.DEFINE_integer("trials", 7, "Trials per signal kind (kill9, sigterm, sigint).")
  flags.DEFINE_integer("other_trials", 0, "Trials per diverge, concurrent, corrupt_* kind "
                       "(0: min(3, --trials)).")
  flags.DEFINE_string("kinds", "", f"Comma list of kinds (default all): {', '.join(KINDS)}; "
                      "'corrupt' means both corrupt kinds.")
  flags.DEFINE_integer("seed", 0, "Seed of the signal delays and damage positions.")
  flags.DEFINE_string("json", None, "Also write the results to this JSON file.")
  flags.DEFINE_string("workroot", None, "Directory for the work directories (default: a "
                      "temporary one, deleted afterwards; a given one is kept).")
  flags.DEFINE_string("data_dir", "", "TFDS data_dir of the runs ('' = TFDS's default).")
  flags.DEFINE_integer("timeout", 300, "Seconds per subprocess before it is killed.")


def main(argv) -> int:
  from absl import app, flags
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  FLAGS = flags.FLAGS
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # Orbax logs every read of load_trained at INFO.
  try:
    kinds = parse_kinds(FLAGS.kinds)
  except ValueError as e:
    raise app.UsageError(str(e))
  if FLAGS.trials < 1 or FLAGS.other_trials < 0:
    raise app.UsageError("need --trials >= 1 and --other_trials >= 0")
  other_trials = FLAGS.other_trials or min(3, FLAGS.trials)
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  t0 = time.time()
  code_before = code_fingerprint()
  root = FLAGS.workroot or tempfile.mkdtemp(prefix="ganjax-faults-")
  os.makedirs(root, exist_ok=True)
  bench = Bench(root, data_dir=FLAGS.data_dir, timeout=FLAGS.timeout,
                rng=random.Random(FLAGS.seed), log=lambda s: print(s, flush=True))
  print(f"fault injection: kinds {', '.join(kinds)}; work directories in {root}", flush=True)
  results, summaries = [], []
  try:
    for kind in kinds:
      print(f"{kind}:", flush=True)
      rs = run_kind(bench, kind, FLAGS.trials, other_trials)
      results += rs
      summaries.append(summarize(kind, rs))
  finally:
    bench.kill_all()
    if not FLAGS.workroot:
      _rmtree(root)
  import platform
  header = {"trials": FLAGS.trials, "other_trials": other_trials, "seed": FLAGS.seed,
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "wall_s": time.time() - t0, "tiny": TINY, "long_steps": LONG_STEPS,
            "more_steps": MORE_STEPS, "kinds": kinds,
            "code_before": code_before, "code_after": code_fingerprint()}
  print(report(summaries, results, header=header), flush=True)
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump({"header": header, "summary": summaries, "trials": results}, f, indent=2,
                default=str)
  return 1 if any(r.get("passed") is False for r in results) else 0


if __name__ == "__main__":
  from absl import app
  define_flags()
  app.run(main)
