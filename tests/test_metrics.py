"""Tests for ganjax.metrics: hand-computed values, brute-force references, invariances."""

import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from scipy.spatial.distance import cdist

from ganjax import metrics


def _gaussian(rng, n, d, shift=0.0):
    """Correlated Gaussian features, so that covariances do not commute."""
    mixing = rng.normal(size=(d, d)) / math.sqrt(d)
    return rng.normal(size=(n, d)) @ mixing + shift


# ----------------------------------------------------------------------------- FID


def test_feature_moments_hand_computed():
    mu, sigma = metrics.feature_moments([[0, 0], [2, 0], [0, 2], [2, 2]])
    # Mean (1, 1); each coordinate deviates by +-1 four times: variance 4 / (4 - 1).
    np.testing.assert_allclose(mu, [1.0, 1.0])
    np.testing.assert_allclose(sigma, [[4 / 3, 0.0], [0.0, 4 / 3]])
    assert mu.dtype == np.float64 and sigma.dtype == np.float64


def test_feature_moments_one_feature_gives_1x1_covariance():
    _, sigma = metrics.feature_moments([[0.0], [2.0]])
    np.testing.assert_allclose(sigma, [[2.0]])


def test_frechet_distance_hand_computed_1d():
    # a: mean 1, variance 2; b: mean 3, variance 8. (1-3)^2 + 2 + 8 - 2 sqrt(16) = 6.
    assert metrics.frechet_distance([[0.0], [2.0]], [[1.0], [5.0]]) == pytest.approx(6.0)


def test_frechet_distance_from_moments_hand_computed():
    # Diagonal: |(1, 1)|^2 + (1 + 4) + (4 + 9) - 2 (sqrt(4) + sqrt(36)) = 2 + 18 - 16 = 4.
    fid = metrics.frechet_distance_from_moments(
        np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([4.0, 9.0]))
    assert fid == pytest.approx(4.0, rel=1e-12)
    # Non-commuting: for a 2x2 matrix M with real non-negative eigenvalues,
    # Tr(M^(1/2)) = sqrt(Tr M + 2 sqrt(det M)). M = diag(4, 1) [[2, 1], [1, 2]] has
    # Tr M = 10 and det M = 12, so FID = (4 + 1) + (2 + 2) - 2 sqrt(10 + 4 sqrt(3)).
    fid = metrics.frechet_distance_from_moments(
        np.zeros(2), np.diag([4.0, 1.0]), np.zeros(2), np.array([[2.0, 1.0], [1.0, 2.0]]))
    assert fid == pytest.approx(9.0 - 2.0 * math.sqrt(10.0 + 4.0 * math.sqrt(3.0)), rel=1e-12)


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a, b = _gaussian(rng, 300, 8), _gaussian(rng, 200, 8, shift=0.3)
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a + sigma_b - 2.0 * covmean)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert metrics.frechet_distance_from_moments(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(
        expected, rel=1e-9)


@pytest.mark.parametrize("n, d", [(500, 16), (10, 32)])
def test_frechet_distance_of_a_set_with_itself_is_zero(n, d):
    x = _gaussian(np.random.default_rng(n), n, d, shift=3.0)
    fid = metrics.frechet_distance(x, x)
    assert 0.0 <= fid < 1e-6
    assert 0.0 <= metrics.frechet_distance_from_moments(*metrics.feature_moments(x),
                                                        *metrics.feature_moments(x)) < 1e-6


def test_frechet_distance_shift_adds_squared_norm_and_is_symmetric():
    rng = np.random.default_rng(1)
    a, b = _gaussian(rng, 100, 6), _gaussian(rng, 80, 6)
    v = rng.normal(size=6)
    assert metrics.frechet_distance(a, a + v) == pytest.approx(v @ v, rel=1e-8)
    assert metrics.frechet_distance(a, b) == pytest.approx(metrics.frechet_distance(b, a),
                                                           rel=1e-10)


def test_frechet_distance_fewer_samples_than_features():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(12, 32)) + 0.5
    fid = metrics.frechet_distance(a, b)
    # With centred data X, S = X^T X / (n - 1), and Tr((S_a S_b)^(1/2)) is the nuclear norm of
    # X_a X_b^T / sqrt((n_a - 1)(n_b - 1)): no matrix square root at all.
    xa, xb = a - a.mean(0), b - b.mean(0)
    nuclear = scipy.linalg.svdvals(xa @ xb.T).sum() / math.sqrt(9 * 11)
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.sum(xa**2) / 9 + np.sum(xb**2) / 11
                - 2.0 * nuclear)
    assert np.isfinite(fid)
    assert fid == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("a, b, match", [
    (np.zeros((5,)), np.zeros((5, 2)), "2-D"),
    (np.zeros((5, 2, 1)), np.zeros((5, 2)), "2-D"),
    (np.zeros((5, 3)), np.zeros((5, 2)), "same feature dimension"),
    (np.zeros((1, 2)), np.zeros((5, 2)), "at least 2 samples"),
    (np.full((5, 2), np.nan), np.zeros((5, 2)), "NaN"),
])
def test_frechet_distance_bad_inputs_raise(a, b, match):
    with pytest.raises(ValueError, match=match):
        metrics.frechet_distance(a, b)


def test_frechet_distance_from_moments_bad_shapes_raise():
    with pytest.raises(ValueError, match="same shape"):
        metrics.frechet_distance_from_moments(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="sigma_b must have shape"):
        metrics.frechet_distance_from_moments(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        metrics.frechet_distance_from_moments(np.zeros(2), np.eye(2) * np.nan, np.zeros(2),
                                              np.eye(2))


# ----------------------------------------------------------------------------- KID


def _direct_mmd2(x, y):
    """Unbiased MMD^2 with k(u, v) = (u.v/d + 1)^3, one pair at a time."""
    d = x.shape[1]

    def kern(u, v):
        return (u @ v / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(kern(x[i], x[j]) for i, j in itertools.permutations(range(m), 2))
    yy = sum(kern(y[i], y[j]) for i, j in itertools.permutations(range(n), 2))
    xy = sum(kern(x[i], y[j]) for i in range(m) for j in range(n))
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)


def test_kid_hand_computed():
    # d = 1: k(0, 1) = 1; k(2, 3) = 7^3 = 343; cross k(0,2) + k(0,3) + k(1,2) + k(1,3)
    # = 1 + 1 + 27 + 64 = 93. MMD^2 = 1 + 343 - 2 * 93 / 4 = 297.5, for every subset.
    mean, std = metrics.kernel_inception_distance([[0.0], [1.0]], [[2.0], [3.0]], num_subsets=3)
    assert mean == pytest.approx(297.5, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_kid_matches_direct_mmd_when_subsets_are_whole_sets():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4)) + 0.2
    # subset_size is capped at 20: every subset is a permutation of the whole set.
    mean, std = metrics.kernel_inception_distance(a, b, num_subsets=2, subset_size=1000)
    assert mean == pytest.approx(_direct_mmd2(a, b), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-10)


def test_kid_subsets_are_deterministic_and_sensitive():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(40, 4)) + 1.0
    first = metrics.kernel_inception_distance(a, b, num_subsets=5, subset_size=15, seed=7)
    assert first == metrics.kernel_inception_distance(a, b, num_subsets=5, subset_size=15, seed=7)
    assert first != metrics.kernel_inception_distance(a, b, num_subsets=5, subset_size=15, seed=8)
    assert first[0] > 0.0 and first[1] > 0.0
    near = metrics.kernel_inception_distance(a, a[::-1] + 1e-3, num_subsets=5, subset_size=15)
    assert abs(near[0]) < first[0]


def test_kid_bad_inputs_raise():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="same feature dimension"):
        metrics.kernel_inception_distance(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.kernel_inception_distance(x, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="subset_size"):
        metrics.kernel_inception_distance(x, x, subset_size=1)
    with pytest.raises(ValueError, match="num_subsets"):
        metrics.kernel_inception_distance(x, x, num_subsets=0)


# ----------------------------------------------------------------------------- IS


def test_inception_score_hand_computed():
    # p(y) = (3/4, 1/4). KL rows: log(4/3) and (1/2) log(2/3) + (1/2) log(2) = (1/2) log(4/3).
    # IS = exp((3/4) log(4/3)) = (4/3)^(3/4).
    mean, std = metrics.inception_score([[1.0, 0.0], [0.5, 0.5]], num_splits=1)
    assert mean == pytest.approx((4 / 3) ** 0.75, rel=1e-12)
    assert std == 0.0
    # Two splits: two distinct one-hot rows score 2, two equal ones 1.
    mean, std = metrics.inception_score([[1, 0], [0, 1], [1, 0], [1, 0]], num_splits=2)
    assert (mean, std) == pytest.approx((1.5, 0.5), rel=1e-12)


def test_inception_score_bounds():
    k = 7
    one_hot = np.eye(k)[np.tile(np.arange(k), 10)]  # each split of 7 rows holds every class
    assert metrics.inception_score(one_hot, num_splits=10) == pytest.approx((k, 0.0), abs=1e-9)
    row = np.random.default_rng(5).dirichlet(np.ones(k))
    mean, std = metrics.inception_score(np.tile(row, (30, 1)), num_splits=3)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_matches_direct_computation():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(31, 5)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs[::4, 0] = 0.0  # exact zeros must be safe (0 log 0 = 0)
    probs /= probs.sum(1, keepdims=True)
    scores = []
    for part in (probs[0:10], probs[10:20], probs[20:31]):  # i * 31 // 3 boundaries
        marginal = part.mean(0)
        scores.append(np.exp(np.mean([scipy.stats.entropy(p, marginal) for p in part])))
    mean, std = metrics.inception_score(probs, num_splits=3)
    assert mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert std == pytest.approx(np.std(scores), rel=1e-9)


@pytest.mark.parametrize("probs, num_splits, match", [
    ([[0.5, 0.4]], 1, "sum to 1"),
    ([[1.5, -0.5]], 1, "non-negative"),
    ([0.5, 0.5], 1, "2-D"),
    ([[0.5, 0.5], [1.0, 0.0]], 3, "at least 3 samples"),
    ([[np.nan, 1.0]], 1, "NaN"),
])
def test_inception_score_bad_inputs_raise(probs, num_splits, match):
    with pytest.raises(ValueError, match=match):
        metrics.inception_score(probs, num_splits=num_splits)


# ----------------------------------------------------------------------------- P/R, D/C

# 1-D hand case, k = 1. Real balls (radius = distance to the nearest other real):
#   0: [-1, 1], 1: [0, 2], 3: [1, 5], 7: [3, 11].
# Fake balls: 0.5: [0.3, 0.7], 0.7: [0.5, 0.9], 6: [0.7, 11.3], 20: [6, 34].
_REAL = [[0.0], [1.0], [3.0], [7.0]]
_FAKE = [[0.5], [0.7], [6.0], [20.0]]


def test_precision_recall_hand_computed():
    # Fakes in a real ball: 0.5, 0.7, 6 (not 20). Reals in a fake ball: 1, 3, 7 (not 0).
    assert metrics.precision_recall(_REAL, _FAKE, k=1) == {"precision": 0.75, "recall": 0.75}


def test_density_coverage_hand_computed():
    # Real balls holding each fake: 0.5 -> 2, 0.7 -> 2, 6 -> 1, 20 -> 0; density 5 / (1 * 4).
    # Real balls holding some fake: those of 0, 1, 7 (not [1, 5] of 3); coverage 3 / 4.
    assert metrics.density_coverage(_REAL, _FAKE, k=1) == {"density": 1.25, "coverage": 0.75}


def test_knn_radius_excludes_the_point_itself():
    # The nearest other real to 0 is 10, so -5 lies in its ball; counting 0 itself would make
    # the radius 0 and the precision 0.
    result = metrics.precision_recall([[0.0], [10.0], [11.0]], [[-5.0], [-6.0]], k=1)
    assert result["precision"] == 1.0


def _brute_force(real, fake, k):
    real_radii = np.sort(cdist(real, real), axis=1)[:, k]  # column 0 is the point itself
    fake_radii = np.sort(cdist(fake, fake), axis=1)[:, k]
    dist = cdist(real, fake)  # (N, M)
    in_real_balls = dist <= real_radii[:, None]
    return {
        "precision": in_real_balls.any(axis=0).mean(),
        "recall": (dist <= fake_radii[None, :]).any(axis=1).mean(),
        "density": in_real_balls.sum() / (k * len(fake)),
        "coverage": in_real_balls.any(axis=1).mean(),
    }


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("chunk_size", [16, 1000])
def test_knn_metrics_match_brute_force(k, chunk_size):
    # 101 = 6 * 16 + 5 and 77 = 4 * 16 + 13 rows: the last chunk of each set is padded.
    rng = np.random.default_rng(7)
    real = _gaussian(rng, 101, 5) + 10.0  # the offset exercises the centring
    fake = _gaussian(rng, 77, 5, shift=10.3)
    expected = _brute_force(real, fake, k)
    pr = metrics.precision_recall(real, fake, k=k, chunk_size=chunk_size)
    dc = metrics.density_coverage(real, fake, k=k, chunk_size=chunk_size)
    assert pr == pytest.approx({key: expected[key] for key in ("precision", "recall")})
    assert dc == pytest.approx({key: expected[key] for key in ("density", "coverage")})
    assert 0.0 < pr["precision"] < 1.0 and 0.0 < pr["recall"] < 1.0


def test_knn_metrics_of_a_set_with_itself():
    x = np.random.default_rng(8).normal(size=(40, 3))
    assert metrics.precision_recall(x, x, chunk_size=16) == {"precision": 1.0, "recall": 1.0}
    assert metrics.density_coverage(x, x, chunk_size=16)["coverage"] == 1.0


@pytest.mark.parametrize("fn", [metrics.precision_recall, metrics.density_coverage])
def test_knn_metrics_bad_inputs_raise(fn):
    x = np.zeros((6, 2))
    with pytest.raises(ValueError, match="real_features needs at least 4 samples"):
        fn(x[:3], x, k=3)  # k >= n
    with pytest.raises(ValueError, match="same feature dimension"):
        fn(x, np.zeros((6, 3)), k=1)
    with pytest.raises(ValueError, match="2-D"):
        fn(x, np.zeros(6), k=1)
    with pytest.raises(ValueError, match="NaN"):
        fn(x, np.full((6, 2), np.nan), k=1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        fn(x, x, k=0)
    with pytest.raises(ValueError, match="chunk_size"):
        fn(x, x, k=1, chunk_size=0)


def test_precision_recall_needs_k_fakes_too():
    with pytest.raises(ValueError, match="fake_features needs at least 4 samples"):
        metrics.precision_recall(np.zeros((6, 2)), np.zeros((3, 2)), k=3)


@pytest.mark.parametrize("n_a, n_b, d", [(40, 60, 80), (300, 10, 64), (7, 7, 9)])
def test_frechet_distance_with_few_samples_equals_the_covariance_route(n_a, n_b, d):
    # frechet_distance takes the (n_a, n_b) SVD route when n_a * n_b <= d^2; it must give
    # what the (d, d) covariances give.
    rng = np.random.default_rng(n_a + n_b + d)
    a = rng.normal(size=(n_a, d)) @ rng.normal(size=(d, d)) * 0.3
    b = rng.normal(size=(n_b, d)) + 0.5
    assert n_a * n_b <= d * d
    expected = metrics.frechet_distance_from_moments(
        *metrics.feature_moments(a), *metrics.feature_moments(b))
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert metrics.frechet_distance(b, a) == pytest.approx(expected, rel=1e-8)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
