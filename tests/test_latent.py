"""Latent tools: interpolation, vector arithmetic, inversion, the expression parser."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import latent


def _z(seed, shape):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("method", latent.METHODS)
def test_interpolation_hits_both_endpoints(method):
  z0, z1 = _z(0, (3, 16)), _z(1, (3, 16))
  path = np.asarray(latent.interpolate(z0, z1, num=5, method=method))
  assert path.shape == (5, 3, 16)
  np.testing.assert_allclose(path[0], z0, atol=1e-5)
  np.testing.assert_allclose(path[-1], z1, atol=1e-5)


def test_slerp_stays_on_the_sphere_where_lerp_cuts_inside():
  z0, z1 = _z(0, (4, 64)), _z(1, (4, 64))
  z0 /= np.linalg.norm(z0, axis=1, keepdims=True)
  z1 /= np.linalg.norm(z1, axis=1, keepdims=True)
  t = np.linspace(0, 1, 7)[:, None]
  s = np.asarray(latent.slerp(z0[None], z1[None], t))
  np.testing.assert_allclose(np.linalg.norm(s, axis=-1), 1.0, atol=1e-5)
  mid = np.asarray(latent.lerp(z0, z1, 0.5))
  assert np.all(np.linalg.norm(mid, axis=-1) < 0.9)  # nearly orthogonal in 64-d
  # Constant angular speed: equal angles between consecutive points.
  cos = np.sum(s[1:] * s[:-1], axis=-1)
  np.testing.assert_allclose(cos, np.broadcast_to(cos[0], cos.shape), atol=1e-5)


def test_slerp_of_parallel_vectors_is_finite():
  z = _z(0, (2, 8))
  out = np.asarray(latent.slerp(z, 2 * z, 0.5))
  np.testing.assert_allclose(out, 1.5 * z, rtol=1e-4)


def test_interpolation_grid_and_bad_input():
  z = latent.interpolation_grid(jax.random.key(0), num_rows=3, num_steps=4, latent_dim=5)
  assert z.shape == (12, 5)
  with pytest.raises(ValueError, match="unknown interpolation"):
    latent.interpolate(z[0], z[1], num=3, method="cubic")
  with pytest.raises(ValueError, match="num must be >= 2"):
    latent.interpolate(z[0], z[1], num=1)
  with pytest.raises(ValueError, match="same shape"):
    latent.interpolate(z[0], z[:2], num=3)


def test_combine_is_a_weighted_sum_of_group_means():
  a, b, c = _z(0, (3, 6)), _z(1, (5, 6)), _z(2, (1, 6))
  out = np.asarray(latent.combine([a, b, c], [1, -1, 1]))
  assert out.shape == (6,)
  np.testing.assert_allclose(out, a.mean(0) - b.mean(0) + c.mean(0), atol=1e-6)
  with pytest.raises(ValueError, match="one coefficient per group"):
    latent.combine([a, b], [1])
  with pytest.raises(ValueError, match="non-empty"):
    latent.combine([a, np.zeros((0, 6))], [1, 1])
  groups = latent.group_by(np.arange(10)[:, None], np.arange(10) % 3, [0, 2])
  assert [g[:, 0].tolist() for g in groups] == [[0, 3, 6, 9], [2, 5, 8]]
  with pytest.raises(ValueError, match="no sample in group"):
    latent.group_by(np.zeros((3, 2)), np.zeros(3), [1])


def test_parse_expression():
  assert latent.parse_expression("7-1+4") == [(1.0, 7), (-1.0, 1), (1.0, 4)]
  assert latent.parse_expression("[0,1]-[2] + 3") == [(1.0, [0, 1]), (-1.0, [2]), (1.0, 3)]
  for bad in ("7*2", "a-b", ""):
    with pytest.raises(latent.LatentError, match="cannot parse"):
      latent.parse_expression(bad)


def test_psnr():
  a = jnp.zeros((2, 4, 4, 1))
  b = a.at[0].set(0.2)  # MSE 0.04 on the first image: 10 log10(4 / 0.04) = 20 dB.
  np.testing.assert_allclose(latent.psnr(a, b)[0], 20.0, rtol=1e-5)
  assert latent.psnr(a, b)[1] > 100


def test_inversion_recovers_a_known_z_better_than_random():
  d = 6
  w = jnp.asarray(_z(0, (d, 4 * 4)) / np.sqrt(d))
  generate = lambda z: jnp.tanh(z @ w).reshape(-1, 4, 4, 1)  # injective: 16 outputs, 6 inputs
  z_true = jnp.asarray(_z(1, (8, d)))
  result = latent.invert(generate, generate(z_true), jax.random.key(0), latent_dim=d,
                         num_steps=300, learning_rate=0.05, num_random=64)
  assert result.z.shape == (8, d) and result.images.shape == (8, 4, 4, 1)
  assert np.all(result.psnr >= result.random_psnr)
  assert np.mean(result.psnr) > 40 and np.mean(result.random_psnr) < 30
  np.testing.assert_allclose(result.z, z_true, atol=0.05)
  with pytest.raises(ValueError, match=r"images \(N, H, W, C\)"):
    latent.invert(generate, jnp.zeros((8, 16)), jax.random.key(0), latent_dim=d)
