"""Generated BPMN diagrams for benchmarks and concurrency tests."""

from __future__ import annotations

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{key}" targetNamespace="http://lianban.dev/bench">
"""


def single_task_diagram(key: str, form_key: str | None) -> bytes:
    """start → one user task (with `camunda:formKey` when given) → end."""
    form = f' camunda:formKey="{form_key}"' if form_key else ""
    return (_HEAD.format(key=key) + f"""  <bpmn:process id="{key}" name="消防审查" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:userTask id="review" name="营业前消防安全检查" camunda:candidateGroups="dept-fire-rescue"{form} />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
""").encode()


def parallel_diagram(branches: int, key: str = "parallel5") -> bytes:
    """start → parallel split → `branches` user tasks → join → end."""

    tasks = "\n".join(
        f'    <bpmn:userTask id="task_{i}" name="审批 {i}" camunda:candidateGroups="dept-{i}" />\n'
        f'    <bpmn:sequenceFlow id="to_{i}" sourceRef="split" targetRef="task_{i}" />\n'
        f'    <bpmn:sequenceFlow id="from_{i}" sourceRef="task_{i}" targetRef="join" />'
        for i in range(1, branches + 1)
    )
    return (_HEAD.format(key=key) + f"""  <bpmn:process id="{key}" name="并联审批 {branches}" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="to_split" sourceRef="start" targetRef="split" />
    <bpmn:parallelGateway id="split" />
{tasks}
    <bpmn:parallelGateway id="join" />
    <bpmn:sequenceFlow id="to_end" sourceRef="join" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
""").encode()
