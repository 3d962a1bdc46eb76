"""SIGTERM and SIGINT as requests to stop between steps, never inside one.

SLURM, Kubernetes, TPU preemption and `timeout` send SIGTERM; Ctrl-C sends SIGINT. The
default reactions lose work: SIGTERM kills the process at once, and SIGINT raises
KeyboardInterrupt wherever Python happens to be, possibly inside the train step whose
state argument is donated (its buffers are then gone). Inside `StopRequests`, either signal
only records itself; the loop asks `requested` between steps, saves the last complete state
and stops. A second signal of the same kind gets its default reaction (to force a stop).
"""

import signal
import threading


class Interrupted(Exception):
  """Training stopped on a signal after saving the state of `step`."""

  def __init__(self, signum: int, step: int, saved: bool):
    self.signum, self.step, self.saved = signum, step, saved
    name = signal.Signals(signum).name
    what = f"saved the checkpoint of step {step}" if saved else f"nothing to save at step {step}"
    super().__init__(f"stopped by {name}: {what}; rerun the same command to resume")

  @property
  def exit_code(self) -> int:
    return 128 + self.signum  # What a shell reports for a process killed by the signal.


class StopRequests:
  """Context manager: SIGTERM/SIGINT set `requested` (the signal number) instead of acting."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.requested = 0
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if not self.requested:
      self.requested = signum
    # The next one acts as if we were not here: a second Ctrl-C really stops.
    signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():  # Only it may set handlers.
      for s in self.SIGNALS:
        self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous.clear()
    return False
