"""A work directory belongs to one live run: `<workdir>/lock` names its process and host.

Two runs on one work directory would resume from each other's live checkpoints and
overwrite them. The lock is created atomically (O_EXCL); a lock whose process is dead (on
this host) is taken over with a warning; a live one is a WorkdirBusyError. On another host
ganjax cannot tell whether the process lives, so that lock is honoured too: the error says
how to remove it.
"""

import contextlib
import json
import os
import socket
import time

from absl import logging

LOCK_NAME = "lock"


class WorkdirBusyError(RuntimeError):
  """Another live run holds the work directory."""


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, but someone else's.
    return True
  return True


def _read(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


@contextlib.contextmanager
def hold(workdir: str):
  """Holds `<workdir>/lock` for the duration of the block."""
  path = os.path.join(workdir, LOCK_NAME)
  me = {"pid": os.getpid(), "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S")}
  for _ in range(3):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      owner = _read(path)
      if owner and owner.get("host") == me["host"] and owner.get("pid") == me["pid"]:
        raise WorkdirBusyError(f"work directory {workdir} is already in use by this process")
      if owner and (owner.get("host") != me["host"] or _alive(int(owner.get("pid", -1)))):
        raise WorkdirBusyError(
            f"work directory {workdir} is in use by process {owner.get('pid')} on "
            f"{owner.get('host')} (since {owner.get('started')}): wait for that run, or use "
            f"another --workdir; if that process is gone, delete {path}") from None
      logging.warning("taking over the stale lock of a dead run in %s (%s)", workdir,
                      owner or "unreadable")
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)
      continue
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    break
  else:
    raise WorkdirBusyError(f"could not take the lock {path}")
  try:
    yield path
  finally:
    if (_read(path) or {}).get("pid") == me["pid"]:
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)
