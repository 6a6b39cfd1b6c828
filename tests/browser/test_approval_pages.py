"""审批操作 in a real Chromium, as the demo users and a few department users, on a real server:
退回 across the parallel split (with its preview) to the window clerk who accepted the case; 转办, 委派 and
办结归还; 抄送 to a person who then finds it on the 工作台; a step without a form decided with an opinion; 撤回
allowed, then refused once the next step is claimed; the case record with its opinions in order; the Chinese
403 page for a reviewer outside the case."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, expect

from tests.bpmn_steps import user_steps
from tests.browser.conftest import PASSWORD, TIMEOUT_MS, call, open_task, sign_in
from tests.form_samples import sample
from tests.server_process import Server

CUSTOMS = {"roles": ["reviewer"], "departments": ["dept-customs"], "password": "customs-pass-2026"}


def _customs_users(server: Server) -> None:
    call(server, "POST", "/api/users", {**CUSTOMS, "username": "customs-a", "display_name": "海关审批员甲"}, expect=201)
    call(server, "POST", "/api/users", {**CUSTOMS, "username": "customs-b", "display_name": "海关审批员乙"}, expect=201)


def _as(server: Server, username: str, password: str, method: str, path: str, body: Any = None) -> Any:
    """One API call as `username` (HTTP Basic), as that person's own client would make it."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(f"{server.base}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        raise AssertionError((method, path, error.code, error.read()[:300])) from error


def _accepted_by_clerk(server: Server, business_key: str) -> tuple[str, str]:
    """A company deregistration accepted at the window by the demo clerk: (case id, intake task id)."""
    case = call(server, "POST", "/engine-rest/process-definition/key/company_deregistration/start",
                {"businessKey": business_key})
    intake = open_task(server, case["id"], "task_intake")
    _as(server, "clerk", PASSWORD, "POST", f"/api/tasks/{intake['id']}/submit",
        {"values": sample("deregistration-intake")})
    return str(case["id"]), str(intake["id"])


@contextmanager
def _signed_in(browser: Browser, server: Server, username: str, password: str = PASSWORD) -> Iterator[Page]:
    context = browser.new_context(base_url=server.base, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, username, password)
        yield page
    finally:
        context.close()


def _customs_step_open_for_a(page: Page, server: Server, business_key: str) -> tuple[str, dict[str, Any]]:
    """A case accepted by the clerk whose customs step customs-a has claimed and has open in `page`."""
    _customs_users(server)
    case_id, _intake = _accepted_by_clerk(server, business_key)
    customs = open_task(server, case_id, "task_customs")
    _as(server, "customs-a", CUSTOMS["password"], "POST", f"/api/tasks/{customs['id']}/claim", {})
    sign_in(page, "customs-a", CUSTOMS["password"])
    page.goto(f"/tasks/{customs['id']}")
    return case_id, customs


def _back_home(page: Page, notice: str) -> None:
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    expect(page.locator("#notice")).to_contain_text(notice)


def test_a_reviewer_sends_a_step_back_across_the_split_and_the_clerk_gets_it_with_the_opinion_on_record(
        page: Page, server: Server, browser: Browser) -> None:
    case_id, customs = _customs_step_open_for_a(page, server, "ZX-2026-0701")
    panel = page.locator("#approval")
    expect(panel.get_by_role("heading", name="退回")).to_be_visible()
    expect(panel.get_by_role("button", name="办结归还")).to_have_count(0)  # not delegated: no resolve
    target = page.get_by_label("退回到")
    expect(target.locator("option", has_text="综合受理")).to_have_count(1)
    target.select_option(label="综合受理（clerk 办理） · 并联审批之前")
    preview = page.locator("#send-back-preview")
    expect(preview).to_contain_text("办理中：海关报关单位备案注销")
    expect(preview).to_contain_text("办理中：社保登记注销")

    panel.get_by_role("button", name="退回").click()  # not confirmed yet: nothing sent
    expect(page.locator("#send-back-error")).to_contain_text("请先勾选确认")
    page.get_by_label("我已知晓，确认撤销上述办理").check()
    panel.get_by_role("button", name="退回").click()  # no reason: the API's message beside the action
    expect(page.locator("#send-back-error")).to_have_text("必须填写理由")
    assert open_task(server, case_id, "task_customs")["id"] == customs["id"]  # nothing changed

    page.get_by_label("退回理由（必填）").fill("营业执照复印件不清晰，请窗口重新核验。")
    panel.get_by_role("button", name="退回").click()
    _back_home(page, "已退回")
    expect(page.locator(f'#my-tasks tr[data-task-id="{customs["id"]}"]')).to_have_count(0)

    intake = open_task(server, case_id, "task_intake")
    assert intake["assignee"] == "clerk"
    with _signed_in(browser, server, "clerk") as clerk:
        row = clerk.locator(f'#my-tasks tr[data-task-id="{intake["id"]}"]')
        expect(row).to_contain_text("综合受理")
        row.get_by_role("link", name="办理").click()
        clerk.get_by_role("link", name="办件记录").click()
        clerk.wait_for_url(f"**/cases/{case_id}")
        expect(clerk.locator("h1")).to_contain_text("企业注销登记一件事")
        opinions = clerk.locator("#opinions .opinion")
        expect(opinions).to_have_count(1)
        expect(opinions.first).to_contain_text("退回")
        expect(opinions.first).to_contain_text("营业执照复印件不清晰，请窗口重新核验。")
        expect(opinions.first).to_contain_text("customs-a")
        expect(clerk.locator("#applicant")).to_contain_text(sample("deregistration-intake")["applicant_name"])


def test_transfer_delegate_resolve_copy_and_the_case_record_in_order_and_a_reviewer_outside_it_is_refused(
        page: Page, server: Server, browser: Browser) -> None:
    case_id, customs = _customs_step_open_for_a(page, server, "ZX-2026-0702")
    page.get_by_label("转办给（用户名）").fill("customs-b")
    page.locator("#op-transfer").get_by_role("button", name="转办").click()
    expect(page.locator("#transfer-error")).to_have_text("必须填写理由")
    page.get_by_label("转办理由（必填）").fill("本人出差，转乙办理。")
    page.locator("#op-transfer").get_by_role("button", name="转办").click()
    _back_home(page, "已转办")
    assert open_task(server, case_id, "task_customs")["assignee"] == "customs-b"

    with _signed_in(browser, server, "customs-b", CUSTOMS["password"]) as second:
        second.goto(f"/tasks/{customs['id']}")
        second.get_by_label("委派给（用户名）").fill("customs-a")
        second.get_by_label("委派说明").fill("请甲核对备案编号。")
        second.locator("#op-delegate").get_by_role("button", name="委派").click()
        _back_home(second, "已委派")

    page.goto(f"/tasks/{customs['id']}")  # the delegate: only 办结归还
    panel = page.locator("#approval")
    expect(panel.get_by_role("heading", name="退回")).to_have_count(0)
    expect(panel.get_by_role("button", name="转办")).to_have_count(0)
    page.get_by_label("答复意见").fill("备案编号核对无误。")
    panel.get_by_role("button", name="办结归还").click()
    _back_home(page, "已办结归还")
    task = open_task(server, case_id, "task_customs")
    assert (task["assignee"], task["delegationState"]) == ("customs-b", "RESOLVED")

    with _signed_in(browser, server, "customs-b", CUSTOMS["password"]) as second:
        second.goto(f"/tasks/{customs['id']}")
        second.locator("#op-copy").get_by_role("button", name="抄送").click()  # nobody named
        expect(second.locator("#copy-error")).to_contain_text("recipients 应为 1 到")
        second.get_by_label("抄送人员（用户名，多个用逗号分隔）").fill("reviewer")
        second.get_by_label("附言").fill("请市场监管局知悉。")
        second.locator("#op-copy").get_by_role("button", name="抄送").click()
        expect(second.locator("#copy-ok")).to_have_text("已抄送 1 个对象")

        second.goto(f"/cases/{case_id}")
        opinions = second.locator("#opinions .opinion")
        expect(opinions).to_have_count(1)  # the record: the transfer (delegation is not an approval opinion)
        expect(opinions.nth(0)).to_contain_text("转办")
        expect(opinions.nth(0)).to_contain_text("本人出差，转乙办理。")
        steps = second.locator("#steps tbody tr")
        expect(steps.first).to_contain_text("综合受理")
        expect(steps.first).to_contain_text("clerk")

    with _signed_in(browser, server, "reviewer") as copied:  # 市场监管审批员
        row = copied.locator(f'#copies tr[data-instance-id="{case_id}"]')
        expect(row).to_contain_text("customs-b")
        expect(row).to_contain_text("请市场监管局知悉。")
        expect(row).to_contain_text("未读")
        row.get_by_role("link", name="办件记录").click()  # opening it marks the copy read
        copied.wait_for_url(f"**/cases/{case_id}")
        assert _as(server, "reviewer", PASSWORD, "GET", "/api/cc")["unread"] == 0
        copied.goto("/")
        expect(copied.locator(f'#copies tr[data-instance-id="{case_id}"]')).to_contain_text("已读")

    with _signed_in(browser, server, "fire-reviewer") as outsider:  # no step of this case is the fire brigade's
        outsider.goto(f"/cases/{case_id}")
        expect(outsider.locator("h1")).to_have_text("无权访问")
        expect(outsider.locator("#problem")).to_contain_text("无权查看该办件")
        outsider.goto(f"/tasks/{customs['id']}")
        expect(outsider.locator("h1")).to_have_text("无权访问")


TWO_STEPS = user_steps("two_reviews", "两级审查", "dept-customs", ("task_first", "初审"), ("task_second", "复审"))


def test_a_reviewer_decides_a_step_without_a_form_retracts_it_then_is_refused_once_the_next_is_claimed(
        page: Page, server: Server) -> None:
    _customs_users(server)
    server.deploy("two-reviews.bpmn", TWO_STEPS)
    case = call(server, "POST", "/engine-rest/process-definition/key/two_reviews/start", {"businessKey": "SC-0001"})
    first = open_task(server, case["id"], "task_first")

    sign_in(page, "customs-a", CUSTOMS["password"])  # 初审 has no form: a decision and an opinion complete it
    page.goto(f"/tasks/{first['id']}")
    decide = page.locator("#decide")
    page.get_by_label("审批决定").select_option(label="准予（同意）")
    decide.get_by_role("button", name="办结").click()
    expect(page.locator("#decide-error")).to_have_text("审批意见不能为空（可选用常用意见）")
    page.get_by_label("常用意见").select_option(label="同意。")
    expect(page.get_by_label("审批意见（必填）")).to_have_value("同意。")
    decide.get_by_role("button", name="办结").click()
    _back_home(page, "已办结：初审")
    variables = call(server, "GET", f"/engine-rest/process-instance/{case['id']}/variables")
    assert variables["decision"]["value"] == "approve"

    done = page.locator(f'#done tr[data-task-id="{first["id"]}"]')
    expect(done).to_contain_text("初审")
    done.get_by_label("撤回理由").fill("漏看了一份材料。")
    done.get_by_role("button", name="撤回").click()
    _back_home(page, "已撤回")
    again = open_task(server, case["id"], "task_first")
    assert again["assignee"] == "customs-a"
    expect(page.locator(f'#my-tasks tr[data-task-id="{again["id"]}"]')).to_contain_text("初审")
    assert [t["taskDefinitionKey"] for t in call(server, "GET", f"/engine-rest/task?processInstanceId={case['id']}")
            ] == ["task_first"]

    _as(server, "customs-a", CUSTOMS["password"], "POST", f"/api/tasks/{again['id']}/decide",
        {"decision": "approve", "opinion": "补看材料后同意。"})
    second = open_task(server, case["id"], "task_second")
    _as(server, "customs-b", CUSTOMS["password"], "POST", f"/api/tasks/{second['id']}/claim", {})
    page.reload()
    done = page.locator(f'#done tr[data-task-id="{again["id"]}"]')
    done.get_by_role("button", name="撤回").click()
    expect(done.locator(".op-error")).to_have_text("不能撤回：下一环节“复审”已被签收")
    assert open_task(server, case["id"], "task_second")["assignee"] == "customs-b"  # nothing changed

    page.goto(f"/cases/{case['id']}")  # the record: 初审's three opinions in the order they were given
    opinions = page.locator("#opinions .opinion")
    expect(opinions).to_have_count(3)
    expect(opinions.nth(0)).to_contain_text("审批：准予")
    expect(opinions.nth(0)).to_contain_text("同意。")
    expect(opinions.nth(1)).to_contain_text("撤回")
    expect(opinions.nth(1)).to_contain_text("漏看了一份材料。")
    expect(opinions.nth(2)).to_contain_text("补看材料后同意。")
    expect(page.locator("#opinions h3")).to_have_text(["初审"])
