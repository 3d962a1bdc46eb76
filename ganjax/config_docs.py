"""Every config field with a one-line description, read from where the field is defined.

A field is defined once, with its default and a trailing comment, in ganjax.config
(the loop's fields), ganjax.families.base (the z -> x families') or its family's
`fields()`; `describe(config)` reads those comments back, so `--help` and the code
cannot disagree:

    dataset="digits",             # a TFDS name, or what the family reads
"""

import inspect
import io
import re
import tokenize

_FIELD = re.compile(r"^\s*(\w+)=")


def _comments(fn) -> dict:
  """{field: comment} of the `name=value,  # comment` lines in the source of `fn`.

  A comment-only line that follows one (and starts with '...') continues it.
  """
  source = inspect.getsource(fn)
  out, last = {}, None
  lines = source.splitlines()
  comments = {}  # line number -> comment text, from the tokenizer: '#' inside strings is no comment.
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type == tokenize.COMMENT:
      comments[tok.start[0]] = tok.string.lstrip("#").strip()
  for number, line in enumerate(lines, start=1):
    match = _FIELD.match(line)
    comment = comments.get(number)
    if match and comment:
      last = match.group(1)
      out.setdefault(last, comment)
    elif comment and line.strip().startswith("#") and comment.startswith("...") and last:
      out[last] += " " + comment
    elif match:
      last = None
  return out


def field_descriptions(family_name: str) -> dict:
  """{field: description} for every documented field of `family_name` (a nested field,
  such as optimizer.name, under its own name). The most specific definition wins: the
  family's, then the shared ones."""
  from ganjax import config as config_lib
  from ganjax import families
  from ganjax.families import base
  family = families.get(family_name)
  sources = []
  for cls in type(family).__mro__:
    if "fields" in vars(cls):
      module = inspect.getmodule(cls)
      # And the `*_fields()` helpers its module defines or imports (acgan's noise_fields).
      sources += [cls.fields] + [fn for name, fn in inspect.getmembers(module, inspect.isfunction)
                                 if name.endswith("_fields")]
  sources += [base.zx_fields, config_lib._loop_fields]  # pylint: disable=protected-access
  out = {}
  for fn in sources:
    for field, text in _comments(fn).items():
      if text:
        out.setdefault(field, text)
  return out


def flat_fields(config) -> dict:
  """{dotted field: value} of a ConfigDict, nested ones flattened (optimizer.name)."""
  out = {}
  for k, v in config.items():
    if hasattr(v, "items"):
      out.update({f"{k}.{kk}": vv for kk, vv in flat_fields(v).items()})
    else:
      out[k] = v
  return out


def _as_flag(value) -> str:
  """A value as it is written after --config.<field>= on a command line."""
  if isinstance(value, str):
    return value or "''"
  return repr(value).replace(" ", "")


def describe(config) -> str:
  """The config's fields as `--config.<field>=<value>  <description>` lines, sorted."""
  docs = field_descriptions(config.family)
  flags = {k: f"--config.{k}={_as_flag(v)}" for k, v in flat_fields(config).items()}
  width = max(map(len, flags.values()))
  return "\n".join(f"  {flag:<{width}}  {docs.get(k, docs.get(k.split('.')[-1], ''))}".rstrip()
                   for k, flag in sorted(flags.items()))
