"""The text encoder: tokenizer and its errors, training on synthetic captions, the cache,
a run's copy, and R-precision."""

import json
import os

import numpy as np
import pytest

from ganjax import text_encoder as te

QUIET = {"log": lambda *_: None}
SHAPES = ("square", "cross")
CORNERS = ("top left", "top right", "bottom left", "bottom right")


def _synthetic(n, seed):
  """16x16 images: a bright square or cross in one of four corners; 3 captions each, naming
  the shape, the corner or both (attributes -1 where a caption does not name them)."""
  rng = np.random.default_rng(seed)
  shape, corner = rng.integers(0, 2, n), rng.integers(0, 4, n)
  images = rng.integers(0, 40, (n, 16, 16, 1)).astype(np.uint8)
  for i in range(n):
    r, c = 2 + 7 * (corner[i] // 2), 2 + 7 * (corner[i] % 2)
    if shape[i] == 0:
      images[i, r:r + 5, c:c + 5] = 255
    else:
      images[i, r + 2, c:c + 5] = images[i, r:r + 5, c + 2] = 255
  captions, attrs = [], {"shape": [], "corner": []}
  for s, k in zip(shape, corner):
    options = [(f"a {SHAPES[s]} in the {CORNERS[k]}", s, k),
               (f"A {SHAPES[s].upper()}, {CORNERS[k]}.", s, k),
               (f"a {SHAPES[s]}", s, -1), (f"something {CORNERS[k]}", -1, k)]
    picked = [options[j] for j in rng.choice(4, 3, replace=False)]
    captions.append(tuple(p[0] for p in picked))
    attrs["shape"] += [p[1] for p in picked]
    attrs["corner"] += [p[2] for p in picked]
  return images, captions, {k: np.asarray(v) for k, v in attrs.items()}


NUM_CLASSES = {"shape": 2, "corner": 4}


@pytest.fixture(scope="module")
def trained():
  images, captions, attrs = _synthetic(200, 0)
  return te.train_encoder(images, captions, attributes=attrs,
                          num_classes_per_attribute=NUM_CLASSES, num_steps=150,
                          batch_size=32, **QUIET)


# --------------------------------------------------------------------------- tokenizer


def test_tokenizer_drops_punctuation_and_case_and_ids_round_trip():
  assert te.tokenize("A small, THICK 7!  in the top-left.") == [
      "a", "small", "thick", "7", "in", "the", "top", "left"]
  vocab = te.Vocabulary.build([("a Square", "a cross"), ("TOP left!",)], extra_words=["Big"])
  assert vocab.words == ("a", "big", "cross", "left", "square", "top")
  ids, lengths = vocab.encode(["a square, top left", "Cross"], max_len=6)
  np.testing.assert_array_equal(ids, [[1, 5, 6, 4, 0, 0], [3, 0, 0, 0, 0, 0]])
  np.testing.assert_array_equal(lengths, [4, 1])
  assert ids.dtype == np.int32 and vocab.size == 7
  assert vocab.decode(ids) == ["a square top left", "cross"]
  with pytest.raises(te.TextEncoderError, match="has 4 words, more than max_len=3"):
    vocab.encode(["a square top left"], max_len=3)


def test_unknown_words_name_each_one_on_one_line():
  vocab = te.Vocabulary.build(["a large slanted three at the top", "big"])
  with pytest.raises(te.UnknownWordsError) as e:
    vocab.encode(["a big three", "a large sl4nted thre\nat the tip", "the qux"])
  message = str(e.value)
  assert "\n" not in message and isinstance(e.value, ValueError)
  assert "caption 'a large sl4nted thre\\nat the tip'" in message
  for word in ("'sl4nted' (did you mean 'slanted'?)", "'thre'", "'tip'"):
    assert word in message
  assert "it knows 8 words: a, at, big, large" in message and "1 other caption too" in message
  assert e.value.words == ("sl4nted", "thre", "tip")
  many = te.Vocabulary.build([f"w{i}" for i in range(100)])
  message = str(pytest.raises(te.UnknownWordsError, many.encode, ["zz"]).value)
  assert "it knows 100 words: w0, w1" in message and message.endswith("...)")
  assert len(message) < 300


def test_an_empty_caption_is_one_clear_line():
  vocab = te.Vocabulary.build(["a square"])
  with pytest.raises(te.TextEncoderError, match=r"^caption ' , !' has no words .*encode$"):
    vocab.encode(["a square", " , !"])


# --------------------------------------------------------------------------- training


def test_training_learns_captions_and_attributes(trained):
  images, captions, attrs = _synthetic(100, 1)  # Held out.
  flat = [c for caps in captions for c in caps]
  score = te.r_precision(trained, images, [caps[0] for caps in captions], captions,
                         num_candidates=20, rng=0)
  assert score >= 0.4, score  # Chance: 0.05.
  predicted = trained.predict_attributes(flat)
  for name in NUM_CLASSES:
    assert np.mean(predicted[name] == attrs[name]) >= 0.9, name
  phi = trained.embed_captions(flat[:5])
  assert phi.shape == (5, te.OUT_DIM) and phi.dtype == np.float32
  # Padding does not change a caption's embedding; chunked batches match one batch.
  np.testing.assert_allclose(trained.embed_captions(flat[:5], batch_size=2), phi, atol=1e-5)
  np.testing.assert_allclose(trained.embed_captions(["a square " * 10 + "cross"])[0],
                             trained._text_apply(trained.text_params, trained.vocabulary.encode(
                                 ["a square " * 10 + "cross"], max_len=40)[0])[0], atol=1e-4)
  # Matching pairs are more similar than mismatched ones.
  v, t = trained.embed_images(images), trained.embed_captions([c[0] for c in captions])
  assert trained.similarity(v, t).mean() > trained.similarity(v, np.roll(t, 1, 0)).mean() + 0.3
  with pytest.raises(te.TextEncoderError, match=r"images of shape \(N, 16, 16, 1\)"):
    trained.embed_images(np.zeros((2, 8, 8, 1), np.uint8))
  with pytest.raises(te.TextEncoderError, match=r"uint8 or float in \[-1, 1\]"):
    trained.embed_images(np.full((2, 16, 16, 1), 255.0))


def test_training_is_deterministic_for_a_seed():
  images, captions, _ = _synthetic(40, 2)
  runs = [te.train_encoder(images, captions, num_steps=3, batch_size=16, seed=s, **QUIET)
          for s in (0, 0, 1)]
  emb = [r.embed_captions(["a square in the top left"]) for r in runs]
  np.testing.assert_array_equal(emb[0], emb[1])
  assert not np.allclose(emb[0], emb[2])
  assert runs[0].head_params is None


def test_bad_attributes_are_one_line():
  images, captions, attrs = _synthetic(8, 3)
  with pytest.raises(te.TextEncoderError, match=r"one code per caption \(24 captions"):
    te.train_encoder(images, captions, attributes={"shape": attrs["shape"][:8]},
                     num_classes_per_attribute={"shape": 2}, num_steps=1)
  with pytest.raises(te.TextEncoderError, match=r"codes in \[-1, 2\)"):
    te.train_encoder(images, captions, attributes={"shape": attrs["shape"] + 1},
                     num_classes_per_attribute={"shape": 2}, num_steps=1)


def test_contrastive_loss_exact_values():
  import jax.numpy as jnp
  eye = jnp.eye(2)
  # s = I / 1: each row's CE is log(1 + e^-1).
  np.testing.assert_allclose(te.contrastive_loss(eye, 3 * eye, temperature=1.0),
                             np.log1p(np.exp(-1)), rtol=1e-6)
  # Two identical texts: both positives, CE = log 2 - mean log-softmax of equal logits.
  same = jnp.ones((2, 2), bool)
  np.testing.assert_allclose(te.contrastive_loss(eye, jnp.ones((2, 2)), positives=same),
                             np.log(2), rtol=1e-6)


# --------------------------------------------------------------------------- R-precision


def test_r_precision_from_embeddings_exact():
  rng = np.random.default_rng(0)
  v = rng.normal(size=(4, 8))
  far = -v[:, None, :] + rng.normal(scale=0.1, size=(4, 5, 8))
  assert te.r_precision_from_embeddings(v, v, far) == 1.0
  # Images 0 and 2 have a candidate identical to the image (a tie counts as a miss) or
  # closer than the true text; images 1 and 3 do not: 2 / 4.
  true = v + 0.5 * rng.normal(size=(4, 8))
  cand = far.copy()
  cand[0, 3], cand[2, 0] = v[0], 2 * v[2]
  assert te.r_precision_from_embeddings(v, true, cand) == 0.5
  with pytest.raises(ValueError, match=r"candidate text \(N, K, D\)"):
    te.r_precision_from_embeddings(v, v, v)


class _Lookup:
  """A stand-in bundle: images are their own embeddings, captions map through a table."""

  def __init__(self, table):
    self.table = table

  def embed_captions(self, captions):
    return np.asarray([self.table[c] for c in captions], np.float32)

  def embed_images(self, images):
    return np.asarray(images, np.float32)


def test_r_precision_draws_only_mismatched_captions(trained):
  # Every caption that matches image 0 ties with its true caption (a miss): a score of
  # 1.0 says none was drawn, though half the pool and the sampler's draws are such.
  e0, e1 = [1.0, 0.0], [0.0, 1.0]
  bundle = _Lookup({"x": e0, "x!": e0, "y": e0, "z": e1})
  pool = [["x", "y"], ["X!", "z"]]  # 'y' is image 0's own; 'X!' reads as 'x'.
  bundle.table["X!"] = e0
  assert te.r_precision(bundle, [e0, e1], ["x", "z"], pool, num_candidates=10, rng=0) == 1.0
  drawn = []

  def sampler(rng, n):
    out = [("x!", "z")[int(rng.integers(2))] for _ in range(n)]
    drawn.extend(out)
    return out

  assert te.r_precision(bundle, [e0], ["x"], sampler, num_candidates=10, rng=0) == 1.0
  assert "x!" in drawn
  # The real bundle: one caption list per image, else one line.
  images, captions, _ = _synthetic(6, 4)
  with pytest.raises(te.TextEncoderError, match="3 caption lists for 6 images"):
    te.r_precision(trained, images, [c[0] for c in captions], captions[:3], rng=0)


# --------------------------------------------------------------------------- cache


def test_save_load_round_trip_and_mismatch(trained, tmp_path):
  directory = str(tmp_path / "enc")
  te.save(directory, trained)
  again = te.load(directory, {"resolution": 16})
  captions = ["a square in the top left", "a cross", "something bottom right"]
  images = _synthetic(4, 5)[0]
  np.testing.assert_array_equal(again.embed_captions(captions), trained.embed_captions(captions))
  np.testing.assert_array_equal(again.embed_images(images), trained.embed_images(images))
  assert again.vocabulary == trained.vocabulary and again.config == trained.config
  with pytest.raises(te.TextEncoderError) as e:
    te.load(directory, {"resolution": 32, "name": "digits"})
  assert "\n" not in str(e.value)
  assert "resolution=16 (want 32), name=None (want 'digits')" in str(e.value)
  with pytest.raises(te.TextEncoderError, match="no saved text encoder"):
    te.load(str(tmp_path / "nothing"), {})
  with open(os.path.join(directory, "text_encoder.msgpack"), "r+b") as f:
    f.truncate(100)
  with pytest.raises(te.TextEncoderError, match="^unreadable text encoder params"):
    te.load(directory)


def test_get_text_encoder_trains_once_then_loads(tmp_path):
  calls = []

  def load_data():
    calls.append(1)
    images, captions, attrs = _synthetic(48, 6)
    return images, captions, attrs, NUM_CLASSES

  kwargs = dict(resolution=16, channels=1, directory=str(tmp_path / "c"), num_steps=4, **QUIET)
  first = te.get_text_encoder("shapes", load_data, **kwargs)
  second = te.get_text_encoder("shapes", load_data, **kwargs)
  assert len(calls) == 1
  assert second.config["name"] == "shapes" and 0 <= second.config["train_r_precision"] <= 1
  np.testing.assert_array_equal(first.embed_captions(["a cross"]),
                                second.embed_captions(["a cross"]))
  with open(str(tmp_path / "c" / "text_encoder.json")) as f:
    assert json.load(f)["vocabulary"][:3] == ["a", "bottom", "cross"]
  # Another name at the same place: retrained, with a warning.
  with pytest.warns(UserWarning, match="made for other data"):
    te.get_text_encoder("other", load_data, **kwargs)
  assert len(calls) == 2


def test_a_run_keeps_its_encoder(trained, tmp_path):
  with pytest.raises(te.TextEncoderError, match="has no text encoder"):
    te.load_from_run(str(tmp_path))
  te.save_to_run(str(tmp_path), trained)
  assert os.path.exists(tmp_path / "text_encoder" / "text_encoder.msgpack")
  again = te.load_from_run(str(tmp_path))
  np.testing.assert_array_equal(again.embed_captions(["a cross, top right"]),
                                trained.embed_captions(["a cross, top right"]))
  assert again.predict_attributes(["a cross"])["corner"][0] == -1


def test_a_foreign_json_is_one_line(trained, tmp_path):
  te.save(str(tmp_path), trained)
  with open(tmp_path / "text_encoder.json", "w") as f:
    json.dump({"vocabulary": ["a"], "version": te.VERSION}, f)
  with pytest.raises(te.TextEncoderError, match=r"^unreadable .*no attributes, channels"):
    te.load(str(tmp_path))
