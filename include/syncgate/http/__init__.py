"""HTTP API sources: the client, retries, pagination, record flattening, coercion and drift."""
