"""Demo departments and one user per role for `make run`.

Password `lianban-demo` for every demo user; LIANBAN_DEMO_ACCOUNTS=0 turns the seeding off.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.models import Department, User
from orchestrator.services.accounts import UserInput, create_department, create_user

DEMO_PASSWORD = "lianban-demo"

# (code, name, level, parent): the codes are the candidate groups the bundled diagrams name.
DEMO_DEPARTMENTS: list[tuple[str, str, str, str | None]] = [
    ("city", "济源产城融合示范区", "city", None),
    ("intake-window", "政务服务中心综合受理窗口", "city", "city"),
    ("dept-market-regulation", "市场监督管理局", "city", "city"),
    ("dept-fire-rescue", "消防救援支队", "city", "city"),
    ("dept-urban-management", "城市管理局", "city", "city"),
    ("dept-health", "卫生健康委员会", "city", "city"),
    ("dept-public-security", "公安局", "city", "city"),
    ("dept-medical-insurance", "医疗保障局", "city", "city"),
    ("dept-tax", "税务局", "city", "city"),
    ("dept-human-resources", "人力资源和社会保障局", "city", "city"),
    ("dept-housing-fund", "住房公积金管理中心", "city", "city"),
    ("dept-bank", "人民银行分行", "city", "city"),
    ("dept-customs", "海关", "city", "city"),
    ("dept-tobacco", "烟草专卖局", "city", "city"),
    ("district-north", "北部城区", "district", "city"),
    ("township-tiantan", "天坛街道便民服务中心", "township", "district-north"),
    ("township-qinyuan", "沁园街道便民服务中心", "township", "district-north"),
]

# (username, display name, roles, departments)
DEMO_USERS: list[tuple[str, str, list[str], list[str]]] = [
    ("admin", "系统管理员", ["administrator"], []),
    ("analyst", "业务分析员", ["analyst"], []),
    ("supervisor", "督办员（示范区）", ["supervisor"], ["city"]),
    ("clerk", "综合窗口受理员", ["window_clerk"], ["intake-window"]),
    ("reviewer", "市场监管审批员", ["reviewer"], ["dept-market-regulation"]),
    ("fire-reviewer", "消防审批员", ["reviewer"], ["dept-fire-rescue"]),
    ("head", "市场监管局负责人", ["department_head"], ["dept-market-regulation"]),
    ("township-clerk", "天坛街道受理员", ["window_clerk", "reviewer"], ["township-tiantan"]),
    ("applicant", "张三（申请人）", ["applicant"], []),
]


def seed_demo_accounts(session: Session) -> int:
    """Create the demo departments and users that do not exist yet; returns how many users were created."""
    existing = set(session.scalars(select(Department.code)))
    for code, name, level, parent in DEMO_DEPARTMENTS:
        if code not in existing:
            create_department(session, code, name, level, parent, "demo-seed")
    users = set(session.scalars(select(User.username)))
    created = 0
    for username, display_name, roles, departments in DEMO_USERS:
        if username in users:
            continue
        data = UserInput(username=username, display_name=display_name, password=DEMO_PASSWORD, roles=roles,
                         departments=departments)
        if "applicant" in roles:
            data.district, data.id_number = "district-north", "410881199001011234"
        create_user(session, data, "demo-seed")
        created += 1
    return created
