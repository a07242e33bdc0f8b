import numpy as np
import pytest

from zeroskip.models.share import kmeans_1d, linear_init, n_centroids, share_weights


def test_linear_init_spans_min_to_max():
    np.testing.assert_allclose(linear_init(np.array([3.0, -1.0, 0.5]), 5), [-1, 0, 1, 2, 3])


def test_kmeans_recovers_planted_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([-1.0, 0.2, 2.0])
    labels = rng.integers(0, 3, 3000)
    values = centers[labels] + rng.normal(0, 0.02, 3000)
    found, assigned = kmeans_1d(values, linear_init(values, 3))
    np.testing.assert_allclose(found, centers, atol=0.005)
    np.testing.assert_array_equal(assigned, labels)


def test_kmeans_converges_to_a_fixed_point():
    rng = np.random.default_rng(1)
    values = rng.standard_normal(500)
    centroids, labels = kmeans_1d(values, linear_init(values, 8))
    for k in range(8):  # every centroid is the mean of its members, every value goes to the nearest
        if np.any(labels == k):
            assert centroids[k] == pytest.approx(values[labels == k].mean())
    nearest = np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)
    np.testing.assert_array_equal(labels, nearest)


def test_kmeans_keeps_empty_clusters_in_place():
    values = np.array([0.0, 0.0, 10.0, 10.0])
    centroids, labels = kmeans_1d(values, np.array([0.0, 4.0, 10.0]))
    np.testing.assert_array_equal(centroids, [0.0, 4.0, 10.0])
    np.testing.assert_array_equal(labels, [0, 0, 2, 2])


def test_share_weights_reserves_code_zero_for_pruned():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((20, 30)).astype(np.float32)
    mask = np.abs(w) > 1.0
    codebook, codes = share_weights(w, mask, 7)
    assert codebook.dtype == np.float32 and len(codebook) == 8 and codebook[0] == 0.0
    assert codes.shape == w.shape and codes.dtype == np.uint8
    np.testing.assert_array_equal(codes == 0, ~mask)
    assert codes.max() <= 7
    assert np.abs(codebook[codes] - w * mask).max() < 0.5  # 7 levels over |w| > 1


def test_share_weights_with_256_centroids_needs_wider_codes():
    w = np.linspace(-1, 1, 1000).reshape(10, 100)
    codebook, codes = share_weights(w, np.ones(w.shape, bool), 256)
    assert codes.dtype == np.uint16 and codes.max() == 256 and len(codebook) == 257


def test_n_centroids():
    assert n_centroids(5, reserve_zero=False) == 32
    assert n_centroids(4, reserve_zero=True) == 15  # EIE: 16 codes, code 0 is 0.0
    with pytest.raises(ValueError):
        n_centroids(9, False)
    with pytest.raises(ValueError):
        n_centroids(0, False)
