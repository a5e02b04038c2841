"""S3 for the landing area without the Amazon provider (syncgate.object_store).

What reaches a store is proven against a real S3 server by
tests/integration/test_distributed_celery.py; here: the settings read from the environment, and
that ``ensure`` gives the scheme a filesystem once, only where Airflow and fsspec have none.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator

import pytest

from syncgate import object_store

pytestmark = pytest.mark.unit


def test_region_and_endpoint_come_from_the_aws_sdk_variables() -> None:
    assert object_store.s3_options({}) == {}
    env = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}
    assert object_store.s3_options(env) == {
        "region": "eu-west-1",
        "endpoint_override": "http://127.0.0.1:9000",
    }
    # The S3-specific endpoint and AWS_REGION win, as in the AWS SDKs.
    env |= {"AWS_REGION": "eu-central-1", "AWS_ENDPOINT_URL_S3": "https://s3.internal:9443"}
    assert object_store.s3_options(env) == {
        "region": "eu-central-1",
        "endpoint_override": "https://s3.internal:9443",
    }
    assert "AWS_SECRET_ACCESS_KEY" not in str(object_store.s3_options({"AWS_SECRET_ACCESS_KEY": "x"}))


@pytest.fixture
def fresh_registries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Airflow's store cache, fsspec's registry and ensure's memory, restored after the test."""
    from airflow.sdk.io import store

    # fsspec.registry is also the name of a read-only view of this dict: restore its contents.
    # Whatever an earlier test of the session attached or registered for S3 is set aside.
    registered = importlib.import_module("fsspec.registry")._registry
    before = dict(registered)
    for scheme in object_store.SCHEMES:
        registered.pop(scheme, None)
    cache = {alias: s for alias, s in store._STORE_CACHE.items() if s.protocol not in object_store.SCHEMES}
    monkeypatch.setattr(store, "_STORE_CACHE", cache)
    monkeypatch.setattr(object_store, "_attached", set())
    # No address of a real cloud is ever looked up: a region is given, metadata services are off.
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
    registered.clear()
    registered.update(before)


@pytest.mark.skipif(
    importlib.util.find_spec("airflow.providers.amazon") is not None
    or importlib.util.find_spec("s3fs") is not None,
    reason="the Amazon provider or s3fs serves s3:// here",
)
def test_an_s3_landing_url_gets_pyarrows_client_for_both_sides_of_a_path(fresh_registries: None) -> None:
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    with pytest.raises(ValueError, match="No filesystem registered for scheme s3"):
        attach("s3").fs  # noqa: B018  (what a task met before: no S3 filesystem at all)

    path = ObjectStoragePath("s3://bucket/prefix/flow/batch")
    object_store.ensure(path)
    # Files are opened through Airflow's store, folders listed and removed through fsspec's.
    assert isinstance(attach("s3").fs, object_store.ArrowS3FileSystem)
    assert fsspec.get_filesystem_class("s3") is object_store.ArrowS3FileSystem
    assert attach("s3").fs.fs.region == "us-east-1"
    # universal_pathlib splits paths with the filesystem class's own _parent.
    assert path.parts[-2:] == ("flow", "batch")
    assert (path / "data.parquet").parent.name == "batch"
    assert object_store.ArrowS3FileSystem._parent("s3://bucket/prefix/flow") == "bucket/prefix"

    object_store.ensure(ObjectStoragePath("s3://bucket/other"))  # once per process
    assert object_store._attached == {"s3"}


def test_local_paths_and_paths_naming_a_connection_are_left_to_airflow(fresh_registries: None) -> None:
    from airflow.sdk import ObjectStoragePath

    object_store.ensure(ObjectStoragePath("file:///tmp/landing"))
    object_store.ensure(ObjectStoragePath("s3://aws_prod@bucket/prefix"))
    assert object_store._attached == set()
