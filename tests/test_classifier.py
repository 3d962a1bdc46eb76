"""The domain classifier: it learns, it is cached, a bad cache is retrained with a warning."""

import json
import os

import numpy as np
import pytest

from ganjax import classifier, data


def _read_json(path):
  with open(path) as f:
    return json.load(f)


def _halves(n, seed):
  """A trivial task: class 0 is bright on the left half, class 1 on the right."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, n)
  images = rng.normal(-0.8, 0.2, (n, 8, 8, 1))
  for i, y in enumerate(labels):
    images[i, :, 4 * y:4 * y + 4] += 1.2
  return images.astype(np.float32), labels.astype(np.int32)


def test_learns_a_trivial_task():
  images, labels = _halves(256, 0)
  module, params = classifier.train_classifier(images, labels, num_classes=2, num_steps=40,
                                               batch_size=32)
  clf = classifier.DomainClassifier(module, params,
                                    {"dataset": "halves", "resolution": 8, "channels": 1})
  test_images, test_labels = _halves(200, 1)
  assert clf.accuracy(test_images, test_labels) >= 0.95
  features, probs = clf.predict(test_images, batch_size=64)  # 4 chunks, the last padded
  assert features.shape == (200, classifier.FEATURE_DIM) and probs.shape == (200, 2)
  np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
  with pytest.raises(ValueError, match=r"images of shape \(N, 8, 8, 1\)"):
    clf.predict(np.zeros((2, 16, 16, 1)))


def test_network_stages_stop_at_4x4():
  assert classifier.widths_for(8) == (16, 32)
  assert classifier.widths_for(16) == (16, 32)
  assert classifier.widths_for(32) == (16, 32, 64)


@pytest.fixture(scope="module")
def digits_cache(tmp_path_factory, data_dir):
  directory = str(tmp_path_factory.mktemp("clf") / "digits_16_1")
  clf = classifier.get_classifier("digits", resolution=16, channels=1, data_dir=data_dir,
                                  directory=directory, num_steps=80, log=lambda *_: None)
  return directory, clf


def test_digits_classifier_is_trained_cached_and_reloaded(digits_cache, data_dir, monkeypatch):
  directory, clf = digits_cache
  assert clf.test_accuracy >= 0.85  # 80 steps; the default (701 steps) reaches 0.97+.
  meta = _read_json(os.path.join(directory, "classifier.json"))
  assert meta["num_test"] == 300 and meta["num_classes"] == 10
  # The second call loads the cache: training it again would fail here.
  monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: pytest.fail("retrained"))
  again = classifier.get_classifier("digits", resolution=16, channels=1, data_dir=data_dir,
                                    directory=directory)
  images, _ = data.load_split("digits", "test", resolution=16, channels=1,
                                    data_dir=data_dir, limit=50)
  np.testing.assert_array_equal(again.predict(images)[1], clf.predict(images)[1])


def test_default_directory_follows_the_cache_variable(monkeypatch, tmp_path):
  monkeypatch.setenv("GANJAX_CACHE_DIR", str(tmp_path))
  assert classifier.default_directory("mnist", 32, 1) == str(
      tmp_path / "classifiers" / "mnist_32_1")


def test_corrupt_or_foreign_cache_is_retrained_with_a_warning(digits_cache, data_dir, tmp_path):
  import shutil
  directory = str(tmp_path / "copy")
  shutil.copytree(digits_cache[0], directory)
  weights = os.path.join(directory, "classifier.msgpack")
  with open(weights, "r+b") as f:
    f.truncate(1000)
  with pytest.warns(UserWarning, match="unreadable classifier weights.*retraining"):
    clf = classifier.get_classifier("digits", resolution=16, channels=1, data_dir=data_dir,
                                    directory=directory, num_steps=5, log=lambda *_: None)
  assert clf.meta["num_steps"] == 5
  assert classifier.load(directory, {"num_steps": 5}).meta["num_steps"] == 5  # rewritten
  with pytest.raises(classifier.ClassifierError, match="another one: resolution=16"):
    classifier.load(directory, {"resolution": 32})
  with pytest.raises(classifier.ClassifierError, match="no cached classifier"):
    classifier.load(str(tmp_path / "nothing"), {})
