"""Find a TFDS dataset and make sure it is prepared, failing fast where there is no network.

`prepared_builder(name, data_dir)` returns a `tfds.core.DatasetBuilder` whose data is on
disk. A dataset that is not prepared is prepared: offline builders (ganjax's `digits`) always
succeed; a downloading builder succeeds on a machine with internet and raises
`DatasetNotFoundError` on one without: at once where names do not resolve, after at most
2 * PROBE_TIMEOUT_S + 1 seconds where packets are silently dropped.

Why the extra care: TFDS opens URLs with `requests` and a urllib3 `Retry(total=10,
backoff_factor=0.2)`, so even an instant DNS failure is retried with exponential back-off for
about 200 s, and a black-holed connection has no timeout at all. Before the first download
from each server, ganjax sends it one request with a timeout and no retries (through the
proxy `requests` would use), and gives up at once if it does not answer.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.resources.abc  # Also makes `importlib.resources.abc` an attribute.
import importlib.util
import os
import socket
import sys
import threading
import urllib.parse

import requests
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader as tfds_downloader

# Seconds to wait for a download server to answer before calling the network absent.
PROBE_TIMEOUT_S = 3.0


class DatasetNotFoundError(ValueError):
  """A dataset is not prepared in the data_dir and cannot be downloaded here."""


class UnknownDatasetError(DatasetNotFoundError):
  """TFDS has no dataset of that name (nor does ganjax register one)."""


def _provide_importlib_resources() -> None:
  # TFDS 4.9.10 imports `importlib_resources` whenever it prepares a dataset but only
  # declares it for Python < 3.9 (tensorflow/datasets#11212). The standard library's
  # `importlib.resources` has the API it uses (`abc.Traversable`); alias it if missing.
  if importlib.util.find_spec("importlib_resources") is None:
    sys.modules.setdefault("importlib_resources", importlib.resources)


_provide_importlib_resources()


class _NoNetwork(ConnectionError):
  """Raised inside a TFDS download when its host cannot be reached."""


def _origin(url: str) -> str | None:
  """The server a download of `url` talks to, as 'scheme://host[:port]'; None if local."""
  parsed = urllib.parse.urlparse(url)
  if parsed.scheme == "gs":  # tf.io.gfile reads gs:// through the GCS JSON API.
    return "https://storage.googleapis.com"
  if parsed.scheme not in ("http", "https", "ftp"):
    return None
  return f"{parsed.scheme}://{parsed.netloc}"


def _probe(origin: str, timeout: float) -> str | None:
  """None if `origin` answers within about `timeout` seconds, else why not (a few words).

  One request, no retries, honouring the proxy settings that `requests` (and so TFDS)
  uses. Any HTTP answer counts, even an error status: the network is there. A bare TCP
  connection would not do, since some sandboxes accept every connection and then fail.
  """
  outcome = []

  def attempt():
    try:
      parsed = urllib.parse.urlparse(origin)
      if parsed.scheme == "ftp":
        socket.create_connection((parsed.hostname, parsed.port or 21), timeout).close()
      else:
        requests.head(origin, timeout=timeout, allow_redirects=False).close()
      outcome.append(None)
    except requests.exceptions.Timeout:
      outcome.append("timed out")
    except requests.exceptions.ProxyError:
      outcome.append("proxy refused")
    except requests.exceptions.SSLError:
      outcome.append("TLS handshake failed")
    except (requests.exceptions.RequestException, OSError) as e:
      resolve_failed = "NameResolution" in repr(e) or isinstance(e, socket.gaierror)
      outcome.append("name does not resolve" if resolve_failed else "connection failed")

  # A thread, because name resolution (getaddrinfo) has no timeout of its own.
  probe = threading.Thread(target=attempt, daemon=True)
  probe.start()
  probe.join(2 * timeout + 1.0)
  return outcome[0] if outcome else "timed out"


@contextlib.contextmanager
def _fail_fast_without_network(timeout: float = PROBE_TIMEOUT_S):
  """Within this context, a TFDS download whose server does not answer raises `_NoNetwork`."""
  original = tfds_downloader._Downloader._sync_download
  failures: dict[str, str | None] = {}

  def guarded(self, url, *args, **kwargs):
    origin = _origin(url)
    if origin is not None:
      if origin not in failures:
        failures[origin] = _probe(origin, timeout)
      if failures[origin]:
        host = urllib.parse.urlparse(origin).netloc
        raise _NoNetwork(f"cannot reach {host}: {failures[origin]}")
    return original(self, url, *args, **kwargs)

  tfds_downloader._Downloader._sync_download = guarded
  try:
    yield
  finally:
    tfds_downloader._Downloader._sync_download = original


def _new_dirs(paths: list[str]) -> list[str]:
  return [p for p in paths if not os.path.exists(p)]


def _remove_empty_dirs(root: str) -> None:
  """Removes `root` and the directories below it, bottom-up, where they are empty."""
  for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
    with contextlib.suppress(OSError):
      os.rmdir(dirpath)


def _unknown(name: str) -> UnknownDatasetError:
  base = name.split(":")[0].split("/")[0]
  known = tfds.list_builders(with_community_datasets=False)
  close = difflib.get_close_matches(base, known, n=3, cutoff=0.6)
  hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
  return UnknownDatasetError(
      f"unknown dataset {name!r}: neither TFDS nor ganjax has a dataset of that name{hint} "
      f"(for a folder of your own images, pass its path)"
  )


def _builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
  try:
    return tfds.builder(name, data_dir=data_dir, try_gcs=False)
  except tfds.core.DatasetNotFoundError:
    raise _unknown(name) from None


def prepared_builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """The TFDS builder for `name`, its data prepared in `data_dir` (TFDS's default if None).

  Raises:
    UnknownDatasetError: TFDS has no dataset called `name`.
    DatasetNotFoundError: the dataset is not in `data_dir` and its download host is
      unreachable (no network).
  """
  if data_dir and os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise DatasetNotFoundError(f"data_dir {data_dir} is a file: pass the folder TFDS "
                               "datasets are prepared in (or '' for TFDS's default)")
  builder = _builder(name, data_dir)
  if builder.is_prepared():
    return builder
  root = os.fspath(builder.data_dir_root)
  # Folders a failed download leaves behind, to tidy up if they are new and empty.
  scratch = _new_dirs([os.path.join(root, "downloads"), os.path.join(root, builder.name)])
  config = tfds.download.DownloadConfig(try_download_gcs=False)
  try:
    with _fail_fast_without_network():
      builder.download_and_prepare(download_config=config)
  except _NoNetwork as e:
    for path in scratch:
      _remove_empty_dirs(path)
    raise DatasetNotFoundError(
        f"dataset {name!r} is not prepared in {root} and cannot be downloaded here ({e}); "
        f"on a machine with internet run `tfds build {name} --data_dir={root}` and copy "
        f"{os.path.join(root, builder.name)} here, or pass --config.data_dir=<a folder "
        "where it is prepared>"
    ) from None
  except OSError:
    # Another process may have prepared the same dataset at the same moment, and won the
    # final rename of the folder: then the data is there and all is well.
    builder = _builder(name, data_dir)
    if not builder.is_prepared():
      raise
  return builder
