"""GANState: the immutable generator/discriminator pair that a train step updates.

Nothing here mutates: a step returns a new GANState. Creating one is a pure
function of (rng, modules, optimizers, sample inputs).
"""

from typing import Any

import flax.struct as struct
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from ganjax import precision


class NetState(train_state.TrainState):
  """One network: params, BatchNorm statistics (or an empty dict), optimizer state."""

  batch_stats: Any = struct.field(default_factory=dict)

  @classmethod
  def create(cls, *, apply_fn, params, tx, **kwargs):
    """flax's TrainState.create with a strongly typed int32 step.

    flax starts `step` at the Python int 0, a weakly typed int32 under jit, while a
    step restored from a checkpoint is a plain int32: the train step's signature would
    differ and a resumed run would compile it again instead of reading the compilation
    cache.
    """
    state = super().create(apply_fn=apply_fn, params=params, tx=tx, **kwargs)
    return state.replace(step=jnp.zeros((), jnp.int32))

  def variables(self, params=None):
    """The variables dict for `apply_fn`, optionally with other params."""
    params = self.params if params is None else params
    if self.batch_stats:
      return {"params": params, "batch_stats": self.batch_stats}
    return {"params": params}


class GANState(struct.PyTreeNode):
  """The (G, D) pair, the generator step count and the generator's EMA.

  `ema_params` is None when EMA is disabled; otherwise an exponential moving
  average of the generator's params (Yazici et al. 2019, "The Unusual
  Effectiveness of Averaging in GAN Training"), used for samples.
  """

  step: jax.Array
  generator: NetState
  discriminator: NetState
  ema_params: Any = None

  def sampling_variables(self):
    """Generator variables for sampling: EMA params when kept, else the live ones."""
    return self.generator.variables(self.ema_params)


class OwnStatisticsGANState(GANState):
  """A GANState whose EMA generator keeps BatchNorm statistics of its own (config
  `ema_batch_stats="own"`): running averages of the batch statistics the EMA weights
  compute, updated every step (`ganjax.steps.finish_generator_update`).

  A GANState's EMA weights sample with the live generator's running averages, the
  statistics of other weights. A class of its own, not a field of GANState, so that the
  checkpoints of every other run keep their structure.
  """

  ema_batch_stats: Any = None

  def sampling_variables(self):
    """The EMA params with their own BatchNorm statistics."""
    return {"params": self.ema_params, "batch_stats": self.ema_batch_stats}


# What the EMA generator's BatchNorm normalises with (GANState.ema_batch_stats).
EMA_BATCH_STATS = ("live", "own")


def init_net(rng, module, sample_input, tx, kwargs=None, compute_dtype=None):
  """A NetState of `module` initialised on `sample_input` (module(x, train=False, **kwargs)).

  With a `compute_dtype` other than float32, its `apply_fn` computes in that dtype
  (ganjax.precision); params and optimizer state are float32 either way.
  """
  variables = module.init(rng, sample_input, train=False, **(kwargs or {}))
  apply_fn = module.apply
  if compute_dtype is not None and jnp.dtype(compute_dtype) != jnp.float32:
    apply_fn = precision.mixed_apply(module.apply, compute_dtype)
  return NetState.create(apply_fn=apply_fn, params=variables["params"], tx=tx,
                         batch_stats=variables.get("batch_stats", {}))


def create_gan_state(rng, *, generator, discriminator, generator_tx, discriminator_tx,
                     sample_z, sample_x, generator_kwargs=None, discriminator_kwargs=None,
                     use_ema: bool = False, ema_batch_stats: str = "live",
                     compute_dtype=None) -> GANState:
  """Initialises both networks and their optimizers.

  Args:
    rng: a PRNG key.
    generator, discriminator: flax modules called as `module(x, train=...)`.
    generator_tx, discriminator_tx: optax optimizers.
    sample_z: a latent batch (only its shape and dtype matter).
    sample_x: an image batch (only its shape and dtype matter).
    generator_kwargs, discriminator_kwargs: other sample inputs of the networks
      (e.g. `{'labels': ...}` for class-conditional ones).
    use_ema: keep an EMA copy of the generator params.
    ema_batch_stats: "live" (the EMA samples with the live generator's BatchNorm
      statistics) or "own" (it keeps its own, starting from the live ones; a generator
      without BatchNorm has none either way).
    compute_dtype: the dtype both networks compute in during training (None: float32).
  """
  g_rng, d_rng = jax.random.split(rng)
  g = init_net(g_rng, generator, sample_z, generator_tx, generator_kwargs, compute_dtype)
  d = init_net(d_rng, discriminator, sample_x, discriminator_tx, discriminator_kwargs,
               compute_dtype)
  if ema_batch_stats not in EMA_BATCH_STATS:
    raise ValueError(f"ema_batch_stats must be one of {EMA_BATCH_STATS}, got "
                     f"{ema_batch_stats!r}")
  ema = jax.tree.map(jnp.copy, g.params) if use_ema else None
  state = GANState(step=jnp.zeros((), jnp.int32), generator=g, discriminator=d,
                   ema_params=ema)
  if use_ema and ema_batch_stats == "own" and g.batch_stats:
    return OwnStatisticsGANState(**vars(state),
                                 ema_batch_stats=jax.tree.map(jnp.copy, g.batch_stats))
  return state


def ema_warmup_decay(decay: float, num_updates):
  """min(decay, (1 + t) / (10 + t)) after t updates: the decay TensorFlow's
  ExponentialMovingAverage uses with `num_updates`.

  Without it the average of a short run still holds mostly the random initial weights
  (0.999^1000 = 37% of them after 1,000 steps), and its samples are flat grey. With it
  the average follows the weights early on (decay 0.1 at t = 0, 0.91 at t = 90) and
  reaches `decay` at t = (10 decay - 1) / (1 - decay): 8,991 updates for 0.999.
  """
  t = jnp.asarray(num_updates, jnp.float32)
  return jnp.minimum(decay, (1.0 + t) / (10.0 + t))


def update_ema(ema_params, params, decay, num_updates=None):
  """ema <- d * ema + (1 - d) * params, d = decay, or ema_warmup_decay(decay, num_updates)
  when `num_updates` (the updates the average has had so far) is given."""
  if num_updates is not None:
    decay = ema_warmup_decay(decay, num_updates)
  return optax.incremental_update(params, ema_params, step_size=1.0 - decay)


def count_params(params) -> int:
  """Number of scalars in a params pytree."""
  return sum(x.size for x in jax.tree.leaves(params))


def all_finite(tree) -> jax.Array:
  """Whether every floating-point value in a pytree is finite (a scalar bool array)."""
  leaves = [x for x in jax.tree.leaves(tree)
            if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves \
      else jnp.asarray(True)
