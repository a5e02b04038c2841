"""``python -m demo.crm --port 8765 --token T``: run the demo CRM in the foreground."""

from __future__ import annotations

import argparse
import logging
import os

log = logging.getLogger("demo.crm")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.crm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--token",
        default=os.environ.get("SYNCGATE_CRM_TOKEN"),
        help="bearer token clients must send (default: $SYNCGATE_CRM_TOKEN)",
    )
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--gzip-level", type=int, default=1, choices=range(1, 10), metavar="1-9")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("SYNCGATE_CRM_WEBHOOK_URL"),
        help="POST a signed Standard Webhooks notification here after writes (default: $SYNCGATE_CRM_WEBHOOK_URL)",
    )
    parser.add_argument(
        "--webhook-resource",
        action="append",
        choices=("customers", "contacts"),
        help="notify only about this resource's writes (repeatable; default: every resource)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("SYNCGATE_CRM_WEBHOOK_SECRET"),
        help="the whsec_... signing secret (default: $SYNCGATE_CRM_WEBHOOK_SECRET)",
    )
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or SYNCGATE_CRM_TOKEN) is required")
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (or SYNCGATE_CRM_WEBHOOK_SECRET)")

    import uvicorn

    from .app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(args.token, args.customers, args.contacts, args.seed, gzip_level=args.gzip_level)
    if args.webhook_url:
        from .webhooks import WebhookSender

        sender = WebhookSender(args.webhook_url, args.webhook_secret)
        resources = set(args.webhook_resource or ("customers", "contacts"))
        app.crm_state.on_change = lambda resource, count: (
            sender.changed(resource, count) if resource in resources else None
        )
        log.info("Demo CRM: change notifications go to %s", args.webhook_url)
    log.info("Demo CRM: %d customers, %d contacts (seed %d)", args.customers, args.contacts, args.seed)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, lifespan="off")


if __name__ == "__main__":
    main()
