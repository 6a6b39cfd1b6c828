"""A step's department as the diagram names it: the `department` property, checked against real departments.

The bundled diagrams name a step's department by its code, the same word as its candidate group
(`dept-market-regulation`); a joint step lists its departments separated by commas. A department's
full name (市场监督管理局) is understood too, so diagrams drawn that way still deploy and resolve; a value
that names no known department is accepted but reported at deployment (`bpmn.department_unknown`,
naming the element and line), so an analyst sees the short name that lines up with nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from orchestrator.models import Department

DEPARTMENT_PROPERTY = "department"  # a step's department(s) by code or name
_SEPARATORS = re.compile(r"[,，、;；\s]+")


def named_departments(properties: Mapping[str, Any] | None) -> list[str]:
    """The department codes or names a step's `department` property lists."""
    raw = (properties or {}).get(DEPARTMENT_PROPERTY)
    return [part for part in _SEPARATORS.split(str(raw)) if part] if raw else []


def own_department(properties: Mapping[str, Any] | None, candidate_groups: Iterable[str]) -> str | None:
    """The department a task acts for, as its `department` property names it: the one listed, or, for a joint
    step listing several, the one of them this task's instance is for (its candidate group)."""
    names = named_departments(properties)
    if len(names) <= 1:
        return names[0] if names else None
    return next((g for g in candidate_groups if g in names), str((properties or {})[DEPARTMENT_PROPERTY]))


def resolve(session: Session, names: Iterable[str]) -> dict[str, str]:
    """Code or name → department code, for those of `names` that name a known department."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    found: dict[str, str] = {}
    for code, name in session.execute(select(Department.code, Department.name).where(
            or_(Department.code.in_(wanted), Department.name.in_(wanted)))):
        found.setdefault(name, code)
        found[code] = code
    return {key: found[key] for key in wanted if key in found}


def department_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Department code → its name, for the codes that are known."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    rows = session.execute(select(Department.code, Department.name).where(Department.code.in_(wanted)))
    return {code: name for code, name in rows}


def _line(content: bytes, element_id: str) -> int | None:
    at = content.find(f'id="{element_id}"'.encode())
    return content.count(b"\n", 0, at) + 1 if at >= 0 else None


def unknown_department_warnings(session: Session, processes: Iterable[Any],
                                resources: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """One warning per step whose `department` property names no known department (deployed all the same)."""
    steps: set[tuple[str, str, tuple[str, ...]]] = set()
    for process in processes:
        specs = [process.spec, *process.subprocess_specs.values()]
        for spec in specs:
            for task_spec in spec.task_specs.values():
                names = named_departments((getattr(task_spec, "extensions", None) or {}).get("properties"))
                if names:
                    steps.add((process.resource_name, str(task_spec.bpmn_id), tuple(names)))
    known = resolve(session, (name for _, _, names in steps for name in names))
    warnings = []
    for resource_name, element_id, listed_names in sorted(steps):
        unknown = [name for name in listed_names if name not in known]
        if unknown:
            listed = "、".join(unknown)
            warnings.append({
                "code": "bpmn.department_unknown", "filename": resource_name, "element_id": element_id,
                "line": _line(resources.get(resource_name, b""), element_id), "departments": unknown,
                "message_zh": f"环节 {element_id} 的 department 属性“{listed}”不是已登记的部门编码或名称"
                              "（按部门的督办、会签负责人等将对不上该环节）",
                "message_en": f"The department property of {element_id} names no known department: {listed}",
            })
    return warnings
