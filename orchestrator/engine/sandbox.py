"""A sandbox for diagram expressions and script tasks: an interpreter over Python's `ast`.

Diagrams are untrusted, and SpiffWorkflow's default script engine hands their text to `eval` and
`exec`.  Here user text is only ever parsed with `ast.parse`; the tree is checked, then walked by
`_Run`, which implements a small Python subset itself.  Nothing from the user reaches `eval`,
`exec`, `compile`, `getattr` with a user-chosen name, or a module.

What runs: literals, names, operators, `if`/`for`/`while`/`break`/`continue`/`pass`/`del`,
assignments (augmented, unpacking, `a[k] = v`), displays, comprehensions (generator expressions are
evaluated eagerly into lists), f-strings with plain format specs, slices, whitelisted built-ins
(`len min max sum abs round int float str bool list dict set tuple sorted any all range enumerate
zip reversed`, `enumerate`/`zip`/`reversed` returning lists), whitelisted methods of `str`, `list`,
`dict`, `set`, `tuple`, `int`, `float`, `Decimal` and the `datetime` types, read-only date/time
attributes, and the functions the caller supplies.  JUEL property access: `customer.name` on a
dict reads the key "name" (only if present; methods such as `customer.get(...)` win when called).

What is refused (SandboxViolationError): imports, `def`/`lambda`/`class`, `global`/`nonlocal`,
`with`, `try`, `raise`, `assert`, `return`, `yield`, `await`, `match`, names and attributes that
start with "_", `str.format`/`format_map` and `%` formatting, attribute access outside the
whitelists, attribute assignment, and calling anything that is not whitelisted.  Names such as
`open`, `eval`, `getattr`, `type` or `print` simply do not exist (ExpressionError: undefined).

Bounds: a step budget (one step per statement, expression node and loop iteration), checked at every
step, and a CPU-time limit on the evaluating thread, checked every 16 steps (CPU time, not the wall
clock: on a loaded machine a fast script must not fail because it waited for a core); every value built
is size-checked *before* it is built (`'x' * n`, `[0] * n`, `2 ** n`, `a << n`,
`str.replace/join/ljust/...`, `range` consumed by a built-in) against `max_size` elements or characters;
integers stay below 2**14280 (4300 digits); large allocations (256 elements and more) are also summed
and capped at 10 * `max_size` per run; nesting is capped at 64 levels (tuples when built, every other
container when walked or returned); operations that walk a whole value in C (str(), comparisons,
sorting, `in`, set()) first walk it here with a budget, so a list holding a million references to one
long string is refused instead of being compared for minutes. Expressions (`evaluate`) may not call
mutating methods.
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import operator
import re
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any, NoReturn

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from orchestrator.engine.expressions import EMPTY_HELPER_NAME, to_python
from orchestrator.errors import ExpressionError, LianbanError, SandboxViolationError

__all__ = ["Sandbox", "SandboxEnvironment", "SandboxScriptEngine", "make_script_engine"]

MAX_SOURCE_CHARS = 100_000
MAX_AST_DEPTH = 100
MAX_DATA_DEPTH = 64
MAX_INT_BITS = 14_280  # below 10**4300, Python's own int/str conversion limit
ALLOCATION_THRESHOLD = 256
ALLOCATION_BUDGET_FACTOR = 10
MAX_ROUND_DIGITS = 400
MAX_FORMAT_WIDTH = 1_000
MAX_FORMAT_PRECISION = 100
MAX_STRFTIME_CHARS = 100
CLOCK_EVERY_MASK = 15  # the CPU-time limit is checked when steps & 15 == 0

CODE_FORBIDDEN = "expression.forbidden"
CODE_CPU = "expression.cpu_limit"
CODE_TIME = "expression.time_limit"
CODE_MEMORY = "expression.memory_limit"
CODE_DEPTH = "expression.depth_limit"
CODE_SYNTAX = "expression.syntax"
CODE_UNDEFINED = "expression.undefined_name"
CODE_FAILED = "expression.failed"

_INTS = (int, bool)
_SEQUENCES = (str, list, tuple)
_CONTAINERS = (list, tuple, set, frozenset, dict)
_SCALARS = (type(None), bool, int, float, str, Decimal, datetime, date, clock_time, timedelta)
_SIZED_ITERABLES = (list, tuple, str, dict, set, frozenset, range)
_SUMMABLE = (int, bool, float, Decimal, timedelta)
_FORMAT_SPEC_RE = re.compile(
    r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[_,]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?",
    re.DOTALL,
)

_STR_METHODS = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "find", "index", "isalnum",
    "isalpha", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper",
    "join", "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace",
    "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines",
    "startswith", "strip", "swapcase", "title", "upper", "zfill",
})
_LIST_METHODS = frozenset({
    "append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse",
    "sort",
})
_DICT_METHODS = frozenset({
    "clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values",
})
_SET_METHODS = frozenset({
    "add", "clear", "copy", "difference", "difference_update", "discard", "intersection",
    "intersection_update", "isdisjoint", "issubset", "issuperset", "pop", "remove",
    "symmetric_difference", "symmetric_difference_update", "union", "update",
})
_DATE_METHODS = frozenset({"isoformat", "isoweekday", "replace", "strftime", "toordinal", "weekday"})
_METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    list: _LIST_METHODS,
    dict: _DICT_METHODS,
    set: _SET_METHODS,
    frozenset: _SET_METHODS - {"add", "clear", "discard", "pop", "remove", "update"}
    - {"difference_update", "intersection_update", "symmetric_difference_update"},
    tuple: frozenset({"count", "index"}),
    int: frozenset({"bit_length"}),
    bool: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
    Decimal: frozenset({"is_finite", "is_nan", "is_signed", "is_zero"}),
    datetime: _DATE_METHODS | {"date", "time", "timestamp", "utcoffset"},
    date: _DATE_METHODS,
    clock_time: frozenset({"isoformat", "replace", "strftime"}),
    timedelta: frozenset({"total_seconds"}),
}
_MUTATING_METHODS = frozenset({
    "append", "clear", "extend", "insert", "pop", "popitem", "remove", "reverse", "sort",
    "setdefault", "update", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update",
})
# Methods that may hand back an object that already existed (not charged as an allocation).
_ACCESSOR_METHODS = frozenset({"get", "pop", "popitem", "setdefault"})
_DATA_ATTRIBUTES: dict[type, frozenset[str]] = {
    datetime: frozenset({"year", "month", "day", "hour", "minute", "second", "microsecond"}),
    date: frozenset({"year", "month", "day"}),
    clock_time: frozenset({"hour", "minute", "second", "microsecond"}),
    timedelta: frozenset({"days", "seconds", "microseconds"}),
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Invert: operator.invert,
    ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}

_FORBIDDEN_NODES: dict[type[ast.AST], tuple[str, str]] = {
    ast.Import: ("不允许导入模块（import）", "import statements are not allowed"),
    ast.ImportFrom: ("不允许导入模块（from … import）", "import statements are not allowed"),
    ast.FunctionDef: ("不允许定义函数（def）", "defining functions (def) is not allowed"),
    ast.AsyncFunctionDef: ("不允许定义函数（async def）", "defining functions is not allowed"),
    ast.Lambda: ("不允许使用 lambda", "lambda is not allowed"),
    ast.ClassDef: ("不允许定义类（class）", "class definitions are not allowed"),
    ast.Global: ("不允许使用 global", "global is not allowed"),
    ast.Nonlocal: ("不允许使用 nonlocal", "nonlocal is not allowed"),
    ast.With: ("不允许使用 with 语句", "with statements are not allowed"),
    ast.AsyncWith: ("不允许使用 with 语句", "with statements are not allowed"),
    ast.Try: ("不允许使用 try 语句", "try statements are not allowed"),
    ast.TryStar: ("不允许使用 try 语句", "try statements are not allowed"),
    ast.Raise: ("不允许使用 raise", "raise is not allowed"),
    ast.Assert: ("不允许使用 assert", "assert is not allowed"),
    ast.Return: ("脚本中不允许使用 return", "return is not allowed in a script"),
    ast.Yield: ("不允许使用 yield", "yield is not allowed"),
    ast.YieldFrom: ("不允许使用 yield", "yield is not allowed"),
    ast.Await: ("不允许使用 await", "await is not allowed"),
    ast.AsyncFor: ("不允许使用 async for", "async for is not allowed"),
    ast.Match: ("不允许使用 match 语句", "match statements are not allowed"),
    ast.MatMult: ("不支持 @ 运算符", "the @ operator is not supported"),
}
_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module, ast.Expression, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If,
    ast.For, ast.While, ast.Break, ast.Continue, ast.Pass, ast.Delete, ast.Constant, ast.Name,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.keyword,
    ast.Attribute, ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr,
    ast.FormattedValue, ast.Starred, ast.NamedExpr, ast.expr_context, ast.operator, ast.unaryop,
    ast.boolop, ast.cmpop,
)


def _violation(zh: str, en: str, code: str = CODE_FORBIDDEN) -> SandboxViolationError:
    return SandboxViolationError(f"沙箱拒绝执行：{zh}", f"refused by the sandbox: {en}", code=code)


def _too_large(what_zh: str, what_en: str) -> SandboxViolationError:
    return _violation(f"{what_zh}超出大小上限", f"{what_en} exceeds the size limit", CODE_MEMORY)


def _too_deep() -> SandboxViolationError:
    return _violation(
        f"数据嵌套超过 {MAX_DATA_DEPTH} 层（或存在循环引用）",
        f"data nested deeper than {MAX_DATA_DEPTH} levels (or cyclic)",
        CODE_DEPTH,
    )


def _type_name(value: Any) -> str:
    """The type name shown to users; built-ins and supplied functions are just "function"."""
    if isinstance(value, _SafeBuiltin) or callable(value):
        return "function"
    return type(value).__name__


def _snippet(source: str) -> str:
    source = source.strip()
    return source if len(source) <= 200 else source[:200] + "…"


class _Break(Exception):
    """Unwinds to the innermost loop; never visible to user code (it has no `try`)."""


class _Continue(Exception):
    """Unwinds to the next iteration of the innermost loop."""


@dataclass(frozen=True)
class _SafeBuiltin:
    """The value a whitelisted built-in name evaluates to; only `_Run` knows how to call it."""

    name: str

    def __repr__(self) -> str:
        return f"<built-in function {self.name}>"


_MISSING: Any = object()


@functools.lru_cache(maxsize=512)
def _parse(source: str, mode: str) -> ast.AST:
    """Parse and statically check `source`; cached because conditions are evaluated repeatedly."""
    if len(source) > MAX_SOURCE_CHARS:
        raise _too_large("表达式或脚本", "the expression or script")
    try:
        tree = _parse_source(source, mode)
    except SyntaxError as exc:
        if "too many nested" in str(exc.msg) or "too complex" in str(exc.msg):
            raise _violation("嵌套层数过多", "nested too deeply", CODE_DEPTH) from None
        raise ExpressionError(
            f"语法错误（第 {exc.lineno} 行）：{exc.msg}",
            f"syntax error (line {exc.lineno}): {exc.msg}",
            code=CODE_SYNTAX,
            line=exc.lineno,
        ) from None
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise ExpressionError(f"语法错误：{exc}", f"syntax error: {exc}", code=CODE_SYNTAX) from None
    except (RecursionError, MemoryError):
        raise _violation("嵌套层数过多", "nested too deeply", CODE_DEPTH) from None
    _check_tree(tree)
    return tree


def _parse_source(source: str, mode: str) -> ast.AST:
    if mode == "exec":
        return ast.parse(source, mode="exec")
    if not source.strip():
        raise SyntaxError("the expression is empty", ("<expression>", 1, 1, source))
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError:
        if "\n" not in source:
            raise
    # A condition written over several lines: parentheses make the line breaks legal; the
    # newline before ")" ends a trailing comment.  The first error is the one worth reporting.
    try:
        return ast.parse(f"({source}\n)", mode="eval")
    except SyntaxError:
        pass
    return ast.parse(source, mode="eval")


def _check_tree(tree: ast.AST) -> None:
    """Refuse forbidden constructs before anything runs."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_AST_DEPTH:
            raise _violation("表达式嵌套层数过多", "the expression is nested too deeply", CODE_DEPTH)
        line = getattr(node, "lineno", None)
        forbidden = _FORBIDDEN_NODES.get(type(node))
        if forbidden is not None or not isinstance(node, _ALLOWED_NODES):
            zh, en = forbidden or (
                f"不支持的语法 {type(node).__name__}", f"unsupported syntax {type(node).__name__}"
            )
            error = _violation(zh, en)
            error.line = line
            raise error
        _check_node(node, line)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_node(node: ast.AST, line: int | None) -> None:
    error: SandboxViolationError | None = None
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        error = _violation(f"不允许使用以下划线开头的名称“{node.id}”",
                           f"names starting with '_' are not allowed: {node.id}")
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            error = _violation(f"不允许访问以下划线开头的属性“{node.attr}”",
                               f"attributes starting with '_' are not allowed: {node.attr}")
        elif node.attr in ("format", "format_map"):
            error = _violation("不允许使用 str.format，请改用 f-string",
                               "str.format is not allowed; use an f-string")
        elif isinstance(node.ctx, (ast.Store, ast.Del)):
            error = _violation("不允许给属性赋值，请用 d['键'] = 值",
                               "assigning attributes is not allowed; use d['key'] = value")
    elif isinstance(node, ast.keyword) and node.arg is not None and node.arg.startswith("_"):
        error = _violation(f"不允许使用以下划线开头的参数名“{node.arg}”",
                           f"keyword names starting with '_' are not allowed: {node.arg}")
    elif isinstance(node, ast.Constant):
        value = node.value
        if not isinstance(value, (type(None), bool, int, float, str)):
            error = _violation(f"不支持的字面量 {type(value).__name__}",
                               f"unsupported literal of type {type(value).__name__}")
        elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            error = _too_large("整数", "an integer")
    elif isinstance(node, ast.comprehension) and node.is_async:
        error = _violation("不允许使用 async", "async is not allowed")
    if error is not None:
        error.line = line
        raise error


class Sandbox:
    """Evaluates expressions and runs scripts from diagrams without trusting them."""

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        max_steps: int = 100_000,
        max_size: int = 1_000_000,
        timeout_s: float = 1.0,
    ) -> None:
        self.functions: dict[str, Callable[..., Any]] = dict(functions or {})
        for name, function in self.functions.items():
            if name.startswith("_") or not name.isidentifier() or not callable(function):
                raise ValueError(f"sandbox function {name!r} must be a callable with a public name")
        self.max_steps = max_steps
        self.max_size = max_size
        self.timeout_s = timeout_s

    def evaluate(
        self,
        expression: str,
        context: Mapping[str, Any],
        *,
        external_context: Mapping[str, Any] | None = None,
    ) -> Any:
        """Evaluate one Python expression against `context` (which is never modified)."""
        if not isinstance(expression, str):
            raise ExpressionError("表达式必须是文本", "an expression must be text", code=CODE_SYNTAX)
        run = _Run(self, {}, context, external_context or {}, read_only=True)
        tree = run.guard(lambda: _parse(expression.strip(), "eval"), expression)
        assert isinstance(tree, ast.Expression)
        result = run.guard(lambda: run.eval(tree.body), expression)

        def check() -> None:
            if isinstance(result, _SafeBuiltin) or run.is_allowed_callable(result):
                raise _violation("表达式的结果不能是函数", "an expression must not produce a function")
            run.check_result(result)

        run.guard(check, expression)
        return result

    def execute(
        self,
        script: str,
        context: dict[str, Any],
        *,
        external_context: Mapping[str, Any] | None = None,
    ) -> None:
        """Run statements; on success `context` holds the top-level names as the script left them.

        The script works on a deep copy, so a failing script leaves `context` untouched.  Names
        bound to functions at the end are dropped (as SpiffWorkflow's own environment does).
        """
        if not isinstance(script, str):
            raise ExpressionError("脚本必须是文本", "a script must be text", code=CODE_SYNTAX)
        try:
            working: dict[str, Any] = copy.deepcopy(dict(context))
        except Exception as exc:
            raise ExpressionError(
                "任务数据无法复制，脚本未执行",
                f"the task data cannot be copied; the script did not run ({type(exc).__name__})",
                code=CODE_FAILED,
            ) from exc
        run = _Run(self, working, None, external_context or {}, read_only=False)
        tree = run.guard(lambda: _parse(textwrap.dedent(script), "exec"), script)
        assert isinstance(tree, ast.Module)
        run.guard(lambda: run.exec_block(tree.body), script)

        def check() -> None:
            run.line = None
            for name, value in list(working.items()):
                if isinstance(value, _SafeBuiltin) or run.is_allowed_callable(value):
                    del working[name]
                    continue
                if type(value) is range:
                    value = working[name] = list(run.sized(value))
                run.check_result(value)

        run.guard(check, script)
        for name in [name for name in context if name not in working]:
            del context[name]
        context.update(working)


class _Run:
    """The state of one evaluation: scopes, step and allocation counters, the deadline."""

    def __init__(
        self,
        sandbox: Sandbox,
        scope: dict[str, Any],
        fallback: Mapping[str, Any] | None,
        external: Mapping[str, Any],
        *,
        read_only: bool,
    ) -> None:
        self.functions = sandbox.functions
        self.max_steps = sandbox.max_steps
        self.max_size = sandbox.max_size
        self.timeout_s = sandbox.timeout_s
        self.deadline = time.thread_time() + sandbox.timeout_s
        self.allocation_budget = sandbox.max_size * ALLOCATION_BUDGET_FACTOR
        self.allocated = 0
        self.steps = 0
        self.line: int | None = None
        self.scopes: list[dict[str, Any]] = [scope]
        self.fallback: Mapping[str, Any] = fallback if fallback is not None else {}
        self.external = external
        self.read_only = read_only
        self.callable_ids = {id(function) for function in self.functions.values()}
        self.callable_ids.update(id(value) for value in external.values() if callable(value))
        self.tuple_depths: dict[int, int] = {}
        self.keepalive: list[tuple[Any, ...]] = []

    # -- running and error translation ------------------------------------------------------

    def guard(self, action: Callable[[], Any], source: str) -> Any:
        """Run `action`; whatever goes wrong leaves as ExpressionError/SandboxViolationError."""
        try:
            return action()
        except ExpressionError as exc:
            if exc.line is None:
                exc.line = self.line
            exc.extra.setdefault("expression", _snippet(source))
            raise
        except (_Break, _Continue):
            error = ExpressionError(
                "break/continue 只能用在循环内", "break/continue outside a loop", code=CODE_SYNTAX
            )
        except RecursionError:
            error = _violation("嵌套层数过多", "nested too deeply", CODE_DEPTH)
        except MemoryError:
            error = _too_large("内存占用", "memory use")
        except Exception as exc:  # noqa: BLE001 - every failure of user code becomes one error type
            error = self._runtime_error(exc)
        error.line = self.line
        error.extra.setdefault("expression", _snippet(source))
        raise error from None

    def _runtime_error(self, exc: Exception) -> ExpressionError:
        detail = f"{type(exc).__name__}: {exc}"
        if len(detail) > 300:
            detail = detail[:300] + "…"
        where_zh = f"（第 {self.line} 行）" if self.line else ""
        where_en = f" (line {self.line})" if self.line else ""
        return ExpressionError(
            f"表达式执行出错{where_zh}：{detail}",
            f"the expression failed{where_en}: {detail}",
            code=CODE_FAILED,
        )

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise _violation(
                f"超过 {self.max_steps} 步的计算上限（可能是死循环）",
                f"more than {self.max_steps} steps (an endless loop?)",
                CODE_CPU,
            )
        if not self.steps & CLOCK_EVERY_MASK:
            self.check_clock()

    def check_clock(self) -> None:
        # The thread's CPU clock is a system call (~3 times the cost of monotonic()), hence every 16 steps.
        if time.thread_time() > self.deadline:
            raise _violation(
                f"CPU 时间超过 {self.timeout_s} 秒", f"used more than {self.timeout_s} s of CPU time", CODE_TIME
            )

    # -- size, depth and type checks ------------------------------------------------------------

    def check_size(self, size: int, what_zh: str = "结果", what_en: str = "the result") -> None:
        if size > self.max_size:
            raise _too_large(what_zh, what_en)

    def created(self, value: Any) -> Any:
        """Account for a value an operation just built; refuse giant integers."""
        kind = type(value)
        if kind is int and value.bit_length() > MAX_INT_BITS:
            raise _too_large("整数", "an integer")
        if kind is complex:
            raise ExpressionError("不支持复数", "complex numbers are not supported", code=CODE_FAILED)
        if kind in _CONTAINERS or kind is str:
            size = len(value)
            self.check_size(size)
            if size >= ALLOCATION_THRESHOLD:
                self.allocated += size
                if self.allocated > self.allocation_budget:
                    raise _too_large("累计分配的内存", "the memory allocated in total")
        return value

    def measure(self, value: Any, *, strict: bool = False) -> None:
        """Walk `value` within a budget: refuse deep, cyclic or huge (shared-reference) data.

        Each element counts 1, each string its length, and a container counts its length as soon
        as it is seen, so a list of a million references to one big list fails at the first one.
        With `strict`, also refuse functions and ranges stored inside data.
        """
        limit = 2 * self.max_size
        self.check_leaf(value, strict)
        kind = type(value)
        if kind not in _CONTAINERS:
            return
        total = 1 + len(value) * (2 if kind is dict else 1)
        next_clock_check = 65_536
        stack: list[tuple[Any, int]] = [(value, 0)]
        while stack:
            item, depth = stack.pop()
            if depth >= MAX_DATA_DEPTH:
                raise _too_deep()
            for child in (*item.keys(), *item.values()) if type(item) is dict else item:
                child_kind = type(child)
                if child_kind is str:
                    total += len(child)
                elif child_kind in _CONTAINERS:
                    total += len(child) * (2 if child_kind is dict else 1)
                    if total > limit:
                        raise _too_large("数据（含重复引用）", "the data (counting shared references)")
                    stack.append((child, depth + 1))
                elif strict and child_kind not in _SCALARS:
                    self.check_leaf(child, strict)
            if total > limit:
                raise _too_large("数据（含重复引用）", "the data (counting shared references)")
            if total >= next_clock_check:
                self.check_clock()
                next_clock_check = total + 65_536

    def check_leaf(self, value: Any, strict: bool) -> None:
        if not strict:
            return
        if isinstance(value, _SafeBuiltin) or id(value) in self.callable_ids:
            raise _violation("数据中不能保存函数", "functions cannot be stored in data")
        if type(value) is range:
            raise _violation("range 不能保存在数据中，请用 list(...)",
                             "a range cannot be stored in data; use list(...)")

    def check_result(self, value: Any) -> None:
        if type(value) in (range, _SafeBuiltin):
            raise _violation(
                f"结果不能是 {_type_name(value)}，请先转换，例如 list(...)",
                f"a result cannot be a {_type_name(value)}; convert it first, e.g. list(...)",
            )
        self.measure(value, strict=True)

    def sized(self, value: Any) -> Any:
        """Accept a finite iterable that a built-in may consume in C without running away."""
        if type(value) not in _SIZED_ITERABLES:
            raise ExpressionError(
                f"{_type_name(value)} 不是可遍历的数据",
                f"{_type_name(value)} is not an iterable the sandbox supports",
                code=CODE_FAILED,
            )
        try:
            size = len(value)
        except OverflowError:
            raise _too_large("range", "the range") from None
        self.check_size(size)
        return value

    def walked(self, value: Any) -> Any:
        """`sized`, plus a budgeted walk, for built-ins that compare or hash every element."""
        self.sized(value)
        self.measure(value)
        return value

    def tuple_depth(self, value: tuple[Any, ...], level: int = 0) -> int:
        # Tuples are immutable, so their depth can be cached; deep tuples crash CPython's hash().
        cached = self.tuple_depths.get(id(value))
        if cached is not None:
            return cached
        if level > MAX_DATA_DEPTH:
            raise _too_deep()
        inner = [self.tuple_depth(child, level + 1) for child in value if type(child) is tuple]
        depth = 1 + max(inner, default=0)
        if depth > 1:
            self.tuple_depths[id(value)] = depth
            self.keepalive.append(value)
        return depth

    def new_tuple(self, items: Any) -> tuple[Any, ...]:
        result = tuple(items)
        if self.tuple_depth(result) > MAX_DATA_DEPTH:
            raise _too_deep()
        self.created(result)
        return result

    def is_allowed_callable(self, value: Any) -> bool:
        return id(value) in self.callable_ids and callable(value)

    # -- statements -----------------------------------------------------------------------------

    def exec_block(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.exec_statement(statement)

    def exec_statement(self, node: ast.stmt) -> None:
        self.tick()
        self.line = node.lineno
        if isinstance(node, ast.Expr):
            self.eval(node.value)
        elif isinstance(node, ast.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self.assign(target, value)
        elif isinstance(node, ast.AugAssign):
            self.augmented_assign(node)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.assign(node.target, self.eval(node.value))
        elif isinstance(node, ast.If):
            self.exec_block(node.body if self.eval(node.test) else node.orelse)
        elif isinstance(node, ast.For):
            self.exec_for(node)
        elif isinstance(node, ast.While):
            self.exec_while(node)
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.delete(target)
        elif not isinstance(node, ast.Pass):
            raise _violation(f"不支持的语句 {type(node).__name__}",
                             f"unsupported statement {type(node).__name__}")

    def exec_for(self, node: ast.For) -> None:
        for item in self.iterate(self.eval(node.iter)):
            self.tick()
            self.assign(node.target, item)
            try:
                self.exec_block(node.body)
            except _Break:
                return
            except _Continue:
                continue
        self.exec_block(node.orelse)

    def exec_while(self, node: ast.While) -> None:
        while self.eval(node.test):
            self.tick()
            try:
                self.exec_block(node.body)
            except _Break:
                return
            except _Continue:
                continue
        self.exec_block(node.orelse)

    def iterate(self, value: Any) -> Any:
        if type(value) not in _SIZED_ITERABLES:
            name = _type_name(value)
            raise ExpressionError(f"无法遍历 {name}", f"cannot iterate over {name}", code=CODE_FAILED)
        return iter(value)  # lazily: every iteration costs a step

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scopes[-1][target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target.elts, value)
        elif isinstance(target, ast.Subscript):
            self.set_item(self.eval(target.value), self.subscript_key(target.slice), value)
        else:
            raise _violation(f"不能给 {type(target).__name__} 赋值",
                             f"cannot assign to {type(target).__name__}")

    def unpack(self, targets: list[ast.expr], value: Any) -> None:
        items = list(self.sized(value))
        starred = [index for index, target in enumerate(targets) if isinstance(target, ast.Starred)]
        if not starred:
            if len(items) != len(targets):
                raise ExpressionError(
                    f"解包数量不符：需要 {len(targets)} 个值，实际 {len(items)} 个",
                    f"cannot unpack {len(items)} values into {len(targets)} names",
                    code=CODE_FAILED,
                )
            for target, item in zip(targets, items, strict=True):
                self.assign(target, item)
            return
        star = starred[0]
        after = len(targets) - star - 1
        if len(items) < len(targets) - 1:
            raise ExpressionError("解包的值不够", "not enough values to unpack", code=CODE_FAILED)
        for target, item in zip(targets[:star], items[:star], strict=True):
            self.assign(target, item)
        star_target = targets[star]
        assert isinstance(star_target, ast.Starred)
        self.assign(star_target.value, items[star : len(items) - after])
        for target, item in zip(targets[star + 1 :], items[len(items) - after :], strict=True):
            self.assign(target, item)

    def set_item(self, container: Any, key: Any, value: Any) -> None:
        if self.read_only:
            raise _violation("表达式不能修改数据", "an expression must not modify data")
        kind = type(container)
        if kind is dict:
            if key not in container:
                self.check_size(len(container) + 1)
            container[key] = value
        elif kind is list:
            if isinstance(key, slice):
                replacement = list(self.sized(value))
                self.check_size(len(container) + len(replacement))
                container[key] = replacement
            else:
                container[key] = value
        else:
            raise _violation(f"不能修改 {_type_name(container)} 的元素",
                             f"cannot assign items of a {_type_name(container)}")

    def augmented_assign(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            current = self.lookup(target.id)
            self.assign(target, self.in_place(node.op, current, self.eval(node.value)))
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            key = self.subscript_key(target.slice)
            current = self.get_item(container, key)
            self.set_item(container, key, self.in_place(node.op, current, self.eval(node.value)))
        else:
            raise _violation("不支持的增量赋值目标", "unsupported augmented assignment target")

    def in_place(self, op: ast.operator, current: Any, value: Any) -> Any:
        """`+=` and friends: lists, dicts and sets change in place, as in Python."""
        kind = type(current)
        if kind is list and isinstance(op, ast.Add):
            items = self.sized(value)
            self.check_size(len(current) + len(items))
            current.extend(items)
            return current
        if kind in (set, dict) and isinstance(op, ast.BitOr) and type(value) is kind:
            self.check_size(len(current) + len(value))
            current |= value
            return current
        return self.binary(op, current, value)

    def delete(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            if target.id not in self.scopes[-1]:
                self.undefined(target.id)
            del self.scopes[-1][target.id]
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            if type(container) not in (dict, list):
                raise _violation(f"不能删除 {_type_name(container)} 的元素",
                                 f"cannot delete items of a {_type_name(container)}")
            del container[self.subscript_key(target.slice)]
        else:
            raise _violation("只能删除变量或元素", "only names and items can be deleted")

    # -- expressions ----------------------------------------------------------------------------

    def eval(self, node: ast.expr) -> Any:
        self.tick()
        handler = _EXPRESSION_HANDLERS.get(type(node))
        if handler is None:
            raise _violation(f"不支持的语法 {type(node).__name__}",
                             f"unsupported syntax {type(node).__name__}")
        return handler(self, node)

    def eval_constant(self, node: ast.Constant) -> Any:
        return node.value

    def eval_name(self, node: ast.Name) -> Any:
        return self.lookup(node.id)

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        for mapping in (self.fallback, self.external, self.functions):
            if name in mapping:
                return mapping[name]
        if name in _BUILTINS:
            return _BUILTINS[name]
        self.undefined(name)

    def undefined(self, name: str) -> NoReturn:
        raise ExpressionError(
            f"未定义的名称“{name}”（沙箱中不可用或数据中没有）",
            f"name '{name}' is not defined (not available in the sandbox or not in the data)",
            code=CODE_UNDEFINED,
            field=name,
        )

    def eval_binop(self, node: ast.BinOp) -> Any:
        return self.binary(node.op, self.eval(node.left), self.eval(node.right))

    def binary(self, op: ast.operator, left: Any, right: Any) -> Any:
        kind = type(op)
        left_kind, right_kind = type(left), type(right)
        if kind is ast.Add and left_kind is right_kind and left_kind in _SEQUENCES:
            self.check_size(len(left) + len(right))
        elif kind is ast.Mult:
            if left_kind in _SEQUENCES and right_kind in _INTS:
                self.check_size(len(left) * max(right, 0))
            elif right_kind in _SEQUENCES and left_kind in _INTS:
                self.check_size(len(right) * max(left, 0))
            elif left_kind in _INTS and right_kind in _INTS:
                if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                    raise _too_large("整数", "an integer")
        elif kind is ast.Pow and left_kind in _INTS and right_kind in _INTS:
            if right > 0 and abs(left) > 1 and (left.bit_length() - 1) * right > MAX_INT_BITS:
                raise _too_large("整数", "an integer")
        elif kind is ast.LShift and left_kind in _INTS and right_kind in _INTS:
            if left != 0 and right > 0 and left.bit_length() + right > MAX_INT_BITS:
                raise _too_large("整数", "an integer")
        elif kind is ast.Mod and left_kind is str:
            raise _violation("不允许使用 % 格式化字符串，请改用 f-string",
                             "%-formatting is not allowed; use an f-string")
        elif kind is ast.BitOr and left_kind is right_kind and left_kind in (set, dict, frozenset):
            self.check_size(len(left) + len(right))
        function = _BINARY.get(kind)
        if function is None:
            raise _violation(f"不支持的运算符 {kind.__name__}", f"unsupported operator {kind.__name__}")
        return self.created(function(left, right))

    def eval_unaryop(self, node: ast.UnaryOp) -> Any:
        return self.created(_UNARY[type(node.op)](self.eval(node.operand)))

    def eval_boolop(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        result: Any = None
        for value in node.values:
            result = self.eval(value)
            if bool(result) != is_and:
                return result
        return result

    def eval_compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            if not self.compare(op, left, right):
                return False
            left = right
        return True

    def compare(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        kind = type(op)
        if kind in (ast.In, ast.NotIn):
            found = self.contains(right, left)
            return found if kind is ast.In else not found
        if kind not in (ast.Is, ast.IsNot):
            for side in (left, right):
                if type(side) in _CONTAINERS:
                    self.measure(side)
        return bool(_COMPARE[kind](left, right))

    def contains(self, container: Any, item: Any) -> bool:
        kind = type(container)
        if kind is range:
            if type(item) not in _INTS:
                self.sized(container)
        elif kind in (list, tuple):
            if type(item) not in (type(None), bool, int, float):
                self.measure(container)
        elif kind not in (str, dict, set, frozenset):
            raise ExpressionError(
                f"不能在 {_type_name(container)} 中使用 in",
                f"'in' is not supported on a {_type_name(container)}",
                code=CODE_FAILED,
            )
        if type(item) in _CONTAINERS:
            self.measure(item)
        return item in container

    def eval_ifexp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def eval_namedexpr(self, node: ast.NamedExpr) -> Any:
        value = self.eval(node.value)
        self.scopes[0][node.target.id] = value
        return value

    def eval_attribute(self, node: ast.Attribute) -> Any:
        owner = self.eval(node.value)
        kind = type(owner)
        name = node.attr
        if kind is dict:
            if name in owner:
                return owner[name]
            if name in _DICT_METHODS:
                raise _violation(f"方法 {name} 必须直接调用，如 d.{name}(...)",
                                 f"the method {name} must be called directly, as in d.{name}(...)")
            raise ExpressionError(
                f"数据中没有“{name}”这一项", f"the data has no key '{name}'", code=CODE_FAILED,
                field=name,
            )
        if name in _DATA_ATTRIBUTES.get(kind, ()):
            return getattr(owner, name)
        if name in _METHODS.get(kind, ()):
            raise _violation(f"方法 {name} 必须直接调用，如 x.{name}(...)",
                             f"the method {name} must be called directly, as in x.{name}(...)")
        raise _violation(f"不允许访问 {_type_name(owner)} 的属性“{name}”",
                         f"attribute '{name}' of a {_type_name(owner)} is not accessible")

    def eval_subscript(self, node: ast.Subscript) -> Any:
        return self.get_item(self.eval(node.value), self.subscript_key(node.slice))

    def subscript_key(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Slice):
            parts = [None if part is None else self.eval(part)
                     for part in (node.lower, node.upper, node.step)]
            for part in parts:
                if part is not None and type(part) not in _INTS:
                    raise ExpressionError("切片的边界必须是整数", "slice bounds must be integers",
                                          code=CODE_FAILED)
            return slice(*parts)
        return self.eval(node)

    def get_item(self, container: Any, key: Any) -> Any:
        kind = type(container)
        if kind in (list, tuple, str, range):
            if isinstance(key, slice):
                return self.created(container[key])
            return container[key]
        if kind is dict:
            return container[key]
        raise _violation(f"不能对 {_type_name(container)} 取下标",
                         f"cannot subscript a {_type_name(container)}")

    def elements(self, nodes: list[ast.expr]) -> list[Any]:
        items: list[Any] = []
        for element in nodes:
            if isinstance(element, ast.Starred):
                items.extend(self.sized(self.eval(element.value)))
            else:
                items.append(self.eval(element))
            self.check_size(len(items))
        return items

    def eval_list(self, node: ast.List) -> Any:
        return self.created(self.elements(node.elts))

    def eval_tuple(self, node: ast.Tuple) -> Any:
        return self.new_tuple(self.elements(node.elts))

    def eval_set(self, node: ast.Set) -> Any:
        items = self.elements(node.elts)
        self.measure(items)
        return self.created(set(items))

    def eval_dict(self, node: ast.Dict) -> Any:
        result: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                other = self.eval(value_node)
                if type(other) is not dict:
                    raise ExpressionError("** 后面必须是字典", "** needs a dict", code=CODE_FAILED)
                self.check_size(len(result) + len(other))
                result.update(other)
            else:
                key = self.eval(key_node)
                result[key] = self.eval(value_node)
                self.check_size(len(result))
        return self.created(result)

    def comprehension(self, generators: list[ast.comprehension], emit: Callable[[], None]) -> None:
        self.scopes.append({})
        try:
            self.generate(generators, 0, emit)
        finally:
            self.scopes.pop()

    def generate(self, generators: list[ast.comprehension], index: int,
                 emit: Callable[[], None]) -> None:
        generator = generators[index]
        for item in self.iterate(self.eval(generator.iter)):
            self.tick()
            self.assign(generator.target, item)
            if all(self.eval(condition) for condition in generator.ifs):
                if index + 1 == len(generators):
                    emit()
                else:
                    self.generate(generators, index + 1, emit)

    def eval_listcomp(self, node: ast.ListComp | ast.GeneratorExp) -> Any:
        result: list[Any] = []

        def emit() -> None:
            result.append(self.eval(node.elt))
            self.check_size(len(result))

        self.comprehension(node.generators, emit)
        return self.created(result)

    def eval_setcomp(self, node: ast.SetComp) -> Any:
        items: list[Any] = []

        def emit() -> None:
            items.append(self.eval(node.elt))
            self.check_size(len(items))

        self.comprehension(node.generators, emit)
        self.measure(items)
        return self.created(set(items))

    def eval_dictcomp(self, node: ast.DictComp) -> Any:
        result: dict[Any, Any] = {}

        def emit() -> None:
            key = self.eval(node.key)
            result[key] = self.eval(node.value)
            self.check_size(len(result))

        self.comprehension(node.generators, emit)
        return self.created(result)

    def eval_joinedstr(self, node: ast.JoinedStr) -> Any:
        parts: list[str] = []
        size = 0
        for value in node.values:
            text = self.eval(value)
            size += len(text)
            self.check_size(size, "字符串", "the string")
            parts.append(text)
        return self.created("".join(parts))

    def eval_formattedvalue(self, node: ast.FormattedValue) -> Any:
        value = self.eval(node.value)
        if node.conversion == ord("s"):
            value = self.to_str(value)
        elif node.conversion in (ord("r"), ord("a")):
            value = self.to_str(value, use_repr=True)
            if node.conversion == ord("a"):
                value = value.encode("ascii", "backslashreplace").decode("ascii")
        spec = "" if node.format_spec is None else self.eval(node.format_spec)
        if not spec:
            return self.to_str(value)
        kind = type(value)
        if kind is Decimal and value.is_finite() and abs(value.adjusted()) > MAX_FORMAT_WIDTH:
            raise _too_large("格式化的数字", "the formatted number")
        if kind in (datetime, date, clock_time):
            if len(spec) > MAX_STRFTIME_CHARS:
                raise _violation("日期格式过长", "the date format is too long")
        else:
            match = _FORMAT_SPEC_RE.fullmatch(spec)
            if kind not in (str, int, bool, float, Decimal) or match is None:
                raise _violation(f"不允许的格式说明“{spec}”", f"format specification {spec!r} is not allowed")
            width, precision = match.group("width"), match.group("precision")
            if (width and int(width) > MAX_FORMAT_WIDTH) or (
                precision and int(precision) > MAX_FORMAT_PRECISION
            ):
                raise _too_large("格式宽度或精度", "the format width or precision")
        return self.created(format(value, spec))

    def to_str(self, value: Any, *, use_repr: bool = False) -> str:
        kind = type(value)
        if kind is str and not use_repr:
            return value  # type: ignore[no-any-return]
        if kind in _CONTAINERS:
            self.measure(value)
        text = repr(value) if use_repr else str(value)
        self.created(text)
        return text

    # -- calls ----------------------------------------------------------------------------------

    def eval_call(self, node: ast.Call) -> Any:
        function = node.func
        if isinstance(function, ast.Attribute):
            receiver = self.eval(function.value)
            args, kwargs = self.arguments(node)
            return self.call_method(receiver, function.attr, args, kwargs)
        callee = self.eval(function)
        args, kwargs = self.arguments(node)
        return self.call_value(callee, args, kwargs)

    def arguments(self, node: ast.Call) -> tuple[list[Any], dict[str, Any]]:
        args = self.elements(node.args)
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            value = self.eval(keyword.value)
            if keyword.arg is not None:
                supplied = {keyword.arg: value}
            elif type(value) is dict and all(type(key) is str for key in value):
                supplied = value
            else:
                raise ExpressionError("** 后面必须是以文本为键的字典",
                                      "** needs a dict with text keys", code=CODE_FAILED)
            for name, item in supplied.items():
                if name.startswith("_"):
                    raise _violation(f"不允许使用以下划线开头的参数名“{name}”",
                                     f"keyword names starting with '_' are not allowed: {name}")
                if name in kwargs:
                    raise ExpressionError(f"参数“{name}”重复", f"argument '{name}' given twice",
                                          code=CODE_FAILED)
                kwargs[name] = item
        return args, kwargs

    def call_value(self, callee: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(callee, _SafeBuiltin):
            return self.call_builtin(callee.name, args, kwargs)
        if self.is_allowed_callable(callee):
            return self.call_function(callee, args, kwargs)
        raise _violation(f"{_type_name(callee)} 类型的值不能被调用",
                         f"a value of type {_type_name(callee)} cannot be called")

    def call_function(self, function: Callable[..., Any], args: list[Any],
                      kwargs: dict[str, Any]) -> Any:
        """Call a caller-supplied function; its failures and its results are checked too."""
        name = getattr(function, "__name__", "function")
        try:
            result = function(*args, **kwargs)
        except ExpressionError:
            raise
        except LianbanError as exc:
            raise ExpressionError(exc.message_zh, exc.message_en, code=exc.code) from exc
        except Exception as exc:
            raise ExpressionError(
                f"函数 {name} 执行失败：{type(exc).__name__}: {exc}",
                f"the function {name} failed: {type(exc).__name__}: {exc}",
                code=CODE_FAILED,
            ) from exc
        self.check_result(result)
        return self.created(result)

    def key_function(self, key: Any) -> Callable[[Any], Any] | None:
        if key is None:
            return None
        if isinstance(key, _SafeBuiltin) or self.is_allowed_callable(key):
            def call_key(value: Any) -> Any:
                self.tick()
                return self.call_value(key, [value], {})
            return call_key
        raise _violation("key 必须是允许的函数", "key must be an allowed function")

    def call_builtin(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        method = getattr(self, f"builtin_{name}")
        try:
            _BUILTIN_SIGNATURES[name].bind(*args, **kwargs)
        except TypeError as exc:
            raise ExpressionError(
                f"{name}() 的参数有误：{exc}", f"wrong arguments for {name}(): {exc}",
                code=CODE_FAILED,
            ) from None
        result = method(*args, **kwargs)
        if any(result is arg for arg in args):
            return result  # min/max/str hand back an existing value: nothing was allocated
        return self.created(result)

    def call_method(self, receiver: Any, name: str, args: list[Any],
                    kwargs: dict[str, Any]) -> Any:
        kind = type(receiver)
        if name not in _METHODS.get(kind, ()):
            raise _violation(f"不允许调用 {_type_name(receiver)}.{name}()",
                             f"calling {_type_name(receiver)}.{name}() is not allowed")
        if self.read_only and name in _MUTATING_METHODS:
            raise _violation(f"表达式不能修改数据（{name}），请在脚本任务中修改",
                             f"an expression must not modify data ({name}); use a script task")
        check = _METHOD_CHECKS.get((kind, name)) or _METHOD_CHECKS.get((None, name))
        if check is not None:
            handled = check(self, receiver, args, kwargs)
            if handled is not _MISSING:
                return handled
        result = getattr(receiver, name)(*args, **kwargs)
        if name in _ACCESSOR_METHODS:
            return result
        return self.created(result)

    # -- built-ins ------------------------------------------------------------------------------

    def builtin_len(self, value: Any, /) -> int:
        return len(value)

    def builtin_min(self, *args: Any, key: Any = None, default: Any = _MISSING) -> Any:
        return self._extreme(min, args, key, default)

    def builtin_max(self, *args: Any, key: Any = None, default: Any = _MISSING) -> Any:
        return self._extreme(max, args, key, default)

    def _extreme(self, pick: Any, args: tuple[Any, ...], key: Any, default: Any) -> Any:
        items = self.walked(args[0]) if len(args) == 1 else self.walked(args)
        options: dict[str, Any] = {"key": self.key_function(key)}
        if default is not _MISSING:
            options["default"] = default
        return pick(items, **options)

    def builtin_sum(self, iterable: Any, /, start: Any = 0) -> Any:
        items = self.sized(iterable)
        for item in (start, *items):
            if type(item) not in _SUMMABLE:
                raise ExpressionError("sum() 只能对数字求和", "sum() only adds numbers",
                                      code=CODE_FAILED)
        return sum(items, start)

    def builtin_abs(self, value: Any, /) -> Any:
        return abs(value)

    def builtin_round(self, number: Any, ndigits: Any = None, /) -> Any:
        if ndigits is not None and (type(ndigits) not in _INTS or abs(ndigits) > MAX_ROUND_DIGITS):
            raise ExpressionError(f"round() 的位数必须是不超过 {MAX_ROUND_DIGITS} 的整数",
                                  f"round() digits must be an integer up to {MAX_ROUND_DIGITS}",
                                  code=CODE_FAILED)
        return round(number, ndigits)

    def builtin_int(self, value: Any = 0, /, base: Any = _MISSING) -> Any:
        if type(value) is str and len(value.strip()) > 4300:
            raise _too_large("整数", "an integer")
        if type(value) is Decimal and value.is_finite() and value.adjusted() > 4300:
            raise _too_large("整数", "an integer")
        return int(value) if base is _MISSING else int(value, base)

    def builtin_float(self, value: Any = 0.0, /) -> Any:
        return float(value)

    def builtin_str(self, value: Any = "", /) -> str:
        return self.to_str(value)

    def builtin_bool(self, value: Any = False, /) -> bool:
        return bool(value)

    def builtin_list(self, iterable: Any = (), /) -> list[Any]:
        return list(self.sized(iterable))

    def builtin_tuple(self, iterable: Any = (), /) -> tuple[Any, ...]:
        return self.new_tuple(self.sized(iterable))

    def builtin_set(self, iterable: Any = (), /) -> set[Any]:
        return set(self.walked(iterable))

    def builtin_dict(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        if len(args) > 1:
            raise ExpressionError("dict() 最多一个位置参数", "dict() takes at most one positional "
                                  "argument", code=CODE_FAILED)
        source = self.walked(args[0]) if args else {}
        self.check_size(len(source) + len(kwargs))
        return dict(source, **kwargs)

    def builtin_sorted(self, iterable: Any, /, *, key: Any = None, reverse: Any = False) -> Any:
        return sorted(self.walked(iterable), key=self.key_function(key), reverse=bool(reverse))

    def builtin_any(self, iterable: Any, /) -> bool:
        return any(self.sized(iterable))

    def builtin_all(self, iterable: Any, /) -> bool:
        return all(self.sized(iterable))

    def builtin_range(self, *args: Any) -> range:
        if not all(type(arg) in _INTS for arg in args):
            raise ExpressionError("range() 的参数必须是整数", "range() needs integers",
                                  code=CODE_FAILED)
        return range(*args)

    def builtin_enumerate(self, iterable: Any, /, start: Any = 0) -> list[tuple[Any, ...]]:
        items = self.sized(iterable)
        if type(start) not in _INTS:
            raise ExpressionError("enumerate() 的起点必须是整数", "enumerate() start must be an integer",
                                  code=CODE_FAILED)
        return self.pairs(list(enumerate(items, start)))

    def builtin_zip(self, *iterables: Any) -> list[tuple[Any, ...]]:
        sized = [self.sized(iterable) for iterable in iterables]
        return self.pairs(list(zip(*sized, strict=False)))

    def pairs(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        for row in rows:
            if any(type(item) is tuple for item in row) and self.tuple_depth(row) > MAX_DATA_DEPTH:
                raise _too_deep()
        return rows

    def builtin_reversed(self, sequence: Any, /) -> list[Any]:
        return list(reversed(self.sized(sequence)))

    def builtin_is_empty_value(self, value: Any, /) -> bool:
        """JUEL's `empty`: true for null, "" and empty collections."""
        return value is None or (type(value) in _SIZED_ITERABLES and len(value) == 0)


_MethodCheck = Callable[[_Run, Any, list[Any], dict[str, Any]], Any]


def _check_padding(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    width = args[0] if args else kwargs.get("width", 0)
    if type(width) in _INTS:
        run.check_size(width, "字符串", "the string")
    return _MISSING


def _check_replace(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(args) >= 2 and type(args[0]) is str and type(args[1]) is str:
        old, new = args[0], args[1]
        count = args[2] if len(args) > 2 and type(args[2]) in _INTS else -1
        occurrences = len(receiver) + 1 if old == "" else receiver.count(old)
        if count >= 0:
            occurrences = min(occurrences, count)
        run.check_size(len(receiver) + occurrences * (len(new) - len(old)), "字符串", "the string")
    return _MISSING


def _check_join(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(args) != 1 or kwargs:
        return _MISSING
    items = list(run.sized(args[0]))
    total = sum(len(item) for item in items if type(item) is str)
    run.check_size(total + len(receiver) * max(len(items) - 1, 0), "字符串", "the string")
    return run.created(receiver.join(items))


def _check_grow_by_one(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    run.check_size(len(receiver) + 1)
    return _MISSING


def _check_extend(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """list.extend and the set operations: every argument is a finite iterable that is walked."""
    added = 0
    for other in args:
        added += len(run.walked(other))
    run.check_size(len(receiver) + added)
    return _MISSING


def _check_update(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    added = len(kwargs)
    if len(args) == 1:
        added += len(run.walked(args[0]))
    run.check_size(len(receiver) + added)
    return _MISSING


def _check_walk_receiver(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    run.measure(receiver)
    for other in args:
        if type(other) in _CONTAINERS:
            run.walked(other)
    return _MISSING


def _check_sort(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args or set(kwargs) - {"key", "reverse"}:
        raise ExpressionError("sort() 只接受 key 和 reverse", "sort() takes only key and reverse",
                              code=CODE_FAILED)
    run.measure(receiver)
    receiver.sort(key=run.key_function(kwargs.get("key")), reverse=bool(kwargs.get("reverse")))
    return None


def _dict_view(method: str) -> _MethodCheck:
    def check(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if args or kwargs:
            raise ExpressionError(f"{method}() 不接受参数", f"{method}() takes no arguments",
                                  code=CODE_FAILED)
        # Lists rather than live views: they serialise, and their tuples are depth-checked.
        return run.created(run.pairs(list(receiver.items())) if method == "items"
                           else list(getattr(receiver, method)()))
    return check


def _check_popitem(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return run.pairs([receiver.popitem(*args, **kwargs)])[0]


def _check_strftime(run: _Run, receiver: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args and type(args[0]) is str and len(args[0]) > MAX_STRFTIME_CHARS:
        raise _violation("日期格式过长", "the date format is too long")
    return _MISSING


_METHOD_CHECKS: dict[tuple[type | None, str], _MethodCheck] = {
    (str, "center"): _check_padding,
    (str, "ljust"): _check_padding,
    (str, "rjust"): _check_padding,
    (str, "zfill"): _check_padding,
    (str, "replace"): _check_replace,
    (str, "join"): _check_join,
    (list, "append"): _check_grow_by_one,
    (list, "insert"): _check_grow_by_one,
    (list, "extend"): _check_extend,
    (list, "index"): _check_walk_receiver,
    (list, "count"): _check_walk_receiver,
    (list, "remove"): _check_walk_receiver,
    (list, "sort"): _check_sort,
    (tuple, "index"): _check_walk_receiver,
    (tuple, "count"): _check_walk_receiver,
    (dict, "setdefault"): _check_grow_by_one,
    (dict, "update"): _check_update,
    (dict, "keys"): _dict_view("keys"),
    (dict, "values"): _dict_view("values"),
    (dict, "items"): _dict_view("items"),
    (dict, "popitem"): _check_popitem,
    (set, "add"): _check_grow_by_one,
    (None, "strftime"): _check_strftime,
}
for _name in ("difference", "difference_update", "intersection", "intersection_update",
              "isdisjoint", "issubset", "issuperset", "symmetric_difference",
              "symmetric_difference_update", "union", "update"):
    _METHOD_CHECKS[(set, _name)] = _check_extend
    _METHOD_CHECKS[(frozenset, _name)] = _check_extend

_EXPRESSION_HANDLERS: dict[type[ast.AST], Callable[[_Run, Any], Any]] = {
    ast.Constant: _Run.eval_constant,
    ast.Name: _Run.eval_name,
    ast.BinOp: _Run.eval_binop,
    ast.UnaryOp: _Run.eval_unaryop,
    ast.BoolOp: _Run.eval_boolop,
    ast.Compare: _Run.eval_compare,
    ast.IfExp: _Run.eval_ifexp,
    ast.NamedExpr: _Run.eval_namedexpr,
    ast.Attribute: _Run.eval_attribute,
    ast.Subscript: _Run.eval_subscript,
    ast.List: _Run.eval_list,
    ast.Tuple: _Run.eval_tuple,
    ast.Set: _Run.eval_set,
    ast.Dict: _Run.eval_dict,
    ast.ListComp: _Run.eval_listcomp,
    ast.GeneratorExp: _Run.eval_listcomp,
    ast.SetComp: _Run.eval_setcomp,
    ast.DictComp: _Run.eval_dictcomp,
    ast.JoinedStr: _Run.eval_joinedstr,
    ast.FormattedValue: _Run.eval_formattedvalue,
    ast.Call: _Run.eval_call,
}

_BUILTIN_NAMES = (
    "len", "min", "max", "sum", "abs", "round", "int", "float", "str", "bool", "list", "dict",
    "set", "tuple", "sorted", "any", "all", "range", "enumerate", "zip", "reversed",
    EMPTY_HELPER_NAME,
)
_BUILTINS = {name: _SafeBuiltin(name) for name in _BUILTIN_NAMES}
_BUILTIN_SIGNATURES = {
    name: inspect.signature(getattr(_Run, f"builtin_{name}")).replace(
        parameters=list(inspect.signature(getattr(_Run, f"builtin_{name}")).parameters.values())[1:]
    )
    for name in _BUILTIN_NAMES
}


class SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """SpiffWorkflow's script environment, backed by the sandbox instead of eval/exec.

    Expressions (conditions, timers, cardinalities, payloads) pass through `to_python` first, so
    Camunda `${...}` and bare ISO 8601 timer literals work; scripts are Python only.
    """

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        *,
        max_steps: int = 100_000,
        max_size: int = 1_000_000,
        timeout_s: float = 1.0,
    ) -> None:
        super().__init__(dict(functions or {}))
        self.sandbox = Sandbox(functions, max_steps=max_steps, max_size=max_size,
                               timeout_s=timeout_s)

    def evaluate(self, expression: Any, context: Mapping[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        if not isinstance(expression, str):
            raise ExpressionError("表达式缺失或不是文本", "the expression is missing or not text",
                                  code=CODE_SYNTAX)
        try:
            return self.sandbox.evaluate(to_python(expression), context,
                                         external_context=external_context)
        except ExpressionError as exc:
            # Name the expression as the diagram spells it, not as translated.
            translated = exc.extra.get("expression")
            exc.extra["expression"] = _snippet(expression)
            if translated is not None and translated != exc.extra["expression"]:
                exc.extra["translated"] = translated
            raise

    def execute(self, script: Any, context: dict[str, Any],
                external_context: Mapping[str, Any] | None = None) -> bool:
        # A script task drawn without a script has nothing to run.
        self.sandbox.execute("" if script is None else script, context, external_context=external_context)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> NoReturn:
        raise ExpressionError("沙箱中不能调用服务", "services cannot be called from the sandbox",
                              code=CODE_FORBIDDEN)


class SandboxScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """PythonScriptEngine whose errors keep our exception as `__cause__` and the script line."""

    def validate(self, expression: str) -> None:
        # DMN probes expressions with validate() and expects SyntaxError for what does not parse.
        try:
            ast.parse(to_python(expression))
        except ExpressionError as exc:
            raise SyntaxError(exc.message_en) from exc

    def evaluate(self, task: Any, expression: Any,
                 external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as exc:
            exc.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as exc:
            message = exc.message_en if isinstance(exc, LianbanError) else str(exc)
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}': {message}", task=task, exception=exc
            ) from exc

    def execute(self, task: Any, script: str,
                external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except SpiffWorkflowException:
            raise
        except Exception as exc:
            line = exc.line if isinstance(exc, LianbanError) else None
            lines = script.splitlines()
            error_line = lines[line - 1] if line and 0 < line <= len(lines) else ""
            message = exc.message_en if isinstance(exc, LianbanError) else str(exc)
            raise WorkflowTaskException(
                f"{type(exc).__name__}: {message}", task=task, exception=exc,
                line_number=line, error_line=error_line,
            ) from exc


def make_script_engine(
    functions: Mapping[str, Callable[..., Any]] | None = None,
) -> PythonScriptEngine:
    """The script engine every workflow must run with; never SpiffWorkflow's default."""
    return SandboxScriptEngine(environment=SandboxEnvironment(functions))
