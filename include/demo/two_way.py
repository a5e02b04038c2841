"""Partners for the demo's two-way flow ``erp_crm_customers_two_way``, and conflicting edits of them.

```bash
PYTHONPATH=include .venv/bin/python -m demo.two_way seed        # partners on both sides (make demo runs it)
PYTHONPATH=include .venv/bin/python -m demo.two_way conflicts   # edit the same partners on both sides
```

Partners are ERP customers of segment ``partner`` (the view ``public.partner_customers``) and CRM
customers whose e-mail is at ``partner.example``. ``conflicts`` changes the name of a few partners
on both sides, one side a moment after the other, so the next run of the flow logs one conflict
per partner in ``syncgate.sync_conflicts`` (the newest change wins), and edits another partner
on one side only (a clean merge, no conflict). Connection settings follow ``scripts/demo.sh``:
``SYNCGATE_DEMO_PG_PORT``, ``SYNCGATE_DEMO_CRM_PORT``, ``SYNCGATE_CRM_TOKEN``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

DOMAIN = "partner.example"
ERP_PARTNERS = 8  # partner01..08 start in the ERP
CRM_PARTNERS = 4  # partner09..12 start in the CRM
_EDIT_SUFFIX = re.compile(r" \((ERP|CRM) edit [^)]*\)$")


def erp_url() -> str:
    return os.environ.get(
        "SYNCGATE_DEMO_ERP_URL",
        f"postgresql://syncgate@127.0.0.1:{os.environ.get('SYNCGATE_DEMO_PG_PORT', '54329')}/erp",
    )


def crm_url() -> str:
    return os.environ.get(
        "SYNCGATE_DEMO_CRM_URL", f"http://127.0.0.1:{os.environ.get('SYNCGATE_DEMO_CRM_PORT', '8765')}"
    )


def crm_client(url: str, token: str) -> Any:
    import httpx

    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def partner(number: int) -> tuple[str, str]:
    """The name and e-mail of partner ``number``."""
    return f"Partner {number:02d} GmbH", f"partner{number:02d}@{DOMAIN}"


def erp_partners(url: str) -> dict[str, tuple[int, str]]:
    """Live ERP partners: e-mail -> (id, name)."""
    import psycopg

    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT email, id, name FROM public.partner_customers WHERE deleted_at IS NULL AND email IS NOT NULL"
        ).fetchall()
    return {email: (record_id, name) for email, record_id, name in found}


def crm_partners(client: Any) -> dict[str, tuple[int, str]]:
    """CRM partners: e-mail -> (id, name)."""
    found: dict[str, tuple[int, str]] = {}
    page = 1
    while True:
        resp = client.get("/v1/customers", params={"email_domain": DOMAIN, "page": page, "per_page": 1000})
        resp.raise_for_status()
        items = resp.json()["data"]["items"]
        found.update({r["email"]: (r["id"], r["name"]) for r in items})
        if len(items) < 1000:
            return found
        page += 1


def seed(url: str, client: Any) -> str:
    """Create the partners missing from their starting side; returns what was done."""
    import psycopg

    erp, crm = erp_partners(url), crm_partners(client)
    new_erp = [
        partner(n)
        for n in range(1, ERP_PARTNERS + 1)
        if partner(n)[1] not in erp and partner(n)[1] not in crm
    ]
    with psycopg.connect(url) as conn:
        for name, email in new_erp:
            conn.execute(
                "INSERT INTO public.partner_customers (name, email, country, credit_limit) VALUES (%s, %s, 'DE', 50000)",
                (name, email),
            )
    new_crm = [
        partner(n)
        for n in range(ERP_PARTNERS + 1, ERP_PARTNERS + CRM_PARTNERS + 1)
        if partner(n)[1] not in crm and partner(n)[1] not in erp
    ]
    for name, email in new_crm:
        client.post(
            "/v1/customers", json={"name": name, "email": email, "status": "active"}
        ).raise_for_status()
    return f"{len(new_erp)} partner(s) created in the ERP, {len(new_crm)} in the CRM"


def conflicts(url: str, client: Any, count: int = 3) -> list[str]:
    """Change the same partners' names on both sides (and one on one side only); returns what changed."""
    import psycopg

    erp, crm = erp_partners(url), crm_partners(client)
    both = sorted(set(erp) & set(crm))
    if len(both) < count + 1:
        raise SystemExit(
            f"only {len(both)} partner(s) are on both sides yet: run the flow erp_crm_customers_two_way first"
        )
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    done: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:

        def erp_edit(email: str) -> str:
            name = f"{_EDIT_SUFFIX.sub('', erp[email][1])} (ERP edit {stamp})"
            conn.execute(
                "UPDATE public.partner_customers SET name = %s, updated_at = clock_timestamp() WHERE id = %s",
                (name, erp[email][0]),
            )
            return name

        def crm_edit(email: str) -> str:
            name = f"{_EDIT_SUFFIX.sub('', crm[email][1])} (CRM edit {stamp})"
            client.patch(f"/v1/customers/{crm[email][0]}", json={"name": name}).raise_for_status()
            return name

        for i, email in enumerate(both[:count]):
            # Alternate which side edits last: the newest change wins, from either side.
            first, second = (erp_edit, crm_edit) if i % 2 == 0 else (crm_edit, erp_edit)
            first(email)
            time.sleep(0.05)
            winner = second(email)
            done.append(f"{email}: name changed on both sides; expect {winner!r} to win (newest)")
        email = both[count]
        done.append(f"{email}: name changed in the ERP only: {erp_edit(email)!r} (no conflict)")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.two_way", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("seed", "conflicts"))
    parser.add_argument("--count", type=int, default=3, help="partners edited on both sides (conflicts)")
    args = parser.parse_args(argv)
    token = os.environ.get("SYNCGATE_CRM_TOKEN", "demo-crm-token")
    with crm_client(crm_url(), token) as client:
        if args.command == "seed":
            print(seed(erp_url(), client))
            return 0
        for line in conflicts(erp_url(), client, args.count):
            print(line)
    print(
        "Trigger erp_crm_customers_two_way (UI, or wait for its schedule), then watch the conflict log:\n"
        "  psql postgresql://syncgate@127.0.0.1:"
        f'{os.environ.get("SYNCGATE_DEMO_PG_PORT", "54329")}/warehouse -c "select run_id, record_key, field, rule, '
        'winner, status, side_values from syncgate.sync_conflicts order by id desc limit 10"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
