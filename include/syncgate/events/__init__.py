"""Event-driven runs: what signals a flow (webhooks, LISTEN/NOTIFY, a WAL slot) and the durable log of them."""
