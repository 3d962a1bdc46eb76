"""The latent-space report of a trained work directory: the PNGs of experiments.latent.

The pure latent maths (interpolation, arithmetic, inversion) is ganjax.latent;
this module drives it over a run, with ganjax.evaluate's sampling and classifier.
"""

import json
import os

import jax
import numpy as np

from ganjax import evaluate, families, steps
from ganjax.latent import (METHODS, LatentError, combine, interpolation_grid,
                           parse_expression)
from ganjax.restore import load_trained


def _grid_rows(rows, ncols: int):
  """Rows of images (lists of (H, W, C) arrays) -> one (n, H, W, C) array, short rows padded."""
  blank = -np.ones_like(rows[0][0])
  cells = []
  for row in rows:
    row = list(row)[:ncols]
    cells += row + [blank] * (ncols - len(row))
  return np.stack(cells)


def _save(path, images, ncols):
  from ganjax import images as images_lib
  grid = images_lib.make_grid(images, ncols=ncols)
  images_lib.save_png(path, grid, scale=max(1, -(-768 // max(grid.shape[:2]))))  # ~768+ px
  return path


def latent_report(workdir: str, *, step: int | None = None, out_dir: str | None = None,
                  seed: int = 0,
                  num_rows: int = 8, num_steps: int = 10, arithmetic: str = "7-1+4",
                  group_size: int = 8, num_candidates: int = 2000, num_inversions: int = 64,
                  inversion_steps: int = 300, classifier_dir: str | None = None,
                  log=print) -> dict:
  """Writes the latent-space PNGs of a trained work directory (its newest checkpoint, or
  `step`'s) and returns their numbers.

  In `out_dir` (default `<workdir>/latent`):
  - interpolation_linear.png, interpolation_spherical.png: `num_rows` rows, each from one
    random z to another in `num_steps` steps; the same endpoints in both files.
  - arithmetic.png: one row per operand (its samples, then G(mean z) in the last column),
    then the result G(sum c_i mean z_i) followed by variants with noise of std 0.25 added.
    Class operands group `num_candidates` samples by the domain classifier's prediction
    (confidence >= 0.9); index operands refer to candidates.png (its first 100 samples).
  - inversion.png: held-out test images (row 1), the best of 256 random z (row 2), the
    inverted z (row 3); PSNRs over `num_inversions` images in latent.json.
  """
  config, state = load_trained(workdir, step)
  family = families.of(config)
  if not (family.image_samples and family.samples_from_z):
    raise LatentError(f"the latent tools need a family that generates images from z, not "
                      f"{config.family!r}")
  terms = parse_expression(arithmetic) if arithmetic else []
  for _, operand in terms:  # Fail before any work.
    bad = [i for i in operand if i >= min(100, num_candidates)] if isinstance(operand, list) \
        else []
    if bad:
      raise LatentError(f"sample indices {bad} are not in candidates.png "
                        f"(0..{min(100, num_candidates) - 1})")
  out_dir = out_dir or os.path.join(workdir, "latent")
  os.makedirs(out_dir, exist_ok=True)
  key = jax.random.key(seed)
  d = config.latent_dim
  gen = lambda z, labels=None: evaluate.generate(config, state, z=z, labels=labels)[0]
  result = {"step": int(state.step)}

  # Interpolation.
  for method in METHODS:
    z = interpolation_grid(jax.random.fold_in(key, 0), num_rows=num_rows, num_steps=num_steps,
                           latent_dim=d, method=method)
    path = _save(os.path.join(out_dir, f"interpolation_{method}.png"), gen(z), num_steps)
    log(f"wrote {path}")

  # Vector arithmetic.
  if terms:
    z_all = np.asarray(steps.sample_latent(jax.random.fold_in(key, 1), num_candidates, d))
    candidates = gen(z_all)
    _save(os.path.join(out_dir, "candidates.png"), candidates[:100], 10)
    groups, names = [], []
    preds = None
    for coef, operand in terms:
      if isinstance(operand, list):
        idx = np.asarray(operand)
        names.append(f"{'-' if coef < 0 else '+'}{operand}")
      else:
        if preds is None:
          evaluate_ctx = evaluate.Context(workdir, config, state,
                                          evaluate.Options(classifier_dir=classifier_dir, log=log))
          clf = evaluate_ctx.classifier()
          _, probs = clf.predict(candidates)
          preds = np.where(probs.max(1) >= 0.9, probs.argmax(1), -1)
        idx = np.flatnonzero(preds == operand)[:group_size]
        if len(idx) == 0:
          raise LatentError(f"no generated sample is confidently of class {operand}")
        names.append(f"{'-' if coef < 0 else '+'}{operand}")
      groups.append(idx)
    z_groups = [z_all[idx] for idx in groups]
    combined = np.asarray(combine(z_groups, [c for c, _ in terms]))
    noise = 0.25 * np.asarray(jax.random.normal(jax.random.fold_in(key, 2), (group_size, d)))
    rows = []
    for idx, zg in zip(groups, z_groups):
      rows.append(list(candidates[idx[:group_size]]) + [gen(zg.mean(0, keepdims=True))[0]])
    rows.append(list(gen(np.concatenate([combined[None], combined[None] + noise]))))
    path = _save(os.path.join(out_dir, "arithmetic.png"), _grid_rows(rows, group_size + 1),
                 group_size + 1)
    result["arithmetic"] = " ".join(names)
    result["arithmetic_group_sizes"] = [int(len(g)) for g in groups]
    log(f"wrote {path} ({arithmetic}: groups of {result['arithmetic_group_sizes']})")

  # Inversion of held-out images.
  ctx = evaluate.Context(workdir, config, state, evaluate.Options(
      num_inversions=num_inversions, inversion_steps=inversion_steps, seed=seed, log=log))
  values = evaluate.inversion_section(ctx)
  result.update(values)
  inv = ctx.cached(("inversion", "heldout"), lambda: None)
  targets = ctx.real(ctx.test_split())[0][:len(inv.psnr)]
  show = min(16, len(targets))
  path = _save(os.path.join(out_dir, "inversion.png"),
               np.concatenate([targets[:show], inv.random_images[:show], inv.images[:show]]), show)
  log(f"wrote {path}: PSNR held-out {values['inversion_psnr_heldout']:.2f} dB (inverted) vs "
      f"{values['inversion_psnr_random_baseline']:.2f} dB (best random z); train "
      f"{values['inversion_psnr_train']:.2f} dB")
  with open(os.path.join(out_dir, "latent.json"), "w") as f:
    json.dump(result, f, indent=2)
  return result

