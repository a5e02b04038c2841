"""Substring masking: no run of ``WINDOW`` or more characters of a secret survives.

Any substring of a secret that is at least ``WINDOW`` long is a chain of overlapping
``WINDOW``-character windows of that secret. So one set holds every window of every secret (in
every form below), one pass over the text looks each of its windows up, and the union of the
hits is exactly what must go: linear in the text, whatever the number of secrets.

Forms of a secret that are masked: as is, URL-encoded (``%2B`` / ``+`` for space), JSON-escaped,
and base64 (standard and URL-safe, at each of the three byte alignments, so the base64 of any
part of the secret is caught too, bar the one or two characters at its edges that mix in
neighbouring bytes). Not covered: other encodings (hex, HTML entities, case changes, reversed),
a secret broken up by inserted characters, and runs shorter than ``WINDOW`` characters.
Secrets shorter than ``WINDOW`` are masked whole; below ``MIN_SECRET`` characters they are not
masked at all (they would blank ordinary words and cannot be kept secret anyway).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

WINDOW = 6
MIN_SECRET = 4
MASK = "***"


def forms(secret: str) -> set[str]:
    """The ways ``secret`` may appear in an API's body, a URL or a log line."""
    found = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), json.dumps(secret)[1:-1]}
    raw = secret.encode()
    for offset in range(3):
        chunk = raw[offset:]
        if len(chunk) >= 3:
            for encoder in (base64.b64encode, base64.urlsafe_b64encode):
                text = encoder(chunk).decode().rstrip("=")
                # The last character may mix in a neighbouring byte: only whole groups are sure.
                found.add(text[: len(text) - len(text) % 4] if len(chunk) % 3 else text)
    return {f for f in found if len(f) >= MIN_SECRET}


class SecretMask:
    """Masks every ``WINDOW``-character run of the secrets it was given (and short secrets whole)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._windows: set[str] = set()
        self._short: set[str] = set()
        self._short_pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def __bool__(self) -> bool:
        return bool(self._windows or self._short)

    def add(self, secret: str) -> None:
        if not isinstance(secret, str) or len(secret) < MIN_SECRET:
            return
        for form in forms(secret) if len(secret) >= WINDOW else {secret}:
            if len(form) >= WINDOW:
                self._windows.update(form[i : i + WINDOW] for i in range(len(form) - WINDOW + 1))
            else:
                self._short.add(form)
                self._short_pattern = None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The character ranges of ``text`` that belong to a secret, merged and in order."""
        found: list[tuple[int, int]] = []
        windows = self._windows
        if windows:
            start = end = -1
            for i in range(len(text) - WINDOW + 1):
                if text[i : i + WINDOW] in windows:
                    if i > end:
                        if end >= 0:
                            found.append((start, end))
                        start = i
                    end = i + WINDOW
            if end >= 0:
                found.append((start, end))
        if self._short:
            if self._short_pattern is None:
                alternatives = sorted(self._short, key=len, reverse=True)
                self._short_pattern = re.compile("|".join(map(re.escape, alternatives)))
            found += [m.span() for m in self._short_pattern.finditer(text)]
        return merge(found)

    def mask(self, text: str) -> str:
        return replace_spans(text, self.spans(text))


def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], MASK]
        last = end
    out.append(text[last:])
    return "".join(out)
