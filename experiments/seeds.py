"""The seed lists of `experiments.generate --seeds`: parsed, chosen and written back.

A module of its own, with no flags, so tests (and other scripts) can import it.
"""


def parse_seeds(text: str) -> list[int]:
  """'0-4,10' -> [0, 1, 2, 3, 4, 10]; ValueError for anything else, repeats included."""
  seeds = []
  for part in text.split(","):
    low, dash, high = part.strip().partition("-")
    if not (low.isdigit() and (high.isdigit() if dash else not high)):
      raise ValueError(f"--seeds: {part.strip()!r} is not a seed or a range A-B of seeds "
                       f"(e.g. 0-99, 3,5,9 or 0-4,10)")
    low, high = int(low), int(high if dash else low)
    if low > high:
      raise ValueError(f"--seeds: the range {low}-{high} is empty")
    seeds += range(low, high + 1)
  if len(set(seeds)) < len(seeds):
    raise ValueError(f"--seeds: {text} names a seed twice")
  if max(seeds) >= 2**31:
    raise ValueError("--seeds: seeds must be < 2**31")
  return seeds


def select_seeds(num: int | None, seeds: str | None) -> list[int]:
  """The seeds of --num and --seeds (either, or both when they agree); ValueError if not."""
  if seeds is None:
    if num is None or num < 1:
      raise ValueError(f"pass --num=N >= 1 (seeds 0..N-1) or --seeds (e.g. 0-99), got --num={num}")
    return list(range(num))
  chosen = parse_seeds(seeds)
  if num is not None and num != len(chosen):
    raise ValueError(f"--num={num} but --seeds={seeds} names {len(chosen)} seeds: pass one")
  return chosen


def format_seeds(seeds) -> str:
  """[0, 1, 2, 3, 4, 10] -> '0-4,10'."""
  runs = []
  for s in seeds:
    if runs and s == runs[-1][1] + 1:
      runs[-1][1] = s
    else:
      runs.append([s, s])
  return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
