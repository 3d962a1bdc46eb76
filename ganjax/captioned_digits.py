"""Captioned digits: an offline text -> image dataset for StackGAN, made from the 8x8 digits.

Each digit of scikit-learn's bundled set (ganjax.data.digits' fixed train/test split) is
drawn on a blank R x R canvas with four attributes, and described by ~10 captions from a
small grammar over its class and those attributes:

    d = captioned_digits.load('train', resolution=32)   # 5,988 images, 4 renderings each
    d.images[0]      # uint8 (32, 32, 1), ink bright on black
    d.captions[0]    # ('a small thick seven in the top left', 'the number 7, leaning left', ...)
    d.attributes     # {'label', 'size', 'thickness', 'slant', 'position'}: (N,) int codes

The attributes (each tuple's order is its code; all but POSITIONS are ordinal):
  size       SIZES       the ink box's height, BOX_HEIGHTS of the canvas;
  thickness  THICKNESSES the stroke width, STROKE_WIDTHS of the digit's height;
  slant      SLANTS      a horizontal shear SHEARS (x' = x - k (y - y_c), y down) of the
                         digit after removing its own slant (deskewing by its moments);
  position   POSITIONS   where the ink centroid sits: the center, or a corner, the box
                         MARGIN from the edges (a large digit fits only at the center).

Rendering: the 8x8 counts (scaled to peak 1) become a smooth field v = sum_ij c_ij K(y - i)
K(x - j) (K Keys' cubic kernel, which interpolates: holes stay dark), sampled through the
scale, shear and shift above; the ink is a level set v > t, anti-aliased analytically:
coverage = clip((v - t) / |grad v| + 1/2, 0, 1), the pixel's signed distance to the level
set. The level t is chosen per digit so that the stroke width, as `measure` reads it, is
STROKE_WIDTHS[thickness] of the box height: "thick" means the same on a heavy handwritten
one as on a light one (within what the levels in CALIBRATION_LEVELS allow).

`measure` reads the same attributes back from any images (generated ones too) as numbers;
`parse_caption` reads them back from a caption.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping

import numpy as np

# --------------------------------------------------------------------------- attributes

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SIZES = ("small", "medium", "large")
THICKNESSES = ("thin", "regular", "thick")
SLANTS = ("left", "upright", "right")
POSITIONS = ("center", "top left", "top right", "bottom left", "bottom right")
ATTRIBUTES = ("label", "size", "thickness", "slant", "position")
NUM_CODES = {"label": 10, "size": len(SIZES), "thickness": len(THICKNESSES),
             "slant": len(SLANTS), "position": len(POSITIONS)}

BOX_HEIGHTS = (0.4, 0.6, 0.8)  # Ink box height / canvas side, per size.
STROKE_WIDTHS = (0.12, 0.18, 0.24)  # Stroke width / box height, per thickness.
# Levels of the field (peak 1) tried when matching a stroke width; the ink is cut between.
CALIBRATION_LEVELS = (0.15, 0.3, 0.45, 0.6, 0.75)
SHEARS = (-0.35, 0.0, 0.35)    # Horizontal shear per slant (+: the top leans right).
MARGIN = 0.06                  # A corner digit's box is this far (of the side) from the edges.
JITTER = 1 / 32                # Placement jitter, uniform +-JITTER of the side (1 px at 32).
# `measure`: a centroid within this of the middle on both axes is "center", else the
# quadrant's corner (corner centroids sit >= 0.1 from the middle, center ones <= 0.04).
CENTER_BAND = 0.07
LARGE = SIZES.index("large")
CENTER = POSITIONS.index("center")
MIN_RESOLUTION = 16


# --------------------------------------------------------------------------- rendering


def _cubic(t):
  """Keys' cubic convolution kernel K(t) (a = -1/2, Catmull-Rom) and its derivative K'(t):
  it interpolates (K(0) = 1, K(+-1) = 0), so holes between strokes stay dark."""
  a = np.abs(t)
  near, far = a < 1, (a >= 1) & (a < 2)
  k = np.where(near, 1.5 * a**3 - 2.5 * a**2 + 1,
               np.where(far, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))
  dk = np.where(near, 4.5 * a**2 - 5 * a, np.where(far, -1.5 * a**2 + 5 * a - 4, 0.0))
  return k, dk * np.sign(t)


def _cubic_taps(u):
  """The kernel's weights of taps x - 1, x, x + 1, x + 2 for fraction u of x, and their
  derivatives in u."""
  u2, u3 = u * u, u * u * u
  taps = ((-u3 + 2 * u2 - u) / 2, (3 * u3 - 5 * u2 + 2) / 2, (-3 * u3 + 4 * u2 + u) / 2,
          (u3 - u2) / 2)
  dtaps = ((-3 * u2 + 4 * u - 1) / 2, (9 * u2 - 10 * u) / 2, (-9 * u2 + 8 * u + 1) / 2,
           (3 * u2 - 2 * u) / 2)
  return taps, dtaps


def _is_int(value) -> bool:
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_codes(**codes):
  for name, code in codes.items():
    if not _is_int(code) or not 0 <= code < NUM_CODES[name]:
      raise ValueError(f"{name} must be an integer code in [0, {NUM_CODES[name]}), got "
                       f"{code!r}")
  if codes["size"] == LARGE and codes["position"] != CENTER:
    raise ValueError("a large digit fits only at the center (position 0)")


def _check_resolution(resolution):
  if not _is_int(resolution) or resolution < MIN_RESOLUTION:
    raise ValueError(f"resolution must be an integer >= {MIN_RESOLUTION}, got {resolution!r}")


def _render_many(counts, size, thickness, slant, position, resolution, jitter):
  """uint8 (N, R, R) digits for (N, 8, 8) counts, (N,) codes and (N, 2) jitter in [-1, 1]."""
  r_ = resolution
  v = np.asarray(counts, np.float64)
  v = v / np.maximum(v.max(axis=(1, 2), keepdims=True), 1e-9)  # Peak 1: levels comparable.
  n = len(v)
  grid = np.arange(8.0)
  mass = v.sum(axis=(1, 2))
  cy = np.einsum("nij,i->n", v, grid) / mass
  cx = np.einsum("nij,j->n", v, grid) / mass
  dy, dx = grid[None, :, None] - cy[:, None, None], grid[None, None, :] - cx[:, None, None]
  own = np.einsum("nij,nij->n", v, dx * dy) / np.einsum("nij,nij->n", v, dy * dy)
  shear = np.clip(own, -1, 1) + np.asarray(SHEARS)[slant]  # x = x2 + c_x + shear (y - c_y)
  # The ink box in input pixels (each pixel spans +-1/2), x measured after the shear.
  ink = v > 0
  rows = ink.any(axis=2)
  top, bottom = rows.argmax(1) - 0.5, 7 - rows[:, ::-1].argmax(1) + 0.5
  corner_dy = np.stack([dy - 0.5, dy + 0.5], -1)[..., None]  # (N, 8, 1, 2, 1)
  corner_dx = np.stack([dx - 0.5, dx + 0.5], -1)[..., None, :]  # (N, 1, 8, 1, 2)
  x2 = corner_dx - shear[:, None, None, None, None] * corner_dy
  x2 = np.where(ink[..., None, None], x2, np.nan).reshape(n, -1)
  left, right = np.nanmin(x2, 1), np.nanmax(x2, 1)
  scale = np.asarray(BOX_HEIGHTS)[size] * r_ / (bottom - top)  # output px per input px
  # Wide sheared digits are narrowed to fit between the margins.
  scale_x = np.minimum(scale, (1 - 2 * MARGIN) * r_ / (right - left))
  # Where the centroid goes (px): the canvas center, or a corner box MARGIN from the edges.
  box_top, box_bottom = scale * (top - cy), scale * (bottom - cy)  # relative to the centroid
  box_left, box_right = scale_x * left, scale_x * right
  m = MARGIN * r_
  cols = np.array([0, -1, 1, -1, 1])[position]
  rows_ = np.array([0, -1, -1, 1, 1])[position]
  x0 = np.select([cols < 0, cols > 0], [m - box_left, r_ - m - box_right], r_ / 2)
  y0 = np.select([rows_ < 0, rows_ > 0], [m - box_top, r_ - m - box_bottom], r_ / 2)
  x0 = x0 + jitter[:, 0] * JITTER * r_
  y0 = y0 + jitter[:, 1] * JITTER * r_
  x0 = np.clip(x0, -box_left, r_ - box_right)  # Keep the box on the canvas.
  y0 = np.clip(y0, -box_top, r_ - box_bottom)
  # Output pixel centers -> input coordinates; the field and its gradient there, the
  # vertical pass by einsum, the horizontal one by the 4 taps around each x.
  p = np.arange(r_) + 0.5
  y_in = (p[None, :] - y0[:, None]) / scale[:, None] + cy[:, None]  # (N, R)
  x_in = ((p[None, None, :] - x0[:, None, None]) / scale_x[:, None, None] + cx[:, None, None]
          + shear[:, None, None] * (y_in - cy[:, None])[:, :, None])  # (N, R, R)
  a, da = _cubic(y_in[..., None] - grid)  # (N, R, 8)
  pad = ((0, 0), (0, 0), (4, 4))  # Taps up to 4 beyond the 8 columns read zeros.
  w = np.pad(np.einsum("nri,nij->nrj", a, v), pad).astype(np.float32)
  dw = np.pad(np.einsum("nri,nij->nrj", da, v), pad).astype(np.float32)
  x_in = np.clip(x_in, -2.5, 9.5)
  floor = np.floor(x_in)
  u = (x_in - floor).astype(np.float32)  # float32 from here: half the memory traffic.
  first = floor.astype(np.int64) + 3  # Index of tap x - 1 in the padded columns.
  taps, dtaps = _cubic_taps(u)
  field = d_col = d_w = 0.0
  for k in range(4):
    wk = np.take_along_axis(w, first + k, axis=2)
    field = field + taps[k] * wk
    d_col = d_col + dtaps[k] * wk
    d_w = d_w + taps[k] * np.take_along_axis(dw, first + k, axis=2)
  d_col = d_col / scale_x[:, None, None]
  d_row = d_w / scale[:, None, None] + d_col * (shear * scale_x / scale)[:, None, None]
  grad = np.maximum(np.sqrt(d_row**2 + d_col**2), 1e-6)
  target = np.asarray(STROKE_WIDTHS)[thickness] * np.asarray(BOX_HEIGHTS)[size] * r_
  level = _calibrated_level(field, grad, target)
  coverage = np.clip((field - level[:, None, None]) / grad + 0.5, 0, 1)
  return np.round(coverage * 255).astype(np.uint8)


def _stroke_width(ink):
  """Stroke width in pixels of (N, R, R) ink in [0, 1]: area / half perimeter, the
  perimeter the total variation sum |grad ink| by forward differences (zero outside)."""
  padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
  gy = padded[:, 1:, 1:] - padded[:, :-1, 1:]
  gx = padded[:, 1:, 1:] - padded[:, 1:, :-1]
  perimeter = np.sqrt(gy * gy + gx * gx).sum(axis=(1, 2))
  return 2 * ink.sum(axis=(1, 2)) / np.maximum(perimeter, 1e-9)


def _calibrated_level(field, grad, target):
  """(N,) level whose ink has stroke width `target` px (as `measure` reads it),
  interpolated between CALIBRATION_LEVELS (widths made non-increasing in the level;
  clamped to the range)."""
  levels = np.asarray(CALIBRATION_LEVELS)
  inv = (1 / grad).astype(np.float32)
  scaled = (field * inv).astype(np.float32)
  widths = np.stack([_stroke_width(np.clip(scaled - np.float32(t) * inv + 0.5, 0, 1))
                     for t in levels], 1)
  widths = np.minimum.accumulate(widths, axis=1)
  last = len(levels) - 1
  k = (widths > target[:, None]).sum(axis=1)  # The first level as thin as the target.
  hi, lo = np.clip(k - 1, 0, last), np.clip(k, 0, last)
  w_hi = np.take_along_axis(widths, hi[:, None], 1)[:, 0]
  w_lo = np.take_along_axis(widths, lo[:, None], 1)[:, 0]
  frac = np.where(hi == lo, 0.0, (w_hi - target) / np.maximum(w_hi - w_lo, 1e-9))
  return levels[hi] + np.clip(frac, 0, 1) * (levels[lo] - levels[hi])


def render(counts: np.ndarray, *, size: int, thickness: int, slant: int, position: int,
           resolution: int, rng: np.random.Generator) -> np.ndarray:
  """One digit's 8x8 counts (0..16) drawn on a blank canvas: uint8 (R, R), ink bright.

  Scaled so its ink box is BOX_HEIGHTS[size] of the side, its own slant replaced by
  SHEARS[slant], its strokes STROKE_WIDTHS[thickness] of its height wide, its centroid at
  POSITIONS[position] (+- JITTER of the side, two uniforms drawn from `rng`). Any
  resolution >= 16. See the module's docstring for the formulas.
  """
  counts = np.asarray(counts)
  if counts.shape != (8, 8) or not counts.any() or counts.min() < 0:
    raise ValueError(f"counts must be a non-negative (8, 8) array with some ink, got shape "
                     f"{counts.shape}")
  _check_resolution(resolution)
  _check_codes(size=size, thickness=thickness, slant=slant, position=position)
  jitter = rng.uniform(-1, 1, size=(1, 2))
  return _render_many(counts[None], np.array([size]), np.array([thickness]),
                      np.array([slant]), np.array([position]), int(resolution), jitter)[0]


# --------------------------------------------------------------------------- measuring

INK_FLOOR = 0.1      # Intensities (0 black .. 1 ink) below this are background noise.
ROW_FRACTION = 0.1   # A row is in the ink box if it holds this much of the fullest row's ink.


def _intensity(images) -> np.ndarray:
  """float64 (N, R, R) in [0, 1] of uint8 images or float images in [-1, 1]."""
  x = np.asarray(images)
  if x.ndim == 4 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim != 3 or x.shape[1] != x.shape[2]:
    raise ValueError(f"images must be (N, R, R) or (N, R, R, 1), got shape {x.shape}")
  if x.dtype == np.uint8:
    return x / 255.0
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"images must be uint8 or float in [-1, 1], got {x.dtype}")
  if x.size and (x.min() < -1.001 or x.max() > 1.001):
    raise ValueError(f"float images must be in [-1, 1], got values in "
                     f"[{x.min():.3g}, {x.max():.3g}]")
  return np.clip((x.astype(np.float64) + 1) / 2, 0, 1)


def measure(images) -> dict[str, np.ndarray]:
  """The attributes of digits as numbers, from the pixels alone (real or generated).

  Of ink i = (intensity - INK_FLOOR) / (1 - INK_FLOOR), clipped to [0, 1], each (N,):
    size       ink box height / R (rows with >= ROW_FRACTION of the fullest row's ink);
    thickness  stroke width / box height, width = area / half perimeter
               = 2 sum(i) / sum|grad i| (a stroke of length L >> w: 2Lw / 2L);
    slant      -mu11 / mu02, the central moments of i with y down (> 0: the top leans
               right; the shear of a deskewed digit);
    x, y       ink centroid in [0, 1] (0: left / top);
    position   code: center if the centroid is within CENTER_BAND of the middle on both
               axes, else its quadrant's corner (int; -1 where there is no ink);
    ink        mean intensity in [0, 1], before the floor.
  Images: (N, R, R) or (N, R, R, 1), uint8 or float in [-1, 1]. NaN where there is no ink.
  """
  raw = _intensity(images)
  n, r_ = raw.shape[:2]
  ink = np.clip((raw - INK_FLOOR) / (1 - INK_FLOOR), 0, 1)
  mass = ink.sum(axis=(1, 2))
  empty = mass <= 1e-9
  safe = np.where(empty, 1.0, mass)
  p = np.arange(r_) + 0.5
  row_mass, col_mass = ink.sum(axis=2), ink.sum(axis=1)
  y = row_mass @ p / safe
  x = col_mass @ p / safe
  dy = p[None, :] - y[:, None]
  dx = p[None, :] - x[:, None]
  mu02 = np.einsum("nr,nr->n", row_mass, dy**2)
  mu11 = np.einsum("nr,nr->n", np.einsum("nrc,nc->nr", ink, dx), dy)
  in_box = row_mass > ROW_FRACTION * row_mass.max(axis=1, keepdims=True)
  first = in_box.argmax(axis=1)
  last = r_ - 1 - in_box[:, ::-1].argmax(axis=1)
  height = (last - first + 1) / r_
  padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
  gy, gx = np.diff(padded, axis=1)[:, :, :-1], np.diff(padded, axis=2)[:, :-1, :]
  perimeter = np.sqrt(gy**2 + gx**2).sum(axis=(1, 2))
  width = 2 * mass / np.maximum(perimeter, 1e-9)
  cx, cy = x / r_, y / r_
  corner = 1 + (cx > 0.5) + 2 * (cy > 0.5)  # top left, top right, bottom left, bottom right
  central = np.maximum(np.abs(cx - 0.5), np.abs(cy - 0.5)) < CENTER_BAND
  nan = np.where(empty, np.nan, 1.0)
  return {
      "size": height * nan,
      "thickness": width / (height * r_) * nan,
      "slant": -mu11 / np.maximum(mu02, 1e-9) * nan,
      "x": cx * nan,
      "y": cy * nan,
      "position": np.where(empty, -1, np.where(central, CENTER, corner)),
      "ink": raw.mean(axis=(1, 2)),
  }


# --------------------------------------------------------------------------- captions

_NUMERALS = tuple(str(d) for d in range(10))
# Words per code of each attribute, as an adjective before the noun ...
_ADJECTIVES = {
    "size": (("small", "tiny", "little"), ("medium", "medium sized", "mid sized"),
             ("large", "big", "huge")),
    "thickness": (("thin", "slim", "skinny"), ("regular",), ("thick", "bold", "heavy")),
    "slant": (("left leaning",), ("upright", "straight"), ("right leaning", "slanted", "italic")),
}
# ... and as a phrase after it (size has none: "a seven, small" reads as a list, below).
_STROKES = (("thin", "fine"), ("regular", "normal"), ("thick", "heavy", "bold"))
_PHRASES = {
    "thickness": tuple(
        tuple(t.format(w) for w in words for t in ("with {} strokes", "with {} lines",
                                                  "drawn in {} strokes"))
        + (("of regular thickness", "of normal thickness") if code == 1 else ())
        for code, words in enumerate(_STROKES)),
    "slant": (("leaning left", "leaning to the left", "slanted left", "tilted to the left"),
              ("upright", "standing upright", "standing straight"),
              ("leaning right", "leaning to the right", "slanted right", "tilted to the right",
               "in italics")),
    "position": (("in the center", "in the middle", "at the center", "centered"),) + tuple(
        tuple(f"{p} the {v} {h}{c}" for p in ("in", "at") for v in vs for c in ("", " corner"))
        for vs, h in ((("top", "upper"), "left"), (("top", "upper"), "right"),
                      (("bottom", "lower"), "left"), (("bottom", "lower"), "right"))),
}
# In a list after the noun ("the number 7, small and thick", "a 7 that is ..."): adjectives
# or phrases that follow "is".
_PREDICATES = {
    "size": _ADJECTIVES["size"],
    "thickness": tuple(a + tuple(p for p in ps if not p.startswith("with"))
                       for a, ps in zip(_ADJECTIVES["thickness"], _PHRASES["thickness"])),
    "slant": tuple(a + tuple(p for p in ps if p not in a)
                   for a, ps in zip(_ADJECTIVES["slant"], _PHRASES["slant"])),
    "position": _PHRASES["position"],
}
# Opening a caption ("in the top left corner, a seven").
_FRONT = tuple(tuple(p for p in ps if p != "centered") for ps in _PHRASES["position"])
_OPTIONAL = ("size", "thickness", "slant", "position")  # What a caption may mention.
_AN = {"eight", "8", "upright", "italic"}  # "an" before these.
_DRAWS = 48  # Uniforms a caption may use (at most ~35).


def _nouns(label: int) -> tuple[str, ...]:
  word, numeral = NUMBER_WORDS[label], _NUMERALS[label]
  return (word, word, numeral, f"number {numeral}", f"digit {numeral}", f"number {word}",
          f"digit {word}")


def _vocabulary() -> tuple[str, ...]:
  phrases = [*NUMBER_WORDS, *_NUMERALS, "a an the number digit and that is"]
  for table in (_ADJECTIVES, _PHRASES, _PREDICATES):
    phrases += [p for codes in table.values() for options in codes for p in options]
  return tuple(sorted({w for p in phrases for w in p.split()}))


VOCABULARY = _vocabulary()


def _pick(u, options):
  return options[int(u() * len(options))]


def _determiner(u, body: str) -> str:
  """'', 'the ' or 'a '/'an ' (by the next word) before `body`; 'the number 7', never 'a'."""
  x = u()
  if x < 0.1:
    return ""
  if x < 0.4 or " number " in f" {body} " or " digit " in f" {body} ":
    return "the "
  return "an " if body.split()[0].rstrip(",") in _AN else "a "


def _join_list(items) -> str:
  """'x', 'x and y', 'x, y and z'."""
  return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _mentioned(attributes: Mapping, u, mention) -> list[str]:
  if "label" not in attributes:
    raise ValueError("attributes must hold 'label' (every caption names the digit)")
  if mention is None:
    names = [n for n in _OPTIONAL if n in attributes and u() < 0.5]
  else:
    unknown = set(mention) - set(ATTRIBUTES)
    if unknown:
      raise ValueError(f"mention has unknown attributes {sorted(unknown)}; valid: "
                       f"{', '.join(ATTRIBUTES)}")
    if not mention.get("label", True):
      raise ValueError("every caption names the digit: mention['label'] cannot be False")
    names = [n for n in _OPTIONAL if mention.get(n, False)]
  for name in ("label", *names):
    if not 0 <= int(attributes.get(name, -1)) < NUM_CODES[name]:
      raise ValueError(f"attribute {name!r} must be a code in [0, {NUM_CODES[name]}), got "
                       f"{attributes.get(name)!r}")
  return names


def caption(attributes: Mapping, rng: np.random.Generator, *,
            mention: Mapping | None = None) -> str:
  """One caption naming the digit and the attributes in `mention` ({name: bool}; None: each
  of size, thickness, slant and position in `attributes` with probability 1/2), in a random
  template:

    noun phrase    "a small thick seven leaning left in the top right"
    list           "the number 7, small and thick, in the top left corner"
    relative       "a 7 that is tiny, bold and upright"
  with a position sometimes first ("in the middle, a large 3"). Lower case; words, spaces
  and commas. `parse_caption` reads every one back.
  """
  u = iter(rng.random(_DRAWS).tolist()).__next__  # One call to rng: captions are many.
  names = _mentioned(attributes, u, mention)
  code = {n: int(attributes[n]) for n in ("label", *names)}
  noun = _pick(u, _nouns(code["label"]))
  order = sorted(names, key=lambda _: u())  # A random order.
  front = ""
  if "position" in order and u() < 0.25:
    order.remove("position")
    front = _pick(u, _FRONT[code["position"]]) + ", "
  listed = [n for n in order if n != "position"]
  if listed and u() < 0.4:
    if u() < 0.5:  # "a 7 that is small, in the top left and thick"
      body = f"{noun} that is " + _join_list(
          [_pick(u, _PREDICATES[n][code[n]]) for n in order])
    else:  # "the number 7, small and thick, in the top left"
      body = f"{noun}, " + _join_list([_pick(u, _PREDICATES[n][code[n]]) for n in listed])
      if "position" in order:
        body += ", " + _pick(u, _PHRASES["position"][code["position"]])
  else:  # "a small thick seven leaning left in the top right": adjectives, noun, phrases.
    before = [n for n in order if n in _ADJECTIVES and (n == "size" or u() < 0.6)]
    body = " ".join([_pick(u, _ADJECTIVES[n][code[n]]) for n in before] + [noun])
    for n in order:
      if n not in before:
        body += _pick(u, (" ", ", ")) + _pick(u, _PHRASES[n][code[n]])
  return front + _determiner(u, body) + body


def captions(attributes: Mapping, rng: np.random.Generator, num: int = 10) -> list[str]:
  """`num` captions of one image (`caption` with random mentions), distinct where the
  grammar allows (up to 20 draws a caption)."""
  if num < 1:
    raise ValueError(f"num must be >= 1, got {num}")
  out, seen = [], set()
  for _ in range(20 * num):
    text = caption(attributes, rng)
    if text not in seen:
      seen.add(text)
      out.append(text)
      if len(out) == num:
        return out
  return (out * num)[:num]


# --------------------------------------------------------------------------- parsing

_WORD_CODES = {
    **{w: ("label", d) for d, w in enumerate(NUMBER_WORDS)},
    **{w: ("label", d) for d, w in enumerate(_NUMERALS)},
    **{w: ("size", 0) for w in ("small", "tiny", "little")},
    **{w: ("size", 1) for w in ("medium", "mid")},
    **{w: ("size", 2) for w in ("large", "big", "huge")},
    **{w: ("thickness", 0) for w in ("thin", "slim", "skinny", "fine")},
    **{w: ("thickness", 1) for w in ("regular", "normal")},
    **{w: ("thickness", 2) for w in ("thick", "bold", "heavy")},
    **{w: ("slant", 1) for w in ("upright", "straight", "vertical")},
    **{w: ("slant", 2) for w in ("italic", "italics")},
    **{w: ("position", CENTER) for w in ("center", "centre", "middle", "centered", "centred",
                                         "central")},
}
_LEANS = {"leaning", "leans", "lean", "slanted", "slanting", "slants", "slant", "tilted",
          "tilting", "tilts", "tilt", "inclined"}
_TOWARD = {"to", "the", "towards", "toward", "slightly", "a", "bit"}
_SIDES = {"left": 0, "right": 1}
_ROWS = {"top": 0, "upper": 0, "bottom": 1, "lower": 1}
_SIZE_NOUNS = {"size", "sized"}


def parse_caption(text: str) -> dict[str, int]:
  """{attribute: code} of what a caption states (label where it names a digit), in any
  order ("three, large and slanted"); unknown words are ignored, and a later statement
  overrides an earlier one. A lean with no side ("slanted", "italic") is to the right;
  "left"/"right" after top/upper/bottom/lower is a corner, next to a lean a slant.
  """
  tokens = re.findall(r"[a-z]+|[0-9]+", text.lower())
  out, i = {}, 0
  while i < len(tokens):
    tok = tokens[i]
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if tok in _ROWS and nxt in _SIDES:  # "top left": a corner.
      out["position"] = 1 + _SIDES[nxt] + 2 * _ROWS[tok]
      i += 2
      continue
    if tok in _SIDES and nxt in _LEANS:  # "left leaning".
      out["slant"] = 2 * _SIDES[tok]
      i += 2
      continue
    if tok in _LEANS:  # "leaning", "tilted to the left".
      j = i + 1
      while j < len(tokens) and tokens[j] in _TOWARD:
        j += 1
      if j < len(tokens) and tokens[j] in _SIDES:
        out["slant"] = 2 * _SIDES[tokens[j]]
        i = j + 1
      else:
        out["slant"] = 2
        i += 1
      continue
    if tok in ("regular", "normal", "average") and nxt in _SIZE_NOUNS:  # "normal sized".
      out["size"] = 1
      i += 2
      continue
    if tok in _WORD_CODES:
      name, code = _WORD_CODES[tok]
      out[name] = code
    i += 1
  return out


# --------------------------------------------------------------------------- the dataset

SPLITS = ("train", "test")
DEFAULT_RENDERINGS = {"train": 4, "test": 2}
_CHUNK = 512  # Images rendered at once: bounds the (chunk, R, R) temporaries.


@dataclasses.dataclass(frozen=True, eq=False)
class CaptionedDigits:
  """One split: `images` uint8 (N, R, R, 1); `captions` N tuples of strings; `attributes`
  {label, size, thickness, slant, position: (N,) int codes}; `source_index` (N,), the
  `load_digits` index each image was drawn from. Arrays are read-only (shared by a cache)."""

  images: np.ndarray
  captions: tuple
  attributes: dict
  source_index: np.ndarray

  def __len__(self):
    return len(self.images)


@functools.lru_cache(maxsize=1)
def _raw_digits():
  """(counts int (1797, 8, 8), labels int (1797,)) of scikit-learn's bundled digits."""
  from sklearn.datasets import load_digits  # Slow to import; only the loader needs it.
  digits = load_digits()
  return digits.images.astype(np.int64), digits.target.astype(np.int64)


def _split_indices(split: str, labels: np.ndarray) -> np.ndarray:
  from ganjax.data.digits import held_out_indices  # The project's one digits split.
  is_test = np.zeros(len(labels), dtype=bool)
  is_test[held_out_indices(labels)] = True
  return np.flatnonzero(is_test if split == "test" else ~is_test)


def _read_only(x: np.ndarray) -> np.ndarray:
  x.flags.writeable = False
  return x


@functools.lru_cache(maxsize=8)
def _draw(split, renderings, num_captions, seed):
  """What a split's images show, for every resolution: (source indices, attributes,
  placement jitter, captions), from independent streams of (seed, split)."""
  _, labels = _raw_digits()
  source = np.tile(_split_indices(split, labels), renderings)
  n = len(source)
  streams = np.random.SeedSequence([seed, SPLITS.index(split)]).spawn(3)
  rng = np.random.default_rng(streams[0])
  size = rng.integers(0, len(SIZES), n)
  thickness = rng.integers(0, len(THICKNESSES), n)
  slant = rng.integers(0, len(SLANTS), n)
  position = np.where(size == LARGE, CENTER, rng.integers(0, len(POSITIONS), n))
  attributes = {"label": labels[source], "size": size, "thickness": thickness,
                "slant": slant, "position": position}
  attributes = {k: _read_only(v.astype(np.int64)) for k, v in attributes.items()}
  jitter = np.random.default_rng(streams[1]).uniform(-1, 1, (n, 2))  # As `render` draws it.
  rng = np.random.default_rng(streams[2])
  texts = tuple(
      tuple(captions({k: int(v[i]) for k, v in attributes.items()}, rng, num_captions))
      for i in range(n))
  return _read_only(source), attributes, jitter, texts


@functools.lru_cache(maxsize=8)
def _load(split, resolution, renderings, num_captions, seed) -> CaptionedDigits:
  counts, _ = _raw_digits()
  source, a, jitter, texts = _draw(split, renderings, num_captions, seed)
  images = np.concatenate([
      _render_many(counts[source[i:i + _CHUNK]], a["size"][i:i + _CHUNK],
                   a["thickness"][i:i + _CHUNK], a["slant"][i:i + _CHUNK],
                   a["position"][i:i + _CHUNK], resolution, jitter[i:i + _CHUNK])
      for i in range(0, len(source), _CHUNK)])
  return CaptionedDigits(_read_only(images[..., None]), texts, a, source)


def load(split: str, *, resolution: int = 32, renderings: int | None = None,
         num_captions: int = 10, seed: int = 0) -> CaptionedDigits:
  """The captioned digits of ganjax.data.digits' `split` ('train' 1,497 digits, 'test'
  300), each rendered `renderings` times (default 4 for train, 2 for test) with uniformly
  drawn attributes (a large digit at the center), with `num_captions` captions each.

  The same arguments give the same data (memoised); train and test draw from different
  streams, and the attributes and captions do not depend on the resolution.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
  _check_resolution(resolution)
  renderings = DEFAULT_RENDERINGS[split] if renderings is None else renderings
  for name, value, least in (("renderings", renderings, 1), ("num_captions", num_captions, 1),
                             ("seed", seed, 0)):
    if not _is_int(value) or value < least:
      raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
  d = _load(split, int(resolution), int(renderings), int(num_captions), int(seed))
  return dataclasses.replace(d, attributes=dict(d.attributes))  # The dict is the caller's.
