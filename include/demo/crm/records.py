"""Deterministic customer and contact generator (same seed and sizes, same records)."""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]

STATUSES = ("active", "inactive", "lead")
FIRST_NAMES = (
    "Ada", "Alan", "Anna", "Ben", "Carla", "Chen", "Dana", "Emil", "Eva", "Farah", "Grace", "Hugo",
    "Ines", "Ivan", "Jana", "Kofi", "Lena", "Luis", "Maya", "Nils", "Olga", "Omar", "Paula", "Ravi",
    "Sara", "Tomas", "Uma", "Vera", "Wei", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kim", "Lopez", "Meyer", "Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka",
    "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zimmer",
)  # fmt: skip
CITIES = ("Berlin", "Lisbon", "Paris", "Lyon", "Madrid", "Rome", "Oslo", "Vienna", "Austin", "Osaka")
COUNTRIES = ("DE", "PT", "FR", "FR", "ES", "IT", "NO", "AT", "US", "JP")
TAGS = ("vip", "newsletter", "partner", "churn-risk", "b2b", "b2c", "trial", "referral")
DOMAINS = ("example.com", "mail.test", "corp.example", "inbox.test")

# Generated history spans 2024-2025; "now" (touches, writes) is always later, so touched
# records move to the end of the (updated_at, id) order.
_EPOCH_START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
_SPAN = 730 * 86_400 * 1_000_000
_DAY = 86_400 * 1_000_000
# Bulk imports stamp many rows with one identical updated_at: cursors must break ties by id.
_IMPORT_STAMPS = tuple(_EPOCH_START + _SPAN // 20 * k + 3_600_000_000 for k in range(1, 20))


def format_ts(micros: int) -> str:
    """Epoch microseconds -> ``2025-03-01T12:00:00.123456Z`` (sorts like the instant it names)."""
    seconds, fraction = divmod(micros, 1_000_000)
    days, second = divmod(seconds, 86_400)
    day = _DAYS.get(days)
    if day is None:
        day = _DAYS[days] = time.strftime("%Y-%m-%d", time.gmtime(days * 86_400))
    return f"{day}T{_CLOCK[second // 60]}:{second % 60:02d}.{fraction:06d}Z"


# Day prefixes and "HH:MM" strings: formatting 600k timestamps by hand is ~5x faster than strftime.
_DAYS: dict[int, str] = {}
_CLOCK = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(1440))


_BARE_OFFSET = re.compile(r"\d\d:\d\d:\d\d(\.\d+)? \d\d:\d\d$")


def parse_ts(text: str) -> str:
    """Any ISO-8601 timestamp (naive means UTC) -> the service's canonical UTC form.

    Raises:
        ValueError: ``text`` is not an ISO-8601 timestamp.
    """
    text = text.strip()
    if _BARE_OFFSET.search(text):
        # "+00:00" sent unencoded in a query string arrives as " 00:00": read it as meant.
        text = f"{text[:-6]}+{text[-5:]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_ts() -> str:
    """The current instant in the canonical form."""
    return format_ts(time.time_ns() // 1_000)


# Mostly zero to two tags: a tag is kept when its bit and the next one are both set.
_TAG_SETS = tuple(tuple(tag for k, tag in enumerate(TAGS) if bits >> k & 3 == 3) for bits in range(256))


def _timestamps(rnd: Any, n: int) -> list[tuple[int, int]]:
    """(created, updated) epoch microseconds for ``n`` records, ids roughly in creation order."""
    # rnd() (one C call) instead of randrange/choice: generating 200k records stays ~1 s.
    created = sorted(_EPOCH_START + int(rnd() * _SPAN) for _ in range(n))
    stamps = _IMPORT_STAMPS
    out = []
    for stamp in created:
        if rnd() < 0.03:
            # A late-arriving record: a high id carrying an old timestamp.
            stamp = max(_EPOCH_START, stamp - 30 * _DAY - int(rnd() * 270 * _DAY))
        roll = rnd()
        if roll < 0.15:
            updated = stamp
        elif roll < 0.25:
            updated = max(stamp, stamps[int(rnd() * len(stamps))])
        else:
            updated = stamp + int(rnd() * 180 * _DAY)
            # History ends with 2025, so anything touched or written now sorts after it.
            updated = updated if updated < _EPOCH_START + _SPAN else stamp
        out.append((stamp, updated))
    return out


def _status(roll: float) -> str:
    return "active" if roll < 0.6 else "inactive" if roll < 0.75 else "lead"


def generate_customers(n: int, seed: int) -> list[Record]:
    """``n`` customers with ids 1..n: nulls, duplicated names, ties and late arrivals included."""
    rnd = random.Random(f"customers:{seed}").random
    n_first, n_last, n_places, n_domains = len(FIRST_NAMES), len(LAST_NAMES), len(CITIES), len(DOMAINS)
    out: list[Record] = []
    for i, (created, updated) in enumerate(_timestamps(rnd, n), start=1):
        first, last = FIRST_NAMES[int(rnd() * n_first)], LAST_NAMES[int(rnd() * n_last)]
        place = int(rnd() * n_places)
        address = f"{first}.{last}{i}@{DOMAINS[int(rnd() * n_domains)]}"
        roll = rnd()
        email = None if roll < 0.06 else address.upper() if roll < 0.09 else address.lower()
        cents = int(rnd() * 5_000_000)
        created_at = format_ts(created)
        tags = _TAG_SETS[int(rnd() * 256)]
        out.append(
            {
                "id": i,
                "name": f"{first} {last}",
                "email": email,
                "status": _status(rnd()),
                "tier": None if rnd() < 0.12 else 1 + int(rnd() * 4),
                "lifetime_value": None if rnd() < 0.1 else f"{cents // 100}.{cents % 100:02d}",
                "address": {
                    "city": None if rnd() < 0.07 else CITIES[place],
                    "country": COUNTRIES[place],
                },
                "tags": list(tags),
                "created_at": created_at,
                "updated_at": created_at if updated == created else format_ts(updated),
            }
        )
    return out


def generate_contacts(n: int, customers: int, seed: int) -> list[Record]:
    """``n`` contacts with ids 1..n, each pointing at one of ``customers`` customers."""
    rnd = random.Random(f"contacts:{seed}").random
    n_first, n_last, n_domains = len(FIRST_NAMES), len(LAST_NAMES), len(DOMAINS)
    out: list[Record] = []
    for i, (_, updated) in enumerate(_timestamps(rnd, n), start=1):
        first, last = FIRST_NAMES[int(rnd() * n_first)], LAST_NAMES[int(rnd() * n_last)]
        domain = DOMAINS[int(rnd() * n_domains)]
        out.append(
            {
                "id": i,
                "customer_id": 1 + int(rnd() * customers) if customers else None,
                "first_name": first,
                "last_name": last,
                "email": None if rnd() < 0.15 else f"{first}.{last}.{i}@{domain}".lower(),
                "phone": None if rnd() < 0.25 else f"+{1 + int(rnd() * 98)} {int(rnd() * 10**9):09d}",
                "updated_at": format_ts(updated),
            }
        )
    return out
