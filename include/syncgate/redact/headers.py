"""Which header, extra or parameter names carry credentials, and masking their echoed values.

The rule is by name, because an API may echo a header syncgate never sent (a session cookie it
set, a key of another client): a name is credential-bearing when it is one of the standard
ones (``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``, ``X-Api-Key``,
``Api-Key``, ``X-Auth-Token``) or holds ``auth``, ``token``, ``secret``, ``key``, ``passw``,
``pwd``, ``cookie``, ``session``, ``signature``, ``credential`` or ``private``. Masking a
harmless value (an ``Idempotency-Key``) costs a little detail in an error; missing a secret
costs the secret.

In free text the bare word ``key`` is left out: syncgate's own messages name primary keys
(``key (id)=...``). A header named so in the connection is still masked by value (``registry``).
"""

from __future__ import annotations

import re

from syncgate.redact.mask import MASK

STANDARD = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token"}
)
_CREDENTIAL_WORD = re.compile(
    r"auth|token|secret|key|passw|pwd|cookie|session|signature|credential|private", re.IGNORECASE
)
_NAME_IN_TEXT = (
    r"(?:proxy-)?authorization|set-cookie|cookie|[\w-]*api[-_]?key|"
    r"[\w-]*(?:token|secret|passw(?:or)?d|pwd|credential|session|signature|auth)[\w-]*"
)
# ``Name: value``, ``name=value``, ``"name": "value"``, with an optional auth scheme; a cookie
# header's value runs to the end of the line (``a=1; b=2``).
_ECHOED = re.compile(
    rf"(?i)(?<![\w-])(?P<name>{_NAME_IN_TEXT})(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?P<scheme>bearer|basic|token|digest)\s+)?"
    r"(?P<value>[^\s\"',;&}<>)\]]+)"
)
_COOKIE = re.compile(r"(?i)(?<![\w-])(?:set-)?cookie[\"']?\s*[:=]\s*[\"']?(?P<value>[^\r\n\"']+)")
_SCHEME = re.compile(r"(?i)\b(?:bearer|basic|digest)\s+(?P<value>[A-Za-z0-9._~+/=-]{4,})")


def is_credential_name(name: str) -> bool:
    """True for a header / extra / parameter name whose value must be treated as a secret."""
    lowered = name.strip().lower()
    return lowered in STANDARD or bool(_CREDENTIAL_WORD.search(lowered))


def echoed_spans(text: str) -> list[tuple[int, int]]:
    """Ranges of ``text`` holding the value of a credential-bearing name, or an auth scheme's token."""
    spans = [m.span("value") for m in _ECHOED.finditer(text) if len(m.group("value")) >= 4]
    spans += [m.span("value") for pattern in (_COOKIE, _SCHEME) for m in pattern.finditer(text)]
    return spans


def mask_echoed(text: str) -> str:
    from syncgate.redact.mask import merge, replace_spans

    return replace_spans(text, merge(echoed_spans(text)))


__all__ = ["MASK", "echoed_spans", "is_credential_name", "mask_echoed"]
