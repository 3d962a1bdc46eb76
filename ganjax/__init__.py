"""ganjax: generative adversarial networks in JAX and Flax."""

from ganjax import xla_cpu as _xla_cpu

_xla_cpu.apply()  # Before JAX starts a backend; see ganjax/xla_cpu.py.

__version__ = "0.1.0"
