"""Tests for ganjax.captioned_digits: rendering, measuring, the caption grammar, loading."""

import itertools
import re

import numpy as np
import pytest
from scipy import stats

from ganjax import captioned_digits as cd

OPTIONAL = ("size", "thickness", "slant", "position")
CAPTION_FORM = re.compile(r"[a-z0-9]+(,? [a-z0-9]+)*")  # Lower case; commas end words.


def _random_attributes(rng):
  size = int(rng.integers(3))
  return {"label": int(rng.integers(10)), "size": size, "thickness": int(rng.integers(3)),
          "slant": int(rng.integers(3)), "position": 0 if size == 2 else int(rng.integers(5))}


@pytest.fixture(scope="module")
def train32():
  return cd.load("train", resolution=32)


@pytest.fixture(scope="module")
def counts():
  from sklearn.datasets import load_digits
  return load_digits().images


# --------------------------------------------------------------------------- captions


def test_parse_inverts_caption_for_every_mention_subset():
  rng = np.random.default_rng(0)
  words = set()
  for subset in itertools.chain.from_iterable(
      itertools.combinations(OPTIONAL, k) for k in range(5)):
    for _ in range(250):  # 16 subsets: 4,000 captions.
      attrs = _random_attributes(rng)
      text = cd.caption(attrs, rng, mention={n: True for n in subset})
      assert CAPTION_FORM.fullmatch(text), text
      assert cd.parse_caption(text) == {n: attrs[n] for n in ("label", *subset)}, text
      words.update(text.replace(",", "").split())
  # Every word drawn is in VOCABULARY, and every word of VOCABULARY is drawn.
  assert words == set(cd.VOCABULARY)


def test_vocabulary_covers_random_captions_and_each_names_its_digit():
  rng = np.random.default_rng(1)
  vocabulary = set(cd.VOCABULARY)
  assert list(cd.VOCABULARY) == sorted(vocabulary) and len(vocabulary) < 80
  drawn = 0
  mentioned = {n: 0 for n in OPTIONAL}
  for _ in range(500):
    attrs = _random_attributes(rng)
    texts = cd.captions(attrs, rng)
    assert len(texts) == 10 and len(set(texts)) == 10  # Distinct captions of one image.
    for text in texts:
      drawn += 1
      assert set(text.replace(",", "").split()) <= vocabulary, text
      parsed = cd.parse_caption(text)
      assert parsed["label"] == attrs["label"], text
      assert parsed.items() <= attrs.items(), text
      for n in parsed.keys() - {"label"}:
        mentioned[n] += 1
  assert drawn == 5000
  for n, count in mentioned.items():  # Each attribute in about half the captions.
    assert 0.4 < count / drawn < 0.6, (n, count)
  # Only a label: fewer distinct captions than asked for, so some repeat.
  texts = cd.captions({"label": 3}, rng, num=100)
  assert len(texts) == 100 and 5 < len(set(texts)) < 100
  assert all(cd.parse_caption(t) == {"label": 3} for t in texts)


def test_parse_reads_typed_captions():
  parse = cd.parse_caption
  assert parse("three, large and slanted") == {"label": 3, "size": 2, "slant": 2}
  assert parse("A BOLD 7 tilted to the left, top-right!") == {
      "label": 7, "thickness": 2, "slant": 0, "position": 2}
  assert parse("in the centre: an upright eight") == {"label": 8, "slant": 1, "position": 0}
  assert parse("right leaning 2 in the lower left corner") == {
      "label": 2, "slant": 2, "position": 3}
  assert parse("a normal sized four") == {"label": 4, "size": 1}
  assert parse("a gigantic purple seven, wobbly") == {"label": 7}  # Unknown words ignored.
  assert parse("small, no, big 5") == {"label": 5, "size": 2}  # The later statement wins.
  assert parse("") == {}


def test_caption_rejects_bad_arguments():
  rng = np.random.default_rng(0)
  with pytest.raises(ValueError, match="label"):
    cd.caption({"size": 1}, rng)
  with pytest.raises(ValueError, match="unknown attributes"):
    cd.caption({"label": 1}, rng, mention={"colour": True})
  with pytest.raises(ValueError, match="size"):
    cd.caption({"label": 1}, rng, mention={"size": True})  # Mentioned but not given.
  with pytest.raises(ValueError, match="label"):
    cd.caption({"label": 10}, rng)


# --------------------------------------------------------------------------- render, measure


def test_measure_recovers_the_rendering(train32):
  """Spearman's rho (3 equal ordinal groups cap it at ~0.94) and position accuracy."""
  m = cd.measure(train32.images)
  a = train32.attributes
  for name, bar in (("size", 0.92), ("thickness", 0.85), ("slant", 0.92)):
    rho = stats.spearmanr(a[name], m[name]).statistic
    assert rho >= bar, (name, rho)
    medians = [np.median(m[name][a[name] == code]) for code in range(3)]
    assert medians == sorted(medians), (name, medians)  # The ordinal scale is kept.
  assert np.mean(m["position"] == a["position"]) >= 0.99
  assert np.all((m["x"] > 0) & (m["x"] < 1) & (m["y"] > 0) & (m["y"] < 1))


@pytest.mark.parametrize("resolution,thickness_bar", [(16, 0.75), (64, 0.85)])
def test_other_resolutions_render_and_measure(resolution, thickness_bar):
  """Stage I's 16 px leaves strokes of ~1 px on small digits: thickness is the hardest."""
  d = cd.load("test", resolution=resolution, renderings=1)
  assert d.images.shape == (300, resolution, resolution, 1) and d.images.dtype == np.uint8
  m = cd.measure(d.images)
  a = d.attributes
  for name, bar in (("size", 0.92), ("thickness", thickness_bar), ("slant", 0.92)):
    rho = stats.spearmanr(a[name], m[name]).statistic
    assert rho >= bar, (name, rho)
  assert np.mean(m["position"] == a["position"]) >= 0.98


def test_render_is_ink_on_black_and_deterministic(counts):
  kw = dict(size=0, thickness=1, slant=1, position=4, resolution=32)
  image = cd.render(counts[5], rng=np.random.default_rng(3), **kw)
  assert image.shape == (32, 32) and image.dtype == np.uint8
  np.testing.assert_array_equal(image, cd.render(counts[5], rng=np.random.default_rng(3), **kw))
  assert image.max() == 255 and image[:16].max() == 0 and image[:, :16].max() == 0  # Corner.
  jittered = [cd.render(counts[5], rng=np.random.default_rng(s), **kw) for s in range(4)]
  assert len({j.tobytes() for j in jittered}) == 4


def test_render_attributes_change_what_they_say(counts):
  rng = np.random.default_rng(0)
  base = dict(size=1, thickness=1, slant=1, position=0, resolution=32)

  def measured(**change):
    images = [cd.render(counts[i], rng=rng, **{**base, **change}) for i in range(40)]
    return cd.measure(np.stack(images))

  for name in ("size", "thickness", "slant"):
    low, high = measured(**{name: 0})[name], measured(**{name: 2})[name]
    assert np.mean(low < high) > 0.85, name  # Paired: the same 40 digits.
  for code in range(5):
    assert np.all(measured(position=code)["position"] == code)


def test_render_rejects_bad_arguments(counts):
  rng = np.random.default_rng(0)
  kw = dict(size=1, thickness=1, slant=1, position=0, resolution=32, rng=rng)
  with pytest.raises(ValueError, match="only at the center"):
    cd.render(counts[0], **{**kw, "size": 2, "position": 1})
  with pytest.raises(ValueError, match="slant"):
    cd.render(counts[0], **{**kw, "slant": 3})
  with pytest.raises(ValueError, match="resolution"):
    cd.render(counts[0], **{**kw, "resolution": 8})
  with pytest.raises(ValueError, match="8, 8"):
    cd.render(counts[0][:4], **kw)


def test_measure_inputs():
  rng = np.random.default_rng(0)
  images = cd.load("test", resolution=16, renderings=1).images[:20]
  as_float = images.astype(np.float32) / 127.5 - 1
  m = cd.measure(images)
  for key, value in cd.measure(as_float[..., 0]).items():
    np.testing.assert_allclose(value, m[key], rtol=1e-5, atol=1e-6, err_msg=key)
  # Faint background noise (below the ink floor) changes nothing but the mean intensity.
  noise = rng.uniform(0, 0.15, as_float.shape) * (images == 0)
  noisy = cd.measure((as_float + noise).astype(np.float32))
  for key in ("size", "thickness", "slant", "x", "y", "position"):
    np.testing.assert_allclose(noisy[key], m[key], rtol=1e-5, atol=1e-6, err_msg=key)
  assert np.all(noisy["ink"] > m["ink"])
  # An empty image measures NaN, position -1.
  blank = cd.measure(np.zeros((2, 16, 16), np.uint8))
  assert np.all(np.isnan(blank["size"])) and np.all(blank["position"] == -1)
  assert np.all(blank["ink"] == 0)
  with pytest.raises(ValueError, match="-1, 1"):
    cd.measure(np.full((1, 16, 16), 2.0))
  with pytest.raises(ValueError, match="shape"):
    cd.measure(np.zeros((1, 16, 8), np.uint8))


# --------------------------------------------------------------------------- load


def test_load_shapes_and_contents(train32):
  from sklearn.datasets import load_digits
  from ganjax.data import digits
  d = train32
  target = load_digits().target
  n = 1497 * 4
  assert len(d) == n and d.images.shape == (n, 32, 32, 1) and d.images.dtype == np.uint8
  assert len(d.captions) == n and all(len(c) == 10 for c in d.captions)
  assert set(d.attributes) == set(cd.ATTRIBUTES)
  for name, values in d.attributes.items():
    assert values.shape == (n,) and values.min() == 0 and values.max() == cd.NUM_CODES[name] - 1
  np.testing.assert_array_equal(d.attributes["label"], target[d.source_index])
  assert not set(d.source_index) & set(digits.held_out_indices(target))
  assert np.all(np.bincount(d.source_index) == 4 * np.isin(np.arange(1797), d.source_index))
  large = d.attributes["size"] == cd.LARGE
  assert large.any() and np.all(d.attributes["position"][large] == cd.CENTER)
  assert set(d.attributes["position"][~large]) == set(range(5))
  for i in range(0, n, 97):  # Captions describe their image.
    for text in d.captions[i]:
      assert cd.parse_caption(text).items() <= {k: v[i] for k, v in d.attributes.items()}.items()
  with pytest.raises(ValueError):
    d.images[0, 0, 0, 0] = 1  # Read-only: the split is shared by the cache.


def test_load_is_deterministic_and_splits_differ():
  first = cd.load("test", resolution=16, num_captions=3)
  cd._load.cache_clear()  # Rebuilt, not remembered.
  cd._draw.cache_clear()
  again = cd.load("test", resolution=16, num_captions=3)
  assert again.images is not first.images
  np.testing.assert_array_equal(again.images, first.images)
  assert again.captions == first.captions
  for name in cd.ATTRIBUTES:
    np.testing.assert_array_equal(again.attributes[name], first.attributes[name])
  # Other seeds and the other split draw other attributes; other resolutions the same.
  other = cd.load("test", resolution=16, num_captions=3, seed=1)
  assert np.mean(other.attributes["size"] == first.attributes["size"]) < 0.6
  train = cd.load("train", resolution=16, renderings=1, num_captions=3)
  assert np.mean(train.attributes["size"][:600] == first.attributes["size"]) < 0.6
  larger = cd.load("test", resolution=32, num_captions=3)
  assert larger.captions == first.captions
  np.testing.assert_array_equal(larger.attributes["slant"], first.attributes["slant"])
  assert len(first) == 600  # Two renderings of each test digit by default.


def test_load_rejects_bad_arguments():
  with pytest.raises(ValueError, match="split 'validation'"):
    cd.load("validation")
  with pytest.raises(ValueError, match="resolution"):
    cd.load("train", resolution=8)
  with pytest.raises(ValueError, match="renderings"):
    cd.load("train", renderings=0)
