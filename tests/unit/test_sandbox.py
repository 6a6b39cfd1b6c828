"""The sandbox refuses escapes and runaway scripts, and runs ordinary diagram logic."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.camunda.parser import CamundaParser

from orchestrator.engine.sandbox import Sandbox, SandboxEnvironment, make_script_engine
from orchestrator.errors import ExpressionError, SandboxViolationError


class Tripwire:
    """Data that notices being probed: a refused script that still ran would flip `touched`."""

    touched = False

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("__"):  # copy.deepcopy looks up __deepcopy__ itself
            Tripwire.touched = True
        raise AttributeError(name)


def run_script(script: str, **context: Any) -> dict[str, Any]:
    data = dict(context)
    Sandbox(functions={"workdays": workdays}).execute(script, data)
    return data


def workdays(count: int) -> str:
    return (datetime(2026, 10, 8, tzinfo=UTC) + timedelta(days=count)).isoformat()


# -- escapes and runaways: (script, expected error, expected code or None) ----------------------

REFUSED = [
    ("__import__('os')", SandboxViolationError, "expression.forbidden"),
    ("import os", SandboxViolationError, "expression.forbidden"),
    ("from os import path", SandboxViolationError, "expression.forbidden"),
    ("open('/etc/passwd')", ExpressionError, "expression.undefined_name"),
    ("().__class__.__base__.__subclasses__()", SandboxViolationError, "expression.forbidden"),
    ("getattr(x, '__globals__')", ExpressionError, "expression.undefined_name"),
    ("setattr(x, 'y', 1)", ExpressionError, "expression.undefined_name"),
    ("'{0.__class__}'.format(x)", SandboxViolationError, "expression.forbidden"),
    ("'{}'.format(x)", SandboxViolationError, "expression.forbidden"),
    ("'{x}'.format_map({'x': 1})", SandboxViolationError, "expression.forbidden"),
    ("f'{x.__class__}'", SandboxViolationError, "expression.forbidden"),
    ("'%s' % x", SandboxViolationError, "expression.forbidden"),
    ("while True: pass", SandboxViolationError, "expression.cpu_limit"),
    ("while True:\n    n = 1", SandboxViolationError, "expression.cpu_limit"),
    ("'x' * 10**10", SandboxViolationError, "expression.memory_limit"),
    ("[1] * 10**9", SandboxViolationError, "expression.memory_limit"),
    ("2 ** 10 ** 8", SandboxViolationError, "expression.memory_limit"),
    ("1 << 10 ** 9", SandboxViolationError, "expression.memory_limit"),
    ("list(range(10**9))", SandboxViolationError, "expression.memory_limit"),
    ("sum(range(10**12))", SandboxViolationError, "expression.memory_limit"),
    ("s = 'x'\nwhile True: s = s + s", SandboxViolationError, "expression.memory_limit"),
    ("[x for x in range(10**8)]", SandboxViolationError, "expression.cpu_limit"),
    ("sorted(x for x in range(10**8))", SandboxViolationError, "expression.cpu_limit"),
    ("'ab'.replace('', 'x' * 1000) * 1000", SandboxViolationError, "expression.memory_limit"),
    ("'x'.ljust(10**9)", SandboxViolationError, "expression.memory_limit"),
    ("f'{1:>999999999}'", SandboxViolationError, "expression.memory_limit"),
    ("big = []\nfor i in range(100):\n    big.append('x' * 999999)", SandboxViolationError,
     "expression.memory_limit"),
    ("s = 'x' * 999999\na = [s] * 999999\nfound = ('x' * 999998 + 'y') in a", SandboxViolationError,
     "expression.memory_limit"),
    ("a = [1]\nfor i in range(30):\n    a.extend(a)", SandboxViolationError, "expression.memory_limit"),
    ("lambda: 1", SandboxViolationError, "expression.forbidden"),
    ("def f(): pass", SandboxViolationError, "expression.forbidden"),
    ("class C: pass", SandboxViolationError, "expression.forbidden"),
    ("global x", SandboxViolationError, "expression.forbidden"),
    ("with x: pass", SandboxViolationError, "expression.forbidden"),
    ("try:\n    pass\nexcept Exception:\n    pass", SandboxViolationError, "expression.forbidden"),
    ("raise ValueError()", SandboxViolationError, "expression.forbidden"),
    ("globals()", ExpressionError, "expression.undefined_name"),
    ("locals()", ExpressionError, "expression.undefined_name"),
    ("vars()", ExpressionError, "expression.undefined_name"),
    ("type(1)", ExpressionError, "expression.undefined_name"),
    ("exec('1')", ExpressionError, "expression.undefined_name"),
    ("eval('1')", ExpressionError, "expression.undefined_name"),
    ("compile('1', '', 'eval')", ExpressionError, "expression.undefined_name"),
    ("input()", ExpressionError, "expression.undefined_name"),
    ("breakpoint()", ExpressionError, "expression.undefined_name"),
    ("help()", ExpressionError, "expression.undefined_name"),
    ("print('hello')", ExpressionError, "expression.undefined_name"),
    ("(1).__class__", SandboxViolationError, "expression.forbidden"),
    ("x._private", SandboxViolationError, "expression.forbidden"),
    ("x.anything", SandboxViolationError, "expression.forbidden"),
    ("__builtins__", SandboxViolationError, "expression.forbidden"),
    ("len.__self__", SandboxViolationError, "expression.forbidden"),
    ("len.__call__", SandboxViolationError, "expression.forbidden"),
    ("g = (y for y in [1])\nframe = g.gi_frame", SandboxViolationError, "expression.forbidden"),
    ("(y for y in [1]).gi_code", SandboxViolationError, "expression.forbidden"),
    ("upper = 'a'.upper\nupper()", SandboxViolationError, "expression.forbidden"),
    ("[].__class__", SandboxViolationError, "expression.forbidden"),
    ("x = 1\nx.y = 2", SandboxViolationError, "expression.forbidden"),
    ("y = 'abc'\ny.startswith.z = 1", SandboxViolationError, "expression.forbidden"),
    ("[" * 10_000 + "]" * 10_000, SandboxViolationError, "expression.depth_limit"),
    ("-" * 5_000 + "1", SandboxViolationError, "expression.depth_limit"),
    ("a = []\nfor i in range(1000):\n    a = [a]", SandboxViolationError, "expression.depth_limit"),
    ("t = ()\nfor i in range(100000):\n    t = (t,)\nh = {t}", SandboxViolationError,
     "expression.depth_limit"),
    ("a = []\na.append(a)", SandboxViolationError, "expression.depth_limit"),
    ("break", ExpressionError, "expression.syntax"),
    ("x = (", ExpressionError, "expression.syntax"),
]


@pytest.mark.timeout(10)  # a refusal that ran the runaway script would hang here
@pytest.mark.parametrize(("script", "error", "code"), REFUSED, ids=[case[0][:40] for case in REFUSED])
def test_escape_or_runaway_is_refused_quickly_without_running(
    script: str, error: type[ExpressionError], code: str
) -> None:
    Tripwire.touched = False
    context: dict[str, Any] = {"x": Tripwire()}
    with pytest.raises(error) as caught:
        Sandbox().execute(script, context)
    assert caught.value.code == code
    assert not Tripwire.touched
    assert set(context) == {"x"}  # a refused script changes nothing
    assert "Traceback" not in caught.value.message_en
    assert caught.value.message_zh and caught.value.message_en


def test_import_statement_is_refused_with_a_bilingual_message_and_line() -> None:
    with pytest.raises(SandboxViolationError) as caught:
        run_script("a = 1\nimport os")
    assert "import" in caught.value.message_zh
    assert "import" in caught.value.message_en
    assert caught.value.line == 2
    assert caught.value.to_problem()["code"] == "expression.forbidden"


def test_forbidden_construct_is_refused_before_any_statement_runs() -> None:
    data: dict[str, Any] = {"log": []}
    with pytest.raises(SandboxViolationError):
        Sandbox().execute("log.append(1)\nimport os", data)
    assert data == {"log": []}


@pytest.mark.timeout(30)
def test_endless_loop_stops_within_the_step_budget() -> None:
    with pytest.raises(SandboxViolationError) as caught:
        Sandbox(max_steps=1_000_000, timeout_s=60).execute("while True:\n    pass", {})
    assert caught.value.code == "expression.cpu_limit"  # the step budget stopped it, not the 60 s clock


@pytest.mark.timeout(60)
def test_slow_script_stops_at_the_cpu_time_limit() -> None:
    with pytest.raises(SandboxViolationError) as caught:
        Sandbox(max_steps=10**9, timeout_s=0.2).execute("s = 'x' * 900000\nwhile True:\n    s.count('y')", {})
    assert caught.value.code == "expression.time_limit"
    assert "CPU" in caught.value.message_zh


def test_time_spent_waiting_for_a_core_does_not_count_against_the_limit() -> None:
    """The limit is the evaluating thread's CPU time: time spent outside the thread (here: asleep) is free."""
    def nap() -> int:
        time.sleep(0.3)  # stands in for a loaded machine that keeps the thread off the CPU
        return 1

    steps_after = "sum([i for i in range(200)])"  # enough steps for the clock to be read after the naps
    assert Sandbox(timeout_s=0.2, functions={"nap": nap}).evaluate(f"nap() + nap() + {steps_after}", {}) == 19902


def test_expression_may_not_modify_data() -> None:
    data = {"items": [1]}
    with pytest.raises(SandboxViolationError):
        Sandbox().evaluate("items.append(2)", data)
    assert data == {"items": [1]}


def test_function_cannot_be_stored_in_data() -> None:
    with pytest.raises(SandboxViolationError):
        run_script("keep = [len]")


def test_only_supplied_functions_are_callable() -> None:
    with pytest.raises(SandboxViolationError):
        Sandbox().evaluate("f(1)", {"f": print})


def test_undefined_name_names_itself() -> None:
    with pytest.raises(ExpressionError) as caught:
        Sandbox().evaluate("amount > 1", {})
    assert "amount" in caught.value.message_zh
    assert caught.value.code == "expression.undefined_name"


def test_runtime_error_becomes_expression_error_with_line() -> None:
    with pytest.raises(ExpressionError) as caught:
        run_script("a = 1\nb = a / 0")
    assert caught.value.code == "expression.failed"
    assert caught.value.line == 2
    assert "ZeroDivisionError" in caught.value.message_en


def test_failing_script_leaves_the_data_untouched() -> None:
    data: dict[str, Any] = {"items": [1], "n": 1}
    with pytest.raises(ExpressionError):
        Sandbox().execute("items.append(2)\nn = 2\nboom = 1 / 0", data)
    assert data == {"items": [1], "n": 1}


def test_supplied_function_failure_is_an_expression_error() -> None:
    def broken() -> None:
        raise RuntimeError("calendar unavailable")

    with pytest.raises(ExpressionError) as caught:
        Sandbox(functions={"broken": broken}).evaluate("broken()", {})
    assert "calendar unavailable" in caught.value.message_en
    assert isinstance(caught.value.__cause__, RuntimeError)


# -- ordinary logic ------------------------------------------------------------------------------

EVALUATED = [
    ("1 + 2 * 3", {}, 7),
    ("7 // 2, 7 % 2, 2 ** 10, -3", {}, (3, 1, 1024, -3)),
    ("amount / 4", {"amount": 10}, 2.5),
    ("a < b <= c", {"a": 1, "b": 2, "c": 2}, True),
    ("amount > 1000 and approved", {"amount": 1500, "approved": True}, True),
    ("not approved or amount == 0", {"approved": True, "amount": 1}, False),
    ("'yes' if x > 1 else 'no'", {"x": 2}, "yes"),
    ("status in ('new', 'open')", {"status": "open"}, True),
    ("x is None", {"x": None}, True),
    ("[n * 2 for n in items if n > 1]", {"items": [1, 2, 3]}, [4, 6]),
    ("{k: v for k, v in pairs.items() if v}", {"pairs": {"a": 1, "b": 0}}, {"a": 1}),
    ("{n % 3 for n in range(10)}", {}, {0, 1, 2}),
    ("sum(n for n in range(5))", {}, 10),
    ("any(x > 2 for x in items)", {"items": [1, 3]}, True),
    ("all([True, 1, 'a'])", {}, True),
    ("len(name), name.upper(), name[1:3], name[::-1]", {"name": "lianban"}, (7, "LIANBAN", "ia", "nabnail")),
    ("', '.join(sorted(tags, reverse=True))", {"tags": ["a", "c", "b"]}, "c, b, a"),
    ("' x '.strip().startswith('x')", {}, True),
    ("text.split(',')", {"text": "a,b"}, ["a", "b"]),
    ("d.get('missing', 0) + d['a']", {"d": {"a": 1}}, 1),
    ("sorted(d.keys()), sorted(d.values())", {"d": {"b": 2, "a": 1}}, (["a", "b"], [1, 2])),
    ("customer.name", {"customer": {"name": "Li"}}, "Li"),
    ("customer.address.city", {"customer": {"address": {"city": "杭州"}}}, "杭州"),
    ("min(3, 1, 2), max([1, 5]), abs(-2), round(2.567, 2)", {}, (1, 5, 2, 2.57)),
    ("int('12') + float('0.5'), str(3), bool(0)", {}, (12.5, "3", False)),
    ("list(enumerate('ab', 1)), list(zip([1, 2], 'ab'))", {}, ([(1, "a"), (2, "b")], [(1, "a"), (2, "b")])),
    ("sorted(words, key=len)", {"words": ["ccc", "a", "bb"]}, ["a", "bb", "ccc"]),
    ("f'{name}: {amount:,.2f} ({ratio:.0%})'", {"name": "费用", "amount": 1234.5, "ratio": 0.25},
     "费用: 1,234.50 (25%)"),
    ("f'{when:%Y-%m-%d}'", {"when": date(2026, 10, 1)}, "2026-10-01"),
    ("when.year, when.month, when.day, when.hour", {"when": datetime(2026, 10, 1, 9)}, (2026, 10, 1, 9)),
    ("(end - start).days", {"start": date(2026, 10, 1), "end": date(2026, 10, 8)}, 7),
    ("(start + timedelta).isoformat()", {"start": date(2026, 10, 1), "timedelta": timedelta(days=1)},
     "2026-10-02"),
    ("when.weekday()", {"when": date(2026, 10, 1)}, 3),
    ("price * 2", {"price": Decimal("1.10")}, Decimal("2.20")),
    ("workdays(5)", {}, "2026-10-13T00:00:00+00:00"),
    ("is_empty_value(''), is_empty_value([]), is_empty_value(0)", {}, (True, True, False)),
    ("(total := 3) * total", {}, 9),
    ("amount >\n    1000", {"amount": 1001}, True),
]


@pytest.mark.parametrize(("expression", "context", "expected"), EVALUATED, ids=[case[0] for case in EVALUATED])
def test_ordinary_expression_evaluates(expression: str, context: dict[str, Any], expected: Any) -> None:
    assert Sandbox(functions={"workdays": workdays}).evaluate(expression, context) == expected


def test_evaluate_does_not_change_the_context() -> None:
    context = {"items": [3, 1]}
    assert Sandbox().evaluate("sorted(items)", context) == [1, 3]
    assert context == {"items": [3, 1]}


def test_script_assigning_variables_updates_the_context() -> None:
    data = run_script("total = amount * 2\nlabel = f'{total} 元'", amount=21)
    assert data == {"amount": 21, "total": 42, "label": "42 元"}


def test_script_can_remove_and_keep_keys() -> None:
    data = run_script(
        "del draft\nform['checked'] = True\ndel form['tmp']\nkeep = keep + 1", draft=1, keep=1,
        form={"tmp": 0, "name": "Li"},
    )
    assert data == {"keep": 2, "form": {"name": "Li", "checked": True}}


def test_script_loops_and_branches_work() -> None:
    script = """
        evens = []
        total = 0
        for n in range(10):
            if n == 7:
                break
            elif n % 2:
                continue
            else:
                evens.append(n)
        else:
            evens = None
        i = 0
        while i < 5:
            i += 1
            total += i
        a, *rest = [1, 2, 3]
        pairs = [[0, 0], [0, 0]]
        pairs[1][0] = 5
        items = [1]
        alias = items
        items += [2]
        counts = {}
        for word in 'a b a'.split():
            counts[word] = counts.get(word, 0) + 1
    """
    data = run_script(script)
    assert data["evens"] == [0, 2, 4, 6]
    assert data["total"] == 15
    assert (data["a"], data["rest"]) == (1, [2, 3])
    assert data["pairs"] == [[0, 0], [5, 0]]
    assert data["alias"] == [1, 2]  # += changes the list in place, as in Python
    assert data["counts"] == {"a": 2, "b": 1}


def test_script_calls_supplied_function() -> None:
    assert run_script("due = workdays(5)")["due"] == "2026-10-13T00:00:00+00:00"


def test_names_bound_to_functions_are_dropped_after_a_script() -> None:
    data = run_script("size = len\nn = size('abc')")
    assert data == {"n": 3}


def test_modest_loop_within_budget_finishes() -> None:
    data = run_script("total = 0\nfor i in range(10000):\n    total += i")
    assert data["total"] == sum(range(10000))


def test_missing_dict_key_by_dot_is_an_error_not_none() -> None:
    with pytest.raises(ExpressionError) as caught:
        Sandbox().evaluate("customer.vip", {"customer": {"name": "Li"}})
    assert "vip" in caught.value.message_en


def test_external_context_supplies_extra_names_and_callables() -> None:
    result = Sandbox().evaluate("double(limit)", {}, external_context={"limit": 2, "double": lambda n: n * 2})
    assert result == 4


# -- SpiffWorkflow integration -------------------------------------------------------------------

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="defs" targetNamespace="http://lianban.dev/test">
  <bpmn:process id="approval" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="double" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="big" default="small_flow">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>big_flow</bpmn:outgoing><bpmn:outgoing>small_flow</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="double"/>
    <bpmn:sequenceFlow id="f2" sourceRef="double" targetRef="big"/>
    <bpmn:sequenceFlow id="big_flow" sourceRef="big" targetRef="director">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${{amount &gt; 1000}}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small_flow" sourceRef="big" targetRef="clerk"/>
    <bpmn:scriptTask id="director"><bpmn:incoming>big_flow</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>route = 'director'</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="clerk"><bpmn:incoming>small_flow</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>route = 'clerk'</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="director" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="clerk" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def run_diagram(amount: int, script: str = "total = amount * 2") -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_str(DIAGRAM.format(script=script).encode())
    spec = parser.get_spec("approval")
    workflow = BpmnWorkflow(spec, parser.get_subprocess_specs("approval"), script_engine=make_script_engine())
    workflow.get_tasks()[0].data["amount"] = amount
    workflow.do_engine_steps()
    return workflow


@pytest.mark.parametrize(("amount", "route"), [(1500, "director"), (500, "clerk")])
def test_diagram_takes_the_branch_its_camunda_condition_chooses(amount: int, route: str) -> None:
    workflow = run_diagram(amount)
    assert workflow.is_completed()
    assert workflow.data["route"] == route
    assert workflow.data["total"] == amount * 2


def test_diagram_script_importing_os_fails_with_our_error() -> None:
    with pytest.raises(WorkflowTaskException) as caught:
        run_diagram(1, script="import os")
    assert isinstance(caught.value.__cause__, SandboxViolationError)
    assert caught.value.line_number == 1


def test_environment_translates_timer_literals_and_camunda_expressions() -> None:
    environment = SandboxEnvironment(functions={"workdays": workdays})
    assert environment.evaluate("PT5M", {}) == "PT5M"
    assert environment.evaluate("R3/PT1H", {}) == "R3/PT1H"
    assert environment.evaluate("${workdays(5)}", {}) == "2026-10-13T00:00:00+00:00"
    assert environment.evaluate("${!approved}", {"approved": False}) is True
    context: dict[str, Any] = {"amount": 2}
    assert environment.execute("total = amount * 2", context) is True
    assert context == {"amount": 2, "total": 4}


TIMER_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="defs" targetNamespace="http://lianban.dev/test">
  <bpmn:process id="timers" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition>
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT0S</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="until">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition>
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">${yesterday()}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="until"/>
    <bpmn:sequenceFlow id="f3" sourceRef="until" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_bare_duration_and_function_date_timers_fire() -> None:
    def yesterday() -> str:
        return (datetime.now(UTC) - timedelta(days=1)).isoformat()

    parser = CamundaParser()
    parser.add_bpmn_str(TIMER_DIAGRAM.encode())
    workflow = BpmnWorkflow(
        parser.get_spec("timers"), parser.get_subprocess_specs("timers"),
        script_engine=make_script_engine({"yesterday": yesterday}),
    )
    for _ in range(3):
        workflow.do_engine_steps()
        workflow.refresh_timers()
    workflow.do_engine_steps()
    assert workflow.is_completed()


def test_range_left_in_a_script_variable_becomes_a_list() -> None:
    assert run_script("numbers = range(3)")["numbers"] == [0, 1, 2]


def test_range_nested_in_data_is_refused() -> None:
    with pytest.raises(SandboxViolationError):
        run_script("numbers = [range(3)]")
