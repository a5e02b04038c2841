"""S3 for the landing area when Airflow has no S3 filesystem: pyarrow's own S3 client.

``SYNCGATE_LANDING_URL=s3://bucket/prefix`` is read and written through Airflow's
``ObjectStoragePath``. With the Amazon provider (and s3fs) installed, Airflow's S3 filesystem
serves it. Without them (pyarrow is a requirement already; boto-based clients are not),
syncgate attaches pyarrow's S3 client to the scheme instead, set up from the environment as the
AWS SDKs and s3fs are: credentials from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or the
SDK's other sources), the region from ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, and an
S3-compatible store's address from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``.

A URL naming a connection (``s3://aws_conn@bucket/prefix``) is Airflow's to serve: that needs
the Amazon provider.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fsspec.implementations.arrow import ArrowFSWrapper

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

SCHEMES = ("s3", "s3a")

_lock = threading.Lock()
_attached: set[str] = set()


def s3_options(env: Mapping[str, str]) -> dict[str, Any]:
    """``pyarrow.fs.S3FileSystem`` arguments from the AWS variables of ``env`` (credentials are
    left to the SDK, which reads the same variables)."""
    options: dict[str, Any] = {}
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_override"] = endpoint
    return options


class ArrowS3FileSystem(ArrowFSWrapper):
    """fsspec's wrapper of ``pyarrow.fs.S3FileSystem``, addressed by ``s3://bucket/key`` URLs."""

    protocol = SCHEMES
    root_marker = ""

    def __init__(self, **storage_options: Any) -> None:
        from pyarrow import fs

        self._options = s3_options(os.environ)
        super().__init__(fs.S3FileSystem(**self._options), **storage_options)

    @property
    def fsid(self) -> str:
        return "s3_arrow_" + "_".join(f"{k}={v}" for k, v in sorted(self._options.items()))

    @classmethod
    def _parent(cls, path: str) -> str:
        # A class method, as universal_pathlib calls it (fsspec's wrapper has an instance one).
        path = cls._strip_protocol(path).rstrip("/")
        return path.rsplit("/", 1)[0] if "/" in path else ""


def ensure(path: ObjectStoragePath) -> None:
    """Give ``path``'s scheme a filesystem if it is S3 and neither Airflow nor fsspec has one."""
    protocol = path.protocol
    if protocol not in SCHEMES or path.conn_id or protocol in _attached:
        return
    with _lock:
        if protocol in _attached:
            return
        import fsspec
        from airflow.sdk.io import attach, has_fs

        # ObjectStoragePath opens files through Airflow's filesystem of the scheme, and lists,
        # makes and removes folders through fsspec's: both must reach the store.
        if not has_fs(protocol):
            # Set on the store attach() keeps for the scheme, even one made before (whose
            # filesystem failed to load): that is the store every path of the scheme uses.
            attach(protocol).fs = ArrowS3FileSystem()
        if importlib.util.find_spec("s3fs") is None:
            fsspec.register_implementation(protocol, ArrowS3FileSystem, clobber=True)
        _attached.add(protocol)
