"""Browser tests: Debian's Chromium driven by Playwright against a real server process on loopback.

Playwright's own browser download does not work here; the tests use the system `chromium`
(`executable_path`). When it is missing they fail with a message saying how to install it: they never
skip, so a machine without a browser cannot pass the suite by not running these tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.form_samples import sample
from tests.server_process import Server

TIMEOUT_MS = 30_000  # generous: a loaded 2-core machine; Playwright waits only as long as it must
PASSWORD = "lianban-demo"


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("未找到 chromium：浏览器测试需要 Debian 的 chromium（apt-get install -y chromium，"
                    "或运行 .ci/run，它会在缺少时安装）/ chromium not found: install Debian's chromium", pytrace=False)
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
    yield browser
    browser.close()


@pytest.fixture()
def server(app: Flask, database_url: str) -> Iterator[Server]:
    """`python -m orchestrator serve` on a free loopback port over the (cleaned) test database, with the demo
    accounts and bundles, and the test clock hook (PUT /api/test/clock)."""
    served = Server(database_url, seed=True, env={"LIANBAN_TEST_HOOKS": "1"})
    try:
        yield served
    finally:
        served.call("DELETE", "/api/test/clock")
        served.stop()


@pytest.fixture()
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.base, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Through the real login form, as a person would."""
    page.goto("/")
    page.wait_for_url("**/login**")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)


def call(server: Server, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
    status, answer = server.call(method, path, body)
    assert status == expect, (method, path, status, answer)
    return answer


def accepted_deregistration(server: Server, business_key: str) -> str:
    """A company deregistration accepted at the intake window: its parallel department steps are open,
    each with a one-working-day step limit."""
    case = call(server, "POST", "/engine-rest/process-definition/key/company_deregistration/start",
                {"businessKey": business_key})
    intake = call(server, "GET", f"/engine-rest/task?processInstanceId={case['id']}")
    assert [t["taskDefinitionKey"] for t in intake] == ["task_intake"]
    call(server, "POST", f"/api/tasks/{intake[0]['id']}/submit", {"values": sample("deregistration-intake")})
    return str(case["id"])


def open_task(server: Server, case_id: str, key: str) -> dict[str, Any]:
    tasks = [t for t in call(server, "GET", f"/engine-rest/task?processInstanceId={case_id}")
             if t["taskDefinitionKey"] == key]
    assert len(tasks) == 1
    return tasks[0]  # type: ignore[no-any-return]
