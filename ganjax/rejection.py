"""Discriminator rejection sampling (DRS): keep G's samples as D's density ratio says.

A discriminator trained with the logistic loss to optimum has the logit

    D(x) = log p_data(x) / p_g(x),

so rejection sampling from p_g, accepting x with probability exp(D(x) - D*)
(D* = max_x D(x)), draws from p_data. Azadi, Olsson, Darrell, Goodfellow & Odena
2019, "Discriminator Rejection Sampling" (ICLR, https://arxiv.org/abs/1810.06758),
accept with probability sigmoid(F(x) - gamma), with

    F(x) = D(x) - D* - log(1 - exp(D(x) - D* - eps)),

which is exactly exp(D(x) - D*) at gamma = 0 (and eps -> 0); gamma trades how many
samples are kept against how closely they follow D's verdict. D* is the largest
logit of a calibration set of proposals (the paper's burn-in); a later proposal
above it is accepted outright.

Here the user sets `keep`, the share of proposals accepted, and gamma is solved so
that the calibration set's mean acceptance is `keep` (`calibrate`). The paper also
fine-tunes D on G's fixed samples before sampling; ganjax uses D as trained.
"""

from typing import Callable

import numpy as np

EPS = 1e-6
# Proposals per accepted sample at most, relative to 1 / keep, before giving up.
MAX_PROPOSAL_FACTOR = 20


def scores(logits, max_logit: float, eps: float = EPS) -> np.ndarray:
  """F(x) = D(x) - D* - log(1 - exp(D(x) - D* - eps)), D(x) capped at D*."""
  a = np.minimum(np.asarray(logits, np.float64) - max_logit, 0.0)
  return a - np.log1p(-np.exp(a - eps))


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def acceptance(logits, max_logit: float, gamma: float, eps: float = EPS) -> np.ndarray:
  """sigmoid(F(x) - gamma): each proposal's probability of being kept."""
  return _sigmoid(scores(logits, max_logit, eps) - gamma)


def calibrate(logits, keep: float, *, iterations: int = 100) -> tuple[float, float]:
  """(D*, gamma): D* the largest of `logits`, gamma such that their mean acceptance
  is `keep` (bisection: the acceptance falls monotonically with gamma)."""
  if not 0 < keep <= 1:
    raise ValueError(f"keep must be in (0, 1], got {keep}")
  logits = np.asarray(logits, np.float64).reshape(-1)
  if logits.size == 0 or not np.all(np.isfinite(logits)):
    raise ValueError("calibration needs finite discriminator logits")
  max_logit = float(logits.max())
  f = scores(logits, max_logit)
  lo, hi = float(f.min()) - 40.0, float(f.max()) + 40.0  # Mean acceptance ~1 at lo, ~0 at hi.
  for _ in range(iterations):
    gamma = 0.5 * (lo + hi)
    if np.mean(_sigmoid(f - gamma)) > keep:
      lo = gamma
    else:
      hi = gamma
  return max_logit, 0.5 * (lo + hi)


def rejection_sample(propose: Callable[[int], np.ndarray],
                     logits_of: Callable[[np.ndarray], np.ndarray], num: int, *,
                     keep: float, seed: int = 0, calibration: int = 10_000):
  """(num samples, stats): DRS over the proposal batches propose(0), propose(1), ...

  `propose(i)` returns batch i of G's samples (deterministic in i) and `logits_of(x)`
  D's logits of a batch, shape (B,) or (B, 1). The first batches, at least
  `calibration` samples, calibrate D* and gamma (`calibrate`); then every proposal,
  those included, in order, is kept with its acceptance probability (uniform draws
  from `seed`) until `num` are kept. `stats`: max_logit, gamma, proposed, kept and
  acceptance (kept / proposed). Raises RuntimeError past MAX_PROPOSAL_FACTOR / keep
  proposals per sample (an acceptance far below `keep`).
  """
  if num < 1:
    raise ValueError(f"num must be >= 1, got {num}")
  batches, logits = [], []
  while sum(len(b) for b in batches) < calibration:
    x = np.asarray(propose(len(batches)))
    batches.append(x)
    logits.append(np.asarray(logits_of(x)).reshape(len(x)))
  max_logit, gamma = calibrate(np.concatenate(logits), keep)
  rng = np.random.default_rng(seed)
  limit = int(np.ceil(num / keep * MAX_PROPOSAL_FACTOR))
  kept, num_kept, proposed, i = [], 0, 0, 0
  while num_kept < num:
    if i < len(batches):
      x, d = batches[i], logits[i]
    else:
      x = np.asarray(propose(i))
      d = np.asarray(logits_of(x)).reshape(len(x))
    accept = rng.uniform(size=len(x)) < acceptance(d, max_logit, gamma)
    kept.append(x[accept])
    num_kept += int(accept.sum())
    proposed += len(x)
    i += 1
    if num_kept < num and proposed >= limit:
      raise RuntimeError(f"rejection sampling kept {num_kept} of {proposed} proposals, "
                         f"far below keep={keep}: D's logits have drifted from calibration")
  stats = {"max_logit": max_logit, "gamma": gamma, "proposed": proposed, "kept": num,
           "acceptance": num_kept / proposed}
  return np.concatenate(kept)[:num], stats
