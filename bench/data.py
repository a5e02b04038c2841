"""Source data: a set-based generated ``public.items`` and the 1% update of the incremental run."""

from __future__ import annotations

from bench import cluster
from bench.paths import SOURCE_DB

TABLE = "public.items"

# (name, type) of the benchmark table; the COPY pipe target gets the same shape.
COLUMNS: list[tuple[str, str]] = [
    ("id", "bigint"),
    ("sku", "text"),
    ("name", "text"),
    ("price", "numeric(12,2)"),
    ("qty", "integer"),
    ("attrs", "jsonb"),
    ("active", "boolean"),
    ("updated_at", "timestamp with time zone"),
]

_INSERT = """
INSERT INTO public.items (id, sku, name, price, qty, attrs, active, updated_at)
SELECT
    g,
    'SKU-' || lpad(to_hex((g * 2654435761) % 4294967296), 8, '0'),
    CASE
        WHEN g % 50 = 0 THEN NULL
        WHEN g % 97 = 0 THEN 'Item "' || g || '", deluxe' || chr(10) || 'second line'
        WHEN g % 31 = 0 THEN ''
        WHEN g % 13 = 0 THEN 'Größe ' || g || ' – ünïcode'
        ELSE 'Item ' || md5(g::text)
    END,
    round((random() * 1000)::numeric, 2),
    (random() * 500)::int,
    CASE WHEN g % 40 = 0 THEN NULL ELSE jsonb_build_object(
        'color', (ARRAY['red', 'green', 'blue', 'black'])[1 + g % 4],
        'size', g % 7,
        'tags', jsonb_build_array('t' || g % 13, 't' || g % 29),
        'dims', jsonb_build_object('w', round((random() * 100)::numeric, 1), 'h', g % 50)
    ) END,
    g % 10 <> 0,
    timestamptz '2024-01-01 00:00:00+00' + random() * interval '500 days'
FROM generate_series(1, {rows}) AS g
"""


def column_ddl() -> str:
    return ", ".join(f"{name} {pg_type}" for name, pg_type in COLUMNS)


def source_rows() -> int | None:
    """Rows of the existing source table, or None if there is none."""
    if not cluster.database_exists(SOURCE_DB):
        return None
    with cluster.connect(SOURCE_DB) as conn:
        row = conn.execute("SELECT to_regclass('public.items') IS NOT NULL").fetchone()
        if not (row and row[0]):
            return None
        count = conn.execute("SELECT count(*) FROM public.items").fetchone()
    return int(count[0]) if count else 0


def table_exists(dbname: str, table: str) -> bool:
    if not cluster.database_exists(dbname):
        return False
    with cluster.connect(dbname) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def generate(rows: int) -> None:
    """(Re)create bench_src and fill ``public.items`` with ``rows`` rows."""
    cluster.recreate_database(SOURCE_DB)
    with cluster.connect(SOURCE_DB, autocommit=False) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute(f"CREATE TABLE public.items ({column_ddl()})")
        conn.execute(_INSERT.format(rows=int(rows)))
        conn.execute("ALTER TABLE public.items ALTER COLUMN sku SET NOT NULL")
        conn.execute("ALTER TABLE public.items ADD PRIMARY KEY (id)")
        conn.execute("CREATE INDEX items_updated_at_idx ON public.items (updated_at)")
        conn.commit()
    with cluster.connect(SOURCE_DB) as conn:
        conn.execute("VACUUM ANALYZE public.items")


def touch_one_percent(total_rows: int) -> int:
    """The incremental change: 1% of rows get price + 1 and updated_at = now(); returns rows hit."""
    count = max(1, total_rows // 100)
    with cluster.connect(SOURCE_DB, autocommit=False) as conn:
        conn.execute("SELECT setseed(0.24)")
        cur = conn.execute(
            "UPDATE public.items SET price = price + 1, updated_at = now() "
            "WHERE id IN (SELECT id FROM public.items ORDER BY random() LIMIT %s)",
            (count,),
        )
        changed = cur.rowcount
        conn.commit()
    with cluster.connect(SOURCE_DB) as conn:
        conn.execute("ANALYZE public.items")
    return changed


_FINGERPRINT = """
SELECT count(*), coalesce(sum(price), 0)::text, coalesce(sum(qty), 0),
       count(name), coalesce(sum(hashtext(name)::bigint), 0),
       coalesce(sum(hashtext(attrs::text)::bigint), 0), count(*) FILTER (WHERE active),
       max(updated_at)::text, coalesce(sum(hashtext(sku)::bigint), 0)
FROM {table}
"""


def fingerprint(dbname: str, table: str) -> list[object]:
    """Cheap order-independent content summary, to check the target matches the source."""
    with cluster.connect(dbname) as conn:
        row = conn.execute(_FINGERPRINT.format(table=table)).fetchone()  # bench-owned names only
    return list(row or [])
