"""The syncgate UI as a FastAPI app (mounted by the Airflow plugin under ``/syncgate``).

Reads happen in read-only sessions. The writes are resolving a parked conflict of a sync
flow (a POST, for viewers with edit rights on the flow's DAG, CSRF-checked by ``ui.csrf``) and
recording a received webhook.
Every route depends on :func:`syncgate.ui.auth.current_viewer` (Airflow's authentication) and
shows only flows whose DAG the viewer may read, except the webhook receiver
(``ui.webhook_route``), whose callers are authenticated by their Standard Webhooks signature.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from syncgate.conflicts.log import ResolutionRefused
from syncgate.report.paths import report_files
from syncgate.spec.model import FlowSpec
from syncgate.spec.sync_model import SyncSpec
from syncgate.ui import csrf, datadocs_assets, datadocs_page, files, queries, triggers
from syncgate.ui.auth import Viewer, current_viewer
from syncgate.ui.conflicts import ConflictsView, read_conflicts, resolve_in_ui
from syncgate.ui.flows import current_flows
from syncgate.ui.health import (
    HealthReport,
    blank,
    flow_health,
    now,
    problems_first,
    read_health,
    unavailable,
)
from syncgate.ui.masking import masked, pii_columns
from syncgate.ui.pages import base_path, render
from syncgate.ui.webhook_route import add_webhook_route

log = logging.getLogger(__name__)

HISTORY_PER_PAGE = 25
REJECTED_PER_PAGE = 25
ViewerDep = Annotated[Viewer, Depends(current_viewer)]
PageParam = Annotated[int, Query(ge=1, le=1_000_000)]
# A resolve form holds a side name and the CSRF token: anything much larger is not ours.
MAX_FORM_BYTES = 4096
# Files written by GX or the run-report helper: no framing by other sites, no type sniffing.
# Served files (run reports, the files of GX Data Docs) hold data from the sources: no script may
# run in Airflow's origin, whatever a page contains (sandbox = an opaque origin without scripts).
# GX Data Docs pages get their own policy (ui.datadocs_page): sandboxed too, GX's scripts only.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox allow-popups allow-top-navigation-by-user-activation; "
    "script-src 'none'; object-src 'none'; frame-ancestors 'self'",
}
# The vendored Data Docs assets: public library files, the same for everyone, so no login (a
# sandboxed page's font and crossorigin script requests carry no cookie and come from origin
# "null", hence the CORS header). Their paths hold the version: cache them.
ASSET_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "public, max-age=31536000, immutable",
}


def create_app() -> FastAPI:
    """The UI app; mount it under ``/syncgate`` (the plugin does, inside Airflow's API server)."""
    app = FastAPI(title="syncgate", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    add_webhook_route(app)

    @app.get(datadocs_assets.ROUTE + "/{path:path}", name="datadocs_asset")
    def datadocs_asset(path: str) -> Response:
        found = files.safe_file(datadocs_assets.ASSETS_DIR, path)
        if found is None or found.name == datadocs_assets.CHECKSUMS:
            return JSONResponse({"detail": "no such asset"}, status_code=404)
        return FileResponse(found, headers=ASSET_HEADERS)

    @app.get("/", name="health")
    def health_page(request: Request, viewer: ViewerDep, tag: str | None = None) -> Response:
        report = _health(viewer, tag)
        return render(request, "health.html", report=report, viewer=viewer)

    @app.get("/api/health.json", name="health_json")
    def health_json(viewer: ViewerDep, tag: str | None = None) -> JSONResponse:
        return JSONResponse(_health(viewer, tag).as_json())

    @app.get("/flows/{flow_id}", name="flow")
    def flow_page(
        request: Request,
        flow_id: str,
        viewer: ViewerDep,
        page: PageParam = 1,
        rpage: PageParam = 1,
        cpage: PageParam = 1,
        resolved: Annotated[int | None, Query(ge=1)] = None,
    ) -> Response:
        spec = _flow(viewer, flow_id)
        if spec is None:
            return _missing(request, f"There is no flow {flow_id!r} you may read.")
        health = blank(spec)
        history = rejected = None
        sync = isinstance(spec, SyncSpec)
        conflicts = ConflictsView(sides=spec.side_names) if isinstance(spec, SyncSpec) else None
        trigger_list = triggers.trigger_rows(spec)
        events: list[dict[str, Any]] | None = []  # None: the event log could not be read
        try:
            with queries.read_only(str(spec.state_conn_id)) as conn:  # one session for the whole page
                if conn is not None:
                    read_health(conn, {flow_id: health})
                    history = queries.run_history(conn, flow_id, page, HISTORY_PER_PAGE)
                    rejected = queries.rejected_records(conn, flow_id, rpage, REJECTED_PER_PAGE)
                    if isinstance(spec, SyncSpec):
                        conflicts = read_conflicts(conn, spec, cpage)
                    if trigger_list:
                        events = triggers.last_events(conn, flow_id)
        except queries.StateUnavailable as exc:
            unavailable([health], str(exc))
            events = None
        pii = pii_columns(spec)
        for row in rejected.rows if rejected else []:
            row["record"] = masked(row["record"], pii)
            row["record_key"] = masked(row["record_key"], pii)
        for row in history.rows if history else []:
            json_file, html_file = report_files(flow_id, row["run_id"])
            row["has_report"] = html_file.is_file()
            row["has_report_json"] = json_file.is_file()
            row["docs_page"] = files.docs_relative(flow_id, row["quality_report"])
        can_resolve = sync and viewer.can_edit(flow_id)
        token, new_token = csrf.page_token(request) if can_resolve else ("", False)
        response = render(
            request,
            "flow.html",
            spec=spec,
            sync=sync,
            health=health,
            history=history,
            rejected=rejected,
            conflicts=conflicts,
            triggers=trigger_list,
            events=events,
            slot=triggers.slot_view(spec),
            can_resolve=can_resolve,
            csrf_field=csrf.FIELD,
            csrf_token=token,
            resolved=resolved,
            error=health.error,
            has_docs=files.data_docs_index(flow_id) is not None,
            validations=files.validation_pages(flow_id),
            viewer=viewer,
        )
        if new_token:
            csrf.set_cookie(response, request, token, f"{base_path(request)}/flows")
        return response

    @app.post("/flows/{flow_id}/conflicts/{conflict_id}/resolve", name="resolve_conflict")
    async def resolve_conflict(
        request: Request, flow_id: str, conflict_id: int, viewer: ViewerDep
    ) -> Response:
        spec = _flow(viewer, flow_id)
        if not isinstance(spec, SyncSpec):
            return _missing(request, f"There is no sync flow {flow_id!r} you may read.")
        if not viewer.can_edit(flow_id):
            return _refused(
                request,
                403,
                f"Resolving a conflict of flow {flow_id!r} needs edit rights on its DAG.",
                flow_id,
            )
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _refused(request, 413, "The form is larger than a resolve form can be.", flow_id)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), max_num_fields=8).items()}
        problem = csrf.problem(request, form.get(csrf.FIELD))
        if problem:
            return _refused(request, 403, f"Not resolved: {problem}.", flow_id)
        side = form.get("side", "")
        try:
            done = await run_in_threadpool(resolve_in_ui, spec, conflict_id, side, viewer.name)
        except ResolutionRefused as exc:
            return _refused(request, 409, f"Not resolved: {exc}.", flow_id)
        except queries.StateUnavailable as exc:
            return _refused(request, 503, f"Not resolved: {exc}.", flow_id)
        log.info(
            "Conflict %d of flow %s: side %s chosen by %s in the UI",
            done.conflict_id,
            flow_id,
            side,
            viewer.name,
        )
        target = f"{base_path(request)}/flows/{quote(flow_id, safe='')}?resolved={done.conflict_id}#conflicts"
        return RedirectResponse(target, status_code=303)

    @app.get("/flows/{flow_id}/runs/{run_id:path}/report.json", name="run_report_json")
    def run_report_json(flow_id: str, run_id: str, viewer: ViewerDep) -> Response:
        spec = _flow(viewer, flow_id)
        json_file = report_files(flow_id, run_id)[0] if spec else None
        if json_file is None or not json_file.is_file():
            detail = f"no run report for run {run_id!r} of flow {flow_id!r}"
            return JSONResponse({"detail": detail}, status_code=404)
        return FileResponse(json_file, media_type="application/json", headers=FILE_HEADERS)

    @app.get("/flows/{flow_id}/runs/{run_id:path}/report", name="run_report")
    def run_report(request: Request, flow_id: str, run_id: str, viewer: ViewerDep) -> Response:
        spec = _flow(viewer, flow_id)
        if spec is None:
            return _missing(request, f"There is no flow {flow_id!r} you may read.")
        html_file = report_files(flow_id, run_id)[1]
        if not html_file.is_file():
            return _missing(
                request,
                f"No run report for run {run_id!r} of flow {flow_id!r}: it is written when the run "
                "finishes, and runs from before run reports existed have none.",
                flow_id=flow_id,
            )
        return FileResponse(html_file, media_type="text/html", headers=FILE_HEADERS)

    @app.get("/flows/{flow_id}/docs", name="docs_root")
    def docs_root(request: Request, flow_id: str, viewer: ViewerDep) -> Response:
        return RedirectResponse(f"{request.url.path}/{files.DATA_DOCS_INDEX}", status_code=307)

    @app.get("/flows/{flow_id}/docs/{path:path}", name="docs")
    def docs(request: Request, flow_id: str, path: str, viewer: ViewerDep) -> Response:
        spec = _flow(viewer, flow_id)
        if spec is None:
            return _missing(request, f"There is no flow {flow_id!r} you may read.")
        if path in ("", "/"):
            return RedirectResponse(f"{request.url.path.rstrip('/')}/{files.DATA_DOCS_INDEX}", 307)
        found = files.safe_file(files.data_docs_root(flow_id), path)
        if found is None:
            message = (
                f"Flow {flow_id!r} has no quality report yet: GX Data Docs are built by the flow's "
                "verify task."
                if files.data_docs_index(flow_id) is None
                else f"No Data Docs page {path!r} for flow {flow_id!r}."
            )
            return _missing(request, message, flow_id=flow_id)
        if found.suffix.lower() in (".html", ".htm"):
            return _docs_page(request, flow_id, found)
        return FileResponse(found, headers=FILE_HEADERS)

    return app


def _docs_page(request: Request, flow_id: str, page: Path) -> Response:
    """A Data Docs page with the vendored assets and a CSP that lets exactly GX's scripts run."""
    app_path = base_path(request)
    served = datadocs_page.rewrite(
        page.read_text(encoding="utf-8", errors="replace"),
        origin=f"{request.url.scheme}://{request.url.netloc}",
        app_path=app_path,
        site_path=f"{app_path}/flows/{quote(flow_id, safe='')}/docs",
    )
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": served.csp}
    return HTMLResponse(served.html, headers=headers)


def _health(viewer: Viewer, tag: str | None) -> HealthReport:
    flows = current_flows()
    readable = viewer.readable(flows.specs)
    specs = [s for fid, s in sorted(flows.specs.items()) if fid in readable]
    tags = sorted({t for s in specs for t in s.tags})
    if tag:
        specs = [s for s in specs if tag in s.tags]
    return HealthReport(problems_first(flow_health(specs)), tags, tag or None, flows.broken, now())


def _flow(viewer: Viewer, flow_id: str) -> FlowSpec | SyncSpec | None:
    spec = current_flows().specs.get(flow_id)
    # Unknown and unreadable look the same: a viewer learns nothing about flows it may not read.
    return spec if spec is not None and viewer.can_read(flow_id) else None


def _missing(request: Request, message: str, flow_id: str | None = None) -> Response:
    return render(request, "missing.html", status_code=404, message=message, flow_id=flow_id)


def _refused(request: Request, status_code: int, message: str, flow_id: str) -> Response:
    return render(request, "refused.html", status_code=status_code, message=message, flow_id=flow_id)
