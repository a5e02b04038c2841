"""Compact JSON straight to bytes (stdlib json: no response models on the list paths)."""

from __future__ import annotations

import json
from typing import Any


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
