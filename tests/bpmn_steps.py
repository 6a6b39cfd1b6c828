"""A BPMN diagram of user tasks in a row, each offered to one department: the smallest case a page test needs."""

from __future__ import annotations

from html import escape


def user_steps(process_id: str, name: str, group: str, *steps: tuple[str, str]) -> bytes:
    """`user_steps("two_reviews", "两级审查", "dept-customs", ("task_first", "初审"), …)`: start → steps → end."""
    ids = ["start", *(step_id for step_id, _ in steps), "end"]
    tasks = "".join(f'<bpmn:userTask id="{step_id}" name="{escape(label)}" camunda:candidateGroups="{group}" />'
                    for step_id, label in steps)
    flows = "".join(f'<bpmn:sequenceFlow id="flow_{n}" sourceRef="{a}" targetRef="{b}" />'
                    for n, (a, b) in enumerate(zip(ids, ids[1:], strict=False)))
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
            f'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            f'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
            f'id="defs_{process_id}" targetNamespace="http://lianban.dev/test">'
            f'<bpmn:process id="{process_id}" name="{escape(name)}" isExecutable="true"><bpmn:startEvent id="start" />'
            f'{tasks}{flows}<bpmn:endEvent id="end" /></bpmn:process></bpmn:definitions>').encode()
