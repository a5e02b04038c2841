-- syncgate demo "ERP" source database: simulated live business activity.
-- PostgreSQL 15+, no extensions. Run repeatedly between sync runs:
--   psql -v ON_ERROR_STOP=1 -d erp -f erp_activity.sql
-- Optional: -v late_arrivals=1 also inserts 5 late-arriving orders whose
-- updated_at (now() - 2 days) is already below the previous watermark.
--
-- One transaction per run, so every row touched "now" carries the exact same
-- updated_at (= now(), the transaction start) -- a large tie group. Each run:
--   * inserts 200 new orders (ids beyond the current max) + their lines
--     (status P, updated_at = now());
--   * updates 500 existing P/S orders (P -> S or X, S -> amount adjustment);
--     490 get updated_at = now(), 10 get updated_at = the previous
--     max(orders.updated_at), i.e. EXACTLY the watermark a sync that ran
--     before this script stored: a "> watermark" filter misses them, only
--     ">= watermark" (plus key de-duplication) catches them;
--   * soft-deletes 10 live customers (deleted_at = updated_at = now());
--   * hard-deletes 20 older orders and their lines (invisible to any
--     updated_at filter: only a key reconciliation detects them).
-- Choices are hash-based, salted with the current max order id: a run is
-- deterministic given the database state, and successive runs differ.

\set ON_ERROR_STOP 1
SET search_path = public;
SET client_min_messages = warning;

BEGIN;

-- Serialise concurrent activity runs (max(id) is read below); readers unaffected.
LOCK TABLE public.orders IN SHARE ROW EXCLUSIVE MODE;

CREATE OR REPLACE FUNCTION pg_temp.rnd(k bigint, salt bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8extended(k, salt) & 4503599627370495)::double precision
             / 4503599627370496.0 $$;

CREATE TEMP TABLE act ON COMMIT DROP AS
SELECT coalesce((SELECT max(id) FROM public.orders), 0)                AS max_order_id,
       coalesce((SELECT max(updated_at) FROM public.orders), now())    AS prev_watermark,
       coalesce((SELECT max(id) FROM public.customers), 1)             AS max_customer_id,
       coalesce((SELECT max(id) FROM public.products), 1)              AS max_product_id,
       coalesce((SELECT max(id) FROM public.orders), 0) + 7919         AS salt;

-------------------------------------------------------------------------------
-- Pick the victims first (hard delete: 20) and the updates (500) among the
-- remaining pending/shipped orders, so the two sets never overlap.
-------------------------------------------------------------------------------
-- Candidates are hash-derived ids looked up by primary key (no full scans).
CREATE TEMP TABLE act_delete ON COMMIT DROP AS
SELECT o.id
FROM (
    SELECT min(g) AS g, id
    FROM (SELECT g,
                 1 + floor(pg_temp.rnd(g, act.salt + 1)
                           * greatest(act.max_order_id - 1000, 1))::bigint AS id  -- not the freshest
          FROM act, generate_series(1, 200) AS g) AS c0
    GROUP BY id
) AS c
JOIN public.orders o ON o.id = c.id
ORDER BY c.g
LIMIT 20;

CREATE TEMP TABLE act_update ON COMMIT DROP AS
SELECT o.id, row_number() OVER (ORDER BY c.g) AS rn
FROM (
    SELECT min(g) AS g, id
    FROM (SELECT g,
                 -- biased towards recent orders (where most pending ones are)
                 act.max_order_id
                   - floor(pg_temp.rnd(g, act.salt + 2) ^ 2 * act.max_order_id)::bigint AS id
          FROM act, generate_series(1, 2000) AS g) AS c0
    GROUP BY id
) AS c
JOIN public.orders o ON o.id = c.id
WHERE o.status IN ('P', 'S')
  AND NOT EXISTS (SELECT 1 FROM act_delete d WHERE d.id = o.id)
ORDER BY c.g
LIMIT 500;

ANALYZE act, act_delete, act_update;

-------------------------------------------------------------------------------
-- 1. New orders (200) + lines
-------------------------------------------------------------------------------
CREATE TEMP TABLE act_new ON COMMIT DROP AS
SELECT act.max_order_id + g                                              AS id,
       1 + floor(pg_temp.rnd(g, act.salt + 10) ^ 1.5 * act.max_customer_id)::bigint AS customer_id,
       now() - make_interval(secs => pg_temp.rnd(g, act.salt + 11) * 3300) AS ordered_at,
       now()                                                              AS updated_at,
       CASE WHEN pg_temp.rnd(g, act.salt + 12) < 0.9 THEN NULL
            ELSE (ARRAY['Rush order: expedite shipping',
                        'Customer called, wants delivery before Friday',
                        E'Deliver to gate 3\nAsk for reception'])
                     [1 + floor(pg_temp.rnd(g, act.salt + 13) * 3)::int]
       END                                                                AS internal_note,
       1 + floor(pg_temp.rnd(g, act.salt + 14) * 3.85)::int               AS n_lines
FROM act, generate_series(1, 200) AS g;

ANALYZE act_new;

\if :{?late_arrivals}
-- Late-arriving rows: committed now, but stamped 2 days ago (below the watermark).
UPDATE act_new
SET ordered_at = now() - interval '3 days',
    updated_at = now() - interval '2 days'
FROM act
WHERE act_new.id > act.max_order_id + 195;
\endif

CREATE TEMP TABLE act_new_lines ON COMMIT DROP AS
WITH raw AS (
    SELECT n.id AS order_id, l AS line_no, n.updated_at, n.id * 64 + l AS k,
           1 + floor(pg_temp.rnd(n.id * 64 + l, act.salt + 20) ^ 2 * act.max_product_id)::int
               AS product_id
    FROM act_new n
    CROSS JOIN act
    CROSS JOIN LATERAL generate_series(1, n.n_lines) AS l
)
SELECT r.order_id,
       r.line_no,
       r.product_id,
       1 + floor(pg_temp.rnd(r.k, act.salt + 21) ^ 3 * 50)::int AS quantity,
       coalesce(p.unit_price, 9.99) AS unit_price,
       CASE WHEN pg_temp.rnd(r.k, act.salt + 22) < 0.10 THEN NULL
            WHEN pg_temp.rnd(r.k, act.salt + 22) < 0.65 THEN 0.000
            ELSE (ARRAY[0.050, 0.100, 0.150, 0.200, 0.250, 0.333])
                     [1 + floor(pg_temp.rnd(r.k, act.salt + 23) * 6)::int]
       END::numeric(4,3) AS discount,
       r.updated_at
FROM raw r
CROSS JOIN act
LEFT JOIN public.products p ON p.id = r.product_id;

ANALYZE act_new_lines;

INSERT INTO public.order_lines
    (order_id, line_no, product_id, quantity, unit_price, discount, updated_at)
SELECT order_id, line_no, product_id, quantity, unit_price, discount, updated_at
FROM act_new_lines
ORDER BY order_id, line_no;

INSERT INTO public.orders
    (id, customer_id, status, amount, currency, internal_note, ordered_at, updated_at)
SELECT n.id,
       n.customer_id,
       'P',
       coalesce(a.amount, 0),
       CASE upper(c.country)
            WHEN 'GB' THEN 'GBP' WHEN 'US' THEN 'USD' WHEN 'CH' THEN 'CHF'
            WHEN 'SE' THEN 'SEK' WHEN 'PL' THEN 'PLN' WHEN 'DK' THEN 'DKK'
            WHEN 'CA' THEN 'CAD' WHEN 'BR' THEN 'BRL' WHEN 'JP' THEN 'JPY'
            ELSE 'EUR'
       END,
       n.internal_note,
       n.ordered_at,
       n.updated_at
FROM act_new n
LEFT JOIN public.customers c ON c.id = n.customer_id
LEFT JOIN (
    SELECT order_id,
           sum(round(quantity * unit_price * (1 - coalesce(discount, 0)), 2)) AS amount
    FROM act_new_lines
    GROUP BY order_id
) a ON a.order_id = n.id
ORDER BY n.id;

-------------------------------------------------------------------------------
-- 2. Status / amount updates (500); 10 of them re-stamped AT the previous
--    watermark (tie), the rest at now().
-------------------------------------------------------------------------------
UPDATE public.orders o
SET status = CASE WHEN o.status = 'P'
                  THEN CASE WHEN pg_temp.rnd(o.id, act.salt + 30) < 0.8 THEN 'S' ELSE 'X' END
                  ELSE o.status
             END,
    amount = CASE WHEN o.status = 'S'     -- shipped: freight / credit-note adjustment
                  THEN round(o.amount * (0.90 + pg_temp.rnd(o.id, act.salt + 31) * 0.15)::numeric, 2)
                  ELSE o.amount
             END,
    updated_at = CASE WHEN u.rn <= 10 THEN act.prev_watermark ELSE now() END
FROM act_update u, act
WHERE o.id = u.id;

-------------------------------------------------------------------------------
-- 3. Soft-delete 10 live customers
-------------------------------------------------------------------------------
UPDATE public.customers c
SET deleted_at = now(),
    updated_at = now()
WHERE c.id IN (
    SELECT c2.id
    FROM (SELECT min(g) AS g, id
          FROM (SELECT g, 1 + floor(pg_temp.rnd(g, act.salt + 40) * act.max_customer_id)::bigint AS id
                FROM act, generate_series(1, 200) AS g) AS c0
          GROUP BY id) AS cand
    JOIN public.customers c2 ON c2.id = cand.id
    WHERE c2.deleted_at IS NULL
    ORDER BY cand.g
    LIMIT 10);

-------------------------------------------------------------------------------
-- 4. Hard-delete 20 orders and their lines
-------------------------------------------------------------------------------
DELETE FROM public.order_lines l USING act_delete d WHERE l.order_id = d.id;
DELETE FROM public.orders o USING act_delete d WHERE o.id = d.id;

-- Summary of this run.
SELECT now()                                                       AS activity_ts,
       act.prev_watermark                                          AS tie_ts,
       (SELECT count(*) FROM act_new)                              AS inserted_orders,
       (SELECT count(*) FROM act_new_lines)                        AS inserted_lines,
       (SELECT count(*) FROM act_update)                           AS updated_orders,
       (SELECT count(*) FROM act_update WHERE rn <= 10)            AS tie_stamped_orders,
       (SELECT count(*) FROM act_delete)                           AS hard_deleted_orders
FROM act;

COMMIT;
