"""``[core] hostname_callable`` of the distributed test's workers: the name each worker is given
(``SYNCGATE_TEST_WORKER_HOST``), recorded as the hostname of every task instance it runs."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("SYNCGATE_TEST_WORKER_HOST") or socket.getfqdn()
