"""Mixed precision: networks compute in bfloat16, their parameters and optimizers stay float32.

`mixed_apply(module.apply, jnp.bfloat16)` is an `apply_fn` that casts every floating
variable (params and BatchNorm statistics) and input to bfloat16, runs the module, and
casts every floating output back to float32. Gradients flow through the casts to the
float32 params, so the optimizer updates (and the checkpoints) are float32, as in
Micikevicius et al. 2018, "Mixed Precision Training", and DeepMind's jmp; bfloat16 has
float32's exponent range, so no loss scaling is needed. The losses are computed in
float32 on the float32 outputs.

It pays on TPUs and recent GPUs, whose matrix units run bfloat16 at 2-16x the float32
rate; a CPU without bfloat16 matrix instructions emulates it (see the README for the
numbers measured here).
"""

import jax
import jax.numpy as jnp

COMPUTE_DTYPES = ("float32", "bfloat16")


def _cast(tree, dtype):
  return jax.tree.map(
      lambda x: x.astype(dtype) if isinstance(x, jax.Array | jnp.ndarray) and
      jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def mixed_apply(apply_fn, dtype):
  """`apply_fn(variables, *args, **kwargs)` computing in `dtype`, answering in float32."""
  dtype = jnp.dtype(dtype)

  def apply(variables, *args, **kwargs):
    out = apply_fn(_cast(variables, dtype), *_cast(args, dtype), **kwargs)
    return _cast(out, jnp.float32)

  return apply
