"""What every training entry point shares: flags, then train_and_evaluate.

`python -m experiments.<name> --config=experiments/configs/<name>.py[:variant]
[--config.key=value ...] [--workdir=DIR] [--distributed]`
"""

import errno
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402


def setup_process() -> None:
  """What every entry point does before JAX starts: the XLA:CPU flag, the compilation cache.

  Both are explicit choices (importing ganjax changes neither): ganjax.xla_cpu and
  ganjax.compilation_cache say how to opt out.
  """
  from ganjax import compilation_cache, xla_cpu
  xla_cpu.apply()
  compilation_cache.enable()


def main(name: str):
  """Defines the flags of entry point `name` and runs it."""
  setup_process()
  try:  # ml_collections already reads --config.key=value overrides here.
    config_flags.DEFINE_config_file(
        "config", config_path(f"experiments/configs/{name}.py"),
        "Config file, optionally with a variant: path.py:variant.", lock_config=True)
  except Exception as e:  # noqa: BLE001  (an unknown key, a bad value: the user's input)
    _usage_error(e)
  flags.DEFINE_string("workdir", None,
                      f"Work directory for checkpoints, samples and metrics "
                      f"(default: workdirs/{name}_<dataset>).")
  flags.DEFINE_bool("distributed", False,
                    "Call jax.distributed.initialize() first (multi-host TPU/GPU runs).")

  def run(argv):
    # Orbax logs every file it writes at INFO; keep the console to ganjax's own lines.
    logging.get_absl_handler().addFilter(lambda record: "/orbax/" not in record.pathname)
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    import jax
    if flags.FLAGS.distributed:
      jax.distributed.initialize()
    from ganjax import train
    config = flags.FLAGS.config
    try:  # A bad value is one line, before anything heavy is imported or logged.
      train.check_config(config)
    except train.ConfigError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
    from ganjax.checkpoint import CheckpointError
    from ganjax.data import DatasetNotFoundError  # TensorFlow starts here.
    from ganjax.interrupts import Interrupted
    from ganjax.workdir_lock import WorkdirBusyError
    from ganjax import families
    workdir = flags.FLAGS.workdir or families.of(config).default_workdir(name, config)
    try:
      train.train_and_evaluate(config, workdir)
    except (train.ConfigError, DatasetNotFoundError, CheckpointError, WorkdirBusyError) as e:
      # A user error: one clear line, no traceback.
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
    except (Interrupted, train.Diverged) as e:
      # Stopped on a signal (exit 128 + its number, as a shell reports a killed process)
      # or on divergence (exit 3), the good checkpoints kept: one line.
      print(f"{'error' if isinstance(e, train.Diverged) else 'stopped'}: {e}", file=sys.stderr)
      sys.exit(e.exit_code)
    except Exception as e:  # noqa: BLE001  (a full or read-only disk: the machine's state)
      cause = storage_error(e)
      if cause is None:
        raise
      # One write of the whole line: Orbax's threads are still printing tracebacks, and
      # print() writes the line and its newline apart, so one could land in between.
      sys.stderr.write(f"error: cannot write {cause.filename or workdir}: {cause.strerror}. "
                       f"The newest complete checkpoint is kept: free space (or fix the "
                       f"file system), then rerun the same command to resume\n")
      # Orbax's abandoned writes print pages of "Event loop is closed" at interpreter exit:
      # the one line above is the whole story, so leave without that teardown.
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(2)

  app.run(run, flags_parser=lambda argv: _parse_flags(argv, name))


_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                   errno.EPERM)


def storage_error(e: BaseException) -> OSError | None:
  """The OSError of a full, read-only or forbidden file system behind `e` (Orbax wraps
  the errors of its writes), or None."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS:
      return e
    # TensorStore (Orbax's writer) reports the OS error in its message only.
    code = re.search(r"os_error_code='?(\d+)", str(e))
    if code and int(code.group(1)) in _STORAGE_ERRNOS:
      path = re.search(r'Failed writing: "([^"]+)"', str(e))
      return OSError(int(code.group(1)), os.strerror(int(code.group(1))),
                     path.group(1) if path else None)
    e = e.__cause__ or e.__context__
  return None


def missing_step(workdir: str, step: int | None) -> str | None:
  """The one-line error for a --step with no checkpoint in `workdir`; None when there is
  one (or no --step). Reads the directory only: it fails before JAX loads."""
  ckpts = os.path.join(workdir, "checkpoints")
  saved = sorted(int(s) for s in os.listdir(ckpts) if s.isdigit()) if os.path.isdir(ckpts) else []
  if step is None or step in saved:
    return None
  return (f"no checkpoint of step {step} in {ckpts}; the saved steps are "
          f"{', '.join(map(str, saved)) or 'none'}")


_HELP = ("--help", "-h", "-?", "--helpshort")


_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_path(path: str) -> str:
  """`path` as given, or, where it does not exist here, the file of that name in ganjax's
  checkout (`experiments/configs/x.py[:variant]` works from any directory)."""
  file = path.split(":", 1)[0]
  if os.path.exists(file) or os.path.isabs(file):
    return path
  inside = os.path.join(_CHECKOUT, path)
  return inside if os.path.exists(inside.split(":", 1)[0]) else path


def _parse_flags(argv, name: str):
  """absl's flag parsing, with a bad flag, config key or variant as one line and exit 2,
  and `--help` as this entry point's flags and config fields."""
  argv = [f"--config={config_path(a[len('--config='):])}" if a.startswith("--config=") else a
          for a in argv]
  wants_help = any(a in _HELP for a in argv[1:])
  try:
    parsed = flags.FLAGS([a for a in argv if a not in _HELP])
  except Exception as e:  # noqa: BLE001  (flags.Error, or a config file's own error)
    _usage_error(e)
  if wants_help:
    print(help_text(name))
    sys.exit(0)
  return parsed


def help_text(name: str) -> str:
  """`--help`: usage, this entry point's flags, and every config field with its value in
  the chosen config file (and variant, and overrides) and its description."""
  from ganjax import config_docs
  chosen = config_flags.get_config_filename(flags.FLAGS["config"])  # path.py[:variant]
  path = re.sub(r"\.py:.*$", ".py", chosen)
  variants = getattr(_config_module(path), "VARIANTS", ())
  lines = [f"Trains {name}: python -m experiments.{name} "
           f"--config=experiments/configs/{name}.py[:VARIANT] [--config.FIELD=VALUE ...] "
           f"[--workdir=DIR] [--distributed]", ""]
  if variants:
    lines += [f"Variants of {path}: {', '.join(variants)} (the first is the default).", ""]
  lines.append("Flags:")
  for flag in ("config", "workdir", "distributed"):
    lines.append(f"  --{flag}: {flags.FLAGS[flag].help}")
  lines += ["", f"Config fields (values of {chosen} with the overrides given; set any with "
            f"--config.FIELD=VALUE):",
            config_docs.describe(flags.FLAGS.config), "",
            "absl's own flags (logging, ...): --helpfull."]
  return "\n".join(lines)


def _config_module(path: str):
  import importlib.util
  spec = importlib.util.spec_from_file_location("ganjax_help_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _usage_error(e: Exception):
  """One line on stderr, exit 2: the error of a flag, config key or variant the user gave."""
  text = str(e.args[0]) if e.args else str(e)
  text = text.replace("\\n", "\n").replace("\\'", "'")
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if any(line.startswith("Traceback") for line in lines):
    # A config file raised: its own message is the last line, after the exception's name.
    message = re.sub(r"^[\w.]+: ", "", lines[-1])
  elif isinstance(e, (KeyError, AttributeError)):  # ml_collections on an unknown key.
    message = "unknown config key " + "; ".join(
        f"'{line.strip(chr(34) + chr(39))}'" for line in lines)
  else:
    message = " ".join(lines) or type(e).__name__
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)
