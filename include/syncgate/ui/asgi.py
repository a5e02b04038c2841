"""The UI as an ASGI app that is built on its first request.

Airflow imports every plugin module in every process that loads plugins, task processes
included (for macros), so the plugin must not import FastAPI or build the app at import time:
that cost each task about 0.15 s. The API server builds it on the first request.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LazyUiApp:
    """ASGI app delegating to :func:`syncgate.ui.app.create_app`, created once on first use."""

    def __init__(self) -> None:
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from syncgate.ui.app import create_app

                    self._app = create_app()
        await self._app(scope, receive, send)
