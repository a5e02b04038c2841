"""Where the benchmark keeps its cluster, landing area, reports and results."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = REPO_ROOT / ".syncgate" / "bench"
CLUSTER_DIR = REPO_ROOT / ".syncgate" / "pg-bench"
LANDING_DIR = STATE_DIR / "landing"
REPORTS_DIR = STATE_DIR / "reports"
LOGS_DIR = STATE_DIR / "logs"
PROFILES_DIR = STATE_DIR / "profiles"
RESULTS_FILE = STATE_DIR / "results.json"
# One port per checkout (git worktrees benchmark side by side without meeting each other's
# cluster); SYNCGATE_BENCH_PORT overrides it.
PORT = int(os.environ.get("SYNCGATE_BENCH_PORT") or 54300 + zlib.crc32(str(REPO_ROOT).encode()) % 500)
SOURCE_DB = "bench_src"
TARGET_DB = "bench_dst"
