"""ganjax: generative adversarial networks in JAX and Flax.

Importing ganjax has no side effects. For XLA:CPU's faster convolution path call
`ganjax.xla_cpu.apply()` before JAX runs anything (the entry points do).
"""

__version__ = "0.1.0"
