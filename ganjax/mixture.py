"""The 2-D Gaussian-mixture benchmark of the mode-collapse literature.

Two datasets, as in VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018):

- ``ring``: 8 Gaussians with means on the unit circle, std 0.01;
- ``grid``: 25 Gaussians with means on {-4, -2, 0, 2, 4}^2, std 0.05.

Each has equal weights; `points` draws its 100,000 training points once, from a
fixed seed. `load` yields shuffled batches of them (`{'image': (B, 2)}`: the
key the train steps read, holding points here). `mode_metrics` scores
generated samples:

- a sample is HIGH QUALITY if it lies within 3 std of its nearest mode;
- a mode is COVERED if it is the nearest mode of at least one high-quality sample;
- the REVERSE KL compares the histogram of all samples over their nearest modes,
  p_k = #{i : nearest(x_i) = k} / N, with the uniform distribution u_k = 1/K::

      KL(p || u) = sum_k p_k log(p_k / u_k) = sum_{k : p_k > 0} p_k log(p_k K)

  Empty bins contribute 0 (the limit of p log p), so the value is finite: 0 when
  the samples spread evenly over the modes, log K when they all sit at one mode.

References:
  Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using Implicit
  Variational Learning", NeurIPS 2017, https://arxiv.org/abs/1705.07761.
  Lin et al., "PacGAN: The power of two samples in generative adversarial
  networks", NeurIPS 2018, https://arxiv.org/abs/1712.04086.
"""

import dataclasses
import functools
import itertools
import json
import os

import numpy as np

NUM_POINTS = 100_000
DATA_SEED = 0          # The training points are the same for every run.
NUM_EVAL_SAMPLES = 2_500


@dataclasses.dataclass(frozen=True)
class Mixture:
  """An equal-weight mixture of isotropic 2-D Gaussians."""

  name: str
  means: np.ndarray    # (K, 2)
  std: float

  @property
  def num_modes(self) -> int:
    return len(self.means)


def _ring() -> Mixture:
  angles = 2 * np.pi * np.arange(8) / 8
  return Mixture("ring", np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01)


def _grid() -> Mixture:
  ticks = np.arange(-4.0, 5.0, 2.0)
  return Mixture("grid", np.array(list(itertools.product(ticks, ticks))), 0.05)


MIXTURES = {"ring": _ring(), "grid": _grid()}


def is_mixture(name: str) -> bool:
  """Whether dataset `name` is one of the 2-D mixtures (not a TFDS dataset)."""
  return name in MIXTURES


def get(name: str) -> Mixture:
  if name not in MIXTURES:
    raise ValueError(f"unknown mixture {name!r}; valid: {', '.join(MIXTURES)}")
  return MIXTURES[name]


@functools.lru_cache(maxsize=None)
def points(name: str, num: int = NUM_POINTS, seed: int = DATA_SEED) -> np.ndarray:
  """`num` float32 points (num, 2) drawn once from mixture `name` (read-only)."""
  m = get(name)
  rng = np.random.default_rng(seed)
  modes = rng.integers(m.num_modes, size=num)
  x = (m.means[modes] + m.std * rng.standard_normal((num, 2))).astype(np.float32)
  x.flags.writeable = False  # Cached: shared by every caller.
  return x


def load(name: str, *, batch_size: int, seed: int = 0, shard_index: int = 0,
         shard_count: int = 1):
  """Yields `{'image': (batch_size, 2)}` batches of the training points forever.

  Each epoch is a fresh permutation (from `seed` and the epoch number) cut into
  global batches of `batch_size * shard_count` points, the remainder dropped;
  process `shard_index` gets its slice of each global batch.
  """
  data = points(name)
  global_batch = batch_size * shard_count
  if global_batch > len(data):
    raise ValueError(f"batch of {global_batch} exceeds the {len(data)} points")
  lo = shard_index * batch_size
  for epoch in itertools.count():
    order = np.random.default_rng([seed, epoch]).permutation(len(data))
    for start in range(0, len(data) - global_batch + 1, global_batch):
      yield {"image": data[order[start + lo:start + lo + batch_size]]}


def mode_metrics(samples, mixture: Mixture) -> dict:
  """Modes covered, high-quality fraction and reverse KL of `samples` (N, 2).

  See the module docstring for the definitions. Returns a dict of Python
  numbers: `modes_covered`, `num_modes`, `high_quality_fraction`, `reverse_kl`.
  """
  x = np.asarray(samples, np.float64)
  if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
    raise ValueError(f"expected samples of shape (N, 2) with N > 0, got {x.shape}")
  if not np.all(np.isfinite(x)):
    # A diverged generator: no sample is near any mode.
    x = np.where(np.isfinite(x), x, np.inf)
  dist = np.linalg.norm(x[:, None, :] - mixture.means[None], axis=-1)  # (N, K)
  nearest = np.argmin(dist, axis=1)
  high_quality = dist[np.arange(len(x)), nearest] <= 3 * mixture.std
  k = mixture.num_modes
  p = np.bincount(nearest, minlength=k) / len(x)
  nonzero = p > 0
  return {
      "modes_covered": int(len(np.unique(nearest[high_quality]))),
      "num_modes": k,
      "high_quality_fraction": float(np.mean(high_quality)),
      "reverse_kl": float(np.sum(p[nonzero] * np.log(p[nonzero] * k))),
  }


def write_evaluation(workdir: str, name: str, samples, *, step: int, **extra) -> dict:
  """Writes `<workdir>/eval.json` (the metrics and `extra`) and `<workdir>/eval.png`;
  returns the metrics."""
  from ganjax import scatter  # PIL only when writing.
  m = get(name)
  metrics = {"dataset": name, "step": step, "num_samples": len(samples),
             **mode_metrics(samples, m), **extra}
  with open(os.path.join(workdir, "eval.json"), "w") as f:
    json.dump(metrics, f, indent=2)
  scatter.save_scatter(os.path.join(workdir, "eval.png"), samples, m.means,
                       title=_title(metrics))
  return metrics


def _title(metrics: dict) -> str:
  return (f"{metrics['dataset']} step {metrics['step']}: "
          f"{metrics['modes_covered']}/{metrics['num_modes']} modes, "
          f"hq {metrics['high_quality_fraction']:.3f}, "
          f"rKL {metrics['reverse_kl']:.3f}")


def save_samples(path: str, name: str, samples, *, step: int) -> str:
  """A scatter PNG of `samples` over the modes of mixture `name`, titled by its metrics."""
  from ganjax import scatter
  m = get(name)
  metrics = {"dataset": name, "step": step, **mode_metrics(samples, m)}
  return scatter.save_scatter(path, samples, m.means, title=_title(metrics))
