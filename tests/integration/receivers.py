"""Real alert receivers on loopback: an HTTP webhook that records POSTs and a minimal SMTP sink."""

from __future__ import annotations

import json
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_string, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    mails: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def texts(self) -> list[str]:
        """Everything received, raw: webhook bodies and whole e-mails (for leak checks)."""
        with self.lock:
            return [json.dumps(w) for w in self.webhooks] + [m["raw"] for m in self.mails]


class WebhookServer:
    """Answers every POST with 200 (or ``status``) and records its JSON body."""

    def __init__(self, received: Received) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with received.lock:
                    received.webhooks.append(json.loads(body))
                    received.paths.append(self.path)
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.status = 200
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """Just enough SMTP (RFC 5321, no TLS, no AUTH) to accept and record messages."""

    def __init__(self, received: Received) -> None:
        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())
                self.wfile.flush()

            def handle(self) -> None:
                self.reply("220 sink ESMTP")
                mail: dict[str, Any] = {"to": []}
                while line := self.rfile.readline().decode(errors="replace"):
                    verb = line.strip().split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 sink")
                    elif verb == "MAIL":
                        mail = {"from": line.split(":", 1)[1].strip(), "to": []}
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        mail["to"].append(line.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with .")
                        lines = []
                        while (data := self.rfile.readline().decode(errors="replace")) not in (".\r\n", ""):
                            lines.append(data[1:] if data.startswith("..") else data)
                        raw = "".join(lines)
                        parsed = message_from_string(raw, policy=policy.default)
                        body = parsed.get_body(("html", "plain"))
                        with received.lock:
                            received.mails.append(
                                {**mail, "raw": raw, "subject": str(parsed["Subject"]),
                                 "html": body.get_content() if body else ""}
                            )  # fmt: skip
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 OK")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
