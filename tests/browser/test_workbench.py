"""The 工作台 in a real Chromium: a reviewer claims, fills and submits a task; a supervisor sees an overdue
step; an unsafe request without the CSRF token is refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import TIMEOUT_MS, accepted_deregistration, call, open_task, sign_in
from tests.server_process import Server

CUSTOMS_REVIEWER = {"username": "customs-reviewer", "display_name": "海关审批员", "password": "customs-pass-2026",
                    "roles": ["reviewer"], "departments": ["dept-customs"]}


def _reviewer(server: Server) -> None:
    call(server, "POST", "/api/users", CUSTOMS_REVIEWER, expect=201)


def test_a_reviewer_claims_a_task_sees_a_refusal_named_in_chinese_then_submits_and_the_task_leaves_the_list(
        page: Page, server: Server) -> None:
    _reviewer(server)
    case_id = accepted_deregistration(server, "ZX-2026-0101")
    task = open_task(server, case_id, "task_customs")
    variables_before = call(server, "GET", f"/engine-rest/process-instance/{case_id}/variables")

    sign_in(page, CUSTOMS_REVIEWER["username"], CUSTOMS_REVIEWER["password"])
    queue = page.locator("#unclaimed")
    row = queue.locator(f'tr[data-task-id="{task["id"]}"]')
    expect(row).to_contain_text("海关报关单位备案注销")
    expect(row).to_contain_text("ZX-2026-0101")
    expect(row.locator(".limit")).to_have_text("正常")
    # The step's due date, 23:59 Asia/Shanghai of its last working day, as stored (UTC) and shown (北京时间).
    shown = datetime.fromisoformat(task["due"]).astimezone(UTC) + timedelta(hours=8)
    expect(row).to_contain_text(shown.strftime("%Y-%m-%d %H:%M"))
    expect(page.locator("#my-tasks")).to_contain_text("暂无待办任务")

    row.get_by_role("button", name="领取").click()
    mine = page.locator(f'#my-tasks tr[data-task-id="{task["id"]}"]')
    expect(mine).to_contain_text("海关报关单位备案注销")
    expect(page.locator(f'#unclaimed tr[data-task-id="{task["id"]}"]')).to_have_count(0)
    assert call(server, "GET", f"/engine-rest/task/{task['id']}")["assignee"] == "customs-reviewer"

    mine.get_by_role("link", name="办理").click()
    page.wait_for_url(f"**/tasks/{task['id']}")
    expect(page.locator("h1")).to_have_text("海关报关单位备案注销")
    expect(page.locator("#case-data")).to_contain_text("西宁某某餐饮有限公司")  # the case data the intake recorded
    number = page.get_by_label("注销回执编号")
    expect(number).to_be_hidden()  # shown only once the decision is 准予
    page.get_by_label("审批决定").select_option(label="准予（同意）")
    expect(number).to_be_visible()
    page.get_by_label("审批意见").fill("材料齐全，准予注销备案。")
    number.fill("HG-" + "9" * 40)  # longer than the form's 40 characters
    page.get_by_role("button", name="提交").click()

    expect(page.locator("#error-customs_cancellation_no")).to_have_text("「注销回执编号」最多 40 个字符")
    expect(page.locator("#notice")).to_contain_text("表单校验未通过")
    assert page.url.endswith(f"/tasks/{task['id']}")
    assert call(server, "GET", f"/engine-rest/task/{task['id']}")["assignee"] == "customs-reviewer"  # still open
    assert call(server, "GET", f"/engine-rest/process-instance/{case_id}/variables") == variables_before

    number.fill("HG-ZX-2026-001")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    expect(page.locator("#notice")).to_contain_text("已提交")
    expect(page.locator("#my-tasks")).to_contain_text("暂无待办任务")
    expect(page.locator(f'#my-tasks tr[data-task-id="{task["id"]}"], #unclaimed tr[data-task-id="{task["id"]}"]')
           ).to_have_count(0)
    expect(page.locator(f'#done tr[data-task-id="{task["id"]}"]')).to_contain_text("海关报关单位备案注销")  # 我的已办
    call(server, "GET", f"/engine-rest/task/{task['id']}", expect=404)  # completed
    steps = call(server, "GET", f"/engine-rest/history/activity-instance?processInstanceId={case_id}")
    assert any(s["activityId"] == "task_customs" and s["endTime"] for s in steps)


def test_a_supervisor_sees_an_overdue_step_in_the_overdue_list(page: Page, server: Server) -> None:
    case_id = accepted_deregistration(server, "ZX-2026-0202")
    task = open_task(server, case_id, "task_customs")
    # Seven days on: every one-working-day step of the case is past its due date; the scheduler marks it red.
    later = datetime.now(UTC) + timedelta(days=7)
    call(server, "PUT", "/api/test/clock", {"now": later.isoformat()})
    deadline = time.monotonic() + 120
    while True:  # the embedded scheduler scans every round; wait for it, not for a fixed time
        overdue = call(server, "GET", "/api/supervision/overdue")
        if any(step["task_id"] == task["id"] for step in overdue["steps"]):
            break
        assert time.monotonic() < deadline, "the scheduler never marked the step overdue"
        time.sleep(0.2)

    sign_in(page, "supervisor")
    step = page.locator(f'#overdue tr[data-task-id="{task["id"]}"]')
    expect(step).to_contain_text("海关报关单位备案注销")
    expect(step).to_contain_text("ZX-2026-0202")
    expect(step).to_contain_text("未认领")
    expect(page.locator("#overdue h2 .limit")).to_have_text("超期")
    expect(page.locator(f'#warnings tr[data-task-id="{task["id"]}"]')).to_have_count(0)
    expect(page.locator("#my-tasks")).to_have_count(0)  # a supervisor has no task queue of its own


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(page: Page, server: Server) -> None:
    _reviewer(server)
    case_id = accepted_deregistration(server, "ZX-2026-0303")
    task = open_task(server, case_id, "task_customs")
    sign_in(page, CUSTOMS_REVIEWER["username"], CUSTOMS_REVIEWER["password"])
    expect(page.locator(f'#unclaimed tr[data-task-id="{task["id"]}"]')).to_be_visible()

    answer = page.evaluate("""async (id) => {
        const response = await fetch(`/engine-rest/task/${id}/claim`, {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json"}, body: "{}"});
        return {status: response.status, body: await response.json()};
    }""", task["id"])
    assert answer["status"] == 403
    assert answer["body"]["code"] == "auth.csrf"
    assert "CSRF" in answer["body"]["message_zh"]
    assert call(server, "GET", f"/engine-rest/task/{task['id']}")["assignee"] is None

    # The same request with the page's token goes through.
    answer = page.evaluate("""async (id) => {
        const token = document.querySelector('meta[name="csrf-token"]').content;
        const response = await fetch(`/engine-rest/task/${id}/claim`, {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": token}, body: "{}"});
        return response.status;
    }""", task["id"])
    assert answer == 204
    assert call(server, "GET", f"/engine-rest/task/{task['id']}")["assignee"] == "customs-reviewer"


def test_a_second_reviewer_claiming_the_same_task_is_told_who_has_it(page: Page, server: Server,
                                                                      browser: Browser) -> None:
    _reviewer(server)
    second = {**CUSTOMS_REVIEWER, "username": "customs-reviewer-2", "display_name": "海关审批员二"}
    call(server, "POST", "/api/users", second, expect=201)
    case_id = accepted_deregistration(server, "ZX-2026-0505")
    task = open_task(server, case_id, "task_customs")
    sign_in(page, CUSTOMS_REVIEWER["username"], CUSTOMS_REVIEWER["password"])
    context = browser.new_context(base_url=server.base, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    other = context.new_page()
    try:
        sign_in(other, "customs-reviewer-2", CUSTOMS_REVIEWER["password"])
        expect(other.locator(f'#unclaimed tr[data-task-id="{task["id"]}"]')).to_be_visible()

        page.locator(f'#unclaimed tr[data-task-id="{task["id"]}"]').get_by_role("button", name="领取").click()
        expect(page.locator(f'#my-tasks tr[data-task-id="{task["id"]}"]')).to_be_visible()

        other.locator(f'#unclaimed tr[data-task-id="{task["id"]}"]').get_by_role("button", name="领取").click()
        expect(other.locator("#notice")).to_contain_text("该任务已被他人领取：任务已被 customs-reviewer 认领")
        expect(other.get_by_role("button", name="领取")).to_be_enabled()
        assert call(server, "GET", f"/engine-rest/task/{task['id']}")["assignee"] == "customs-reviewer"
    finally:
        context.close()
