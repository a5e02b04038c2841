"""Two batches of one HTTP flow, the newer one's push dying midway: the set-up of the push-fence
tests (test_push_fence.py, test_review_2026_12_07b.py). Real CRM on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from crm_push import crm_customers, make_http_spec, seed_customers
from helpers import execute, new_run, sync
from test_http_target import break_answers_from_chunk

from syncgate.connectors.http.push import pusher
from syncgate.errors import RetriableError
from syncgate.pipeline.extract import extract
from syncgate.pipeline.load import load
from syncgate.pipeline.promote import promote
from syncgate.pipeline.transform import transform
from syncgate.pipeline.verify import verify

CUSTOMERS = 12
CHUNK = 5  # 12 changes: three chunks, the second one's answers lost


def staged(spec: Any) -> tuple[Any, Any]:
    """Extract, transform, load and verify a batch; returns the run and the promote-ready batch."""
    run = new_run(spec)
    return run, verify(spec, run, load(spec, run, transform(spec, extract(spec, run))))


def names(crm: Any) -> set[str]:
    return {v["name"] for v in crm_customers(crm).values()}


def older_and_newer(src: str, spec: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Two batches of every customer: the older says 'Older', the newer (read after it) 'Newer'."""
    # One cursor value per row: a later run re-reads only the newest row (the watermark's boundary),
    # so what an older batch reverts stays reverted.
    stamp = "updated_at = now() + id * interval '1 millisecond'"
    execute(src, f"UPDATE public.customers SET name = 'Older', {stamp}")
    older = staged(spec)
    execute(src, f"UPDATE public.customers SET name = 'Newer', {stamp}")
    return older, staged(spec)


def synced_with_two_batches(
    src: str, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> tuple[Any, tuple[Any, Any], tuple[Any, Any]]:
    """A synced HTTP flow pushing ``CHUNK`` changes at a time, and its two batches (older, newer)."""
    seed_customers(src, CUSTOMERS)
    spec = make_http_spec(**overrides)
    sync(spec)
    monkeypatch.setattr(pusher, "SINGLE_CHUNK", CHUNK)
    return (spec, *older_and_newer(src, spec))


def push_dies_midway(spec: Any, run: Any, batch: Any, crm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first chunk is confirmed; the second's first change is applied but its answers are lost
    (every retry too): the push fails."""
    with monkeypatch.context() as patched:
        break_answers_from_chunk(patched, crm, 2, "/v1/customers")
        with pytest.raises(RetriableError):
            promote(spec, run, batch)
