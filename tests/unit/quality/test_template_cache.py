"""GX Data Docs templates compile once per machine: every view shares one bytecode cache."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


def test_gx_views_share_one_bytecode_cache() -> None:
    from great_expectations.render.view.view import DefaultJinjaPageView

    from syncgate.quality.template_cache import bytecode_cache, cache_gx_templates

    cache_gx_templates()
    cache_gx_templates()  # idempotent: one wrapper, not a chain
    view = DefaultJinjaPageView()
    assert view.env.bytecode_cache is bytecode_cache()
    assert "render_content_block" in view.env.filters  # GX's own set-up still ran
