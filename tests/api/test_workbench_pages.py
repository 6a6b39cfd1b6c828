"""The 工作台 and task pages as served HTML (the browser tests in tests/browser drive them in Chromium).

Each role sees its own sections; a department head sees the warning and overdue lists of its own
departments only; times read in Asia/Shanghai; a closed task's page says so in Chinese.
"""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.services.workbench import field_labels
from tests.api.test_supervision_api import overdue_case
from tests.helpers import complete


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
    assert '<meta name="csrf-token" content="' in page and "部门审查" in page and "保存草稿" in page
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
