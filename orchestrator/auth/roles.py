"""The seven roles of Lianban and what a person reads for each."""

from __future__ import annotations

APPLICANT = "applicant"
WINDOW_CLERK = "window_clerk"
REVIEWER = "reviewer"
DEPARTMENT_HEAD = "department_head"
SUPERVISOR = "supervisor"
ANALYST = "analyst"
ADMINISTRATOR = "administrator"

ROLE_LABELS: dict[str, str] = {
    APPLICANT: "申请人",
    WINDOW_CLERK: "综合窗口人员",
    REVIEWER: "部门审批人员",
    DEPARTMENT_HEAD: "部门负责人",
    SUPERVISOR: "督办人员",
    ANALYST: "业务分析人员",
    ADMINISTRATOR: "系统管理员",
}
ROLES: tuple[str, ...] = tuple(ROLE_LABELS)

# Roles that work on tasks of their own departments.
DEPARTMENT_STAFF = frozenset({WINDOW_CLERK, REVIEWER, DEPARTMENT_HEAD})
# Roles whose view reaches down the department tree (a district head sees its townships' queues).
TREE_SCOPED = frozenset({DEPARTMENT_HEAD, SUPERVISOR})
# Roles that may see an applicant's personal ID number unmasked when they ask for it (always audited): those
# who handle the case (window clerks and department staff) and administrators, who answer for the data and
# its corrections. Supervisors and analysts read deadlines and statistics, never a person's number.
PII_ROLES = frozenset({WINDOW_CLERK, REVIEWER, DEPARTMENT_HEAD, ADMINISTRATOR})

LEVELS: dict[str, str] = {"city": "市级", "district": "区县级", "township": "乡镇（街道）级"}
