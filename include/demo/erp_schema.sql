-- syncgate demo "ERP" source database: schema.
-- PostgreSQL 15+, no extensions. Idempotent: safe to run repeatedly.
--
-- Intentionally NO foreign keys: real-world sources are often messy and the
-- demo activity script deletes orders freely.
-- Every table carries updated_at NOT NULL plus an index on it, because
-- incremental extraction filters on updated_at (watermark).

SET search_path = public;

CREATE TABLE IF NOT EXISTS public.customers (
    id            bigint        PRIMARY KEY,
    name          text          NOT NULL,
    email         text          NULL,
    country       char(2)       NULL,
    segment       text,
    credit_limit  numeric(12,2),
    created_at    timestamptz,
    updated_at    timestamptz   NOT NULL,
    deleted_at    timestamptz   NULL          -- soft delete marker
);

CREATE TABLE IF NOT EXISTS public.products (
    id          int           PRIMARY KEY,
    sku         text          UNIQUE,
    name        text,
    category    text          NULL,
    unit_price  numeric(10,2),
    attributes  jsonb,
    active      boolean,
    updated_at  timestamptz   NOT NULL
);

CREATE TABLE IF NOT EXISTS public.orders (
    id             bigint        PRIMARY KEY,
    customer_id    bigint,
    status         char(1)       NOT NULL,    -- P pending, S shipped, X cancelled
    amount         numeric(12,2),
    currency       char(3),
    internal_note  text          NULL,
    ordered_at     timestamptz,
    updated_at     timestamptz   NOT NULL
);

CREATE TABLE IF NOT EXISTS public.order_lines (
    order_id    bigint,
    line_no     int,
    product_id  int,
    quantity    int,
    unit_price  numeric(10,2),
    discount    numeric(4,3)  NULL,
    updated_at  timestamptz   NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

COMMENT ON COLUMN public.orders.status IS 'P pending, S shipped, X cancelled';
COMMENT ON COLUMN public.customers.deleted_at IS 'soft delete marker (NULL = live)';

-- Incremental extraction indexes.
CREATE INDEX IF NOT EXISTS customers_updated_at_idx   ON public.customers   (updated_at);
CREATE INDEX IF NOT EXISTS products_updated_at_idx    ON public.products    (updated_at);
CREATE INDEX IF NOT EXISTS orders_updated_at_idx      ON public.orders      (updated_at);
CREATE INDEX IF NOT EXISTS order_lines_updated_at_idx ON public.order_lines (updated_at);

-- Partners: the ERP's side of the two-way flow erp_crm_customers_two_way (dags/flows/), a
-- segment of its own so that no other flow writes the same customers (erp_accounts_to_crm
-- pushes the enterprise segment). An automatically updatable view: syncgate reads and writes
-- it like a table, and the check option keeps every row it writes in the segment.
-- Customers the CRM creates get ids from their own range (5,000,001 up), far from the seed's.
CREATE SEQUENCE IF NOT EXISTS public.partner_customer_id_seq START 5000001;
CREATE OR REPLACE VIEW public.partner_customers AS
    SELECT id, name, email, country, segment, credit_limit, created_at, updated_at, deleted_at
    FROM public.customers
    WHERE segment = 'partner'
    WITH CASCADED CHECK OPTION;
ALTER VIEW public.partner_customers ALTER COLUMN id SET DEFAULT nextval('public.partner_customer_id_seq');
ALTER VIEW public.partner_customers ALTER COLUMN segment SET DEFAULT 'partner';
ALTER VIEW public.partner_customers ALTER COLUMN created_at SET DEFAULT now();
ALTER VIEW public.partner_customers ALTER COLUMN updated_at SET DEFAULT clock_timestamp();
COMMENT ON VIEW public.partner_customers IS 'partner customers, synced both ways with the CRM (@partner.example)';
