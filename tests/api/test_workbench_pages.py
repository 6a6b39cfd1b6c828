"""The 工作台 and task pages as served HTML (the browser tests in tests/browser drive them in Chromium).

Each role sees its own sections; a department head sees the warning and overdue lists of its own
departments only; times read in Asia/Shanghai; a closed task's page says so in Chinese.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.services.workbench import PAGE, field_labels
from tests.api.test_supervision_api import overdue_case
from tests.bpmn_steps import user_steps
from tests.helpers import complete, deploy, start


def _html(response: object) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]  # type: ignore[attr-defined]
    assert response.mimetype == "text/html"  # type: ignore[attr-defined]
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def test_an_anonymous_browser_is_sent_to_the_login_page(anonymous: FlaskClient) -> None:
    response = anonymous.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 302 and response.location.startswith("/login")
    response = anonymous.get("/tasks/any", headers={"Accept": "text/html"})
    assert response.status_code == 302 and response.location == "/login?next=/tasks/any"


def test_each_role_sees_its_sections_and_a_head_only_its_departments_overdue_steps(
        client: FlaskClient, sessions: sessionmaker[Session], client_as: Callable[..., FlaskClient]) -> None:
    _, task_id = overdue_case(client, sessions)  # step 部门审查 of dept-a, overdue on 2026-10-13

    reviewer = _html(client_as("reviewer", departments=["dept-a"]).get("/"))
    assert "我的待办" in reviewer and "本部门待领取" in reviewer and "超期" not in reviewer.split("本部门待领取")[0]
    assert f'data-task-id="{task_id}"' in reviewer.split('id="unclaimed"')[1]
    assert 'data-limit="OVERDUE">超期</span>' in reviewer
    assert "2026-10-12 23:59" in reviewer  # its due date in Asia/Shanghai (stored 15:59:59 UTC)

    head = _html(client_as("department_head", departments=["dept-a"]).get("/"))
    assert f'data-task-id="{task_id}"' in head.split('id="overdue"')[1]
    other_head = _html(client_as("department_head", departments=["dept-b"]).get("/"))
    assert f'data-task-id="{task_id}"' not in other_head
    assert 'id="overdue"' in other_head

    supervisor = _html(client_as("supervisor", departments=["city"]).get("/"))  # a city supervisor sees all
    assert f'data-task-id="{task_id}"' in supervisor.split('id="overdue"')[1]
    assert 'id="my-tasks"' not in supervisor and 'id="unclaimed"' not in supervisor

    analyst = _html(client_as("analyst").get("/"))
    assert 'id="bundles"' in analyst and "step_limits" in analyst and 'id="my-tasks"' not in analyst
    assert "您的角色在工作台上没有待办事项" in _html(client_as("applicant").get("/"))


def test_the_task_page_carries_the_csrf_token_and_a_closed_task_reads_as_gone(
        client: FlaskClient, sessions: sessionmaker[Session], client_as: Callable[..., FlaskClient]) -> None:
    _, task_id = overdue_case(client, sessions)
    reviewer = client_as("reviewer", departments=["dept-a"])
    page = _html(reviewer.get(f"/tasks/{task_id}"))
    assert '<meta name="csrf-token" content="' in page and "部门审查" in page and 'id="decide"' in page  # no form: 审批
    assert "2026-10-12 23:59" in page and "超期" in page

    assert client_as("reviewer", departments=["dept-b"]).get(f"/tasks/{task_id}").status_code == 403
    complete(client, task_id)
    gone = reviewer.get(f"/tasks/{task_id}")
    assert gone.status_code == 404 and gone.mimetype == "text/html"
    assert "任务不存在或已办结" in gone.get_data(as_text=True)


def test_case_variables_read_with_the_labels_the_forms_give_them() -> None:
    labels = field_labels()
    assert labels["fields"]["enterprise_name"] == "企业名称"
    assert labels["fields"]["statutory_deadline"] == "法定办结期限"
    assert labels["options"]["deregistration_reason"]["resolution"] == "股东会/股东决定解散"


QUEUE = user_steps("queue_review", "排队审查", "dept-q", ("review", "审查"))


def test_a_queue_longer_than_a_page_has_paging_links_and_a_bad_page_number_is_named(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    deploy(client, {"queue.bpmn": QUEUE})
    for number in range(PAGE + 1):
        start(client, "queue_review", business_key=f"Q-{number:03d}")
    reviewer = client_as("reviewer", departments=["dept-q"])

    first = _html(reviewer.get("/"))
    queue = first.split('id="unclaimed"')[1]
    assert queue.count("<button type=\"button\" class=\"claim\"") == PAGE
    assert "共 51 件" in queue and "第 1 / 2 页" in queue
    assert 'href="/?unclaimed=2&amp;mine=1">下一页' in queue and "上一页" not in queue
    assert "第 1 / 2 页" not in first.split('id="unclaimed"')[0]  # 我的待办 is empty: one page, no pager

    second = _html(reviewer.get("/?unclaimed=2&mine=1")).split('id="unclaimed"')[1]
    assert second.count("<button type=\"button\" class=\"claim\"") == 1 and "第 2 / 2 页" in second
    assert 'href="/?unclaimed=1&amp;mine=1">上一页' in second and "下一页" not in second

    wrong = reviewer.get("/?unclaimed=0")
    assert wrong.status_code == 400 and wrong.mimetype == "text/html"
    assert "页码 unclaimed 从 1 开始" in wrong.get_data(as_text=True)
    assert reviewer.get("/?mine=x", headers={"Accept": "application/json"}).get_json()["field"] == "mine"


def test_the_approval_panel_offers_only_what_the_viewer_may_do_and_names_colleagues_in_reach(
        client: FlaskClient, sessions: sessionmaker[Session], client_as: Callable[..., FlaskClient]) -> None:
    _, task_id = overdue_case(client, sessions)
    holder = client_as("reviewer", departments=["dept-a"], username="holder")
    colleague = client_as("reviewer", departments=["dept-a"], username="colleague", display_name="同部门审批员")
    client_as("reviewer", departments=["dept-b"], username="stranger")

    unclaimed = _html(holder.get(f"/tasks/{task_id}"))
    assert 'id="approval"' not in unclaimed  # a candidate, not yet the assignee
    assert 'href="/cases/' in unclaimed

    assert holder.post(f"/api/tasks/{task_id}/claim", json={}).status_code == 200
    mine = _html(holder.get(f"/tasks/{task_id}")).split('id="approval"')[1]
    for op in ("send-back", "transfer", "delegate", "copy"):
        assert f'data-op="{op}"' in mine
    assert 'data-op="resolve"' not in mine
    people = mine.split('<datalist id="people">')[1].split("</datalist>")[0]
    assert 'value="colleague">同部门审批员' in people and "stranger" not in people and '"holder"' not in people

    assert holder.post(f"/api/tasks/{task_id}/delegate", json={"userId": "colleague"}).status_code == 200
    assert 'id="approval"' not in _html(holder.get(f"/tasks/{task_id}"))  # the owner waits for the delegate
    delegate = _html(colleague.get(f"/tasks/{task_id}"))
    panel = delegate.split('id="approval"')[1]
    assert 'data-op="resolve"' in panel and 'data-op="transfer"' not in panel and "（由 holder 委派）" in delegate


def test_the_case_page_masks_id_numbers_and_refuses_outsiders_with_a_chinese_page(
        client: FlaskClient, sessions: sessionmaker[Session], client_as: Callable[..., FlaskClient]) -> None:
    instance_id, task_id = overdue_case(client, sessions)
    client.put(f"/engine-rest/process-instance/{instance_id}/variables/applicant_id_number",
               json={"value": "630102199001011234", "type": "String"})
    client.put(f"/engine-rest/process-instance/{instance_id}/variables/applicant_name",
               json={"value": "李娜", "type": "String"})
    reviewer = client_as("reviewer", departments=["dept-a"])
    record = _html(reviewer.get(f"/cases/{instance_id}"))
    assert "办件记录 · " in record and "TL-1" in record
    assert "李娜" in record and "6301**********1234" in record and "630102199001011234" not in record
    steps = record.split('id="steps"')[1].split("</section>")[0]
    assert f'href="/tasks/{task_id}"' in steps and "部门审查" in steps and "办理中" in steps

    outsider = client_as("reviewer", departments=["dept-b"]).get(f"/cases/{instance_id}")
    assert outsider.status_code == 403 and outsider.mimetype == "text/html"
    assert "无权访问" in outsider.get_data(as_text=True) and "无权查看该办件" in outsider.get_data(as_text=True)
    as_json = client_as("reviewer", departments=["dept-b"]).get(f"/cases/{instance_id}",
                                                                 headers={"Accept": "application/json"})
    assert as_json.status_code == 403 and as_json.get_json()["field"] == "instance_id"

    # An ID number written into a copy's note, a file's name or a variable's text: masked on every page.
    note = "请核对申请人 630102199001011234 的身份"
    assert client.post(f"/api/cases/{instance_id}/cc", json={"recipients": [{"kind": "group", "id": "dept-a"}],
                                                             "note": note}).status_code == 200
    pdf = io.BytesIO(b"%PDF-1.4\n%%EOF\n")
    upload = {"kind": "identity_document", "file": [(pdf, "身份证_630102199001011234.pdf")]}
    assert client.post(f"/api/cases/{instance_id}/materials", data=upload,
                       content_type="multipart/form-data").status_code == 201
    home, record = _html(reviewer.get("/")), _html(reviewer.get(f"/cases/{instance_id}"))
    assert "请核对申请人 6301**********1234 的身份" in home.split('id="copies"')[1]
    assert "身份证_6301**********1234.pdf" in record.split('id="materials"')[1]
    for page in (home, record, _html(reviewer.get(f"/tasks/{task_id}"))):
        assert "630102199001011234" not in page

    gone = reviewer.get("/cases/no-such-case")
    assert gone.status_code == 404 and "办件不存在：no-such-case" in gone.get_data(as_text=True)


def test_a_task_without_a_form_is_decided_with_the_steps_options_and_phrases(
        client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    deploy(client, {"queue.bpmn": QUEUE})
    case_id = start(client, "queue_review", business_key="Q-NOFORM")["id"]
    [task] = [t for t in client.get("/engine-rest/task", query_string={"processInstanceId": case_id}).get_json()]
    page = _html(client_as("reviewer", departments=["dept-q"]).get(f"/tasks/{task['id']}"))
    decide = page.split('id="decide"')[1].split("</section>")[0]
    assert '<option value="approve">准予（同意）</option>' in decide
    assert '<option value="correct">补正</option>' in decide
    assert "<option>同意。</option>" in decide and 'data-op="decide"' in decide
    assert "task.js" not in page and "保存草稿" not in page and f'href="/cases/{case_id}"' in page
    supervisor = _html(client_as("supervisor", departments=["city"]).get(f"/tasks/{task['id']}"))
    assert "审查" in supervisor and 'id="decide"' not in supervisor  # sees the task, may not complete it
