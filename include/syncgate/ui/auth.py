"""Who is looking: Airflow's own authentication and per-DAG read permission.

Every route depends on :func:`current_viewer`. Inside Airflow's API server it resolves the
caller with Airflow's ``get_user`` (the ``Authorization: Bearer`` header or the UI's session
cookie) and asks the auth manager which flows (DAGs) that user may read, and which it may edit
(``PUT`` on the DAG: what resolving a parked conflict needs); an anonymous request gets 401. Tests replace it with ``app.dependency_overrides[current_viewer]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import HTTPException, Request, status


@dataclass(frozen=True)
class Viewer:
    """An authenticated caller, the flows it may read and those it may edit."""

    name: str
    _readable: Callable[[set[str]], set[str]]
    _editable: Callable[[set[str]], set[str]] = lambda ids: set()

    def readable(self, flow_ids: Iterable[str]) -> set[str]:
        """The subset of ``flow_ids`` this viewer may read."""
        return self._readable(set(flow_ids))

    def can_read(self, flow_id: str) -> bool:
        return flow_id in self.readable([flow_id])

    def can_edit(self, flow_id: str) -> bool:
        """Whether the viewer may change the flow (its DAG): resolve its parked conflicts."""
        return self.can_read(flow_id) and flow_id in self._editable({flow_id})

    @classmethod
    def everyone(cls, name: str, *, edit: bool = False) -> Viewer:
        """A viewer allowed to read every flow, and with ``edit`` to edit every one (tests, benchmarks)."""
        return cls(name, lambda ids: ids, (lambda ids: ids) if edit else (lambda ids: set()))


async def current_viewer(request: Request) -> Viewer:
    """Airflow's authenticated user, allowed the flows whose DAGs it may read."""
    from fastapi.security import HTTPBearer

    try:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.core_api.security import get_user

        auth_manager = get_auth_manager()
    except (ImportError, RuntimeError):
        # Not running inside Airflow's API server: there is no one to vouch for the caller.
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the syncgate UI is served by Airflow's API server only"
        ) from None
    credentials = await HTTPBearer(auto_error=False)(request)
    # Airflow's own resolution (bearer header first, then the UI session cookie): raises 401/403.
    user = await get_user(request, None, credentials)

    def readable(flow_ids: set[str]) -> set[str]:
        return set(auth_manager.filter_authorized_dag_ids(dag_ids=flow_ids, user=user, method="GET"))

    def editable(flow_ids: set[str]) -> set[str]:
        # Airflow's own "edit DAG" permission (pause, clear, ...): PUT on the DAG resource.
        return set(auth_manager.filter_authorized_dag_ids(dag_ids=flow_ids, user=user, method="PUT"))

    return Viewer(user.get_name(), readable, editable)
