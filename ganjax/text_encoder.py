"""A small text encoder, trained offline against images and frozen, for text-to-image GANs.

StackGAN (Zhang et al. 2017) conditions on frozen, pre-trained char-CNN-RNN embeddings of
the captions (Reed et al. 2016). ganjax trains its own small pair of encoders instead, once
per dataset, and caches them: a text encoder (word embeddings, two 1-D convolutions, masked
mean and max pooling) and an image encoder (a small strided convnet), trained so that an
image and its captions land close together:

  loss = InfoNCE(image -> text) + InfoNCE(text -> image)            (CLIP, Radford et al. 2021)
         + attribute_weight * mean_a CE(W_a phi_t, attribute a's code or "unspecified")

the symmetric contrastive loss between L2-normalised embeddings (as DAMSM's sentence loss,
Xu et al. 2018, AttnGAN) plus, when the data has attributes, a linear head per attribute on
the raw text embedding phi_t, which is what the GAN conditions on.

    enc = text_encoder.get_text_encoder('captioned_digits', load_data, resolution=32,
                                        channels=1)
    phi = enc.embed_captions(['a small thick seven in the top left'])   # (1, 128) float32
    enc.similarity(enc.embed_images(images), phi)                       # cosine

`get_text_encoder` trains on first use and caches in `<cache>/text_encoders/<name>_<R>_<C>/`
(<cache> as ganjax.classifier's: $GANJAX_CACHE_DIR, else $XDG_CACHE_HOME/ganjax, else
~/.cache/ganjax); `save_to_run` puts the same files in a run's `<workdir>/text_encoder/`, so a
trained GAN keeps the exact encoder it was trained with. `r_precision` scores generated
images against their captions (AttnGAN, section 4).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganjax import layers, paired
from ganjax.classifier import _write_atomic, default_cache_root

# Bump when the networks, the tokenizer or the training change: older caches are retrained.
VERSION = 1
EMBED_DIM = 64
OUT_DIM = 128
_PARAMS = "text_encoder.msgpack"
_META = "text_encoder.json"
RUN_SUBDIR = "text_encoder"


class TextEncoderError(ValueError):
  """The text encoder cannot be built, loaded or applied as asked (one line)."""


class UnknownWordsError(TextEncoderError):
  """A caption has words the encoder's vocabulary lacks; `.words` and `.caption` name them."""

  def __init__(self, message: str, words: tuple[str, ...], caption: str):
    super().__init__(message)
    self.words = words
    self.caption = caption


# --------------------------------------------------------------------------- vocabulary

_TOKEN = re.compile(r"[^\W_]+")  # Runs of letters or digits; the rest separates.


def tokenize(caption: str) -> list[str]:
  """Lower-cased runs of letters or digits: 'A small, THICK 7!' -> a, small, thick, 7."""
  if not isinstance(caption, str):
    raise TypeError(f"a caption is a string, got {type(caption).__name__}")
  return _TOKEN.findall(caption.lower())


def normalize(caption: str) -> str:
  """The caption as the encoder reads it: its tokens joined by single spaces."""
  return " ".join(tokenize(caption))


def _flatten(captions) -> list[str]:
  """Strings from a sequence of strings or of sequences of strings (one per image)."""
  if isinstance(captions, str):
    return [captions]
  out = []
  for c in captions:
    if isinstance(c, str):
      out.append(c)
    else:
      out.extend(c)
  return out


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """Sorted words; id 0 is padding, word i of `words` has id i + 1."""

  words: tuple[str, ...]

  def __post_init__(self):
    if list(self.words) != sorted(set(self.words)) or not all(self.words):
      raise TextEncoderError("a Vocabulary's words must be sorted, distinct and non-empty")

  @classmethod
  def build(cls, captions, extra_words=()) -> Vocabulary:
    """Every token of `captions` (strings, or one sequence of strings per image), plus
    `extra_words` (tokenized too), e.g. words the caption grammar has but the data lacks."""
    words = {t for c in _flatten(captions) for t in tokenize(c)}
    words.update(t for w in extra_words for t in tokenize(w))
    if not words:
      raise TextEncoderError("no words in the captions: cannot build a vocabulary")
    return cls(tuple(sorted(words)))

  def __len__(self) -> int:
    return len(self.words)

  @property
  def size(self) -> int:
    """Number of ids, padding included (the TextEncoder's vocab_size)."""
    return len(self.words) + 1

  @functools.cached_property
  def _ids(self) -> dict[str, int]:
    return {w: i + 1 for i, w in enumerate(self.words)}

  def _unknown_message(self, caption: str, unknown: list[str]) -> str:
    named = []
    for w in unknown:
      close = difflib.get_close_matches(w, self.words, n=1)
      named.append(f"{w!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    shown = self.words if len(self.words) <= 30 else (*self.words[:24], "...")
    return (f"caption {caption!r}: the text encoder does not know {', '.join(named)} "
            f"(it knows {len(self.words)} words: {', '.join(shown)})")

  def encode(self, captions, max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids int32 (N, L), lengths int32 (N,)): captions as word ids, 0-padded to L.

    L is `max_len`, default the longest caption. Raises UnknownWordsError for words the
    vocabulary lacks, TextEncoderError for a caption with no words or longer than max_len.
    """
    captions = _flatten(captions)
    ids = self._ids
    rows, unknown_in = [], []
    for c in captions:
      tokens = tokenize(c)
      if not tokens:
        raise TextEncoderError(f"caption {c!r} has no words (runs of letters or digits) to "
                               f"encode")
      unknown = [t for t in dict.fromkeys(tokens) if t not in ids]
      if unknown:
        unknown_in.append((c, unknown))
        continue
      rows.append([ids[t] for t in tokens])
    if unknown_in:
      caption, unknown = unknown_in[0]
      more = len(unknown_in) - 1
      tail = f"; {more} other caption{'s' * (more > 1)} too" if more else ""
      raise UnknownWordsError(self._unknown_message(caption, unknown) + tail, tuple(unknown),
                              caption)
    lengths = np.asarray([len(r) for r in rows], np.int32)
    longest = int(lengths.max(initial=0))
    length = longest if max_len is None else max_len
    if longest > length:
      i = int(np.argmax(lengths))
      raise TextEncoderError(f"caption {captions[i]!r} has {longest} words, more than "
                             f"max_len={length}")
    out = np.zeros((len(rows), length), np.int32)
    for i, r in enumerate(rows):
      out[i, :len(r)] = r
    return out, lengths

  def decode(self, ids) -> list[str]:
    """Normalised captions of id rows (padding dropped): `decode(encode(c)[0])`."""
    return [" ".join(self.words[i - 1] for i in row if i > 0) for row in np.asarray(ids)]


# --------------------------------------------------------------------------- networks


class TextEncoder(nn.Module):
  """Word ids (N, L), 0 = padding -> text embedding phi_t (N, out_dim).

  Embeddings, two width-3 1-D convolutions (ReLU, the second residual: word order within a
  few words, "top left" against "left"), then masked mean and max pooling over the words,
  a hidden dense layer and the output. Padding is masked after every layer, so a caption's
  embedding does not depend on how far it is padded. Cheap on a CPU for short captions.
  """

  vocab_size: int
  embed_dim: int = EMBED_DIM
  out_dim: int = OUT_DIM
  hidden: int = 128

  @nn.compact
  def __call__(self, ids):
    mask = (ids > 0)[..., None].astype(jnp.float32)
    x = nn.Embed(self.vocab_size, self.embed_dim)(ids) * mask
    h = nn.relu(nn.Conv(self.hidden, (3,))(x)) * mask
    h = h + nn.relu(nn.Conv(self.hidden, (3,))(h)) * mask
    mean = h.sum(1) / jnp.maximum(mask.sum(1), 1.0)
    peak = h.max(1)  # h >= 0 and padding is 0: the max over the words.
    h = nn.relu(nn.Dense(self.hidden)(jnp.concatenate([mean, peak], -1)))
    return nn.Dense(self.out_dim)(h)


def image_widths(resolution: int) -> tuple[int, ...]:
  """Channels per stride-2 stage, 16, 32, ...: halve the image until it is 4x4 (at least
  twice)."""
  stages = max(2, int(round(math.log2(max(resolution, 4) / 4))))
  return tuple(16 * 2**i for i in range(stages))


class ImageEncoder(nn.Module):
  """Images (N, R, R, C) in [-1, 1] -> image embedding (N, out_dim).

  4x4 stride-2 convolutions with ReLU (channels 16, 32, ...) down to 4x4 (layers.Conv4x4S2:
  on a CPU 4x cheaper than 3x3 convolutions with max pooling, for the same embeddings),
  flattened (where things are matters: captions name positions), a hidden dense layer
  and the output.
  """

  out_dim: int = OUT_DIM
  hidden: int = 256
  widths: tuple[int, ...] | None = None  # None: image_widths(R).

  @nn.compact
  def __call__(self, x):
    for width in self.widths or image_widths(x.shape[1]):
      x = nn.relu(layers.Conv4x4S2(width, use_bias=True)(x))
    x = nn.relu(nn.Dense(self.hidden)(x.reshape((x.shape[0], -1))))
    return nn.Dense(self.out_dim)(x)


class AttributeHeads(nn.Module):
  """phi_t (N, E) -> {attribute: logits (N, K_a + 1)}: linear, the last class "unspecified"."""

  num_classes: tuple[tuple[str, int], ...]

  @nn.compact
  def __call__(self, embedding):
    return {name: nn.Dense(k + 1, name=name)(embedding) for name, k in self.num_classes}


# --------------------------------------------------------------------------- objective


def _l2_normalize(x, eps: float = 1e-8):
  return x / jnp.sqrt(jnp.maximum(jnp.sum(x * x, -1, keepdims=True), eps * eps))


def contrastive_loss(image_emb, text_emb, *, temperature: float = 0.1, positives=None):
  """Symmetric InfoNCE between matched rows of image and text embeddings: a scalar.

    s_ij = <i_i / |i_i|, t_j / |t_j|> / temperature
    loss = (CE(softmax_j s_ij, P_i.) + CE(softmax_i s_ij, P_.j)) / 2

  with P the positives normalised per row: the identity by default (CLIP, Radford et al.
  2021; DAMSM's sentence loss, Xu et al. 2018). `positives` (B, B) bool marks other
  matching pairs, e.g. two images of a batch drawn with the same caption text: they are
  not negatives of each other.

  Args:
    image_emb, text_emb: (B, D) embeddings, row i of each a matching pair.
    temperature: the softmax temperature.
    positives: optional (B, B) bool, True on the diagonal.
  """
  if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
    raise ValueError(f"need image and text embeddings of one shape (B, D), got "
                     f"{image_emb.shape} and {text_emb.shape}")
  logits = _l2_normalize(image_emb) @ _l2_normalize(text_emb).T / temperature
  if positives is None:
    positives = jnp.eye(len(logits), dtype=bool)
  p = positives.astype(logits.dtype)
  i2t = optax.softmax_cross_entropy(logits, p / p.sum(1, keepdims=True))
  t2i = optax.softmax_cross_entropy(logits.T, p.T / p.T.sum(1, keepdims=True))
  return 0.5 * (i2t.mean() + t2i.mean())


def _attribute_targets(attributes, num_classes, captions, num_images):
  """{name: (M,) int32} per caption, -1 -> K (unspecified); one-line errors for bad input."""
  if attributes is None and num_classes is None:
    return {}, ()
  if attributes is None or num_classes is None or set(attributes) != set(num_classes):
    raise TextEncoderError("attributes and num_classes_per_attribute go together, with the "
                           "same names")
  m = len(captions)
  out = {}
  for name in sorted(attributes):
    k = int(num_classes[name])
    t = np.asarray(attributes[name])
    if t.ndim == 2 and t.shape[0] == num_images:
      t = t.reshape(-1)  # (N, K): K captions an image.
    if t.shape != (m,):
      raise TextEncoderError(
          f"attribute {name!r} has shape {np.asarray(attributes[name]).shape}: give one "
          f"code per caption ({m} captions; -1 where the caption does not mention it)")
    if not np.issubdtype(t.dtype, np.integer) or t.min() < -1 or t.max() >= k:
      raise TextEncoderError(f"attribute {name!r} must hold integer codes in [-1, {k}), got "
                             f"{t.dtype} in [{t.min()}, {t.max()}]")
    out[name] = np.where(t < 0, k, t).astype(np.int32)
  return out, tuple((name, int(num_classes[name])) for name in sorted(attributes))


def to_float(images) -> np.ndarray:
  """float32 in [-1, 1] of uint8 images, or float images checked to be in [-1, 1]."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return paired.to_float(images)
  images = images.astype(np.float32)
  if images.size and (images.min() < -1.001 or images.max() > 1.001):
    raise TextEncoderError(f"images must be uint8 or float in [-1, 1], got values in "
                           f"[{images.min():.3g}, {images.max():.3g}]")
  return images


def default_num_steps(num_images: int, batch_size: int = 64) -> int:
  """20 epochs of images, at least 300 and at most 2000 steps (captioned digits' 5,988
  train images: 1,871 steps)."""
  return int(min(2000, max(300, 20 * num_images // batch_size)))


def train_encoder(images, captions, *, attributes=None, num_classes_per_attribute=None,
                  num_steps: int, batch_size: int = 64, seed: int = 0,
                  learning_rate: float = 1e-3, temperature: float = 0.1,
                  attribute_weight: float = 1.0, embed_dim: int = EMBED_DIM,
                  out_dim: int = OUT_DIM, extra_words=(), log=print) -> TextEncoderBundle:
  """Trains a TextEncoder and an ImageEncoder together; deterministic for a seed.

  Each step takes `batch_size` images (shuffled epochs) and one random caption of each;
  Adam, the learning rate decayed to 0 by a cosine (a little better than constant on
  captioned digits: R-precision 0.60 against 0.58).

  Args:
    images: (N, R, R, C) uint8, or float in [-1, 1].
    captions: N sequences of strings (at least one caption an image).
    attributes: optional {name: int array}, one code per caption in order (image 0's
      captions, then image 1's, ...; (M,) or (N, K) with K captions an image), -1 where the
      caption does not mention the attribute.
    num_classes_per_attribute: {name: number of codes}, with `attributes`.
    num_steps: training steps (default_num_steps(N) is a good choice).
    extra_words: words to give ids to though no caption has them (Vocabulary.build); their
      embeddings stay as initialised.
    log: where progress lines go.

  Returns:
    A TextEncoderBundle (config without a name; get_text_encoder adds it).
  """
  images = to_float(images)
  if images.ndim != 4 or images.shape[1] != images.shape[2]:
    raise TextEncoderError(f"need square images (N, R, R, C), got shape {images.shape}")
  if num_steps < 1 or batch_size < 2:
    raise TextEncoderError(f"need num_steps >= 1 and batch_size >= 2, got {num_steps} and "
                           f"{batch_size}")
  if isinstance(captions, str) or len(captions) != len(images):
    raise TextEncoderError(f"need one sequence of captions per image: {len(images)} images")
  counts = np.asarray([1 if isinstance(c, str) else len(c) for c in captions])
  if counts.min(initial=1) < 1:
    raise TextEncoderError(f"image {int(np.argmin(counts))} has no caption")
  flat = _flatten(captions)
  targets, heads_spec = _attribute_targets(attributes, num_classes_per_attribute, flat,
                                           len(images))
  vocabulary = Vocabulary.build(flat, extra_words)
  ids, _ = vocabulary.encode(flat)
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

  n, resolution, _, channels = images.shape
  text_module = TextEncoder(vocabulary.size, embed_dim, out_dim)
  image_module = ImageEncoder(out_dim)
  heads_module = AttributeHeads(heads_spec)

  # One compile (eager initialisation compiles every initializer's ops by itself), with
  # XLA's RNG: threefry's compile took 7.5 s of a 2-core CPU here, rbg's 2.7 s.
  @jax.jit
  def init(key):
    keys = jax.random.split(key, 3)
    params = {"text": text_module.init(keys[0], ids[:1])["params"],
              "image": image_module.init(keys[1], images[:1])["params"]}
    if heads_spec:
      params["heads"] = heads_module.init(keys[2], jnp.zeros((1, out_dim)))["params"]
    return params

  params = init(jax.random.key(seed, impl="rbg"))
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
  opt_state = tx.init(params)
  batch_size = min(batch_size, n)

  def loss_fn(params, x, tokens, y):
    phi = text_module.apply({"params": params["text"]}, tokens)
    same_text = jnp.all(tokens[:, None, :] == tokens[None, :, :], -1)
    metrics = {"contrastive": contrastive_loss(
        image_module.apply({"params": params["image"]}, x), phi, temperature=temperature,
        positives=same_text)}
    loss = metrics["contrastive"]
    if heads_spec:
      logits = heads_module.apply({"params": params["heads"]}, phi)
      ce = [optax.softmax_cross_entropy_with_integer_labels(logits[a], y[a]).mean()
            for a, _ in heads_spec]
      metrics["attributes"] = sum(ce) / len(ce)
      loss = loss + attribute_weight * metrics["attributes"]
    return loss, metrics

  @jax.jit
  def step(params, opt_state, all_images, all_ids, all_targets, image_index, caption_index):
    x, tokens = all_images[image_index], all_ids[caption_index]
    y = {a: t[caption_index] for a, t in all_targets.items()}
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, x, tokens, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, metrics

  data = jax.device_put((images, ids, targets))
  rng = np.random.default_rng(seed)
  order, pos = rng.permutation(n), 0
  log_every = max(1, math.ceil(num_steps / 5))
  t0 = time.time()
  for i in range(num_steps):
    if pos + batch_size > n:  # A fresh shuffle each epoch; full batches only.
      order, pos = rng.permutation(n), 0
    index = order[pos:pos + batch_size]
    pos += batch_size
    chosen = starts[index] + (rng.random(batch_size) * counts[index]).astype(np.int64)
    params, opt_state, metrics = step(params, opt_state, *data, index, chosen)
    if (i + 1) % log_every == 0 or i + 1 == num_steps:
      shown = ", ".join(f"{k} {float(v):.3f}" for k, v in metrics.items())
      log(f"text encoder step {i + 1}/{num_steps}: {shown} ({time.time() - t0:.0f} s)")
  config = {"version": VERSION, "resolution": int(resolution), "channels": int(channels),
            "embed_dim": embed_dim, "out_dim": out_dim, "temperature": temperature,
            "attributes": dict(heads_spec), "num_steps": num_steps, "seed": seed,
            "batch_size": batch_size, "num_images": int(n), "num_captions": len(flat)}
  return TextEncoderBundle(vocabulary, jax.device_get(params["text"]),
                           jax.device_get(params["image"]), config,
                           jax.device_get(params.get("heads")))


# --------------------------------------------------------------------------- the bundle


def cosine_similarity(a, b) -> np.ndarray:
  """Cosine of a and b along the last axis (broadcast): (N, D), (N, D) -> (N,);
  (N, 1, D), (1, M, D) -> (N, M)."""
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-8)
  b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-8)
  return np.sum(a * b, -1)


def _pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
  """x with zero rows appended up to `rows`."""
  if len(x) >= rows:
    return x
  return np.concatenate([x, np.zeros((rows - len(x), *x.shape[1:]), x.dtype)])


@dataclasses.dataclass(frozen=True, eq=False)
class TextEncoderBundle:
  """A trained text encoder with its vocabulary, image encoder and attribute heads.

  `config`: version, resolution, channels, embed_dim, out_dim, attributes {name: K},
  and how it was trained (name, num_steps, seed, ...).
  """

  vocabulary: Vocabulary
  text_params: dict
  image_params: dict
  config: dict
  head_params: dict | None = None

  @property
  def out_dim(self) -> int:
    return self.config["out_dim"]

  @functools.cached_property
  def _text_apply(self):
    module = TextEncoder(self.vocabulary.size, self.config["embed_dim"], self.out_dim)
    return jax.jit(lambda p, ids: module.apply({"params": p}, ids))

  @functools.cached_property
  def _image_apply(self):
    module = ImageEncoder(self.out_dim)
    return jax.jit(lambda p, x: module.apply({"params": p}, x))

  @functools.cached_property
  def _heads_apply(self):
    module = AttributeHeads(tuple(sorted(self.config["attributes"].items())))
    return jax.jit(lambda p, e: module.apply({"params": p}, e))

  def _chunks(self, apply, params, x, batch_size):
    out = []
    for start in range(0, len(x), batch_size):
      chunk = x[start:start + batch_size]
      rows = batch_size if len(x) > batch_size else len(chunk)  # One shape for all chunks.
      out.append(np.asarray(apply(params, _pad_rows(chunk, rows)))[:len(chunk)])
    return np.concatenate(out) if out else np.zeros((0, self.out_dim), np.float32)

  def _encode(self, captions) -> np.ndarray:
    """Word ids (N, L) of captions, L a multiple of 16 (few compiled shapes)."""
    ids = self.vocabulary.encode(captions)[0]
    length = 16 * max(1, math.ceil(ids.shape[1] / 16))
    return np.pad(ids, ((0, 0), (0, length - ids.shape[1])))

  def embed_captions(self, captions: Sequence[str], batch_size: int = 512) -> np.ndarray:
    """phi_t float32 (N, out_dim), the raw (un-normalised) text embedding the GAN takes.

    A single string is one caption. Raises UnknownWordsError, in one line, for words the
    encoder was not trained on.
    """
    captions = [captions] if isinstance(captions, str) else list(captions)
    return self._chunks(self._text_apply, self.text_params, self._encode(captions), batch_size)

  def embed_images(self, images, batch_size: int = 512) -> np.ndarray:
    """float32 (N, out_dim) of images (N, R, R, C), uint8 or float in [-1, 1]."""
    images = to_float(images)
    shape = (self.config["resolution"], self.config["resolution"], self.config["channels"])
    if images.ndim != 4 or images.shape[1:] != shape:
      raise TextEncoderError(f"the text encoder's image encoder takes images of shape "
                             f"(N, {', '.join(map(str, shape))}), got {images.shape}")
    return self._chunks(self._image_apply, self.image_params, images, batch_size)

  def similarity(self, image_emb, text_emb) -> np.ndarray:
    """Cosine similarity along the last axis (see cosine_similarity)."""
    return cosine_similarity(image_emb, text_emb)

  def predict_attributes(self, captions: Sequence[str]) -> dict[str, np.ndarray]:
    """{attribute: (N,) int32 code the heads read in each caption, -1 if unspecified}."""
    if not self.head_params:
      raise TextEncoderError("this text encoder was trained without attributes")
    logits = self._heads_apply(self.head_params, self.embed_captions(captions))
    out = {}
    for name, k in self.config["attributes"].items():
      code = np.argmax(np.asarray(logits[name]), -1)
      out[name] = np.where(code == k, -1, code).astype(np.int32)
    return out


# --------------------------------------------------------------------------- R-precision


def r_precision_from_embeddings(image_emb, true_text_emb, candidate_text_emb) -> float:
  """R-precision (R = 1): the fraction of images whose true caption is ranked first.

    hit_i = cos(v_i, t_i) > max_k cos(v_i, c_ik)

  (AttnGAN, Xu et al. 2018, section 4; ties count as misses.)

  Args:
    image_emb: (N, D).
    true_text_emb: (N, D), the caption each image was made from.
    candidate_text_emb: (N, K, D), K mismatched captions of each image (AttnGAN: K = 99).
  """
  image_emb, true_text_emb = np.asarray(image_emb), np.asarray(true_text_emb)
  candidate_text_emb = np.asarray(candidate_text_emb)
  n, d = image_emb.shape if image_emb.ndim == 2 else (-1, -1)
  if n < 0 or true_text_emb.shape != (n, d) or candidate_text_emb.ndim != 3 or (
      candidate_text_emb.shape[::2] != (n, d)):
    raise ValueError(f"need image (N, D), true text (N, D) and candidate text (N, K, D) "
                     f"embeddings, got {image_emb.shape}, {true_text_emb.shape} and "
                     f"{candidate_text_emb.shape}")
  true = cosine_similarity(image_emb, true_text_emb)
  others = cosine_similarity(image_emb[:, None], candidate_text_emb)
  return float(np.mean(true > others.max(1, initial=-np.inf)))


def _mismatched_from_pool(true_keys, pool, num, rng):
  """(N, num) caption texts: captions of other images (pool[j], j != i) unlike the true one."""
  texts = _flatten(pool)
  owner = np.repeat(np.arange(len(pool)), [len(c) for c in pool])
  keys = np.asarray([normalize(t) for t in texts], object)
  n = len(true_keys)
  draws = rng.integers(0, len(texts), size=(n, num))
  for _ in range(100):  # Rejection: an image owns a small part of the pool.
    bad = (owner[draws] == np.arange(n)[:, None]) | (keys[draws] == true_keys[:, None])
    if not bad.any():
      return [[texts[j] for j in row] for row in draws]
    draws[bad] = rng.integers(0, len(texts), size=int(bad.sum()))
  raise TextEncoderError("the caption pool has too few captions unlike each image's own to "
                         "draw mismatched candidates")


def _mismatched_from_sampler(true_keys, sampler, num, rng):
  out = []
  for key in true_keys:
    row = []
    for _ in range(100):
      row.extend(c for c in sampler(rng, num - len(row)) if normalize(c) != key)
      if len(row) >= num:
        break
    if len(row) < num:
      raise TextEncoderError(f"the caption sampler gave too few captions unlike {key!r}")
    out.append(row[:num])
  return out


def r_precision(bundle: TextEncoderBundle, images, captions_true: Sequence[str],
                captions_pool: Sequence[Sequence[str]] | Callable, *,
                num_candidates: int = 100, rng) -> float:
  """R-precision (R = 1) of images and the captions they were made from (AttnGAN, section 4).

  Each image's true caption is ranked among itself and num_candidates - 1 mismatched
  captions (drawn with replacement; text unlike the true caption's, as the encoder reads
  it) by cosine similarity of the bundle's image and text embeddings. Chance: 1 / num_candidates.

  Args:
    images: (N, R, R, C), uint8 or float in [-1, 1] (e.g. generated images).
    captions_true: N strings.
    captions_pool: N sequences of strings, pool[i] the captions of images[i] (candidates of
      image i come from the other images), or a sampler `(rng, n) -> n strings`.
    rng: a numpy Generator or a seed.
  """
  if len(captions_true) != len(images):
    raise TextEncoderError(f"need one true caption per image: {len(images)} images, "
                           f"{len(captions_true)} captions")
  if num_candidates < 2:
    raise TextEncoderError(f"num_candidates must be at least 2, got {num_candidates}")
  rng = np.random.default_rng(rng)
  true_keys = np.asarray([normalize(c) for c in captions_true], object)
  if callable(captions_pool):
    candidates = _mismatched_from_sampler(true_keys, captions_pool, num_candidates - 1, rng)
  else:
    if len(captions_pool) != len(images):
      raise TextEncoderError(f"captions_pool has {len(captions_pool)} caption lists for "
                             f"{len(images)} images (one per image; or pass a sampler)")
    candidates = _mismatched_from_pool(true_keys, captions_pool, num_candidates - 1, rng)
  # Embed each distinct text once: captions repeat.
  unique = list(dict.fromkeys([*captions_true, *(c for row in candidates for c in row)]))
  row_of = {c: i for i, c in enumerate(unique)}
  emb = bundle.embed_captions(unique)
  true = emb[[row_of[c] for c in captions_true]]
  cand = emb[np.asarray([[row_of[c] for c in row] for row in candidates])]
  return r_precision_from_embeddings(bundle.embed_images(images), true, cand)


# --------------------------------------------------------------------------- cache


def default_directory(name: str, resolution: int, channels: int) -> str:
  """<cache>/text_encoders/<name>_<resolution>_<channels>."""
  return os.path.join(default_cache_root(), "text_encoders", f"{name}_{resolution}_{channels}")


def save(directory: str, bundle: TextEncoderBundle) -> None:
  """Params (flax msgpack), then config and vocabulary (JSON), each written atomically."""
  os.makedirs(directory, exist_ok=True)
  params = {"text": bundle.text_params, "image": bundle.image_params}
  if bundle.head_params:
    params["heads"] = bundle.head_params
  _write_atomic(os.path.join(directory, _PARAMS),
                flax.serialization.to_bytes(jax.device_get(params)))
  # The JSON last: its presence says the params are complete.
  meta = {**bundle.config, "vocabulary": list(bundle.vocabulary.words)}
  _write_atomic(os.path.join(directory, _META), (json.dumps(meta, indent=1) + "\n").encode())


def load(directory: str, expected: dict | None = None) -> TextEncoderBundle:
  """The bundle saved in `directory`; TextEncoderError if missing, corrupt or different.

  `expected`: config fields that must match (name, resolution, channels, ...); the
  version always must.
  """
  meta_path = os.path.join(directory, _META)
  params_path = os.path.join(directory, _PARAMS)
  if not os.path.exists(meta_path):
    raise TextEncoderError(f"no saved text encoder in {directory} (no {_META})")
  try:
    with open(meta_path) as f:
      config = json.load(f)
    vocabulary = Vocabulary(tuple(config.pop("vocabulary")))
    missing = {"version", "resolution", "channels", "embed_dim", "out_dim",
               "attributes"} - set(config)
    if missing:
      raise KeyError(f"no {', '.join(sorted(missing))}")
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    raise TextEncoderError(f"unreadable {meta_path}: {e}".replace("\n", " ")) from e
  expected = {"version": VERSION, **(expected or {})}
  mismatched = {k: (config.get(k), v) for k, v in expected.items() if config.get(k) != v}
  if mismatched:
    detail = ", ".join(f"{k}={a!r} (want {b!r})" for k, (a, b) in mismatched.items())
    raise TextEncoderError(f"the text encoder in {directory} was made for other data: {detail}")
  shape = (1, config["resolution"], config["resolution"], config["channels"])
  key, out_dim = jax.random.key(0), config["out_dim"]
  modules = {"text": (TextEncoder(vocabulary.size, config["embed_dim"], out_dim),
                      jnp.ones((1, 4), jnp.int32)),
             "image": (ImageEncoder(out_dim), jnp.zeros(shape))}
  if config["attributes"]:
    modules["heads"] = (AttributeHeads(tuple(sorted(config["attributes"].items()))),
                        jnp.zeros((1, out_dim)))
  target = {k: jax.eval_shape(m.init, key, x)["params"] for k, (m, x) in modules.items()}
  target = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), target)
  try:
    with open(params_path, "rb") as f:
      params = flax.serialization.from_bytes(target, f.read())
    fits = jax.tree.all(jax.tree.map(lambda a, b: np.shape(a) == np.shape(b), target, params))
  except Exception as e:  # msgpack raises several types on truncated or foreign bytes.
    raise TextEncoderError(f"unreadable text encoder params {params_path}: "
                           f"{e}".replace("\n", " ")) from e
  if not fits:
    raise TextEncoderError(f"text encoder params {params_path} do not fit its config")
  return TextEncoderBundle(vocabulary, params["text"], params["image"], config,
                           params.get("heads"))


def save_to_run(workdir: str, bundle: TextEncoderBundle) -> str:
  """Saves the bundle in <workdir>/text_encoder/ (the run keeps the encoder it used)."""
  directory = os.path.join(workdir, RUN_SUBDIR)
  save(directory, bundle)
  return directory


def load_from_run(workdir: str) -> TextEncoderBundle:
  """The text encoder a run was trained with, from <workdir>/text_encoder/."""
  directory = os.path.join(workdir, RUN_SUBDIR)
  if not os.path.exists(os.path.join(directory, _META)):
    raise TextEncoderError(f"{workdir} has no text encoder (no {RUN_SUBDIR}/{_META}): it was "
                           f"not a text-to-image run, or it was made before they saved one")
  return load(directory)


def _train_r_precision(bundle, images, captions, seed, limit: int = 500):
  """R-precision (100 candidates) on up to `limit` training images, one caption of each."""
  rng = np.random.default_rng(seed)
  sample = rng.permutation(len(images))[:limit]
  pool = [[c] if isinstance(c, str) else list(c) for c in (captions[i] for i in sample)]
  true = [caps[rng.integers(len(caps))] for caps in pool]
  return r_precision(bundle, np.asarray(images)[sample], true, pool, rng=rng), len(sample)


def get_text_encoder(name: str, load_data: Callable, *, resolution: int, channels: int,
                     directory: str | None = None, num_steps: int | None = None,
                     seed: int = 0, log=print) -> TextEncoderBundle:
  """The text encoder of a captioned dataset: loaded from `directory`, else trained there.

  Args:
    name: keys the cache (with resolution, channels and VERSION): one name must always mean
      the same data.
    load_data: `() -> (images (N, R, R, C) uint8, captions (N sequences of strings),
      attributes or None, num_classes_per_attribute or None[, extra_words])` (as
      train_encoder takes
      them); called only when nothing is cached.
    directory: default `default_directory(name, resolution, channels)`.
    num_steps: training steps; default `default_num_steps(N)`.

  A cache that does not load (truncated, another version) is retrained, with a warning.
  """
  directory = directory or default_directory(name, resolution, channels)
  expected = {"version": VERSION, "name": name, "resolution": resolution, "channels": channels}
  if os.path.exists(os.path.join(directory, _META)):
    try:
      return load(directory, expected)
    except TextEncoderError as e:
      warnings.warn(f"{e}; retraining it", stacklevel=2)
  images, captions, attributes, num_classes, *extra = load_data()
  if np.shape(images)[1:] != (resolution, resolution, channels):
    raise TextEncoderError(f"load_data gave images of shape {np.shape(images)}, not "
                           f"(N, {resolution}, {resolution}, {channels})")
  num_steps = num_steps or default_num_steps(len(images))
  log(f"training the {name} text encoder ({num_steps} steps on {len(images)} images); it is "
      f"cached in {directory}")
  t0 = time.time()
  bundle = train_encoder(images, captions, attributes=attributes,
                         extra_words=extra[0] if extra else (),
                         num_classes_per_attribute=num_classes, num_steps=num_steps,
                         seed=seed, log=log)
  seconds = time.time() - t0
  score, count = _train_r_precision(bundle, images, captions, seed)
  bundle = dataclasses.replace(bundle, config={
      **bundle.config, **expected, "train_seconds": round(seconds, 1),
      "train_r_precision": round(score, 4)})
  log(f"{name} text encoder: R-precision {score:.3f} on {count} training images "
      f"(chance 0.01; {seconds:.0f} s of training)")
  save(directory, bundle)
  return bundle
