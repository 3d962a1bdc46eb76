"""Evaluate a trained work directory: every metric that applies, with a real-vs-real baseline.

    python -m experiments.evaluate --workdir=DIR [--num_samples=N] [--inception_weights=PATH]

`evaluate(workdir, options)` loads the newest checkpoint (ganjax.restore.load_trained),
generates N samples (default: 10,000, or the train split's size if smaller), runs each
section of `SECTIONS` and writes `DIR/eval.json`; `format_table` prints it.

Sections, each a function (Context) -> dict of metrics that raises `Skip(reason)` when it does
not apply (the reason lands in eval.json under "skipped"):

- classifier: with the dataset's domain classifier (ganjax.classifier, trained and cached on
  first use): `fcd` (Frechet distance of its penultimate features), `classifier_is` (+ `_std`),
  `class_coverage`, `class_kl`.
- nearest_neighbours: `precision`, `recall` (k=3), `density`, `coverage` (k=5) on the same
  classifier features (Inception features if the dataset has no labels and weights are given).
- inception: with `--inception_weights`: `fid`, `kid` (+ `_std`), `inception_score` (+ `_std`).
- inversion: `inversion_psnr_heldout` (test images inverted into z), `inversion_psnr_train`,
  `inversion_psnr_random_baseline` (best of random z on the same held-out images).
- the family's own sections (`Family.evaluation_sections()` in ganjax/families/): e.g. the
  class-conditional families' `conditional_accuracy`, the semi-supervised GAN's
  `classification_accuracy` against its supervised-only baseline, the mode metrics of the
  2-D point benchmark.

The image sections (classifier, nearest_neighbours, inception, inversion) apply to families
whose samples are images (`Family.image_samples`).

Reading the numbers: generated samples are compared with the real train split. Where a test
split exists, `<metric>_real_baseline` is the same metric with the held-out test images in
place of the generated ones (what a perfect generator would score at that sample size), and
`<metric>_at_test_size` the generated score with as many samples as the test split has, so the
two are comparable (FID-like distances and k-NN metrics depend on the sample count).

Adding a metric is a local edit: write `def my_section(ctx) -> dict` using the cached inputs
of `Context` (`ctx.generated()`, `ctx.real(split)`, `ctx.classifier()`, ...) and append
`Section('name', my_section)` to `SECTIONS` (for every family) or return it from a family's
`evaluation_sections()` (for that family).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ganjax import classifier as classifier_lib
from ganjax import families, latent, metrics, steps
from ganjax.restore import load_trained

DEFAULT_NUM_SAMPLES = 10_000


class Skip(Exception):
  """A section does not apply to this run; the message says why (in eval.json's "skipped")."""


class NotApplicable(Skip):
  """A section that never applies to this kind of run (e.g. image metrics of 2-D points): silent."""


@dataclasses.dataclass
class Options:
  """What `evaluate` computes; the flags of experiments/evaluate.py."""

  num_samples: int | None = None     # None: min(10,000, train split size)
  seed: int = 0
  batch_size: int = 500
  classifier_dir: str | None = None  # None: ganjax.classifier.default_directory(...)
  inception_weights: str | None = None
  num_inversions: int = 64           # held-out (and train) images inverted into z
  inversion_steps: int = 300
  inversion_random: int = 256        # random z per image: the baseline and the start
  kid_subset_size: int = 1000
  log: Callable = print


# --------------------------------------------------------------------------- generation


def generate(config, state, num: int | None = None, *, seed: int = 0, batch_size: int = 500,
             labels=None, z=None):
  """(images (num, ...) numpy, labels (num,) or None): samples from the sampling generator.

  The one place that turns a trained state into evaluation samples. z ~ N(0, I) from `seed`
  unless given (then num = len(z)). A class-conditional generator gets
  `labels`, by default every class in turn (a balanced sample), and returns them; an
  unconditional one returns None. One compiled batch shape: the last batch is padded.

  A config with `drs_keep` < 1 draws by discriminator rejection (`rejection_generate`)
  unless z is given.
  """
  family = families.of(config)
  if z is None and config.get("drs_keep", 1.0) < 1:
    return rejection_generate(config, state, num, seed=seed), None
  sampler = family.sampler(config)
  if z is None:
    z = steps.sample_latent(jax.random.key(seed), num, config.latent_dim)
  z = np.asarray(z, np.float32)
  num = len(z)
  conditional_g = family.conditional_generator
  if conditional_g and labels is None:
    labels = np.arange(num, dtype=np.int32) % config.num_classes
  batch_size = min(batch_size, num)
  out = []
  for start in range(0, num, batch_size):
    zb = z[start:start + batch_size]
    n = len(zb)
    pad = batch_size - n
    zb = np.concatenate([zb, np.zeros((pad, zb.shape[1]), zb.dtype)]) if pad else zb
    if conditional_g:
      lb = np.asarray(labels[start:start + batch_size], np.int32)
      lb = np.concatenate([lb, np.zeros(pad, np.int32)]) if pad else lb
      x = sampler(state, jnp.asarray(zb), jnp.asarray(lb))
    else:
      x = sampler(state, jnp.asarray(zb))
    out.append(np.asarray(x)[:n])
  return np.concatenate(out), (None if labels is None else np.asarray(labels))


PROPOSAL_BATCH = 500  # Discriminator rejection sampling's proposals per generator call.


def rejection_generate(config, state, num: int, *, seed: int = 0,
                       log: Callable | None = None, stats: dict | None = None):
  """`num` samples by discriminator rejection (ganjax.rejection), keeping a share
  config.drs_keep of G's proposals; proposal batch i is PROPOSAL_BATCH samples from z of
  fold_in(key(seed), i), so the samples do not depend on `generate`'s batch size.
  D is first calibrated to the sampling generator (`Family.calibrate_discriminator`,
  config.drs_calibration_steps). `stats`, a dict, receives the sampler's statistics."""
  from ganjax import rejection
  family = families.of(config)
  sampler, logits_of = family.sampler(config), family.discriminator_logits(config)
  if logits_of is None:
    raise ValueError(f"a {family.name} run has no discriminator logit to reject samples by")
  state = family.calibrate_discriminator(config, state, seed=seed)
  key = jax.random.key(seed)

  def propose(i):
    z = steps.sample_latent(jax.random.fold_in(key, i), PROPOSAL_BATCH, config.latent_dim)
    return np.asarray(sampler(state, z))

  samples, found = rejection.rejection_sample(
      propose, lambda x: np.asarray(logits_of(state, jnp.asarray(x))), num,
      keep=config.drs_keep, seed=seed)
  from absl import logging
  (log or logging.info)(
      f"rejection sampling kept {found['kept']} of {found['proposed']} proposals (acceptance "
      f"{found['acceptance']:.3f}, D* {found['max_logit']:.2f}, gamma {found['gamma']:.2f})")
  if stats is not None:
    stats.update(found)
  return samples


def generator_fn(config, state, labels=None) -> Callable:
  """fn(z) -> images: the sampling generator as a function of z alone (for ganjax.latent).

  A class-conditional generator is bound to `labels` (one per row of z).
  """
  family = families.of(config)
  sampler = family.sampler(config)
  if family.conditional_generator:
    if labels is None:
      raise ValueError(f"a {family.name} generator needs labels")
    labels = jnp.asarray(labels, jnp.int32)
    return lambda z: sampler(state, z, labels)
  return lambda z: sampler(state, z)


# --------------------------------------------------------------------------- context


class Context:
  """A trained run and lazily computed, cached inputs that the sections share."""

  def __init__(self, workdir: str, config, state, options: Options):
    self.workdir, self.config, self.state, self.options = workdir, config, state, options
    self.family = families.of(config)
    self.step = int(state.step)
    self.log = options.log
    self._cache: dict = {}
    self.meta: dict = {}  # Extra facts sections want recorded in eval.json.

  def cached(self, key, fn):
    if key not in self._cache:
      self._cache[key] = fn()
    return self._cache[key]

  # Data.
  @property
  def has_images(self) -> bool:
    """Whether G draws images from z (the image sections apply)."""
    return self.family.image_samples and self.family.samples_from_z

  def require_images(self):
    if not self.family.image_samples:
      raise NotApplicable(f"family {self.family.name!r} does not generate images")
    if not self.family.samples_from_z:
      raise NotApplicable(f"family {self.family.name!r} translates images: its own "
                          f"section scores them")

  def dataset_info(self):
    from ganjax import data
    c = self.config
    return self.cached("info", lambda: data.info(c.dataset, data_dir=c.data_dir or None))

  def has_split(self, split: str) -> bool:
    return split in self.dataset_info().num_examples

  def real(self, split: str):
    """(images, labels or None) of a split, at most num_samples of them, as for training."""
    c = self.config

    def load():
      from ganjax import data
      return data.load_split(
          c.dataset, split, resolution=c.resolution, channels=c.channels,
          data_dir=c.data_dir or None, center_crop=c.center_crop or None,
          limit=self.num_samples)

    return self.cached(("real", split), load)

  @property
  def train_split(self) -> str:
    return self.config.train_split

  def test_split(self) -> str | None:
    return "test" if self.has_images and self.has_split("test") else None

  @property
  def num_samples(self) -> int:
    def default():
      if self.options.num_samples:
        return int(self.options.num_samples)
      return self.family.num_eval_samples(self.config) or min(
          DEFAULT_NUM_SAMPLES, self.dataset_info().num_examples[self.train_split])
    return self.cached("num_samples", default)

  # Samples.
  def generated(self):
    """(images, labels or None): num_samples generated samples (ganjax.evaluate.generate)."""
    o = self.options
    return self.cached("generated", lambda: generate(
        self.config, self.state, self.num_samples, seed=o.seed, batch_size=o.batch_size))

  # Feature extractors.
  def classifier(self) -> classifier_lib.DomainClassifier:
    """The dataset's domain classifier; Skip if the dataset has no labels."""
    self.require_images()

    def build():
      c = self.config
      if not self.dataset_info().num_classes:
        raise Skip(f"dataset {c.dataset!r} has no class labels: no domain classifier")
      return classifier_lib.get_classifier(
          c.dataset, resolution=c.resolution, channels=c.channels,
          data_dir=c.data_dir or None, center_crop=c.center_crop or None,
          directory=self.options.classifier_dir, train_split=self.train_split,
          log=self.log)
    clf = self.cached("classifier", lambda: _or_skip(build))
    if isinstance(clf, Skip):
      raise clf
    return clf

  def classifier_outputs(self, which: str):
    """(features, probs) of 'generated' or a split name, through the domain classifier."""
    clf = self.classifier()
    images = self.generated()[0] if which == "generated" else self.real(which)[0]
    return self.cached(("classifier", which), lambda: clf.predict(images))

  def inception(self):
    """The InceptionV3 FID network (ganjax.inception); Skip without --inception_weights."""
    self.require_images()

    def build():
      if not self.options.inception_weights:
        raise Skip("no --inception_weights=PATH given: FID, KID and IS need InceptionV3 "
                   "weights (see ganjax/inception.py for where to get them)")
      from ganjax import inception
      return inception.load(self.options.inception_weights)
    net = self.cached("inception", lambda: _or_skip(build))
    if isinstance(net, Skip):
      raise net
    return net

  def inception_outputs(self, which: str):
    """(pool3 features (N, 2048), probs (N, 1008)) of 'generated' or a split."""
    net = self.inception()
    images = self.generated()[0] if which == "generated" else self.real(which)[0]

    def run():
      self.log(f"InceptionV3 on {len(images)} {which} images ...")
      return net.predict(images)

    return self.cached(("inception", which), run)

  def at_test_size(self, x):
    """The first n_test rows of generated outputs x (or None when that is all of them)."""
    split = self.test_split()
    if split is None:
      return None
    n = len(self.real(split)[0])
    return x[:n] if n < len(x) else None


def _or_skip(fn):
  try:
    return fn()
  except Skip as e:
    return e


# --------------------------------------------------------------------------- sections


def _class_histogram(probs, num_classes):
  return np.bincount(np.argmax(probs, axis=1), minlength=num_classes) / len(probs)


def class_coverage(gen_hist, real_hist, *, threshold: float = 0.5) -> float:
  """Share of classes the generator produces at least `threshold` times as often as the data."""
  return float(np.mean(gen_hist >= threshold * real_hist))


def class_kl(gen_hist, real_hist, *, eps: float = 1e-12) -> float:
  """KL(generated class histogram || real class histogram), in nats."""
  p, q = np.asarray(gen_hist, np.float64), np.asarray(real_hist, np.float64)
  nz = p > 0
  return float(np.sum(p[nz] * (np.log(p[nz]) - np.log(q[nz] + eps))))


def classifier_section(ctx: Context) -> dict:
  """FCD, classifier IS, class coverage and class KL through the domain classifier."""
  clf = ctx.classifier()
  k = clf.num_classes
  train_f, train_p = ctx.classifier_outputs(ctx.train_split)
  real_hist = _class_histogram(train_p, k)
  splits = max(1, min(10, len(train_p) // 100))
  ctx.meta["classifier_test_accuracy"] = clf.test_accuracy
  ctx.meta["classifier_dir"] = ctx.options.classifier_dir or classifier_lib.default_directory(
      ctx.config.dataset, ctx.config.resolution, ctx.config.channels,
      ctx.config.center_crop or None)

  def scores(f, p, suffix):
    hist = _class_histogram(p, k)
    is_mean, is_std = metrics.inception_score(p, num_splits=min(splits, len(p)))
    return {f"fcd{suffix}": metrics.frechet_distance(train_f, f),
            f"classifier_is{suffix}": is_mean, f"classifier_is_std{suffix}": is_std,
            f"class_coverage{suffix}": class_coverage(hist, real_hist),
            f"class_kl{suffix}": class_kl(hist, real_hist)}

  gen_f, gen_p = ctx.classifier_outputs("generated")
  out = scores(gen_f, gen_p, "")
  split = ctx.test_split()
  if split:
    test_f, test_p = ctx.classifier_outputs(split)
    out.update(scores(test_f, test_p, "_real_baseline"))
    if ctx.at_test_size(gen_f) is not None:
      out.update(scores(ctx.at_test_size(gen_f), ctx.at_test_size(gen_p), "_at_test_size"))
  return out


def nearest_neighbours_section(ctx: Context) -> dict:
  """Precision/recall (k=3) and density/coverage (k=5) vs the train split's features."""
  try:
    ctx.classifier()
    outputs, features = ctx.classifier_outputs, "classifier"
  except Skip as no_classifier:
    try:
      ctx.inception()
      outputs, features = ctx.inception_outputs, "inception_pool3"
    except Skip:
      raise no_classifier from None
  ctx.meta["knn_features"] = features
  real = outputs(ctx.train_split)[0]

  def scores(f, suffix):
    pr = metrics.precision_recall(real, f, k=3)
    dc = metrics.density_coverage(real, f, k=5)
    return {f"{name}{suffix}": v for name, v in {**pr, **dc}.items()}

  gen = outputs("generated")[0]
  out = scores(gen, "")
  split = ctx.test_split()
  if split:
    out.update(scores(outputs(split)[0], "_real_baseline"))
    if ctx.at_test_size(gen) is not None:
      out.update(scores(ctx.at_test_size(gen), "_at_test_size"))
  return out


def inception_section(ctx: Context) -> dict:
  """FID, KID and Inception Score with InceptionV3 (pool3 features, 1008-way softmax)."""
  ctx.inception()
  train_f, _ = ctx.inception_outputs(ctx.train_split)
  subset = ctx.options.kid_subset_size

  def scores(f, p, suffix):
    kid, kid_std = metrics.kernel_inception_distance(train_f, f, subset_size=subset)
    is_mean, is_std = metrics.inception_score(p, num_splits=min(10, len(p)))
    return {f"fid{suffix}": metrics.frechet_distance(train_f, f), f"kid{suffix}": kid,
            f"kid_std{suffix}": kid_std, f"inception_score{suffix}": is_mean,
            f"inception_score_std{suffix}": is_std}

  out = scores(*ctx.inception_outputs("generated"), "")
  split = ctx.test_split()
  if split:
    out.update(scores(*ctx.inception_outputs(split), "_real_baseline"))
  return out


def inversion_section(ctx: Context) -> dict:
  """PSNR of held-out (and train) images inverted into z, vs the best of random z."""
  ctx.require_images()
  split = ctx.test_split()
  if split is None:
    raise Skip(f"dataset {ctx.config.dataset!r} has no test split for held-out images")
  o = ctx.options
  out = {}
  for name, which in (("heldout", split), ("train", ctx.train_split)):
    images, labels = ctx.real(which)
    n = min(o.num_inversions, len(images))
    if ctx.family.conditional_generator and labels is None:
      raise Skip("a class-conditional generator needs labelled images to invert")
    generate_fn = generator_fn(ctx.config, ctx.state,
                               None if labels is None else labels[:n])
    result = latent.invert(generate_fn, images[:n], jax.random.key(o.seed + 1),
                           latent_dim=ctx.config.latent_dim, num_steps=o.inversion_steps,
                           num_random=o.inversion_random)
    ctx.cached(("inversion", name), lambda r=result: r)
    out[f"inversion_psnr_{name}"] = float(np.mean(result.psnr))
    if name == "heldout":
      out["inversion_psnr_random_baseline"] = float(np.mean(result.random_psnr))
  out["num_inversions"] = n
  return out


@dataclasses.dataclass(frozen=True)
class Section:
  name: str
  fn: Callable[[Context], dict]


SECTIONS = [
    Section("classifier", classifier_section),
    Section("nearest_neighbours", nearest_neighbours_section),
    Section("inception", inception_section),
    Section("inversion", inversion_section),
]


def sections_for(family) -> list:
  """SECTIONS with the family's own sections after the classifier's (whose outputs they reuse)."""
  own = [Section(name, fn) for name, fn in family.evaluation_sections()]
  return SECTIONS[:1] + own + SECTIONS[1:]


# --------------------------------------------------------------------------- driver


def evaluate(workdir: str, options: Options | None = None, *, sections=None,
             out_path: str | None = None, step: int | None = None) -> dict:
  """Evaluates the newest intact (or the given `step`'s) checkpoint of `workdir`; writes
  and returns eval.json's contents.

  Raises FileNotFoundError / CheckpointError for a directory that is not a trained run.
  """
  options = options or Options()
  t0 = time.time()
  config, state = load_trained(workdir, step)
  ctx = Context(workdir, config, state, options)
  result = {"step": ctx.step, "dataset": config.dataset, "family": config.family,
            "model": config.get("model"), "num_samples": ctx.num_samples,
            "sampling": "ema" if getattr(state, "ema_params", None) is not None else "generator",
            "seed": options.seed}
  if options.inception_weights and ctx.has_images:
    ctx.inception()  # A bad weights file fails now, not after the other sections.
  skipped = {}
  for section in sections or sections_for(ctx.family):
    t = time.time()
    try:
      values = section.fn(ctx)
    except NotApplicable:
      continue
    except Skip as e:
      skipped[section.name] = str(e)
      options.log(f"{section.name}: skipped ({e})")
      continue
    result.update(values)
    options.log(f"{section.name}: done in {time.time() - t:.1f} s")
  if ctx.has_images:
    result["num_real_train"] = len(ctx.real(ctx.train_split)[0])
    if ctx.test_split():
      result["num_real_test"] = len(ctx.real(ctx.test_split())[0])
  result.update(ctx.meta)
  result["skipped"] = skipped
  result["seconds"] = round(time.time() - t0, 1)
  out_path = out_path or os.path.join(workdir, "eval.json")
  with open(out_path, "w") as f:
    json.dump(_jsonable(result), f, indent=2)
    f.write("\n")
  return result


def _jsonable(x):
  if isinstance(x, dict):
    return {k: _jsonable(v) for k, v in x.items()}
  if isinstance(x, (np.floating, np.integer)):
    x = x.item()
  if isinstance(x, float) and not math.isfinite(x):
    return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
  return x


def _columns(result: dict) -> list:
  """(suffix, header) of the table's comparison columns that `result` has."""
  n_test = result.get("num_real_test")
  columns = [("_at_test_size", f"generated ({n_test})"),
             ("_real_baseline", f"real test ({n_test}) vs train"),
             ("_identity", "source as output"),   # Translation families' baselines.
             ("_mean", "mean target")]
  return [(suffix, head) for suffix, head in columns
          if any(k.endswith(suffix) for k in result)]


def format_table(result: dict) -> str:
  """eval.json as a table: metric | generated | each comparison column it has (generated
  at test size, real test vs train; a translation's source and mean-target baselines)."""
  columns = _columns(result)
  # A translation's test images (pairs: pix2pix; both domains: CycleGAN, DiscoGAN).
  translated = result.get("num_test_pairs", result.get("num_test_images"))
  n = result.get("num_samples") if translated is None else translated
  header = ["metric", f"{'generated' if translated is None else 'translated'} ({n})"]
  header += [head for _, head in columns]
  skip = {"step", "num_samples", "num_real_train", "num_real_test", "seed", "seconds",
          "skipped", "num_inversions", "num_test_pairs", "num_test_images"}
  suffixes = tuple(suffix for suffix, _ in columns)
  rows = []
  for key, value in result.items():
    if key in skip or (suffixes and key.endswith(suffixes)) \
        or not isinstance(value, (int, float)) or isinstance(value, bool):
      continue
    rows.append([key, _fmt(value)] + [_fmt(result.get(key + suffix)) for suffix in suffixes])
  widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
  line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths)))
  what = result.get("model") or result.get("family")
  if translated is not None:
    how = f"({result['test_mode']} mode)" if "test_mode" in result else "both ways"
    title = (f"{what} on {result.get('dataset')}, step {result.get('step')}, the test split "
             f"translated {how}")
  else:
    title = (f"{what} on {result.get('dataset')}, step {result.get('step')}, "
             f"{result.get('sampling')} samples vs {result.get('num_real_train')} train images")
  text = [title, line(header), line(["-" * w for w in widths])]
  text += [line(r) for r in rows]
  for name, reason in result.get("skipped", {}).items():
    text.append(f"skipped {name}: {reason}")
  return "\n".join(text)


def _fmt(v) -> str:
  if v is None:
    return "-"
  if isinstance(v, int) and not isinstance(v, bool):
    return str(v)
  return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
