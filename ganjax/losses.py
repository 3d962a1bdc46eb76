"""Adversarial losses and penalties: pure functions of discriminator outputs.

Every loss takes discriminator LOGITS (never probabilities) of any shape -- (B,), (B, 1),
or a PatchGAN map (B, H, W, 1) -- and returns a scalar: the mean over every element.
Losses come in pairs named as in TF-GAN, ``<family>_generator_loss(discriminator_gen_outputs)``
and ``<family>_discriminator_loss(discriminator_real_outputs, discriminator_gen_outputs)``;
the generator minimises the first, the discriminator the second. Hyper-parameters are
keyword-only. Cross-entropy terms are written with ``softplus`` so that values and
gradients stay finite for logits of any finite magnitude; logits of +-inf give the
limit (0 or +inf), never NaN, except where a mean over the batch is inf - inf (the
Wasserstein and hinge generator losses of a batch holding both +inf and -inf).

Inputs are checked before anything is computed: a non-floating dtype (int, bool) raises
``TypeError``; real and generated outputs of different ranks or non-broadcastable shapes
raise ``ValueError``. The checks read only static shapes and dtypes, so every function
works under ``jax.jit``, ``jax.grad`` and ``jax.vmap``.

Example::

  g_loss_fn, d_loss_fn = get_loss_pair('non_saturating', label_smoothing=0.1)
  d_loss = d_loss_fn(d_real_logits, d_fake_logits)
  g_loss = g_loss_fn(d_fake_logits)
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "LOSS_FAMILIES",
    "auxiliary_classifier_loss",
    "feature_matching_loss",
    "get_loss_pair",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "kl_standard_normal",
    "l1_loss",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "matching_aware_discriminator_loss",
    "matching_aware_generator_loss",
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "modified_discriminator_loss",
    "modified_generator_loss",
    "non_saturating_discriminator_loss",
    "non_saturating_generator_loss",
    "r1_penalty",
    "semi_supervised_discriminator_loss",
    "semi_supervised_generator_loss",
    "semi_supervised_source_logits",
    "wasserstein_discriminator_loss",
    "wasserstein_generator_loss",
]

GeneratorLossFn = Callable[[jax.Array], jax.Array]
DiscriminatorLossFn = Callable[[jax.Array, jax.Array], jax.Array]
ApplyFn = Callable[[Any, jax.Array], jax.Array]


# ---------------------------------------------------------------------------------------------
# Input checks: static shapes and dtypes only, so they also run on tracers.
# ---------------------------------------------------------------------------------------------


def _as_float_array(x: ArrayLike, name: str) -> jax.Array:
  x = jnp.asarray(x)
  # Integer or boolean "logits" are almost always labels passed by mistake; silently
  # promoting them would hide the bug and break gradients.
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f"{name} must be a floating-point array (discriminator logits or features), "
        f"got dtype {x.dtype}; cast it with .astype(jnp.float32) if that is intended."
    )
  # The mean of an empty array is NaN: fail loudly instead.
  if x.size == 0:
    raise ValueError(f"{name} is empty (shape {x.shape}); a loss needs at least one element.")
  return x


def _check_real_gen(real: jax.Array, gen: jax.Array, real_name: str, gen_name: str) -> None:
  # The two means are taken separately, but outputs of one discriminator on real and
  # generated batches of one pipeline share their shape; a rank or broadcast mismatch
  # means the wrong tensors were passed.
  if real.ndim == gen.ndim:
    try:
      jnp.broadcast_shapes(real.shape, gen.shape)
      return
    except ValueError:
      pass
  raise ValueError(
      f"{real_name} and {gen_name} must have the same rank and broadcast-compatible "
      f"shapes, got {real.shape} and {gen.shape}."
  )


def _check_label_smoothing(label_smoothing: Any) -> None:
  # Only concrete Python numbers can be checked; a traced value is the caller's business.
  if isinstance(label_smoothing, numbers.Real) and not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")


def _bce(logits: jax.Array, target: ArrayLike) -> jax.Array:
  # -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), with log sigmoid(x) = -softplus(-x):
  # exact for |x| large, where log(sigmoid(x)) underflows to log(0).
  pos = target * jax.nn.softplus(-logits)
  neg = (1.0 - target) * jax.nn.softplus(logits)
  # A term with weight exactly 0 is 0, also where its softplus is inf (logits of +-inf):
  # 0 * inf would be NaN, and the limit is 0.
  return jnp.where(target == 0, 0.0, pos) + jnp.where(target == 1, 0.0, neg)


# ---------------------------------------------------------------------------------------------
# Minimax (Goodfellow et al. 2014) and its non-saturating generator loss.
# ---------------------------------------------------------------------------------------------


def minimax_generator_loss(discriminator_gen_outputs: ArrayLike) -> jax.Array:
  r"""Saturating minimax generator loss, the original GAN objective for G.

  .. math::
    L_G = \operatorname{mean}\,\log(1 - \sigma(g))
        = -\operatorname{mean}\,\operatorname{softplus}(g)

  Use :func:`modified_generator_loss` (non-saturating) instead. This loss is kept because
  it is the game the paper analyses, but its gradient ``-sigmoid(g)`` vanishes exactly
  when G most needs it: early in training, when D confidently rejects samples
  (``g << 0``), G barely learns. It is negative and unbounded below as D is fooled.

  Args:
    discriminator_gen_outputs: discriminator logits on generated samples, any shape,
      e.g. (B,), (B, 1) or (B, H, W, 1).

  Returns:
    Scalar loss, minimised by the generator.

  References:
    Goodfellow et al., `Generative Adversarial Nets
    <https://arxiv.org/abs/1406.2661>`_, NeurIPS 2014.
  """
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  return -jnp.mean(jax.nn.softplus(g))


def minimax_discriminator_loss(
    discriminator_real_outputs: ArrayLike,
    discriminator_gen_outputs: ArrayLike,
    *,
    label_smoothing: float = 0.0,
) -> jax.Array:
  r"""Minimax discriminator loss: binary cross-entropy of real vs. generated logits.

  .. math::
    L_D = \operatorname{mean}\,\mathrm{BCE}(r, 1 - s) + \operatorname{mean}\,\mathrm{BCE}(g, 0),
    \qquad \mathrm{BCE}(x, t) = -t \log\sigma(x) - (1 - t)\log(1 - \sigma(x))

  The result is the SUM of the two means (as in TF-GAN), not the mean over the
  concatenated batch. Smoothing is one-sided (Salimans et al. 2016): only the real target
  moves to ``1 - s``; the generated target stays 0. The same loss serves the
  non-saturating game, hence the aliases ``modified_discriminator_loss`` and
  ``non_saturating_discriminator_loss``.

  Args:
    discriminator_real_outputs: discriminator logits on real data, any shape.
    discriminator_gen_outputs: discriminator logits on generated samples; same rank as
      the real outputs and a broadcast-compatible shape (in practice the same shape).
    label_smoothing: ``s`` in [0, 1); the real target is ``1 - s``.

  Returns:
    Scalar loss, minimised by the discriminator.

  Raises:
    ValueError: on mismatched ranks/shapes, or ``label_smoothing`` outside [0, 1).
    TypeError: on non-floating inputs.

  References:
    Goodfellow et al., `Generative Adversarial Nets
    <https://arxiv.org/abs/1406.2661>`_, NeurIPS 2014.
    Salimans et al., `Improved Techniques for Training GANs
    <https://arxiv.org/abs/1606.03498>`_, NeurIPS 2016 (one-sided label smoothing).
  """
  r = _as_float_array(discriminator_real_outputs, "discriminator_real_outputs")
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  _check_real_gen(r, g, "discriminator_real_outputs", "discriminator_gen_outputs")
  _check_label_smoothing(label_smoothing)
  return jnp.mean(_bce(r, 1.0 - label_smoothing)) + jnp.mean(jax.nn.softplus(g))


def modified_generator_loss(
    discriminator_gen_outputs: ArrayLike,
    *,
    label_smoothing: float = 0.0,
) -> jax.Array:
  r"""Non-saturating generator loss: G maximises log D(G(z)) instead of minimising log(1 - D).

  .. math::
    L_G = \operatorname{mean}\,\mathrm{BCE}(g, 1 - s)
        = \operatorname{mean}\,[(1 - s)\operatorname{softplus}(-g) + s\operatorname{softplus}(g)]

  With ``s = 0`` this is ``-mean log sigmoid(g)``. It has the same fixed point as
  :func:`minimax_generator_loss` but strong gradients when D rejects the samples: the
  default choice for the generator. ``label_smoothing`` is usually left at 0 (smoothing
  is for the discriminator; :func:`get_loss_pair` routes it there).

  Args:
    discriminator_gen_outputs: discriminator logits on generated samples, any shape.
    label_smoothing: ``s`` in [0, 1); the generator's target is ``1 - s``.

  Returns:
    Scalar loss, minimised by the generator.

  References:
    Goodfellow et al., `Generative Adversarial Nets
    <https://arxiv.org/abs/1406.2661>`_, NeurIPS 2014, section 3.
  """
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  _check_label_smoothing(label_smoothing)
  return jnp.mean(_bce(g, 1.0 - label_smoothing))


non_saturating_generator_loss = modified_generator_loss
non_saturating_discriminator_loss = minimax_discriminator_loss
modified_discriminator_loss = minimax_discriminator_loss


# ---------------------------------------------------------------------------------------------
# Least squares (Mao et al. 2017).
# ---------------------------------------------------------------------------------------------


def least_squares_generator_loss(
    discriminator_gen_outputs: ArrayLike,
    *,
    real_label: float = 1.0,
) -> jax.Array:
  r"""Least-squares (LSGAN) generator loss.

  .. math::
    L_G = \tfrac{1}{2}\operatorname{mean}\,(g - c)^2

  ``c = real_label`` is the value G wants D to believe for generated data. In the paper's
  (a, b, c) notation the default is (0, 1, 1) (c = b, the real label); the coding with
  a Pearson chi-squared interpretation is (a, b, c) = (-1, 1, 0), i.e.
  ``real_label=0.0`` here and ``real_label=1.0, fake_label=-1.0`` for the discriminator.

  Args:
    discriminator_gen_outputs: discriminator outputs on generated samples, any shape.
    real_label: ``c``, the generator's target.

  Returns:
    Scalar loss, minimised by the generator.

  References:
    Mao et al., `Least Squares Generative Adversarial Networks
    <https://arxiv.org/abs/1611.04076>`_, ICCV 2017.
  """
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  return 0.5 * jnp.mean(jnp.square(g - real_label))


def least_squares_discriminator_loss(
    discriminator_real_outputs: ArrayLike,
    discriminator_gen_outputs: ArrayLike,
    *,
    real_label: float = 1.0,
    fake_label: float = 0.0,
) -> jax.Array:
  r"""Least-squares (LSGAN) discriminator loss.

  .. math::
    L_D = \tfrac{1}{2}\operatorname{mean}\,(r - b)^2 + \tfrac{1}{2}\operatorname{mean}\,(g - a)^2

  with ``b = real_label`` and ``a = fake_label``. Default (a, b, c) = (0, 1, 1); the
  (-1, 1, 0) coding is ``fake_label=-1.0`` here and ``real_label=0.0`` for
  :func:`least_squares_generator_loss`.

  Args:
    discriminator_real_outputs: discriminator outputs on real data, any shape.
    discriminator_gen_outputs: discriminator outputs on generated samples; same rank as
      the real outputs and a broadcast-compatible shape (in practice the same shape).
    real_label: ``b``, the target for real data.
    fake_label: ``a``, the target for generated data.

  Returns:
    Scalar loss (sum of the two halved means), minimised by the discriminator.

  Raises:
    ValueError: on mismatched ranks/shapes.
    TypeError: on non-floating inputs.

  References:
    Mao et al., `Least Squares Generative Adversarial Networks
    <https://arxiv.org/abs/1611.04076>`_, ICCV 2017.
  """
  r = _as_float_array(discriminator_real_outputs, "discriminator_real_outputs")
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  _check_real_gen(r, g, "discriminator_real_outputs", "discriminator_gen_outputs")
  return 0.5 * jnp.mean(jnp.square(r - real_label)) + 0.5 * jnp.mean(jnp.square(g - fake_label))


# ---------------------------------------------------------------------------------------------
# Wasserstein (Arjovsky et al. 2017) and hinge (Lim & Ye 2017; Miyato et al. 2018).
# ---------------------------------------------------------------------------------------------


def wasserstein_generator_loss(discriminator_gen_outputs: ArrayLike) -> jax.Array:
  r"""Wasserstein generator loss.

  .. math::
    L_G = -\operatorname{mean}\, g

  Args:
    discriminator_gen_outputs: critic outputs on generated samples, any shape.

  Returns:
    Scalar loss, minimised by the generator.

  References:
    Arjovsky et al., `Wasserstein GAN <https://arxiv.org/abs/1701.07875>`_, ICML 2017.
  """
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  return -jnp.mean(g)


def wasserstein_discriminator_loss(
    discriminator_real_outputs: ArrayLike,
    discriminator_gen_outputs: ArrayLike,
) -> jax.Array:
  r"""Wasserstein critic loss: the negated estimate of the Wasserstein-1 distance.

  .. math::
    L_D = \operatorname{mean}\, g - \operatorname{mean}\, r

  Only meaningful for a Lipschitz critic: clip its weights (the paper) or add
  ``lambda * gradient_penalty(...)`` (WGAN-GP, lambda = 10).

  Args:
    discriminator_real_outputs: critic outputs on real data, any shape.
    discriminator_gen_outputs: critic outputs on generated samples; same rank as the
      real outputs and a broadcast-compatible shape.

  Returns:
    Scalar loss, minimised by the critic.

  Raises:
    ValueError: on mismatched ranks/shapes.
    TypeError: on non-floating inputs.

  References:
    Arjovsky et al., `Wasserstein GAN <https://arxiv.org/abs/1701.07875>`_, ICML 2017.
  """
  r = _as_float_array(discriminator_real_outputs, "discriminator_real_outputs")
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  _check_real_gen(r, g, "discriminator_real_outputs", "discriminator_gen_outputs")
  return jnp.mean(g) - jnp.mean(r)


def hinge_generator_loss(discriminator_gen_outputs: ArrayLike) -> jax.Array:
  r"""Hinge-GAN generator loss (the same as the Wasserstein one).

  .. math::
    L_G = -\operatorname{mean}\, g

  Args:
    discriminator_gen_outputs: discriminator outputs on generated samples, any shape.

  Returns:
    Scalar loss, minimised by the generator.

  References:
    Lim & Ye, `Geometric GAN <https://arxiv.org/abs/1705.02894>`_, 2017.
    Miyato et al., `Spectral Normalization for GANs
    <https://arxiv.org/abs/1802.05957>`_, ICLR 2018.
  """
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  return -jnp.mean(g)


def hinge_discriminator_loss(
    discriminator_real_outputs: ArrayLike,
    discriminator_gen_outputs: ArrayLike,
) -> jax.Array:
  r"""Hinge-GAN discriminator loss.

  .. math::
    L_D = \operatorname{mean}\,\operatorname{relu}(1 - r)
        + \operatorname{mean}\,\operatorname{relu}(1 + g)

  Args:
    discriminator_real_outputs: discriminator outputs on real data, any shape.
    discriminator_gen_outputs: discriminator outputs on generated samples; same rank as
      the real outputs and a broadcast-compatible shape.

  Returns:
    Scalar loss, minimised by the discriminator.

  Raises:
    ValueError: on mismatched ranks/shapes.
    TypeError: on non-floating inputs.

  References:
    Lim & Ye, `Geometric GAN <https://arxiv.org/abs/1705.02894>`_, 2017.
    Miyato et al., `Spectral Normalization for GANs
    <https://arxiv.org/abs/1802.05957>`_, ICLR 2018.
  """
  r = _as_float_array(discriminator_real_outputs, "discriminator_real_outputs")
  g = _as_float_array(discriminator_gen_outputs, "discriminator_gen_outputs")
  _check_real_gen(r, g, "discriminator_real_outputs", "discriminator_gen_outputs")
  return jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + g))


# ---------------------------------------------------------------------------------------------
# Penalties that differentiate the discriminator with respect to its input.
# ---------------------------------------------------------------------------------------------


def _input_gradients(apply_fn: ApplyFn, variables: Any, x: jax.Array) -> jax.Array:
  # The gradient of the SUM over the batch equals the per-example gradients stacked, as
  # long as examples do not interact inside the discriminator (no batch statistics, as
  # WGAN-GP requires); one backward pass instead of B.
  return jax.grad(lambda x_: jnp.sum(apply_fn(variables, x_)))(x)


def _safe_l2_norm(x: jax.Array, axis: tuple[int, ...]) -> jax.Array:
  squared = jnp.sum(jnp.square(x), axis=axis)
  # sqrt has an infinite derivative at 0 (a constant critic has zero input gradient), and
  # 0 * inf = NaN in the backward pass. The double where keeps the value exact and makes
  # the gradient 0 there, a valid subgradient of the norm.
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def gradient_penalty(
    apply_fn: ApplyFn,
    variables: Any,
    real: ArrayLike,
    fake: ArrayLike,
    key: jax.Array,
    *,
    target: float = 1.0,
) -> jax.Array:
  r"""WGAN-GP gradient penalty on random interpolates of real and generated data.

  .. math::
    \hat x_i = \epsilon_i x_i + (1 - \epsilon_i) \tilde x_i,\quad \epsilon_i \sim U[0, 1];
    \qquad P = \operatorname{mean}_i\,(\lVert \nabla_{\hat x} D(\hat x_i) \rVert_2 - k)^2

  One ``epsilon`` per example, drawn as
  ``jax.random.uniform(key, (B, 1, ..., 1), real.dtype)`` and broadcast over the other
  axes. The norm is over ALL non-batch axes. The gradient is that of
  ``sum(apply_fn(variables, x_hat))``, so a PatchGAN's logits are summed per example, and
  examples must not interact in ``apply_fn`` (no BatchNorm in training mode). The
  penalty is UNweighted: the critic's loss adds ``lambda * gradient_penalty(...)``
  (lambda = 10 in the paper). Value and gradient stay finite where the input gradient is
  zero (e.g. a constant critic).

  Args:
    apply_fn: ``apply_fn(variables, x) -> logits``, a plain function (e.g. a Flax
      module's ``apply``, partially applied with ``train=False`` if needed).
    variables: the critic's variables, passed through to ``apply_fn``; differentiate
      the penalty with respect to them.
    real: real data, shape (B, ...), floating.
    fake: generated data, the same shape as ``real``.
    key: a PRNG key for the interpolation coefficients.
    target: ``k``, the gradient norm the critic is pushed towards.

  Returns:
    Scalar penalty.

  Raises:
    ValueError: if ``real`` and ``fake`` differ in shape or have no batch axis.
    TypeError: on non-floating inputs.

  References:
    Gulrajani et al., `Improved Training of Wasserstein GANs
    <https://arxiv.org/abs/1704.00028>`_, NeurIPS 2017.
  """
  real = _as_float_array(real, "real")
  fake = _as_float_array(fake, "fake")
  if real.shape != fake.shape:
    raise ValueError(
        f"real and fake must have the same shape, got {real.shape} and {fake.shape}."
    )
  if real.ndim < 1:
    raise ValueError("real and fake need a leading batch axis, got scalars.")
  eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
  eps = jax.random.uniform(key, eps_shape, dtype=real.dtype)
  x_hat = eps * real + (1.0 - eps) * fake
  grads = _input_gradients(apply_fn, variables, x_hat)
  norms = _safe_l2_norm(grads, axis=tuple(range(1, grads.ndim)))
  return jnp.mean(jnp.square(norms - target))


def r1_penalty(apply_fn: ApplyFn, variables: Any, real: ArrayLike) -> jax.Array:
  r"""R1 penalty: squared norm of the discriminator's input gradient on real data.

  .. math::
    R_1 = \operatorname{mean}_i\, \lVert \nabla_x D(x_i) \rVert_2^2

  The squared norm sums over all non-batch axes; the mean is over the batch. The
  penalty is UNweighted: the usual regulariser is ``gamma / 2 * r1_penalty(...)``
  added to the discriminator's loss. As for :func:`gradient_penalty`, the gradient is
  that of ``sum(apply_fn(variables, x))``, so examples must not interact in ``apply_fn``.

  Args:
    apply_fn: ``apply_fn(variables, x) -> logits``, a plain function.
    variables: the discriminator's variables, passed through to ``apply_fn``.
    real: real data, shape (B, ...), floating.

  Returns:
    Scalar penalty.

  Raises:
    ValueError: if ``real`` has no batch axis.
    TypeError: on non-floating inputs.

  References:
    Mescheder et al., `Which Training Methods for GANs do actually Converge?
    <https://arxiv.org/abs/1801.04406>`_, ICML 2018.
  """
  real = _as_float_array(real, "real")
  if real.ndim < 1:
    raise ValueError("real needs a leading batch axis, got a scalar.")
  grads = _input_gradients(apply_fn, variables, real)
  return jnp.mean(jnp.sum(jnp.square(grads), axis=tuple(range(1, grads.ndim))))


def feature_matching_loss(real_features: ArrayLike, gen_features: ArrayLike) -> jax.Array:
  r"""Feature matching: squared distance between batch means of intermediate features.

  .. math::
    L = \lVert \operatorname{mean}_i f(x_i) - \operatorname{mean}_j f(G(z_j)) \rVert_2^2

  The squared L2 norm sums, over every feature axis, the squared difference of the two
  batch means (it is not averaged over features). Batch sizes may differ.

  Args:
    real_features: features of real data, shape (B_real, ...).
    gen_features: features of generated data, shape (B_gen, ...), the same feature
      shape as ``real_features``.

  Returns:
    Scalar loss, minimised by the generator.

  Raises:
    ValueError: if the feature shapes (all axes but the first) differ.
    TypeError: on non-floating inputs.

  References:
    Salimans et al., `Improved Techniques for Training GANs
    <https://arxiv.org/abs/1606.03498>`_, NeurIPS 2016.
  """
  real = _as_float_array(real_features, "real_features")
  gen = _as_float_array(gen_features, "gen_features")
  if real.ndim < 1 or real.ndim != gen.ndim or real.shape[1:] != gen.shape[1:]:
    raise ValueError(
        "real_features and gen_features must be (batch, *features) with the same "
        f"feature shape, got {real.shape} and {gen.shape}."
    )
  diff = jnp.mean(real, axis=0) - jnp.mean(gen, axis=0)
  return jnp.sum(jnp.square(diff))


def l1_loss(generated: ArrayLike, target: ArrayLike) -> jax.Array:
  r"""L1 reconstruction loss: the mean absolute difference of generated and target images.

  .. math::
    L = \operatorname{mean} |G(x) - y|

  pix2pix's term beside the adversarial one (weight 100): it gets the low
  frequencies right, so the PatchGAN only has to judge local texture; CycleGAN's cycle
  loss is the same term on a round trip. Blurrier than an adversarial loss alone, but
  with far fewer artefacts.

  Args:
    generated: generated images, any shape.
    target: the images they should match, the same shape.

  Returns:
    Scalar loss, minimised by the generator.

  Raises:
    ValueError: if the shapes differ.
    TypeError: on non-floating inputs.

  References:
    Isola et al., `Image-to-Image Translation with Conditional Adversarial Networks
    <https://arxiv.org/abs/1611.07004>`_, CVPR 2017, equation 3.
  """
  gen = _as_float_array(generated, "generated")
  tgt = _as_float_array(target, "target")
  if gen.shape != tgt.shape:
    raise ValueError(f"generated and target must have one shape, got {gen.shape} and "
                     f"{tgt.shape}.")
  return jnp.mean(jnp.abs(gen - tgt))


# ---------------------------------------------------------------------------------------------
# Text-conditional GANs: StackGAN's matching-aware discriminator and conditioning augmentation.
# ---------------------------------------------------------------------------------------------


def matching_aware_discriminator_loss(
    real_logits: ArrayLike,
    wrong_logits: ArrayLike | None,
    fake_logits: ArrayLike,
    *,
    unconditional_real: ArrayLike | None = None,
    unconditional_fake: ArrayLike | None = None,
) -> jax.Array:
  r"""The matching-aware discriminator loss of text-to-image GANs (GAN-CLS).

  D scores (image, text) pairs: a real image with its own text is real; a real image with
  a mismatched text and a generated image with the right text are both fake, so D must
  judge whether the image fits the text as well as whether it looks real:

  .. math::
    L_D = \mathrm{BCE}(r, 1) + \tfrac12 [\mathrm{BCE}(w, 0) + \mathrm{BCE}(f, 0)]

  With StackGAN Stage II's unconditional logits (real ``u_r``, fake ``u_f``) as well, the
  reference's weighting:

  .. math::
    L_D = \tfrac12 [\mathrm{BCE}(r, 1) + \mathrm{BCE}(u_r, 1)]
        + \tfrac13 [\mathrm{BCE}(f, 0) + \mathrm{BCE}(w, 0) + \mathrm{BCE}(u_f, 0)]

  ``wrong_logits=None`` drops the mismatched pairs (the ablation): the fake terms are then
  averaged over what is left (``BCE(r, 1) + BCE(f, 0)`` without unconditional logits).

  Args:
    real_logits: D's conditional logits on (real image, its text), any shape.
    wrong_logits: on (real image, a text of another image that does not describe it), or
      None.
    fake_logits: on (generated image, the text it was generated from).
    unconditional_real, unconditional_fake: D's text-free logits on the real and the
      generated images (both or neither).

  Returns:
    Scalar loss, minimised by the discriminator.

  References:
    Reed et al., `Generative Adversarial Text to Image Synthesis
    <https://arxiv.org/abs/1605.05396>`_, ICML 2016, algorithm 1 (GAN-CLS); Zhang et al.,
    `StackGAN <https://arxiv.org/abs/1612.03242>`_, ICCV 2017, and its code
    (hanzhanggit/StackGAN-Pytorch, code/miscc/utils.py: compute_discriminator_loss).
  """
  if (unconditional_real is None) != (unconditional_fake is None):
    raise ValueError("unconditional_real and unconditional_fake go together: give both or "
                     "neither.")
  real = [_as_float_array(real_logits, "real_logits")]
  fake = [_as_float_array(fake_logits, "fake_logits")]
  if wrong_logits is not None:
    fake.append(_as_float_array(wrong_logits, "wrong_logits"))
  if unconditional_real is not None:
    real.append(_as_float_array(unconditional_real, "unconditional_real"))
    fake.append(_as_float_array(unconditional_fake, "unconditional_fake"))
  real_term = sum(jnp.mean(_bce(x, 1.0)) for x in real) / len(real)
  fake_term = sum(jnp.mean(_bce(x, 0.0)) for x in fake)
  if unconditional_real is None and wrong_logits is not None:
    return real_term + 0.5 * fake_term  # Reed et al.: real + (wrong + fake) / 2.
  return real_term + fake_term / len(fake)


def matching_aware_generator_loss(
    fake_logits: ArrayLike, *, unconditional_fake: ArrayLike | None = None
) -> jax.Array:
  r"""The generator's side of :func:`matching_aware_discriminator_loss` (non-saturating).

  .. math::
    L_G = \mathrm{BCE}(f, 1) \;[+\, \mathrm{BCE}(u_f, 1)]

  Args:
    fake_logits: D's conditional logits on (generated image, its text).
    unconditional_fake: D's text-free logits on the generated images (Stage II), or None.

  Returns:
    Scalar loss, minimised by the generator.

  References:
    Zhang et al., `StackGAN <https://arxiv.org/abs/1612.03242>`_, ICCV 2017, and its code
    (code/miscc/utils.py: compute_generator_loss).
  """
  loss = jnp.mean(_bce(_as_float_array(fake_logits, "fake_logits"), 1.0))
  if unconditional_fake is not None:
    loss += jnp.mean(_bce(_as_float_array(unconditional_fake, "unconditional_fake"), 1.0))
  return loss


def kl_standard_normal(mu: ArrayLike, logvar: ArrayLike) -> jax.Array:
  r"""KL divergence of N(mu, diag sigma^2) from N(0, I), averaged over every element.

  .. math::
    L_{KL} = -\tfrac12 \operatorname{mean}(1 + \log\sigma^2 - \mu^2 - \sigma^2)

  StackGAN's conditioning augmentation adds it to G's loss (weight 2 in the reference), so
  the condition c = mu + sigma eps stays close to a standard normal: a smooth condition
  manifold from few captions. The mean over elements (not the sum over dimensions) is the
  reference's KL_loss.

  Args:
    mu: means, any shape.
    logvar: log variances, the same shape.

  Returns:
    Scalar, >= 0, zero exactly at mu = 0, logvar = 0.

  References:
    Zhang et al., `StackGAN <https://arxiv.org/abs/1612.03242>`_, ICCV 2017, section 3.1;
    Kingma & Welling, `Auto-Encoding Variational Bayes <https://arxiv.org/abs/1312.6114>`_,
    appendix B.
  """
  mu = _as_float_array(mu, "mu")
  logvar = _as_float_array(logvar, "logvar")
  if mu.shape != logvar.shape:
    raise ValueError(f"mu and logvar must have one shape, got {mu.shape} and {logvar.shape}.")
  return -0.5 * jnp.mean(1.0 + logvar - jnp.square(mu) - jnp.exp(logvar))


# ---------------------------------------------------------------------------------------------
# Class logits: ACGAN's auxiliary classifier and the semi-supervised (K+1)-class discriminator.
# ---------------------------------------------------------------------------------------------


def _check_class_logits(logits: ArrayLike, name: str) -> jax.Array:
  logits = _as_float_array(logits, name)
  if logits.ndim < 2:
    raise ValueError(f"{name} must be (batch, ..., num_classes), got shape {logits.shape}.")
  return logits


def auxiliary_classifier_loss(class_logits: ArrayLike, labels: ArrayLike) -> jax.Array:
  r"""Softmax cross-entropy of class logits against integer labels: ACGAN's class loss.

  .. math::
    L_C = -\operatorname{mean}_i \log \operatorname{softmax}(l_i)_{y_i}
        = \operatorname{mean}_i\,(\operatorname{logsumexp}_k l_{ik} - l_{i y_i})

  ACGAN's discriminator minimises it on real AND generated images (with the labels the
  generator was asked for); the generator minimises it on its images. The semi-supervised
  GAN's supervised term is the same loss on the labelled examples: with the fake class'
  logit fixed at 0, ``p(y | x, real)`` is the softmax over the K class logits alone.

  Args:
    class_logits: (B, ..., K) logits over K classes.
    labels: integer class ids of shape ``class_logits.shape[:-1]``.

  Returns:
    Scalar loss.

  Raises:
    TypeError: on non-floating logits or non-integer labels.
    ValueError: if the shapes do not match, or concrete labels are outside [0, K).
      Traced labels (under ``jit``) cannot be checked: any outside [0, K) makes the loss
      NaN.

  References:
    Odena, Olah & Shlens, `Conditional Image Synthesis with Auxiliary Classifier GANs
    <https://arxiv.org/abs/1610.09585>`_, ICML 2017.
  """
  logits = _check_class_logits(class_logits, "class_logits")
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(f"labels must be integer class ids, got dtype {labels.dtype}.")
  if labels.shape != logits.shape[:-1]:
    raise ValueError(
        f"labels must have shape class_logits.shape[:-1] = {logits.shape[:-1]}, "
        f"got {labels.shape}."
    )
  num_classes = logits.shape[-1]
  if not isinstance(labels, jax.core.Tracer):  # Concrete labels can be checked here.
    bad = np.asarray(labels)[(np.asarray(labels) < 0) | (np.asarray(labels) >= num_classes)]
    if bad.size:
      raise ValueError(f"labels must be class ids in [0, {num_classes}), got "
                       f"{sorted(set(bad.tolist()))[:5]}.")
  valid = (labels >= 0) & (labels < num_classes)
  picked = jnp.take_along_axis(logits, jnp.clip(labels, 0, num_classes - 1)[..., None],
                               axis=-1)[..., 0]
  # Traced labels out of range cannot raise: they make the loss NaN (which the training
  # loop reports as divergence), never a loss for some other class.
  return jnp.mean(jnp.where(valid, jax.nn.logsumexp(logits, axis=-1) - picked, jnp.nan))


def semi_supervised_source_logits(class_logits: ArrayLike) -> jax.Array:
  r"""The real-vs-fake logit of a K-class discriminator under the (K+1) logit trick.

  With the fake class' logit fixed at 0, ``D(x) = Z / (Z + 1)``, ``Z = sum_k exp(l_k)``,
  so ``D(x) = sigmoid(logsumexp_k l_k)``: the logsumexp of the class logits is an
  ordinary real/fake logit, usable with every loss of this module.

  Args:
    class_logits: (B, ..., K) logits over the K real classes.

  Returns:
    (B, ...) logits.
  """
  logits = _check_class_logits(class_logits, "class_logits")
  return jax.nn.logsumexp(logits, axis=-1)


def semi_supervised_generator_loss(discriminator_gen_outputs: ArrayLike) -> jax.Array:
  r"""Non-saturating generator loss of the semi-supervised GAN, on K class logits.

  .. math::
    L_G = -\operatorname{mean} \log D(G(z)) = \operatorname{mean}\,\operatorname{softplus}
          (-\operatorname{logsumexp}_k l_k),\qquad D = Z / (Z + 1)

  For semi-supervised classification Salimans et al. train the generator with feature
  matching (:func:`feature_matching_loss`) instead, which gives the better classifier;
  this loss gives the better samples.

  Args:
    discriminator_gen_outputs: (B, ..., K) class logits on generated samples.

  Returns:
    Scalar loss, minimised by the generator.

  References:
    Salimans et al., `Improved Techniques for Training GANs
    <https://arxiv.org/abs/1606.03498>`_, NeurIPS 2016.
  """
  g = semi_supervised_source_logits(discriminator_gen_outputs)
  return jnp.mean(jax.nn.softplus(-g))


def semi_supervised_discriminator_loss(
    discriminator_real_outputs: ArrayLike, discriminator_gen_outputs: ArrayLike
) -> jax.Array:
  r"""Unsupervised loss of the (K+1)-class discriminator, with the logit trick.

  .. math::
    L = -\operatorname{mean} \log D(x) - \operatorname{mean} \log(1 - D(G(z))),
    \qquad D(x) = \frac{Z(x)}{Z(x) + 1},\ Z(x) = \textstyle\sum_k e^{l_k(x)}

  With ``s = logsumexp_k l_k``: ``-log D = softplus(-s)`` and ``-log(1 - D) = softplus(s)``,
  exact and finite for logits of any size (Z itself would overflow). It equals the K+1-way
  softmax cross-entropy with a fixed fake logit 0: "real" on unlabelled real data (any of
  the K classes) and "fake" on generated data. Add :func:`auxiliary_classifier_loss` on the
  labelled examples for the supervised term.

  Args:
    discriminator_real_outputs: (B, ..., K) class logits on unlabelled real data.
    discriminator_gen_outputs: (B', ..., K) class logits on generated data.

  Returns:
    Scalar loss, minimised by the discriminator.

  References:
    Salimans et al., `Improved Techniques for Training GANs
    <https://arxiv.org/abs/1606.03498>`_, NeurIPS 2016; Odena, `Semi-Supervised Learning
    with Generative Adversarial Networks <https://arxiv.org/abs/1606.01583>`_, 2016.
  """
  real = _check_class_logits(discriminator_real_outputs, "discriminator_real_outputs")
  gen = _check_class_logits(discriminator_gen_outputs, "discriminator_gen_outputs")
  if real.ndim != gen.ndim or real.shape[1:] != gen.shape[1:]:
    raise ValueError(
        "discriminator_real_outputs and discriminator_gen_outputs must have the same "
        f"shape but for the batch, got {real.shape} and {gen.shape}."
    )
  r = jax.nn.logsumexp(real, axis=-1)
  g = jax.nn.logsumexp(gen, axis=-1)
  return jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(g))


# ---------------------------------------------------------------------------------------------
# Registry for configs.
# ---------------------------------------------------------------------------------------------

LOSS_FAMILIES = ("minimax", "non_saturating", "least_squares", "wasserstein", "hinge")

# family -> (generator loss, discriminator loss, {hparam: (generator kwarg, discriminator
# kwarg)}), None where that side does not take it. label_smoothing reaches only D: smoothing
# is one-sided. For least squares, c defaults to b (real_label to both sides);
# generator_label overrides c, for the (a, b, c) = (-1, 1, 0) coding.
_FAMILIES: dict[str, tuple[Callable, Callable, dict[str, tuple[str | None, str | None]]]] = {
    "minimax": (
        minimax_generator_loss,
        minimax_discriminator_loss,
        {"label_smoothing": (None, "label_smoothing")},
    ),
    "non_saturating": (
        modified_generator_loss,
        minimax_discriminator_loss,
        {"label_smoothing": (None, "label_smoothing")},
    ),
    "least_squares": (
        least_squares_generator_loss,
        least_squares_discriminator_loss,
        {
            "real_label": ("real_label", "real_label"),
            "fake_label": (None, "fake_label"),
            "generator_label": ("real_label", None),
        },
    ),
    "wasserstein": (wasserstein_generator_loss, wasserstein_discriminator_loss, {}),
    "hinge": (hinge_generator_loss, hinge_discriminator_loss, {}),
}


def get_loss_pair(name: str, **hparams: Any) -> tuple[GeneratorLossFn, DiscriminatorLossFn]:
  """Returns ``(generator_loss_fn, discriminator_loss_fn)`` for a loss family by name.

  The hyper-parameters are bound with ``functools.partial``, so the functions take
  ``(discriminator_gen_outputs)`` and ``(discriminator_real_outputs,
  discriminator_gen_outputs)``. Accepted hyper-parameters:

  - ``minimax``, ``non_saturating``: ``label_smoothing``, given to the DISCRIMINATOR loss
    only (one-sided smoothing); the generator keeps the target 1.
  - ``least_squares``: ``real_label`` (b, and by default also the generator's target c),
    ``fake_label`` (a, discriminator only), ``generator_label`` (c, overriding
    ``real_label`` for the generator). The (-1, 1, 0) coding is
    ``fake_label=-1.0, generator_label=0.0``.
  - ``wasserstein``, ``hinge``: none.

  Args:
    name: one of :data:`LOSS_FAMILIES`.
    **hparams: hyper-parameters of that family, as above.

  Returns:
    The generator and discriminator loss functions.

  Raises:
    ValueError: for an unknown family or a hyper-parameter that family does not take.
  """
  if name not in _FAMILIES:
    raise ValueError(
        f"Unknown loss family {name!r}; valid names are: {', '.join(LOSS_FAMILIES)}."
    )
  generator_loss, discriminator_loss, routes = _FAMILIES[name]
  unknown = sorted(set(hparams) - set(routes))
  if unknown:
    accepted = ", ".join(sorted(routes)) or "none"
    raise ValueError(
        f"Unknown hyper-parameter(s) {', '.join(unknown)} for loss family {name!r}; "
        f"it accepts: {accepted}."
    )
  if "label_smoothing" in hparams:
    # Fail when the config is read, not at the first training step.
    _check_label_smoothing(hparams["label_smoothing"])
  g_kwargs: dict[str, Any] = {}
  d_kwargs: dict[str, Any] = {}
  # generator_label comes last so that it overrides real_label for the generator.
  for hparam in sorted(hparams, key=lambda h: h == "generator_label"):
    g_kwarg, d_kwarg = routes[hparam]
    if g_kwarg is not None:
      g_kwargs[g_kwarg] = hparams[hparam]
    if d_kwarg is not None:
      d_kwargs[d_kwarg] = hparams[hparam]
  return (
      functools.partial(generator_loss, **g_kwargs),
      functools.partial(discriminator_loss, **d_kwargs),
  )
