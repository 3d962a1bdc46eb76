"""JAX's persistent compilation cache for ganjax's entry points.

A rerun, a resume, `sample` and `evaluate` compile the same programs again; with the
cache on, XLA's compiled executables are read from disk instead (measured numbers in the
README). The entry points turn it on (`enable()`); library users may call it too, before
their first computation. GANJAX_COMPILATION_CACHE=0 leaves it off; a directory in
GANJAX_COMPILATION_CACHE, or `directory`, replaces the default ~/.cache/ganjax/jax.
"""

import os

DEFAULT_DIRECTORY = os.path.join("~", ".cache", "ganjax", "jax")
# Programs that compile faster than this are not worth a disk read and write.
MIN_COMPILE_SECONDS = 0.5


def enable(directory: str | None = None, environ=os.environ) -> str | None:
  """Turns the persistent cache on; returns its directory, or None when opted out."""
  setting = environ.get("GANJAX_COMPILATION_CACHE", "")
  if setting == "0":
    return None
  import jax
  directory = os.path.expanduser(directory or setting or DEFAULT_DIRECTORY)
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return directory
