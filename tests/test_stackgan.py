"""StackGAN: its losses, networks, captioned batches, both stages, the CLI with typed
captions, and its evaluation."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import losses


def _softplus(x):
  return np.log1p(np.exp(x))


# --------------------------------------------------------------------------- losses


def test_matching_aware_discriminator_loss_weighs_the_terms_as_the_references():
  r, w, f, ur, uf = 1.0, -2.0, 0.5, 0.3, -0.7
  bce1, bce0 = (lambda x: _softplus(-x)), _softplus  # BCE(x, 1), BCE(x, 0)
  # Reed et al. (Stage I): real + (wrong + fake) / 2.
  got = losses.matching_aware_discriminator_loss(jnp.array([r]), jnp.array([w]), jnp.array([f]))
  np.testing.assert_allclose(got, bce1(r) + (bce0(w) + bce0(f)) / 2, rtol=1e-6)
  # StackGAN's Stage II: (real + uncond real) / 2 + (fake + wrong + uncond fake) / 3.
  got = losses.matching_aware_discriminator_loss(
      jnp.array([r]), jnp.array([w]), jnp.array([f]), unconditional_real=jnp.array([ur]),
      unconditional_fake=jnp.array([uf]))
  want = (bce1(r) + bce1(ur)) / 2 + (bce0(f) + bce0(w) + bce0(uf)) / 3
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # No mismatched pairs (the ablation): real + fake.
  got = losses.matching_aware_discriminator_loss(jnp.array([r]), None, jnp.array([f]))
  np.testing.assert_allclose(got, bce1(r) + bce0(f), rtol=1e-6)
  with pytest.raises(ValueError, match="both or neither"):
    losses.matching_aware_discriminator_loss(jnp.array([r]), None, jnp.array([f]),
                                             unconditional_real=jnp.array([ur]))


def test_matching_aware_generator_loss_adds_the_unconditional_term():
  f, uf = np.array([0.5, -1.0]), np.array([2.0, 0.0])
  np.testing.assert_allclose(losses.matching_aware_generator_loss(f),
                             np.mean(_softplus(-f)), rtol=1e-6)
  np.testing.assert_allclose(losses.matching_aware_generator_loss(f, unconditional_fake=uf),
                             np.mean(_softplus(-f)) + np.mean(_softplus(-uf)), rtol=1e-6)


def test_kl_standard_normal_is_the_closed_form_averaged_over_elements():
  assert float(losses.kl_standard_normal(jnp.zeros((4, 3)), jnp.zeros((4, 3)))) == 0.0
  mu, logvar = np.array([[1.0, -0.5]]), np.array([[0.2, -1.0]])
  per = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar)  # KL of each 1-D Gaussian.
  np.testing.assert_allclose(losses.kl_standard_normal(mu, logvar), per.mean(), rtol=1e-6)
  grad_mu = jax.grad(lambda m: losses.kl_standard_normal(m, jnp.zeros(2)))(jnp.array([1.0, 2.0]))
  np.testing.assert_allclose(grad_mu, [0.5, 1.0])  # d/dmu mean(mu^2 / 2) = mu / n.
  with pytest.raises(ValueError, match="one shape"):
    losses.kl_standard_normal(jnp.zeros(3), jnp.zeros(2))
