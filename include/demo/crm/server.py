"""``CrmServer``: the CRM on a free loopback port in a background thread, for tests and benchmarks."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from .app import create_app
from .state import CrmState


class CrmAdmin:
    """Thin client for ``/_admin``; ``admin("POST", "faults", {...})`` or the named helpers."""

    def __init__(self, url: str, token: str, verify: ssl.SSLContext | bool = True) -> None:
        self._client = httpx.Client(
            base_url=f"{url}/_admin", headers={"Authorization": f"Bearer {token}"}, verify=verify
        )

    def __call__(self, method: str, path: str, json: Any = None) -> Any:
        response = self._client.request(method, path.lstrip("/"), json=json)
        response.raise_for_status()
        return response.json()

    def fault(self, kind: str, count: int = 1, **options: Any) -> Any:
        """Queue a fault (``path``, ``retry_after``, ``delay`` as in the API)."""
        return self("POST", "faults", {"kind": kind, "count": count, **options})

    def clear_faults(self) -> Any:
        return self("DELETE", "faults")

    def stats(self) -> Any:
        return self("GET", "stats")

    def reset(self) -> Any:
        return self("POST", "reset")

    def seed(self, **sizes: int) -> Any:
        return self("POST", "seed", sizes)

    def touch(self, resource: str = "customers", **options: Any) -> Any:
        return self("POST", "touch", {"resource": resource, **options})

    def schema(self, resource: str = "customers", **change: Any) -> Any:
        return self("POST", "schema", {"resource": resource, **change})

    def restore_schema(self) -> Any:
        return self("DELETE", "schema")

    def records(self, resource: str = "customers") -> Any:
        return self("GET", f"records/{resource}")

    def writes(self) -> Any:
        return self("GET", "writes")

    def close(self) -> None:
        self._client.close()


class CrmServer:
    """Context manager: ``with CrmServer(token="t") as crm: httpx.get(crm.url + "/health")``.

    With ``ssl_certfile`` / ``ssl_keyfile`` (PEM) it serves HTTPS; its own clients (health check,
    ``admin``, ``client()``) then trust ``ssl_cafile``, the CA that signed the certificate.
    """

    def __init__(
        self,
        token: str = "test-token",
        customers: int = 250,
        contacts: int = 400,
        seed: int = 42,
        host: str = "127.0.0.1",
        port: int = 0,
        gzip_level: int = 1,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ssl_cafile: str | None = None,
    ) -> None:
        self.token = token
        self._ssl_certfile, self._ssl_keyfile = ssl_certfile, ssl_keyfile
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ssl_cafile) if ssl_cafile else True
        )
        self.host = host
        self.state = CrmState(customers, contacts, seed)
        self._port = port
        self._gzip_level = gzip_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._admin: CrmAdmin | None = None
        self.url = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def admin(self) -> CrmAdmin:
        if self._admin is None:
            raise RuntimeError("the CRM server is not running")
        return self._admin

    def client(self, **options: Any) -> httpx.Client:
        """An httpx client on the server's base URL carrying the bearer token."""
        return httpx.Client(base_url=self.url, headers=self.headers, **{"verify": self._verify, **options})

    def start(self) -> CrmServer:
        # Bind first and hand uvicorn the socket: no window for another process to take the port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.token, state=self.state, gzip_level=self._gzip_level),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            ssl_certfile=self._ssl_certfile,
            ssl_keyfile=self._ssl_keyfile,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"crm-{port}", daemon=True
        )
        self._thread.start()
        self.url = f"{'https' if self._ssl_certfile else 'http'}://{self.host}:{port}"
        self._wait_healthy()
        self._admin = CrmAdmin(self.url, self.token, self._verify)
        return self

    def _wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._thread is not None and not self._thread.is_alive():
                raise RuntimeError("the CRM server thread exited during startup")
            try:
                if httpx.get(f"{self.url}/health", timeout=1, verify=self._verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the CRM server did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> CrmServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
