"""What every training entry point shares: flags, then train_and_evaluate.

`python -m experiments.<name> --config=experiments/configs/<name>.py[:variant]
[--config.key=value ...] [--workdir=DIR] [--distributed]`
"""

import os
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
  config_flags.DEFINE_config_file(
      "config", f"experiments/configs/{name}.py",
      "Config file, optionally with a variant: path.py:variant.", lock_config=True)
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
    from ganjax.checkpoint import CheckpointError
    from ganjax.data import DatasetNotFoundError
    from ganjax.interrupts import Interrupted
    from ganjax.workdir_lock import WorkdirBusyError
    config = flags.FLAGS.config
    workdir = flags.FLAGS.workdir or os.path.join("workdirs", f"{name}_{config.dataset}")
    logging.info("config:\n%s", config)
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

  app.run(run)
