"""Standard Webhooks verification: the package's HMAC, and the canonical form syncgate insists on."""

from __future__ import annotations

import base64
import inspect
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from syncgate.events.webhook import (
    MIN_SECRET_BYTES,
    RefusalBudget,
    WebhookRefused,
    check_headers,
    parse_secrets,
    verify,
    webhook_secret_conn_id,
)

pytestmark = pytest.mark.unit

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()
BODY = b'{"type": "order.updated", "id": 42}'


def signed(
    body: bytes = BODY, *, secret: str = SECRET, msg_id: str = "msg_1", at: float | None = None
) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def refused(body: bytes, headers: dict[str, str], secrets: list[str] | None = None) -> str:
    with pytest.raises(WebhookRefused) as raised:
        verify(body, headers, parse_secrets(None, {"secrets": secrets or [SECRET]}))
    return raised.value.reason


def test_a_signed_message_is_accepted_and_yields_its_id() -> None:
    assert verify(BODY, signed(), parse_secrets(SECRET, {})) == "msg_1"
    # Header names are case-insensitive, as HTTP has them.
    upper = {k.upper(): v for k, v in signed().items()}
    assert verify(BODY, upper, parse_secrets(SECRET, {})) == "msg_1"


def test_rotation_any_listed_secret_verifies_and_an_unlisted_one_does_not() -> None:
    verifiers = parse_secrets(SECRET, {"secrets": [OTHER]})
    assert verify(BODY, signed(secret=OTHER), verifiers) == "msg_1"
    assert verify(BODY, signed(secret=SECRET), verifiers) == "msg_1"
    third = "whsec_" + base64.b64encode(b"t" * 32).decode()
    assert refused(BODY, signed(secret=third), [SECRET, OTHER]) == "no valid signature"
    # A sender that signs with old and new secret at once (one entry each) is accepted too.
    both = signed(secret=third)
    both["webhook-signature"] += " " + signed(secret=OTHER)["webhook-signature"]
    assert verify(BODY, both, verifiers) == "msg_1"


def test_the_reason_is_the_same_whichever_secret_was_tried() -> None:
    wrong = signed(secret=OTHER)
    assert refused(BODY, wrong, [SECRET]) == refused(
        BODY, wrong, [SECRET, "whsec_" + base64.b64encode(b"z" * 32).decode()]
    )


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(-301, "more than 5 minutes old"), (301, "more than 5 minutes in the future")],
)
def test_a_timestamp_outside_five_minutes_is_refused_even_when_signed(offset: int, reason: str) -> None:
    assert reason in refused(BODY, signed(at=time.time() + offset))
    assert verify(BODY, signed(at=time.time() - 240), parse_secrets(SECRET, {})) == "msg_1"


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(drop: str) -> None:
    headers = signed()
    del headers[drop]
    assert refused(BODY, headers).startswith("missing")
    headers[drop] = ""
    assert refused(BODY, headers).startswith("missing")


def test_timestamps_the_package_would_floor_are_refused() -> None:
    # The package parses webhook-timestamp with float() and signs the floored value: on its own
    # it accepts each of these with the signature made for the plain integer.
    good = signed()
    stamp = good["webhook-timestamp"]
    for variant in (
        f"{stamp}.0",
        f"{stamp}.9",
        f"{stamp[:2]}_{stamp[2:]}",
        f" {stamp}",
        f"{stamp}e0",
        f"0{stamp}",
    ):
        Webhook(SECRET).verify(BODY.decode(), {**good, "webhook-timestamp": variant}, json_parse=False)
        assert "integer seconds" in refused(BODY, {**good, "webhook-timestamp": variant})


def test_signature_entries_must_be_well_formed() -> None:
    good = signed()
    version, _, digest = good["webhook-signature"].partition(",")
    for variant in (
        f"{version},{digest[:5]}!{digest[5:]}",
        digest,
        f"{version},",
        f"{version},{digest}  ",
        f"{version} {digest}",
    ):
        assert "<version>,<base64>" in refused(BODY, {**good, "webhook-signature": variant})
    # An unknown version is ignored, not an error: the v1 entry beside it decides.
    assert verify(
        BODY, {**good, "webhook-signature": f"v9,AAAA {good['webhook-signature']}"}, parse_secrets(SECRET, {})
    )
    assert refused(BODY, {**good, "webhook-signature": "v1,abc"}) == "no valid signature"  # bad padding


def test_a_body_that_is_not_utf8_is_refused() -> None:
    assert refused(b"\xff\xfe", signed()) == "body is not UTF-8 text"


def test_webhook_ids_are_printable_ascii_of_bounded_length() -> None:
    for bad in ("msg 1", "msg\n1", "x" * 256, "m\u00e9"):
        assert "printable ASCII" in refused(BODY, {**signed(), "webhook-id": bad})
    assert verify(BODY, signed(msg_id="x" * 255), parse_secrets(SECRET, {})) == "x" * 255


def test_check_headers_needs_no_secret_and_uses_the_given_clock() -> None:
    headers = signed(at=1_000_000)
    assert check_headers(headers, now=1_000_100)["webhook-id"] == "msg_1"
    with pytest.raises(WebhookRefused):
        check_headers(headers, now=1_000_301)


def test_the_package_compares_in_constant_time() -> None:
    # The tripwire for an upgrade of the pinned package: the HMAC comparison is its code.
    assert "hmac.compare_digest(" in inspect.getsource(Webhook.verify)


def test_secrets_malformed_or_short_are_skipped_the_others_kept(caplog: pytest.LogCaptureFixture) -> None:
    short = "whsec_" + base64.b64encode(b"s" * (MIN_SECRET_BYTES - 1)).decode()
    found = parse_secrets("hunter2!", {"secrets": [short, 42, None, "", OTHER, "whsec_not base64"]})
    assert len(found) == 1
    assert verify(BODY, signed(secret=OTHER), found) == "msg_1"
    assert "hunter2" not in caplog.text and short not in caplog.text
    assert "the password" in caplog.text and "extra secrets[0]" in caplog.text
    # Without the whsec_ prefix and without padding, as some senders print them.
    bare = base64.b64encode(b"b" * 32).decode().rstrip("=")
    assert len(parse_secrets(bare, "not a mapping")) == 1
    assert parse_secrets(None, {"secrets": "not a list"}) == []


def test_the_webhook_trigger_is_found_on_models_and_mappings() -> None:
    assert (
        webhook_secret_conn_id(
            SimpleNamespace(triggers=[{"type": "wal"}, {"type": "webhook", "secret_conn_id": "crm"}])
        )
        == "crm"
    )
    model = SimpleNamespace(type="webhook", secret_conn_id="erp_hook")
    assert webhook_secret_conn_id(SimpleNamespace(triggers=[model])) == "erp_hook"
    assert (
        webhook_secret_conn_id(SimpleNamespace(triggers=[{"type": "postgres_notify", "channel": "c"}]))
        is None
    )
    assert webhook_secret_conn_id(SimpleNamespace()) is None
    assert webhook_secret_conn_id(SimpleNamespace(triggers=None)) is None


def test_the_refusal_budget_records_a_few_per_minute_and_counts_the_rest() -> None:
    now = [0.0]
    budget = RefusalBudget(3, clock=lambda: now[0])
    assert [budget.admit("f") for _ in range(5)] == [0, 0, 0, None, None]
    assert budget.admit("g") == 0  # each flow has its own budget
    now[0] = 59.9
    assert budget.admit("f") is None
    now[0] = 60.0
    assert budget.admit("f") == 3  # the next recorded refusal says how many were left out
    assert budget.admit("f") == 0


_MUTATIONS = st.sampled_from(["replace", "insert", "delete"])


@settings(max_examples=300, deadline=None)
@example(body="{}", msg_id="m", field="webhook-timestamp", mutation="insert", position=0, byte=ord("0"))
@example(body="{}", msg_id="m", field="webhook-timestamp", mutation="insert", position=10, byte=ord("."))
@given(
    body=st.text(min_size=0, max_size=64),
    msg_id=st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True),
    field=st.sampled_from(["body", "webhook-id", "webhook-timestamp"]),
    mutation=_MUTATIONS,
    position=st.integers(min_value=0, max_value=10_000),
    byte=st.integers(min_value=0, max_value=255),
)
def test_any_single_byte_change_of_body_id_or_timestamp_is_refused(
    body: str, msg_id: str, field: str, mutation: str, position: int, byte: int
) -> None:
    raw = body.encode()
    headers = signed(raw, msg_id=msg_id)
    verifiers = parse_secrets(SECRET, {})
    assert verify(raw, headers, verifiers) == msg_id
    original = raw if field == "body" else headers[field].encode("latin-1")
    changed = _mutate(original, mutation, position, byte)
    if changed == original:
        return
    if field == "body":
        args = (changed, headers)
    else:
        args = (raw, {**headers, field: changed.decode("latin-1")})
    with pytest.raises(WebhookRefused):
        verify(*args, verifiers)


def _mutate(data: bytes, mutation: str, position: int, byte: int) -> bytes:
    if mutation == "insert":
        at = position % (len(data) + 1)
        return data[:at] + bytes([byte]) + data[at:]
    if not data:
        return data
    at = position % len(data)
    if mutation == "delete":
        return data[:at] + data[at + 1 :]
    return data[:at] + bytes([byte]) + data[at + 1 :]
