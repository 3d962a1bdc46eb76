"""XLA:CPU flags that ganjax's convolutions train faster with: an explicit choice.

jaxlib 0.10's XLA:CPU hands every convolution to YNNPACK by default (the fusion type
`individual_convolution`). For the DCGAN's convolutions Eigen's path, which XLA uses
when that fusion type is removed, is faster: a 64x64 DCGAN training iteration at batch
64 took 0.547 s instead of 0.768 s on a 2-core CPU (`python -m benchmarks.dcgan`,
`XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`).

Importing ganjax changes nothing. The entry points (`python -m experiments.*`, the
benchmarks) call `apply()` first thing; library users who want the speed call it
themselves, before JAX runs anything:

    from ganjax import xla_cpu
    xla_cpu.apply()      # then import and use jax / ganjax as usual

XLA reads XLA_FLAGS once, when JAX starts its first backend, so it takes effect only
before any JAX computation (`apply` returns False and changes nothing after). Nothing
changes either when XLA_FLAGS
already names the flag (the user's choice wins), when GANJAX_XLA_CPU_FLAGS=0, or with
a jaxlib whose XLA the flag is not known to (an unknown flag aborts XLA's start-up).
The flag only concerns XLA:CPU; GPU and TPU backends ignore it.
"""

import os

FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
# jaxlib minor versions whose XLA has the flag (checked: 0.10.2).
KNOWN_JAXLIB = ((0, 10),)


def _jaxlib_version() -> tuple[int, ...]:
  try:
    from jaxlib import version  # Cheap: does not start JAX.
  except ImportError:
    return ()
  return tuple(int(p) for p in version.__version__.split(".")[:2] if p.isdigit())


def _backend_started() -> bool:
  """Whether JAX already started a backend (XLA_FLAGS are read then, and never again)."""
  import sys
  bridge = sys.modules.get("jax._src.xla_bridge")
  return bool(bridge is not None and getattr(bridge, "_backends", None))


def apply(environ=os.environ) -> bool:
  """Adds FLAG to environ['XLA_FLAGS'] where it is safe and in time; returns whether it did."""
  if environ.get("GANJAX_XLA_CPU_FLAGS", "1") == "0":
    return False
  if environ is os.environ and _backend_started():
    return False
  current = environ.get("XLA_FLAGS", "")
  if "xla_cpu_experimental_ynn_fusion_type" in current:
    return False
  if _jaxlib_version() not in KNOWN_JAXLIB:
    return False
  environ["XLA_FLAGS"] = f"{current} {FLAG}".strip()
  return True
