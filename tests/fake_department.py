"""Fake department systems: real HTTP servers on loopback, for the tests and the demo.

Each department applies an effect (issues a licence, registers a birth) once per `Idempotency-Key`:
a repeat of a key returns the stored answer and applies nothing, so a test can count effects and
prove that nothing happened twice. Latency is added *after* the effect is applied — the worst case
for duplicates: a caller that dies or times out while waiting has already changed the department.

    python -m tests.fake_department --port 9101     # 市场监管, 公安 and 税务 on one port, for the demo
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, Any]]


@dataclass
class Effect:
    key: str
    path: str
    request: dict[str, Any]
    answer: Answer


@dataclass
class FakeDepartment:
    """One department system; `calls` lists every request's (path, Idempotency-Key), repeats included."""

    name: str
    latency_s: float = 0.0
    failure_rate: float = 0.0  # share of calls answered 503 before anything is applied
    fail_next: int = 0  # the next N calls fail with 503 (deterministic transient failures)
    port: int = 0
    effects: list[Effect] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_key: dict[str, Effect] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _counter: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeDepartment:
        department = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                status, answer = department.handle(self.path, self.headers.get("Idempotency-Key"), body)
                data = json.dumps(answer, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller went away (killed or timed out): the effect stays applied

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name=f"fake-{self.name}", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, path: str, key: str | None, body: Any) -> Answer:
        with self._lock:
            self.calls.append((path, key or ""))
            if not key:
                return 400, {"error_code": "NO_IDEMPOTENCY_KEY", "message": "缺少 Idempotency-Key 请求头"}
            if not isinstance(body, dict):
                return 400, {"error_code": "BAD_JSON", "message": "请求体应为 JSON 对象"}
            effect = self._by_key.get(key)
            if effect is None:
                if self.fail_next > 0 or random.random() < self.failure_rate:
                    self.fail_next = max(self.fail_next - 1, 0)
                    return 503, {"message": f"{self.name}系统繁忙，请稍后重试"}
                route = ROUTES.get(path)
                if route is None:
                    return 404, {"message": f"没有 {path}"}
                self._counter += 1
                effect = Effect(key, path, body, route(self._counter, body))
                self._by_key[key] = effect
                if 200 <= effect.answer[0] < 300:
                    self.effects.append(effect)
        time.sleep(self.latency_s)
        return effect.answer

    def keys_applied(self) -> list[str]:
        with self._lock:
            return [e.key for e in self.effects]


def _licence(serial: int, body: dict[str, Any]) -> Answer:
    """市场监管: issue a business licence, or refuse a name containing a forbidden word."""
    name = str(body.get("name", ""))
    if not name or "禁" in name:
        return 422, {"error_code": "NAME_REJECTED", "message": f"企业名称“{name}”未通过核准"}
    return 200, {"licence_number": f"SAMR-{serial:06d}", "name": name}


def _birth(serial: int, body: dict[str, Any]) -> Answer:
    """公安: register a birth and return the household registration number."""
    if not body.get("child_name"):
        return 422, {"error_code": "MISSING_NAME", "message": "缺少新生儿姓名"}
    return 200, {"hukou_number": f"GA-{serial:06d}", "child_name": body["child_name"]}


def _tax_deregistration(serial: int, body: dict[str, Any]) -> Answer:
    """税务: deregister a taxpayer and issue a clearance certificate, or refuse while taxes are owed.

    A name containing 欠税 owes taxes until a call carries the receipt of their payment (`arrears_receipt_no`).
    """
    name = str(body.get("enterprise_name", ""))
    if not name:
        return 422, {"error_code": "MISSING_NAME", "message": "缺少纳税人名称"}
    if "欠税" in name and not body.get("arrears_receipt_no"):
        return 422, {"error_code": "TAX_ARREARS", "message": f"纳税人“{name}”存在欠税，请结清后再申请注销"}
    return 200, {"certificate_number": f"SW-{serial:06d}", "enterprise_name": name}


ROUTES: dict[str, Callable[[int, dict[str, Any]], Answer]] = {
    "/licences": _licence, "/births": _birth, "/tax-deregistrations": _tax_deregistration,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_department")
    parser.add_argument("--port", type=int, default=9101)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    args = parser.parse_args()
    department = FakeDepartment("模拟部门", args.latency, args.failure_rate, port=args.port).start()
    print(f"fake department on {department.base_url} (POST {', '.join(ROUTES)})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        department.stop()


def write_connectors(path: Any, department: FakeDepartment, **overrides: Any) -> Any:
    """A connector file whose `samr.issue_licence` topic calls this department's /licences."""
    samr: dict[str, Any] = {
        "url": f"{department.base_url}/licences", "timeout_s": 5, "retries": 3, "backoff_s": 0.05,
        "lock_margin_s": 1, "headers": {"X-Caller": "lianban"},
        "variables_in": {"company_name": "name"},
        "variables_out": {"licence_number": "licence_number", "message": "samr_message"},
        "error_codes": {"422": "NAME_REJECTED"},
    }
    samr.update(overrides)
    path.write_text(json.dumps({"connectors": {"samr.issue_licence": samr}}, ensure_ascii=False), encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
