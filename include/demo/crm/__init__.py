"""Demo CRM service: an in-memory REST API with four pagination styles, writes with idempotency
keys and fault injection, for the HTTP source/target flows, their tests and the demo.

Start it with ``python -m demo.crm`` or, in tests, ``demo.crm.server.CrmServer``.
"""

from __future__ import annotations
