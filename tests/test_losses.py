"""Tests for ganjax.losses: exact values on one shared set of logits, as TF-GAN does.

The expected numbers were computed by hand (softplus values to 30 digits with mpmath), not by
re-running the formulas under test. With r the real and g the generated logits below:

  softplus(0) = 0.693147180559945   softplus(2) = 2.126928011042972
  softplus(-1) = 0.313261687518223  softplus(-3) = 0.048587351573742
  softplus(1.5) = 1.701413277982752
  mean(r) = 0.5, mean(g) = -0.625
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from ganjax import losses

REAL = np.array([-2.0, 0.0, 1.0, 3.0], np.float32)
GEN = np.array([1.5, -1.0, 0.0, -3.0], np.float32)

# (loss, kwargs, expected) for the generator losses, called as loss(GEN, **kwargs).
GENERATOR_CASES = {
    # -mean softplus(g)
    "minimax": (losses.minimax_generator_loss, {}, -0.6891023744086657),
    # mean softplus(-g) = mean softplus(g) - mean(g) = 0.689102... + 0.625
    "modified": (losses.modified_generator_loss, {}, 1.3141023744086657),
    # BCE(g, 1 - s) = softplus(-g) + s * g: adds s * mean(g) = 0.25 * -0.625
    "modified_smoothed": (
        losses.modified_generator_loss, {"label_smoothing": 0.25}, 1.1578523744086657
    ),
    # 0.5 * mean([0.25, 4, 1, 16])
    "least_squares": (losses.least_squares_generator_loss, {}, 2.65625),
    # (-1, 1, 0) coding, c = 0: 0.5 * mean([2.25, 1, 0, 9])
    "least_squares_c0": (losses.least_squares_generator_loss, {"real_label": 0.0}, 1.53125),
    "wasserstein": (losses.wasserstein_generator_loss, {}, 0.625),
    "hinge": (losses.hinge_generator_loss, {}, 0.625),
}

# (loss, kwargs, expected) for the discriminator losses, called as loss(REAL, GEN, **kwargs).
DISCRIMINATOR_CASES = {
    # mean softplus(-r) + mean softplus(g)
    #   = (2.1269 + ln2 + 0.3133 + 0.0486) / 4 + (1.7014 + 0.3133 + ln2 + 0.0486) / 4
    "minimax": (losses.minimax_discriminator_loss, {}, 1.4845834320823863),
    # one-sided: the real term gains s * mean(r) = 0.25 * 0.5, the fake term is unchanged
    "minimax_smoothed": (
        losses.minimax_discriminator_loss, {"label_smoothing": 0.25}, 1.6095834320823863
    ),
    # 0.5 * mean([9, 1, 0, 4]) + 0.5 * mean([2.25, 1, 0, 9]) = 1.75 + 1.53125
    "least_squares": (losses.least_squares_discriminator_loss, {}, 3.28125),
    # (-1, 1, 0) coding, a = -1: 1.75 + 0.5 * mean([6.25, 0, 1, 4])
    "least_squares_a-1": (losses.least_squares_discriminator_loss, {"fake_label": -1.0}, 3.15625),
    # mean(g) - mean(r) = -0.625 - 0.5
    "wasserstein": (losses.wasserstein_discriminator_loss, {}, -1.125),
    # mean(relu([3, 1, 0, -2])) + mean(relu([2.5, 0, 1, -2])) = 1 + 0.875
    "hinge": (losses.hinge_discriminator_loss, {}, 1.875),
}

ALL_GENERATOR_LOSSES = [
    losses.minimax_generator_loss,
    losses.modified_generator_loss,
    losses.least_squares_generator_loss,
    losses.wasserstein_generator_loss,
    losses.hinge_generator_loss,
]
ALL_DISCRIMINATOR_LOSSES = [
    losses.minimax_discriminator_loss,
    losses.least_squares_discriminator_loss,
    losses.wasserstein_discriminator_loss,
    losses.hinge_discriminator_loss,
]


# ------------------------------------------------------------------------------------------
# Exact values, shapes, transformations.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(GENERATOR_CASES))
def test_generator_loss_exact_value(case):
    loss, kwargs, expected = GENERATOR_CASES[case]
    value = loss(GEN, **kwargs)
    assert value.shape == ()
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@pytest.mark.parametrize("case", sorted(DISCRIMINATOR_CASES))
def test_discriminator_loss_exact_value(case):
    loss, kwargs, expected = DISCRIMINATOR_CASES[case]
    value = loss(REAL, GEN, **kwargs)
    assert value.shape == ()
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_aliases():
    assert losses.non_saturating_generator_loss is losses.modified_generator_loss
    assert losses.non_saturating_discriminator_loss is losses.minimax_discriminator_loss
    assert losses.modified_discriminator_loss is losses.minimax_discriminator_loss


def test_bce_losses_agree_with_optax():
    rng = np.random.default_rng(0)
    real = rng.normal(scale=8.0, size=(6, 3, 3, 1)).astype(np.float32)
    gen = rng.normal(scale=8.0, size=(6, 3, 3, 1)).astype(np.float32)
    bce = optax.sigmoid_binary_cross_entropy
    s = 0.1
    np.testing.assert_allclose(
        losses.minimax_discriminator_loss(real, gen, label_smoothing=s),
        jnp.mean(bce(real, jnp.full_like(real, 1 - s))) + jnp.mean(bce(gen, jnp.zeros_like(gen))),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        losses.modified_generator_loss(gen, label_smoothing=s),
        jnp.mean(bce(gen, jnp.full_like(gen, 1 - s))),
        rtol=1e-5,
    )
    # log(1 - sigmoid(g)) = -BCE(g, 0)
    np.testing.assert_allclose(
        losses.minimax_generator_loss(gen), -jnp.mean(bce(gen, jnp.zeros_like(gen))), rtol=1e-5
    )


@pytest.mark.parametrize("shape", [(4, 1), (1, 2, 2, 1), (2, 1, 2, 1)])
def test_patch_shaped_inputs_give_the_same_means(shape):
    real, gen = REAL.reshape(shape), GEN.reshape(shape)
    for loss, kwargs, expected in GENERATOR_CASES.values():
        np.testing.assert_allclose(loss(gen, **kwargs), expected, rtol=1e-6)
    for loss, kwargs, expected in DISCRIMINATOR_CASES.values():
        np.testing.assert_allclose(loss(real, gen, **kwargs), expected, rtol=1e-6)


def test_jit_and_vmap():
    real = jnp.asarray(REAL).reshape(1, 2, 2, 1)
    gen = jnp.asarray(GEN).reshape(1, 2, 2, 1)
    for name in ("minimax", "least_squares", "hinge"):
        loss, kwargs, expected = DISCRIMINATOR_CASES[name]
        jitted = jax.jit(lambda r, g, loss=loss, kwargs=kwargs: loss(r, g, **kwargs))
        np.testing.assert_allclose(jitted(real, gen), expected, rtol=1e-6)
    loss, kwargs, expected = GENERATOR_CASES["modified_smoothed"]
    np.testing.assert_allclose(jax.jit(lambda g: loss(g, **kwargs))(gen), expected, rtol=1e-6)
    # vmap over a leading axis of independent problems: one loss per row.
    batched = jnp.stack([jnp.asarray(REAL), jnp.asarray(GEN)])
    per_row = jax.vmap(losses.minimax_discriminator_loss)(batched, batched[::-1])
    np.testing.assert_allclose(per_row[0], DISCRIMINATOR_CASES["minimax"][2], rtol=1e-6)
    np.testing.assert_allclose(
        per_row[1], losses.minimax_discriminator_loss(GEN, REAL), rtol=1e-6
    )


def test_gradients_match_finite_differences():
    # Points away from the hinge's kinks at +-1 and of moderate size for float32 differences.
    real = jnp.array([-1.7, 0.3, 0.6, 2.2])
    gen = jnp.array([1.2, -0.4, 0.1, -2.5])
    kw = dict(order=2, modes=("rev",), atol=1e-2, rtol=1e-2)
    smoothed = lambda r, g: losses.minimax_discriminator_loss(r, g, label_smoothing=0.1)
    check_grads(smoothed, (real, gen), **kw)
    check_grads(losses.modified_generator_loss, (gen,), **kw)
    check_grads(losses.minimax_generator_loss, (gen,), **kw)
    check_grads(losses.least_squares_discriminator_loss, (real, gen), **kw)
    check_grads(losses.hinge_discriminator_loss, (real, gen), **{**kw, "order": 1})


def test_gradient_of_non_saturating_loss_is_sigmoid_minus_one():
    # d/dg mean softplus(-g) = (sigmoid(g) - 1) / n: does not vanish when D rejects (g << 0).
    grad = jax.grad(losses.modified_generator_loss)(jnp.array([-10.0, 0.0]))
    np.testing.assert_allclose(grad, [(1 / (1 + math.exp(10)) - 1) / 2, -0.25], rtol=1e-6)


def test_large_logits_give_finite_values_and_gradients():
    big = jnp.array([1e4, -1e4], jnp.float32)
    for loss in ALL_GENERATOR_LOSSES:
        value, grad = jax.value_and_grad(loss)(big)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), loss.__name__
    for loss in ALL_DISCRIMINATOR_LOSSES:
        value, grads = jax.value_and_grad(loss, argnums=(0, 1))(big, big)
        assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads), loss.__name__
    # Exact: BCE(1e4, 1) = 0, BCE(-1e4, 1) = 1e4 (real); BCE(1e4, 0) = 1e4, BCE(-1e4, 0) = 0.
    np.testing.assert_allclose(losses.minimax_discriminator_loss(big, big), 1e4)
    np.testing.assert_allclose(losses.minimax_generator_loss(big), -5e3)
    np.testing.assert_allclose(losses.modified_generator_loss(big), 5e3)


def test_infinite_logits_give_the_limit_never_nan():
    inf = jnp.inf
    # A saturated D: real +inf (sure it is real) and fake -inf (sure it is fake).
    assert float(losses.minimax_discriminator_loss(jnp.array([inf]), jnp.array([-inf]))) == 0.0
    assert float(losses.modified_generator_loss(jnp.array([-inf]))) == inf
    assert float(losses.modified_generator_loss(jnp.array([inf]))) == 0.0
    assert float(losses.minimax_generator_loss(jnp.array([inf]))) == -inf
    # One-sided smoothing: a real logit of +inf now costs 0.1 * inf.
    assert float(losses.minimax_discriminator_loss(
        jnp.array([inf]), jnp.array([-inf]), label_smoothing=0.1)) == inf
    both = jnp.array([inf, -inf, 0.0])
    for g, d in [losses.get_loss_pair(n) for n in ("minimax", "non_saturating", "least_squares")]:
        assert not np.isnan(float(g(both))) and not np.isnan(float(d(both, both)))
    assert not np.isnan(float(losses.hinge_discriminator_loss(both, both)))
    grads = jax.grad(losses.minimax_discriminator_loss, argnums=(0, 1))(both, both)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_class_labels_outside_the_classes_raise_or_give_nan_under_jit():
    logits = jnp.zeros((2, 3))
    for labels in ([0, 3], [-1, 0]):
        with pytest.raises(ValueError, match=r"labels must be class ids in \[0, 3\), got "):
            losses.auxiliary_classifier_loss(logits, jnp.array(labels))
        # Traced labels cannot raise: NaN, never the loss of another class (-1 would wrap).
        assert np.isnan(jax.jit(losses.auxiliary_classifier_loss)(logits, jnp.array(labels)))


# ------------------------------------------------------------------------------------------
# Input checks.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ALL_DISCRIMINATOR_LOSSES)
def test_discriminator_shape_mismatch_raises(loss):
    with pytest.raises(ValueError, match="discriminator_real_outputs"):
        loss(jnp.zeros((4,)), jnp.zeros((3,)))  # not broadcastable
    with pytest.raises(ValueError, match="same rank"):
        loss(jnp.zeros((4, 1)), jnp.zeros((4,)))  # different ranks


def test_integer_and_bool_inputs_raise_type_error():
    ints, floats = jnp.array([1, 0, 1]), jnp.zeros((3,))
    for loss in ALL_GENERATOR_LOSSES:
        with pytest.raises(TypeError, match="floating"):
            loss(ints)
        with pytest.raises(TypeError, match="floating"):
            loss(ints.astype(bool))
    for loss in ALL_DISCRIMINATOR_LOSSES:
        with pytest.raises(TypeError, match="discriminator_real_outputs"):
            loss(ints, floats)
        with pytest.raises(TypeError, match="discriminator_gen_outputs"):
            loss(floats, ints)
    with pytest.raises(TypeError):
        losses.feature_matching_loss(ints[:, None], floats[:, None])
    with pytest.raises(TypeError):
        losses.gradient_penalty(
            _linear_critic, {"w": jnp.ones((3,))}, ints, ints, jax.random.key(0)
        )


def test_empty_and_bad_label_smoothing_raise():
    with pytest.raises(ValueError, match="empty"):
        losses.wasserstein_generator_loss(jnp.zeros((0,)))
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="label_smoothing"):
            losses.minimax_discriminator_loss(REAL, GEN, label_smoothing=bad)


# ------------------------------------------------------------------------------------------
# Penalties and feature matching.
# ------------------------------------------------------------------------------------------


def _linear_critic(variables, x):
    # D(x) = <w, x> per example: its input gradient is w everywhere.
    return jnp.sum(x * variables["w"], axis=tuple(range(1, x.ndim)))


def _image_inputs():
    kr, kf = jax.random.split(jax.random.key(1))
    return jax.random.normal(kr, (3, 4, 4, 2)), jax.random.normal(kf, (3, 4, 4, 2))


def _w_with_norm_3():
    return jnp.zeros((4, 4, 2)).at[0, 0, 0].set(2.0).at[1, 2, 1].set(-2.0).at[3, 3, 0].set(1.0)


def test_gradient_penalty_linear_critic_exact():
    real, fake = _image_inputs()
    variables = {"w": _w_with_norm_3()}  # ||w|| = sqrt(4 + 4 + 1) = 3
    key = jax.random.key(0)
    penalty = lambda v, **kw: losses.gradient_penalty(_linear_critic, v, real, fake, key, **kw)
    np.testing.assert_allclose(penalty(variables), 4.0, rtol=1e-6)
    np.testing.assert_allclose(penalty(variables, target=3.0), 0.0, atol=1e-6)
    # A (B, 1) output, jitted: the same.
    critic_b1 = lambda v, x: _linear_critic(v, x)[:, None]
    jitted = jax.jit(lambda v, r, f, k: losses.gradient_penalty(critic_b1, v, r, f, k))
    np.testing.assert_allclose(jitted(variables, real, fake, key), 4.0, rtol=1e-6)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 4 w / 3.
    grad = jax.grad(penalty)(variables)
    np.testing.assert_allclose(grad["w"], 4.0 * variables["w"] / 3.0, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_draws_one_epsilon_per_example():
    real, fake = _image_inputs()
    key = jax.random.key(7)

    def square_critic(variables, x):
        del variables
        return jnp.sum(x**2, axis=(1, 2, 3))  # input gradient 2x, depends on x

    # Manual per-example computation, with the documented draw.
    eps = np.asarray(jax.random.uniform(key, (3, 1, 1, 1)))
    assert len(np.unique(eps)) == 3
    x_hat = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    norms = 2.0 * np.sqrt(np.sum(x_hat.astype(np.float64) ** 2, axis=(1, 2, 3)))
    expected = np.mean((norms - 1.0) ** 2)
    value = losses.gradient_penalty(square_critic, {}, real, fake, key)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    # One epsilon shared by the batch would give a different value.
    shared = eps[0] * np.asarray(real) + (1 - eps[0]) * np.asarray(fake)
    shared_norms = 2.0 * np.sqrt(np.sum(shared.astype(np.float64) ** 2, axis=(1, 2, 3)))
    assert not np.isclose(np.mean((shared_norms - 1.0) ** 2), expected, rtol=1e-3)


def test_gradient_penalty_finite_gradient_when_input_gradient_is_zero():
    real, fake = _image_inputs()
    key = jax.random.key(0)
    # w = 0: a constant critic. A naive sqrt norm gives NaN gradients here.
    value, grad = jax.value_and_grad(
        lambda v: losses.gradient_penalty(_linear_critic, v, real, fake, key)
    )({"w": jnp.zeros((4, 4, 2))})
    np.testing.assert_allclose(value, 1.0)
    assert np.all(np.isfinite(grad["w"]))
    # A critic whose output ignores x entirely.
    constant = lambda v, x: jnp.broadcast_to(v["b"], x.shape[:1])
    value, grad = jax.value_and_grad(
        lambda v: losses.gradient_penalty(constant, v, real, fake, key)
    )({"b": jnp.array(2.0)})
    np.testing.assert_allclose(value, 1.0)
    assert np.isfinite(grad["b"])


def test_gradient_penalty_shape_mismatch_raises():
    real, fake = _image_inputs()
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(
            _linear_critic, {"w": _w_with_norm_3()}, real, fake[:2], jax.random.key(0)
        )


def test_r1_penalty_linear_critic_exact():
    real, _ = _image_inputs()
    variables = {"w": _w_with_norm_3()}
    np.testing.assert_allclose(losses.r1_penalty(_linear_critic, variables, real), 9.0, rtol=1e-6)
    # d/dw ||w||^2 = 2w
    grad = jax.grad(lambda v: losses.r1_penalty(_linear_critic, v, real))(variables)
    np.testing.assert_allclose(grad["w"], 2.0 * variables["w"], rtol=1e-6)


def test_feature_matching_exact_value():
    real = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])  # batch mean [3, 5]
    gen = jnp.array([[0.0, 1.0], [2.0, 3.0]])  # batch mean [1, 2]; a smaller batch
    np.testing.assert_allclose(losses.feature_matching_loss(real, gen), 13.0)  # 2^2 + 3^2
    # Extra feature axes are summed over too.
    np.testing.assert_allclose(
        losses.feature_matching_loss(real.reshape(3, 1, 2), gen.reshape(2, 1, 2)), 13.0
    )
    with pytest.raises(ValueError, match="feature shape"):
        losses.feature_matching_loss(real, gen[:, :1])
    with pytest.raises(ValueError, match="feature shape"):
        losses.feature_matching_loss(real, gen.reshape(2, 2, 1))


# ------------------------------------------------------------------------------------------
# Registry.
# ------------------------------------------------------------------------------------------


def test_get_loss_pair_matches_the_named_functions():
    expected = {
        "minimax": (GENERATOR_CASES["minimax"][2], DISCRIMINATOR_CASES["minimax"][2]),
        "non_saturating": (GENERATOR_CASES["modified"][2], DISCRIMINATOR_CASES["minimax"][2]),
        "least_squares": (
            GENERATOR_CASES["least_squares"][2], DISCRIMINATOR_CASES["least_squares"][2]
        ),
        "wasserstein": (GENERATOR_CASES["wasserstein"][2], DISCRIMINATOR_CASES["wasserstein"][2]),
        "hinge": (GENERATOR_CASES["hinge"][2], DISCRIMINATOR_CASES["hinge"][2]),
    }
    assert set(expected) == set(losses.LOSS_FAMILIES)
    for name, (g_value, d_value) in expected.items():
        g_loss, d_loss = losses.get_loss_pair(name)
        np.testing.assert_allclose(g_loss(GEN), g_value, rtol=1e-6)
        np.testing.assert_allclose(d_loss(REAL, GEN), d_value, rtol=1e-6)


def test_get_loss_pair_routes_hyper_parameters():
    # label_smoothing reaches the discriminator only (one-sided smoothing).
    for name, g_case in (("minimax", "minimax"), ("non_saturating", "modified")):
        g_loss, d_loss = losses.get_loss_pair(name, label_smoothing=0.25)
        np.testing.assert_allclose(g_loss(GEN), GENERATOR_CASES[g_case][2], rtol=1e-6)
        np.testing.assert_allclose(
            d_loss(REAL, GEN), DISCRIMINATOR_CASES["minimax_smoothed"][2], rtol=1e-6
        )
    # (a, b, c) = (-1, 1, 0).
    g_loss, d_loss = losses.get_loss_pair("least_squares", fake_label=-1.0, generator_label=0.0)
    np.testing.assert_allclose(g_loss(GEN), 1.53125)
    np.testing.assert_allclose(d_loss(REAL, GEN), 3.15625)
    # real_label is b and, by default, c: 0.5 mean((g - 2)^2) = 0.5 mean([0.25, 9, 4, 25]);
    # 0.5 mean((r - 2)^2) + 0.5 mean((g - 0.5)^2)
    #   = 0.5 mean([16, 4, 1, 1]) + 0.5 mean([1, 2.25, 0.25, 12.25])
    g_loss, d_loss = losses.get_loss_pair("least_squares", real_label=2.0, fake_label=0.5)
    np.testing.assert_allclose(g_loss(GEN), 4.78125)
    np.testing.assert_allclose(d_loss(REAL, GEN), 2.75 + 1.96875)


def test_get_loss_pair_errors():
    valid = "minimax, non_saturating, least_squares, wasserstein, hinge"
    with pytest.raises(ValueError, match=valid):
        losses.get_loss_pair("dragan")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.get_loss_pair("hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match="real_label"):
        losses.get_loss_pair("non_saturating", real_label=0.9)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        losses.get_loss_pair("minimax", label_smoothing=1.5)


def test_the_readme_snippet_runs_as_written():
  import os
  import re
  readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "README.md")).read()
  snippet = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
                 if "from ganjax import losses" in block)
  scope = {}
  exec(snippet, scope)  # noqa: S102  (the README's own code)
  for name in ("d_loss", "g_loss", "gp"):
    assert scope[name].shape == () and bool(jnp.isfinite(scope[name]))
