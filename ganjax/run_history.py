"""What a work directory remembers of its runs: the config of each, and one metrics row per step.

- `config.json` is the config of the latest run (what `sample`, `evaluate` and
  `latent` read); `config_history.jsonl` gets one row per run started in the
  work directory: the step it started from, the fields changed since the run
  before it, and its whole config. A resume with changed fields is therefore
  never silent and never loses the config it replaced.
- A resumed run redoes the steps after its checkpoint; `truncate_metrics` drops
  their rows from `metrics.jsonl`, so it keeps one row per logged step.

Only process 0 calls these. Files are replaced atomically (write, then rename),
so a kill at any moment leaves the old or the new file, never half of one.
"""

import json
import os
import time


def _flat(fields: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in fields.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def changed_fields(before: dict, after: dict) -> dict:
  """{dotted field: (before, after)} of every field whose value differs (JSON dicts);
  a field only one side has shows None on the other."""
  a, b = _flat(before), _flat(after)
  return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def describe_changes(changes: dict) -> str:
  """'optimizer.g_learning_rate 0.0002 -> 0.001, seed 0 -> 1'."""
  return ", ".join(f"{k} {json.dumps(a)} -> {json.dumps(b)}" for k, (a, b) in changes.items())


def _write_atomically(path: str, text: str) -> None:
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def record_config(workdir: str, config, start_step: int) -> dict:
  """Writes `config.json` and appends the run to `config_history.jsonl`.

  Returns the changed fields against the previous `config.json` ({} for the first
  run, or when nothing changed).
  """
  fields = json.loads(config.to_json_best_effort())
  path = os.path.join(workdir, "config.json")
  changes = {}
  if os.path.exists(path):
    with open(path) as f:
      changes = changed_fields(json.load(f), fields)
  row = {"started_at_step": start_step, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
         "changed": {k: list(v) for k, v in changes.items()}, "config": fields}
  with open(os.path.join(workdir, "config_history.jsonl"), "a") as f:
    f.write(json.dumps(row) + "\n")
  _write_atomically(path, config.to_json_best_effort(indent=2))
  return changes


def truncate_metrics(workdir: str, step: int) -> int:
  """Drops the rows of `metrics.jsonl` after `step` (steps a resumed run will redo);
  returns how many were dropped. A torn last line (a kill mid-write) goes too."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return 0
  kept, dropped = [], 0
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        dropped += 1
        continue
      if row.get("step", 0) <= step:
        kept.append(line if line.endswith("\n") else line + "\n")
      else:
        dropped += 1
  if dropped:
    _write_atomically(path, "".join(kept))
  return dropped
