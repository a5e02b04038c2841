-- syncgate demo "ERP" source database: seed data.
-- PostgreSQL 15+, no extensions. Run after erp_schema.sql:
--   psql -v ON_ERROR_STOP=1 -d erp -f erp_schema.sql -f erp_seed.sql
--
-- Set-based only (generate_series). Pseudo-randomness is hash-based
-- (hashint8extended(key, salt)), so every value is a pure function of the
-- row key and a per-column salt: re-running gives the same data (relative to
-- now(), which is fixed for the whole transaction), whatever the query plan.
-- Idempotent: truncates the four tables first; everything runs in a single
-- transaction.
--
-- Volumes: 20,000 customers, 2,000 products, 100,000 orders, ~253,000 lines.
--
-- Realism / sync edge cases baked in (see the check queries in the report):
--   * NULLs: ~5% emails, ~3% countries, ~1% segments, ~2% credit limits,
--     ~1% product categories, a few product attributes, ~10% line discounts,
--     ~85% internal notes, ~50 orders without customer.
--   * Heavily duplicated customer names (skewed picks from small name lists),
--     accented / apostrophe names (O'Brien, Müller, Zoë), duplicated emails,
--     mixed-case and whitespace/tab-padded emails, a few lower-case countries.
--   * ~2% soft-deleted customers (deleted_at = updated_at).
--   * Orphans (no FKs): ~0.1% orders with unknown customer_id, ~0.1% lines
--     with unknown product_id; a few negative quantities (returns).
--   * Notes with quotes, commas, tabs, newlines, backslashes, unicode, ''.
--   * updated_at: all within the last 90 days, with many exact ties
--     (batch jobs): a nightly 02:00:00 job for every table, a product price
--     list import stamping ~40% of products identically, a month-end close
--     stamping ~9,300 orders identically, and the latest stamp of orders
--     (= max(updated_at), i.e. the first watermark) shared by ~1,300 orders
--     and ~2,800 lines. Lines mostly carry the exact updated_at of their order.
--   * ~250 late-arriving orders whose updated_at is BEFORE their ordered_at.

\set ON_ERROR_STOP 1
SET search_path = public;
SET client_min_messages = warning;

BEGIN;

-- Uniform [0,1) from (key, salt), deterministic.
CREATE OR REPLACE FUNCTION pg_temp.rnd(k bigint, salt bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8extended(k, salt) & 4503599627370495)::double precision
             / 4503599627370496.0 $$;

TRUNCATE public.order_lines, public.orders, public.products, public.customers;

-------------------------------------------------------------------------------
-- customers (20,000)
-------------------------------------------------------------------------------
INSERT INTO public.customers
    (id, name, email, country, segment, credit_limit, created_at, updated_at, deleted_at)
WITH base AS (
    SELECT g AS id,
           -- segment: consumer 55%, smb 30%, enterprise 10%, public 4%, NULL 1%
           CASE WHEN r.s < 0.55 THEN 'consumer'
                WHEN r.s < 0.85 THEN 'smb'
                WHEN r.s < 0.95 THEN 'enterprise'
                WHEN r.s < 0.99 THEN 'public'
           END AS segment,
           r.*,
           -- created over the last 5 years
           now() - make_interval(secs => r.c * 5 * 365 * 86400) AS created_at
    FROM generate_series(1, 20000) AS g
    CROSS JOIN LATERAL (SELECT
        pg_temp.rnd(g, 101) AS s,   -- segment
        pg_temp.rnd(g, 102) AS fn,  -- first name
        pg_temp.rnd(g, 103) AS ln,  -- last name
        pg_temp.rnd(g, 104) AS co,  -- company or person
        pg_temp.rnd(g, 105) AS cn,  -- company name
        pg_temp.rnd(g, 106) AS em,  -- email null/messiness
        pg_temp.rnd(g, 107) AS dm,  -- email domain
        pg_temp.rnd(g, 108) AS ct,  -- country
        pg_temp.rnd(g, 109) AS cl,  -- credit limit
        pg_temp.rnd(g, 110) AS c,   -- created_at
        pg_temp.rnd(g, 111) AS ub,  -- batch-stamped?
        pg_temp.rnd(g, 112) AS uk,  -- batch day / random instant
        pg_temp.rnd(g, 113) AS dl,  -- soft-deleted?
        pg_temp.rnd(g, 114) AS eu   -- unique email suffix?
    ) AS r
), named AS (
    SELECT b.*,
           CASE WHEN b.segment IN ('smb', 'enterprise', 'public') AND b.co < 0.7
                THEN (ARRAY['Acme','Globex','Initech','Umbrella','Stark Industries',
                            'Wayne Enterprises','Nordwind','Soylent','Hooli','Vandelay'])
                         [1 + floor(b.cn * b.cn * 10)::int]
                  || (ARRAY[' GmbH',' Ltd',' Inc.',' S.A.',' B.V.',' AG'])
                         [1 + floor(pg_temp.rnd(b.id, 115) * 6)::int]
                ELSE (ARRAY['James','Maria','John','Anna','Michael','Laura','David','Sophie',
                            'Thomas','Emma','Peter','Julia','Daniel','Sarah','Paul','Lena',
                            'Mark','Chloé','José','Zoë','François','Siobhán','Mary-Jane','Lukas',
                            'Ahmed','Yuki','Priya','Mateo','Olga','Jan'])
                         [1 + floor(b.fn * b.fn * 30)::int]
                  || ' ' ||
                     (ARRAY['Smith','Müller','Garcia','Johnson','Schmidt','Martin','Brown',
                            'Rossi','Dubois','Jones','Fischer','Nguyen','O''Brien','Kowalski',
                            'van der Berg','Jansen','Svensson','Novak','Silva','Tanaka',
                            'García','Lefèvre','Weber','Murphy','Andersen','Costa','Ivanova',
                            'Khan','Becker','Wagner'])
                         [1 + floor(b.ln * b.ln * 30)::int]
           END AS name
    FROM base b
), emailed AS (
    SELECT n.*,
           translate(replace(lower(n.name), ' ', '.'),
                     'áàâäãåçéèêëíìîïñóòôöõúùûüýÿø''&,',
                     'aaaaaaceeeeiiiinooooouuuuyyo')
             -- 85% unique (id suffix), 15% bare name: duplicated emails
             || CASE WHEN n.eu < 0.85 THEN n.id::text ELSE '' END
             || '@'
             || (ARRAY['mail.example','example.com','example.org','example.net',
                       'corp.example','post.example'])[1 + floor(n.dm * 6)::int]
             AS clean_email,
           -- nightly batch 02:00:00 on one of the last 89 days (exact ties)
           -- or a random instant in [now-90d, now-1h)
           CASE WHEN n.ub < 0.35
                THEN date_trunc('day', now())
                     - make_interval(days => 1 + floor(n.uk * 89)::int)
                     + interval '2 hours'
                ELSE now() - interval '90 days'
                     + make_interval(secs => n.uk * (90 * 86400 - 3600))
           END AS upd_candidate
    FROM named n
)
SELECT e.id,
       e.name,
       CASE WHEN e.em < 0.05 THEN NULL                                  -- 5% NULL
            WHEN e.em < 0.07 THEN upper(e.clean_email)                  -- 2% UPPER
            WHEN e.em < 0.09 THEN initcap(e.clean_email)                -- 2% Mixed
            WHEN e.em < 0.105 THEN '  ' || e.clean_email || ' '          -- 1.5% padded
            WHEN e.em < 0.11 THEN e.clean_email || E'\t'                -- 0.5% tab
            ELSE e.clean_email
       END AS email,
       CASE WHEN e.ct < 0.03 THEN NULL
            WHEN e.ct < 0.035 THEN lower((ARRAY['de','fr','gb','us'])[1 + floor(pg_temp.rnd(e.id, 116) * 4)::int])
            ELSE (ARRAY['DE','FR','GB','US','NL','ES','IT','SE','CH','PL','AT','BE',
                        'IE','DK','CA','BR','JP'])[1 + floor(((e.ct - 0.035) / 0.965) ^ 1.6 * 17)::int]
       END AS country,
       e.segment,
       CASE WHEN e.cl < 0.02 THEN NULL
            WHEN e.segment = 'consumer'   THEN round((5 + pg_temp.rnd(e.id, 117) * 45)::numeric) * 100
            WHEN e.segment = 'smb'        THEN round((5 + pg_temp.rnd(e.id, 117) * 45)::numeric) * 1000
            WHEN e.segment = 'enterprise' THEN round((50 + pg_temp.rnd(e.id, 117) * 950)::numeric) * 1000
            WHEN e.segment = 'public'     THEN round((10 + pg_temp.rnd(e.id, 117) * 190)::numeric) * 1000
            ELSE 0
       END AS credit_limit,
       e.created_at,
       greatest(e.created_at, e.upd_candidate) AS updated_at,
       CASE WHEN e.dl < 0.02 THEN greatest(e.created_at, e.upd_candidate) END AS deleted_at
FROM emailed e;

-------------------------------------------------------------------------------
-- products (2,000)
-------------------------------------------------------------------------------
INSERT INTO public.products
    (id, sku, name, category, unit_price, attributes, active, updated_at)
WITH base AS (
    SELECT g AS id,
           pg_temp.rnd(g, 201) AS ca,
           pg_temp.rnd(g, 202) AS pr,
           pg_temp.rnd(g, 203) AS ac,
           pg_temp.rnd(g, 204) AS ub,
           pg_temp.rnd(g, 205) AS uk,
           pg_temp.rnd(g, 206) AS at,
           (ARRAY['Hardware','Electrical','Plumbing','Tools','Safety','Office',
                  'Packaging','Cleaning'])[1 + floor(pg_temp.rnd(g, 201) * 8)::int] AS cat
    FROM generate_series(1, 2000) AS g
)
SELECT b.id,
       upper(left(b.cat, 3)) || '-' || lpad(b.id::text, 6, '0') AS sku,
       (ARRAY['Standard','Premium','Heavy-Duty','Eco','Compact','Pro','Basic','Industrial'])
           [1 + floor(pg_temp.rnd(b.id, 207) * 8)::int]
         || ' ' ||
       (ARRAY['Bolt','Cable','Valve','Drill','Glove','Binder','Box','Mop','Hinge','Switch',
              'Pipe','Wrench','Helmet','Stapler','Tape','Brush'])
           [1 + floor(pg_temp.rnd(b.id, 208) * 16)::int]
         || ' ' || (10 + floor(pg_temp.rnd(b.id, 209) * 990))::int::text AS name,
       CASE WHEN pg_temp.rnd(b.id, 210) < 0.01 THEN NULL ELSE b.cat END AS category,
       round((0.5 + exp(b.pr * 7))::numeric, 2) AS unit_price,       -- 1.50 .. ~1100
       CASE WHEN b.at < 0.01 THEN NULL                                 -- a few NULL
            WHEN b.at < 0.05 THEN '{}'::jsonb                          -- some empty
            ELSE jsonb_strip_nulls(jsonb_build_object(
                    'color',  (ARRAY['black','white','red','blue','steel',NULL])
                                  [1 + floor(pg_temp.rnd(b.id, 211) * 6)::int],
                    'weight_kg', round((pg_temp.rnd(b.id, 212) * 25)::numeric, 3),
                    'dimensions_mm', CASE WHEN b.at < 0.6 THEN jsonb_build_object(
                            'w', 10 + floor(pg_temp.rnd(b.id, 213) * 500)::int,
                            'h', 10 + floor(pg_temp.rnd(b.id, 214) * 500)::int,
                            'd', 5  + floor(pg_temp.rnd(b.id, 215) * 200)::int) END,
                    'tags', CASE WHEN b.at > 0.7 THEN
                            to_jsonb(ARRAY['bestseller', lower(b.cat)]) END,
                    'hazardous', CASE WHEN b.cat IN ('Cleaning','Electrical') THEN b.at > 0.9 END))
       END AS attributes,
       b.ac >= 0.10 AS active,                                          -- 90% active
       CASE WHEN b.ub < 0.40   -- price list import 30 days ago: ~800 identical stamps
                THEN date_trunc('day', now()) - interval '30 days' + interval '6 hours'
            WHEN b.ub < 0.60   -- nightly batch 02:00:00
                THEN date_trunc('day', now()) - make_interval(days => 1 + floor(b.uk * 89)::int)
                     + interval '2 hours'
            ELSE now() - interval '90 days' + make_interval(secs => b.uk * (90 * 86400 - 3600))
       END AS updated_at
FROM base b;

-------------------------------------------------------------------------------
-- orders (100,000) -- staged in a temp table, lines derived from it, then the
-- order amount is the sum of its lines.
-------------------------------------------------------------------------------
CREATE TEMP TABLE tmp_orders ON COMMIT DROP AS
WITH base AS (
    SELECT g AS id,
           r.*,
           -- ids grow with ordered_at: spread over the last 365 days, newest ~2h ago
           now() - interval '2 hours'
                 - make_interval(secs => (1 - g / 100000.0) * 365 * 86400 + r.jt * 6 * 3600)
               AS ordered_at
    FROM generate_series(1, 100000) AS g
    CROSS JOIN LATERAL (SELECT
        pg_temp.rnd(g, 301) AS cu,   -- customer
        pg_temp.rnd(g, 302) AS st,   -- status
        pg_temp.rnd(g, 303) AS nt,   -- note
        pg_temp.rnd(g, 304) AS ub,   -- updated_at kind
        pg_temp.rnd(g, 305) AS uk,   -- updated_at value
        pg_temp.rnd(g, 306) AS jt,   -- ordered_at jitter
        pg_temp.rnd(g, 307) AS nl,   -- number of lines
        pg_temp.rnd(g, 308) AS nl2
    ) AS r
), stamped AS (
    SELECT b.*,
           date_trunc('month', now() - interval '3 days') + interval '3 hours' AS t_close,
           date_trunc('minute', now()) - interval '30 minutes'                AS t_last,
           greatest(b.ordered_at, now() - interval '90 days')                  AS lo
    FROM base b
)
SELECT s.id,
       CASE WHEN s.cu < 0.0005 THEN NULL                                   -- walk-in, no customer
            WHEN s.cu < 0.0015 THEN 20001 + floor(pg_temp.rnd(s.id, 309) * 500)::bigint  -- orphan
            ELSE 1 + floor(((s.cu - 0.0015) / 0.9985) ^ 1.5 * 20000)::bigint  -- skewed
       END AS customer_id,
       CASE WHEN s.ordered_at < now() - interval '14 days'
            THEN CASE WHEN s.st < 0.88 THEN 'S' WHEN s.st < 0.96 THEN 'X' ELSE 'P' END
            ELSE CASE WHEN s.st < 0.60 THEN 'P' WHEN s.st < 0.90 THEN 'S' ELSE 'X' END
       END AS status,
       CASE WHEN s.nt < 0.85 THEN NULL
            ELSE (ARRAY[
                'Customer called, wants delivery before Friday',
                'Invoice address differs; see ticket #4711',
                E'Deliver to gate 3\nAsk for Mr. Weber at reception',
                'Contains "double quotes", commas, and ''single'' quotes',
                E'tab\tseparated\tvalues',
                'Überprüfung durch Vertrieb nötig ✓ — 优先',
                E'Path C:\\temp\\orders\\ and a trailing backslash \\',
                '',
                '   ',
                'NULL',
                'Rush order: expedite shipping',
                'Duplicate of an earlier order? check with accounting'])
                [1 + floor(pg_temp.rnd(s.id, 310) * 12)::int]
       END AS internal_note,
       s.ordered_at,
       CASE
            -- ~0.25% late-arriving: stamped BEFORE the order date (backdated import)
            WHEN s.ub < 0.01 AND s.ordered_at > now() - interval '80 days'
                THEN s.ordered_at - make_interval(secs => 3600 + s.uk * 3 * 86400)
            -- ~1.3%: latest batch, shared by all rows at max(updated_at)
            WHEN s.ub < 0.015
                THEN s.t_last
            -- ~10%: month-end close, one identical stamp for ~10k orders
            WHEN s.ub < 0.115 AND s.ordered_at < s.t_close
                THEN s.t_close
            -- ~25%: nightly batch 02:00:00 (first night after the order, within 90 days)
            WHEN s.ub < 0.365
                 AND date_trunc('day', s.lo) + interval '1 day 2 hours'
                     + make_interval(days => floor(s.uk * 20)::int) < now() - interval '1 hour'
                THEN date_trunc('day', s.lo) + interval '1 day 2 hours'
                     + make_interval(days => floor(s.uk * 20)::int)
            -- rest: random instant between the order (or 90 days ago) and now-1h
            ELSE s.lo + (now() - interval '1 hour' - s.lo) * s.uk
       END AS updated_at,
       CASE WHEN s.nl < 0.005 THEN 10 + floor(s.nl2 * 21)::int   -- a few big orders
            ELSE 1 + floor(s.nl2 * 3.85)::int                     -- 1..4 lines
       END AS n_lines
FROM stamped s;

ANALYZE tmp_orders;

CREATE TEMP TABLE tmp_lines ON COMMIT DROP AS
WITH raw AS (
    SELECT o.id AS order_id,
           l AS line_no,
           o.ordered_at,
           o.updated_at AS o_updated_at,
           o.id * 64 + l AS k,
           CASE WHEN pg_temp.rnd(o.id * 64 + l, 401) < 0.001
                THEN 9000 + floor(pg_temp.rnd(o.id * 64 + l, 402) * 1000)::int  -- orphan product
                ELSE 1 + floor(pg_temp.rnd(o.id * 64 + l, 402) ^ 2 * 2000)::int  -- skewed
           END AS product_id
    FROM tmp_orders o
    CROSS JOIN LATERAL generate_series(1, o.n_lines) AS l
)
SELECT r.order_id,
       r.line_no,
       r.product_id,
       CASE WHEN pg_temp.rnd(r.k, 403) < 0.002 THEN -1                      -- returns
            ELSE 1 + floor(pg_temp.rnd(r.k, 404) ^ 3 * 50)::int
       END AS quantity,
       round(coalesce(p.unit_price, (1 + pg_temp.rnd(r.k, 405) * 99)::numeric)
             * CASE WHEN pg_temp.rnd(r.k, 406) < 0.10               -- price drift
                    THEN (0.9 + pg_temp.rnd(r.k, 407) * 0.2)::numeric ELSE 1 END, 2)
           AS unit_price,
       CASE WHEN pg_temp.rnd(r.k, 408) < 0.10 THEN NULL
            WHEN pg_temp.rnd(r.k, 408) < 0.65 THEN 0.000
            ELSE (ARRAY[0.050, 0.100, 0.150, 0.200, 0.250, 0.333])
                     [1 + floor(pg_temp.rnd(r.k, 409) * 6)::int]
       END::numeric(4,3) AS discount,
       -- 85% same stamp as the order (same transaction), else an earlier edit
       CASE WHEN pg_temp.rnd(r.k, 410) < 0.85 THEN r.o_updated_at
            ELSE x.lo + (r.o_updated_at - x.lo) * pg_temp.rnd(r.k, 411)
       END AS updated_at
FROM raw r
LEFT JOIN public.products p ON p.id = r.product_id
CROSS JOIN LATERAL (
    SELECT least(r.o_updated_at, greatest(r.ordered_at, now() - interval '90 days')) AS lo
) AS x;

INSERT INTO public.order_lines
    (order_id, line_no, product_id, quantity, unit_price, discount, updated_at)
SELECT order_id, line_no, product_id, quantity, unit_price, discount, updated_at
FROM tmp_lines
ORDER BY order_id, line_no;

INSERT INTO public.orders
    (id, customer_id, status, amount, currency, internal_note, ordered_at, updated_at)
SELECT o.id,
       o.customer_id,
       o.status,
       coalesce(a.amount, 0),
       CASE upper(c.country)
            WHEN 'GB' THEN 'GBP' WHEN 'US' THEN 'USD' WHEN 'CH' THEN 'CHF'
            WHEN 'SE' THEN 'SEK' WHEN 'PL' THEN 'PLN' WHEN 'DK' THEN 'DKK'
            WHEN 'CA' THEN 'CAD' WHEN 'BR' THEN 'BRL' WHEN 'JP' THEN 'JPY'
            ELSE 'EUR'
       END AS currency,
       o.internal_note,
       o.ordered_at,
       o.updated_at
FROM tmp_orders o
LEFT JOIN public.customers c ON c.id = o.customer_id
LEFT JOIN (
    SELECT order_id,
           sum(round(quantity * unit_price * (1 - coalesce(discount, 0)), 2)) AS amount
    FROM tmp_lines
    GROUP BY order_id
) a ON a.order_id = o.id
ORDER BY o.id;

COMMIT;

ANALYZE public.customers, public.products, public.orders, public.order_lines;
