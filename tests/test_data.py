"""Tests for ganjax.data: the offline `digits` builder and the TFDS input pipeline."""

import collections
import hashlib
import os
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ganjax import data
from ganjax.data import digits

ONE_SHARD = dict(process_index=0, process_count=1)


@pytest.fixture(scope="session")
def sklearn_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return digits.to_uint8(d.images)[..., None], d.target


def _examples(data_dir, split):
    """All (image bytes, label) pairs of a digits split, straight from TFDS."""
    ds = tfds.builder("digits", data_dir=data_dir).as_dataset(split=split, batch_size=-1)
    batch = tfds.as_numpy(ds)
    return batch["image"], batch["label"]


def _keys(images, labels):
    return collections.Counter(
        hashlib.sha1(image.tobytes()).hexdigest() + f":{int(label)}"
        for image, label in zip(images, labels))


def _epoch(data_dir, **kwargs):
    kwargs = {"split": "train", "batch_size": 100, "resolution": 8, "data_dir": data_dir,
              "repeat": False, "drop_remainder": False, **ONE_SHARD, **kwargs}
    return list(data.load("digits", **kwargs))


# ---- the digits builder ----


def test_digits_info(data_dir):
    assert data.info("digits", data_dir=data_dir) == data.DatasetInfo(
        name="digits", num_examples={"train": 1497, "test": 300}, image_shape=(8, 8, 1),
        num_classes=10)
    tfds_info = tfds.builder("digits", data_dir=data_dir).info
    assert str(tfds_info.version) == "1.0.0"
    assert "Alpaydin" in tfds_info.citation and tfds_info.description


def test_digits_to_uint8_rounds_half_up():
    np.testing.assert_array_equal(digits.to_uint8([0, 1, 8, 15, 16]), [0, 16, 128, 239, 255])


def test_digits_split_is_fixed_and_stratified(sklearn_digits):
    images, labels = sklearn_digits
    held_out = digits.held_out_indices(labels)
    assert len(held_out) == 300 and np.all(np.bincount(labels[held_out]) == 30)
    # Pinned: the split must never change under the same version.
    assert hashlib.sha256(held_out.astype("<i8").tobytes()).hexdigest().startswith("60c98210")


def test_digits_splits_hold_the_sklearn_examples(data_dir, sklearn_digits):
    images, labels = sklearn_digits
    held_out = digits.held_out_indices(labels)
    train_images, train_labels = _examples(data_dir, "train")
    test_images, test_labels = _examples(data_dir, "test")
    assert train_images.shape == (1497, 8, 8, 1) and train_images.dtype == np.uint8
    assert test_images.shape == (300, 8, 8, 1)
    assert set(np.unique(train_labels)) == set(range(10))
    assert set(np.unique(test_images)) <= set(digits.to_uint8(np.arange(17)))
    assert _keys(test_images, test_labels) == _keys(images[held_out], labels[held_out])
    assert _keys(train_images, train_labels) + _keys(test_images, test_labels) == _keys(
        images, labels)


# ---- load ----


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_load_digits_batches(data_dir, resolution):
    batch = next(data.load("digits", split="train", batch_size=16, resolution=resolution,
                           data_dir=data_dir, **ONE_SHARD))
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (16, resolution, resolution, 1)
    assert batch["image"].dtype == np.float32 and batch["label"].dtype == np.int32
    assert batch["image"].min() >= -1.0 and batch["image"].max() <= 1.0
    assert batch["image"].min() == -1.0  # Digits have a black background.
    assert np.all((batch["label"] >= 0) & (batch["label"] < 10))
    if resolution == 8:  # Not resized: exactly the stored pixels, scaled.
        pixels = (batch["image"] + 1.0) * 127.5
        np.testing.assert_allclose(pixels, np.rint(pixels), atol=1e-4)
        assert set(np.rint(pixels).ravel()) <= set(digits.to_uint8(np.arange(17)))


def test_load_tiles_gray_to_rgb_and_drops_labels(data_dir):
    batch = next(data.load("digits", split="test", batch_size=8, resolution=16, channels=3,
                           with_labels=False, data_dir=data_dir, **ONE_SHARD))
    assert set(batch) == {"image"} and batch["image"].shape == (8, 16, 16, 3)
    np.testing.assert_array_equal(batch["image"][..., 0], batch["image"][..., 2])


@pytest.mark.parametrize("drop_remainder, sizes", [(True, [64] * 4), (False, [64] * 4 + [44])])
def test_load_drop_remainder(data_dir, drop_remainder, sizes):
    batches = _epoch(data_dir, split="test", batch_size=64, drop_remainder=drop_remainder)
    assert [len(b["label"]) for b in batches] == sizes


def test_load_is_deterministic_for_a_seed(data_dir):
    def first(seed):
        batches = data.load("digits", split="train", batch_size=32, resolution=8, seed=seed,
                            data_dir=data_dir, **ONE_SHARD)
        return [next(batches)["image"] for _ in range(3)]

    np.testing.assert_array_equal(first(0), first(0))
    assert not np.array_equal(first(0), first(1))


def test_load_shards_by_process(data_dir):
    epoch = [_epoch(data_dir, process_index=i, process_count=2) for i in range(2)]
    keys = [_keys(np.concatenate([b["image"] for b in e]),
                  np.concatenate([b["label"] for b in e])) for e in epoch]
    whole = _epoch(data_dir, shuffle=False)
    full = _keys(np.concatenate([b["image"] for b in whole]),
                 np.concatenate([b["label"] for b in whole]))
    assert [sum(k.values()) for k in keys] == [749, 748]
    assert keys[0] + keys[1] == full  # Together exactly the split: disjoint halves.


def test_load_checks_arguments(data_dir):
    with pytest.raises(ValueError, match="channels"):
        data.load("digits", split="train", batch_size=8, resolution=8, channels=2,
                  data_dir=data_dir)
    with pytest.raises(ValueError, match="process_index"):
        data.load("digits", split="train", batch_size=8, resolution=8, data_dir=data_dir,
                  process_index=2, process_count=2)
    with pytest.raises(ValueError, match="center_crop"):
        data.load("digits", split="train", batch_size=8, resolution=8, center_crop=9,
                  data_dir=data_dir, **ONE_SHARD)


# ---- real TFDS datasets, mocked ----


def _mocked(name, tmp_path, **kwargs):
    with tfds.testing.mock_data(num_examples=10):
        return next(data.load(name, split="train", batch_size=4, data_dir=str(tmp_path),
                              **ONE_SHARD, **kwargs))


def test_load_mnist_mocked(tmp_path):
    batch = _mocked("mnist", tmp_path, resolution=32, channels=3)
    assert batch["image"].shape == (4, 32, 32, 3) and batch["label"].dtype == np.int32
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0


def test_load_cifar10_mocked_to_gray(tmp_path):
    batch = _mocked("cifar10", tmp_path, resolution=32, channels=1)
    assert batch["image"].shape == (4, 32, 32, 1) and batch["label"].shape == (4,)


def test_load_celeb_a_mocked_crops_and_has_no_label(tmp_path):
    batch = _mocked("celeb_a", tmp_path, resolution=64, center_crop=140)
    assert set(batch) == {"image"} and batch["image"].shape == (4, 64, 64, 3)


# ---- errors ----


def test_unprepared_dataset_fails_fast_in_one_line(tmp_path, monkeypatch):
    # A proxy that refuses connections: no network here, whatever machine runs the test.
    for key in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    start = time.monotonic()
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load("mnist", split="train", batch_size=8, resolution=28, data_dir=str(tmp_path),
                  **ONE_SHARD)
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert "\n" not in message and "'mnist'" in message and str(tmp_path) in message
    assert "tfds build mnist" in message
    with pytest.raises(data.DatasetNotFoundError):
        data.info("mnist", data_dir=str(tmp_path))
    leftovers = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert not leftovers


def test_unknown_dataset_suggests_close_names(tmp_path):
    with pytest.raises(data.UnknownDatasetError) as error:
        data.info("mnsit", data_dir=str(tmp_path))
    assert isinstance(error.value, data.DatasetNotFoundError)
    assert "\n" not in str(error.value) and "'mnist'" in str(error.value)


def test_probe_gives_up_on_a_server_that_never_answers(monkeypatch):
    import socket

    from ganjax.data import prepare

    for key in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    with socket.socket() as silent:  # Accepts connections (backlog), never replies.
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        start = time.monotonic()
        reason = prepare._probe(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
    assert reason == "timed out" and time.monotonic() - start < 3
    assert prepare._probe("https://name.invalid", timeout=0.5) == "name does not resolve"
