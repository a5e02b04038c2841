"""A target keeps the flow that first promoted into it (issue 13.1): a copied or renamed spec that
writes it is refused at promote, nothing written, until an operator releases it."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import execute, flows_dag_bag, make_spec, rows, seed_orders, sync, target_orders, task_states

from syncgate.cli.main import main
from syncgate.state.target_owners import TargetOwnedError

pytestmark = pytest.mark.integration

PLAIN = {"transform": {}, "quality": {"expectations": []}}


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_copied_spec_with_write_replace_cannot_take_over_the_target(
    databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's example: a copy (new id, same target, `write: replace`) would have deleted the
    original's rows and reported success."""
    src, dst = databases["src"], databases["dst"]
    seed_orders(src, 300)
    original = make_spec(**PLAIN)
    sync(original)
    before = target_orders(dst)
    assert len(before) == 300
    execute(src, "DELETE FROM public.orders WHERE id > 10")  # what the copy would make of the target
    # A second connection id for the same database: ownership is the table's, not the conn id's.
    monkeypatch.setenv("AIRFLOW_CONN_DST_ALIAS", dst)
    copy = make_spec(
        **PLAIN, id="orders_copy", target__write="replace", source__cursor=None, target__conn_id="dst_alias"
    )
    with pytest.raises(TargetOwnedError) as refused:
        sync(copy)
    message = str(refused.value)
    assert "'orders_copy' may not write table:analytics.orders" in message
    assert "belongs to flow 'orders_flow'" in message
    command = (
        "python -m syncgate targets release --conn dst_alias --owner orders_flow 'table:analytics.orders'"
    )
    assert command in message
    assert target_orders(dst) == before, "the refused flow changed the target"
    assert rows(dst, "SELECT flow_id FROM syncgate.target_owners") == [("orders_flow",)]
    sync(original)  # the owner goes on as before
    assert len(target_orders(dst)) == 10

    # The operator hands the target over with the command the refusal printed.
    assert cli("targets", "list", "--conn", "dst_db")[1].startswith("table:analytics.orders\torders_flow\t")
    code, _, err = cli(
        "targets", "release", "--conn", "dst_db", "--owner", "orders_copy", "table:analytics.orders"
    )
    assert code == 2 and "not owned by flow 'orders_copy'" in err  # the owner named must be the owner
    code, out, _ = cli(
        "targets", "release", "--conn", "dst_db", "--owner", "orders_flow", "table:analytics.orders"
    )
    assert code == 0 and "released table:analytics.orders" in out
    execute(src, "INSERT INTO public.orders VALUES (1000, 'P', 1, 'n', 'o', now())")
    sync(copy)
    assert len(target_orders(dst)) == 11
    assert rows(dst, "SELECT flow_id FROM syncgate.target_owners") == [("orders_copy",)]
    with pytest.raises(TargetOwnedError, match="belongs to flow 'orders_copy'"):
        sync(original)


def test_two_flows_with_targets_in_different_schemas_or_case_do_not_clash(databases: dict[str, str]) -> None:
    seed_orders(databases["src"], 20)
    sync(make_spec(**PLAIN))
    # A quoted identifier is its own table in PostgreSQL: "Analytics"."Orders" is not analytics.orders.
    sync(make_spec(**PLAIN, id="orders_upper", target__table="Analytics.Orders"))
    sync(make_spec(**PLAIN, id="orders_other", target__table="reporting.orders"))
    assert sorted(rows(databases["dst"], "SELECT target, flow_id FROM syncgate.target_owners")) == [
        ("table:Analytics.Orders", "orders_upper"),
        ("table:analytics.orders", "orders_flow"),
        ("table:reporting.orders", "orders_other"),
    ]


SYNC_SPEC = """
id: contacts_two_way
mode: two_way
retries: 0
state_conn_id: dst_db
sides:
  erp: {type: postgres, conn_id: src_db, table: public.customers, primary_key: [id], cursor: updated_at}
  crm: {type: postgres, conn_id: dst_db, table: analytics.orders_copy, primary_key: [id], cursor: updated_at}
fields: {id: {}, name: {}}
match: [id]
"""


def test_a_sync_side_is_a_target_too(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A one-way flow owns analytics.orders_copy; a two-way flow naming it as a side may not write it."""
    src, dst = databases["src"], databases["dst"]
    execute(
        src,
        "CREATE TABLE public.customers (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now())",
        "INSERT INTO public.customers (id, name) VALUES (1, 'Ada'), (2, 'Brian')",
        "CREATE TABLE public.names (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now())",
        "INSERT INTO public.names (id, name) VALUES (7, 'Owned')",
    )
    sync(
        make_spec(
            **PLAIN, id="names_flow", source__table="public.names", target__table="analytics.orders_copy"
        )
    )
    owned = rows(dst, "SELECT id, name FROM analytics.orders_copy ORDER BY id")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "contacts_two_way.yml").write_text(textwrap.dedent(SYNC_SPEC))
    dag_run = flows_dag_bag(monkeypatch, flows).dags["contacts_two_way"].test()
    states = task_states(dag_run)
    assert states["promote_crm"] == "failed", states
    [(error,)] = rows(dst, "SELECT error FROM syncgate.sync_runs WHERE flow_id = 'contacts_two_way'")
    assert "'contacts_two_way__crm' may not write table:analytics.orders_copy" in error
    assert "belongs to flow 'names_flow'" in error
    assert rows(dst, "SELECT id, name FROM analytics.orders_copy ORDER BY id") == owned
    assert rows(
        dst, "SELECT flow_id FROM syncgate.target_owners WHERE target = 'table:analytics.orders_copy'"
    ) == [("names_flow",)]


def test_an_api_endpoint_keeps_its_owner_too(databases: dict[str, str], crm_empty: Any) -> None:
    """HTTP targets: the push is refused before a request is sent."""
    from crm_push import crm_customers, make_http_spec, push_requests, seed_customers

    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 5)
    sync(make_http_spec())
    pushed = crm_customers(crm_empty)
    requests = push_requests(crm_empty)
    execute(src, "UPDATE public.customers SET tier = 9, updated_at = now()")
    with pytest.raises(TargetOwnedError, match="'crm_copy' may not write http:crm_api:/v1/customers"):
        sync(make_http_spec(id="crm_copy"))
    assert push_requests(crm_empty) == requests and crm_customers(crm_empty) == pushed
    assert rows(dst, "SELECT target, flow_id FROM syncgate.target_owners") == [
        ("http:crm_api:/v1/customers", "crm_push")
    ]


def test_flows_that_declare_different_slices_share_a_target(
    databases: dict[str, str], crm_empty: Any
) -> None:
    """Two flows writing their own records of one API resource declare their slices: each owns
    its slice; an undeclared writer of the whole resource, or a second writer of a slice, is refused."""
    import psycopg
    from crm_push import make_http_spec, seed_customers

    from syncgate.state.target_owners import claim

    src, dst = databases["src"], databases["dst"]
    seed_customers(src, 4)
    sync(make_http_spec(target__slice="leads"))  # a real promote claims the slice
    with psycopg.connect(dst) as conn:
        partners = make_http_spec(id="partners_push", target__slice="partners")
        assert claim(conn, partners, "dst_db") == "http:crm_api:/v1/customers#partners"
        with pytest.raises(TargetOwnedError, match=r"/v1/customers#leads belongs to flow 'crm_push'"):
            claim(conn, make_http_spec(id="whole_push"), "dst_db")
        with pytest.raises(TargetOwnedError, match="different `slice`"):
            claim(conn, make_http_spec(id="more_partners", target__slice="partners"), "dst_db")
        conn.commit()
    execute(src, "UPDATE public.customers SET tier = 9, updated_at = now()")
    sync(make_http_spec(target__slice="leads"))  # the owner of a slice goes on syncing
    assert rows(dst, "SELECT target, flow_id FROM syncgate.target_owners ORDER BY 1") == [
        ("http:crm_api:/v1/customers#leads", "crm_push"),
        ("http:crm_api:/v1/customers#partners", "partners_push"),
    ]
