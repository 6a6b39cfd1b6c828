"""The task page's form in Chromium: every common form-js field type as a plain HTML input, conditions
evaluated as the server evaluates them, drafts kept across a reload, values submitted with their types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from orchestrator.forms import feel
from tests.browser.conftest import call, open_task, sign_in
from tests.helpers import typed
from tests.server_process import Server

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "orchestrator" / "web" / "static"


def _claim_and_open(page: Page, task_id: str) -> None:
    page.locator(f'#unclaimed tr[data-task-id="{task_id}"]').get_by_role("button", name="领取").click()
    page.locator(f'#my-tasks tr[data-task-id="{task_id}"]').get_by_role("link", name="办理").click()
    page.wait_for_url(f"**/tasks/{task_id}")
    expect(page.locator("#actions")).to_be_visible()


def test_a_clerk_fills_numbers_checkboxes_and_radios_keeps_a_draft_and_submits_typed_values(
        page: Page, server: Server) -> None:
    case = call(server, "POST", "/engine-rest/process-definition/key/restaurant_opening/start",
                {"businessKey": "CY-2026-0001", "variables": typed({"inspection_departments": ["dept-fire-rescue"]})})
    task = open_task(server, case["id"], "task_intake")
    sign_in(page, "clerk")
    _claim_and_open(page, task["id"])

    page.get_by_label("企业名称").fill("西宁味道餐饮有限公司")
    page.get_by_label("统一社会信用代码").fill("91630100MA7XXXXXX1")
    page.get_by_label("法定代表人姓名").fill("马强")
    page.get_by_label("经营场所地址").fill("西宁市城西区五四大街 1 号")
    page.get_by_label("经营场所面积（平方米）").fill("一百二十")  # not a number
    page.get_by_label("餐位数").fill("40")
    page.get_by_label("经办人姓名").fill("马强")
    page.get_by_label("经办人公民身份号码").fill("630102198801011234")
    page.get_by_label("联系电话（手机）").fill("13900000000")
    staff = page.get_by_label("需办理健康证明的从业人员人数")
    expect(staff).to_be_hidden()
    page.get_by_label("同时办理从业人员健康证明").check()
    expect(staff).to_be_visible()  # `=apply_health_certificate != true` is now false
    page.get_by_label("受理", exact=True).check()
    page.get_by_label("受理意见").fill("材料齐全，予以受理")

    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#notice")).to_contain_text("草稿已保存")
    page.reload()
    expect(page.get_by_label("经营场所面积（平方米）")).to_have_value("一百二十")
    expect(page.get_by_label("同时办理从业人员健康证明")).to_be_checked()
    expect(page.get_by_label("受理", exact=True)).to_be_checked()
    expect(page.locator("#draft-state")).to_contain_text("已载入草稿")

    page.get_by_role("button", name="提交").click()
    expect(page.locator("#error-business_area")).to_contain_text("经营场所面积（平方米）")
    expect(page.locator("#error-staff_count")).to_have_text("「需办理健康证明的从业人员人数」为必填项")
    assert call(server, "GET", f"/engine-rest/task/{task['id']}")["assignee"] == "clerk"  # still open

    page.get_by_label("经营场所面积（平方米）").fill("120.5")
    staff.fill("6")
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#notice")).to_contain_text("已提交：综合受理")
    variables = call(server, "GET", f"/engine-rest/process-instance/{case['id']}/variables")
    assert variables["business_area"]["value"] == 120.5
    assert variables["seat_count"]["value"] == 40
    assert variables["apply_health_certificate"]["value"] is True
    assert variables["apply_tobacco_license"]["value"] is False  # an unticked checkbox is submitted as false
    assert variables["staff_count"]["value"] == 6
    assert variables["intake_decision"]["value"] == "accept"


def test_a_select_and_a_date_and_a_field_hidden_by_a_checkbox(page: Page, server: Server) -> None:
    case = call(server, "POST", "/engine-rest/process-definition/key/company_deregistration/start",
                {"businessKey": "ZX-2026-0404"})
    task = open_task(server, case["id"], "task_intake")
    sign_in(page, "clerk")
    _claim_and_open(page, task["id"])

    values = {"企业名称": "西宁某某餐饮有限公司", "统一社会信用代码": "91630100MA7XXXXX1X",
              "法定代表人姓名": "张伟", "经营场所地址": "西宁市城中区南大街 8 号", "经办人姓名": "张伟",
              "经办人公民身份号码": "630102198801011234", "联系电话（手机）": "13900000001",
              "受理意见": "材料齐全，予以受理"}
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("注销原因").select_option(label=_option_label("deregistration_reason", "merger"))
    page.get_by_label("受理", exact=True).check()
    liquidation = page.get_by_label("清算完成日期")
    expect(liquidation).to_be_visible()
    page.get_by_label("适用简易注销程序").check()
    expect(liquidation).to_be_hidden()  # `=simplified_procedure = true`
    page.get_by_label("适用简易注销程序").uncheck()
    liquidation.fill("2026-11-20")
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#notice")).to_contain_text("已提交")

    variables = call(server, "GET", f"/engine-rest/process-instance/{case['id']}/variables")
    assert variables["deregistration_reason"]["value"] == "merger"
    assert variables["liquidation_completed_at"]["value"] == "2026-11-20"
    assert variables["simplified_procedure"]["value"] is False


def _option_label(key: str, value: str) -> str:
    form = json.loads((ROOT / "forms" / "deregistration-intake.form").read_text(encoding="utf-8"))
    [component] = [c for c in form["components"] if c.get("key") == key]
    return str(next(v["label"] for v in component["values"] if v["value"] == value))


@pytest.fixture()
def blank(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!doctype html><title>feel</title>")
    page.add_script_tag(content=(STATIC / "feel.js").read_text(encoding="utf-8"))
    yield page
    context.close()


DATA: dict[str, Any] = {"decision": "approve", "count": 3, "flag": True, "none": None, "items": ["a", "b"],
                        "applicant": {"district": "north", "age": 30}, "名称": "联办"}
EXPRESSIONS = [
    '=decision != "approve"', '=decision = "approve"', "=missing != \"approve\"", "=missing = null",
    "=count > 2", "=count >= 4", "=count < 3.5", '=count = "3"', "=flag = true", "=flag != true", "=not(flag)",
    "=flag and count > 1", "=flag and missing", "=missing or flag", "=missing or false",
    '=decision in ["a", "approve"]',
    "=count in [1, 2]", "=is defined(missing)", "=is defined(count)", '=applicant.district = "north"',
    "=applicant.age + 1 = 31", "=applicant.nothing.deeper = null", "=count * 2 - 1 = 5", "=count / 0 = null",
    '=decision + "d" = "approved"', "=-count < 0", '=名称 = "联办"', "=(count > 1) and not(flag = false)",
    '="a" < "b"', '=count < "b"',
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_browser_hides_a_field_exactly_when_the_server_does(blank: Page, expression: str) -> None:
    server_hides = feel.evaluate(feel.parse(expression), DATA) is True
    assert blank.evaluate("([e, d]) => Feel.hides(e, d)", [expression, DATA]) is server_hides
