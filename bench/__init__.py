"""syncgate benchmark: a full and a 1% incremental sync against a binary COPY pipe.

``python -m bench.run`` (``make bench``) starts its own PostgreSQL cluster, generates the
source table, times the physical limit (binary COPY between two databases) and then runs
the five pipeline stages, each in its own Python process as Airflow would.
"""

from __future__ import annotations
