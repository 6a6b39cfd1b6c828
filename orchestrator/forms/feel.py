"""The FEEL subset that form-js conditions are written in (`conditional.hide`), evaluated on the server.

form-js hides a field when its `conditional.hide` expression (FEEL, prefixed with `=`) is true, and
does not submit a hidden field's value. The server must agree with the browser about which fields
are visible, or a required-but-hidden field could never be submitted, and a hidden one could smuggle
a value in. Supported, with FEEL's semantics (https://docs.camunda.io/docs/components/modeler/feel/):

- literals: strings in double quotes, numbers, ``true``, ``false``, ``null``; lists ``[1, "a"]``
- names and paths (``applicant.district``); a missing name or key is ``null``
- comparisons ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (comparing different types gives ``null``)
- ``and``, ``or`` (three-valued), ``not(…)``, parentheses, ``x in [..]``, ``is defined(x)``
- arithmetic ``+ - * /`` on numbers, ``+`` on strings

Anything else is refused when the form is loaded, naming the component, never guessed at run time.
Expressions are parsed once into a small tree; evaluation cannot loop or allocate without bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_EXPRESSION_LENGTH = 1000
MAX_DEPTH = 40

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|!=|=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|\.)
  | (?P<name>[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]*)
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "true", "false", "null", "in", "is", "defined"}


class FeelError(ValueError):
    """An expression outside the supported FEEL subset; the message is Chinese, for the analyst."""


@dataclass(frozen=True)
class Node:
    kind: str  # literal | name | list | compare | logic | not | in | defined | arith | neg
    value: Any = None
    children: tuple[Node, ...] = ()


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FeelError(f"无法识别的字符“{text[position]}”（第 {position + 1} 个字符）")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def accept(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == value and token[0] in ("op", "name"):
            self.position += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            token = self.peek()
            raise FeelError(f"此处应为“{value}”，实际为“{token[1] if token else '表达式结束'}”")

    def parse(self) -> Node:
        node = self.disjunction()
        if self.peek() is not None:
            raise FeelError(f"表达式末尾有多余内容：“{self.peek()[1]}”")  # type: ignore[index]
        return node

    def _nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FeelError("表达式嵌套过深")

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.accept("or"):
            node = Node("logic", "or", (node, self.conjunction()))
        return node

    def conjunction(self) -> Node:
        node = self.comparison()
        while self.accept("and"):
            node = Node("logic", "and", (node, self.comparison()))
        return node

    def comparison(self) -> Node:
        node = self.additive()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ("=", "!=", "<", "<=", ">", ">="):
            self.position += 1
            return Node("compare", token[1], (node, self.additive()))
        if self.accept("in"):
            return Node("in", None, (node, self.additive()))
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in ("+", "-"):
            self.position += 1
            node = Node("arith", token[1], (node, self.multiplicative()))
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in ("*", "/"):
            self.position += 1
            node = Node("arith", token[1], (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.accept("-"):
            self._nested()
            return Node("neg", None, (self.unary(),))
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while self.accept("."):
            token = self.peek()
            if token is None or token[0] != "name":
                raise FeelError("“.”之后应为属性名")
            self.position += 1
            node = Node("path", token[1], (node,))
        return node

    def primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise FeelError("表达式不完整")
        kind, text = token
        if kind == "number":
            self.position += 1
            return Node("literal", Decimal(text))
        if kind == "string":
            self.position += 1
            return Node("literal", _unescape(text[1:-1]))
        if kind == "op" and text == "(":
            self.position += 1
            self._nested()
            node = self.disjunction()
            self.expect(")")
            return node
        if kind == "op" and text == "[":
            self.position += 1
            self._nested()
            items: list[Node] = []
            if not self.accept("]"):
                items.append(self.disjunction())
                while self.accept(","):
                    items.append(self.disjunction())
                self.expect("]")
            return Node("list", None, tuple(items))
        if kind == "name":
            self.position += 1
            if text in ("true", "false"):
                return Node("literal", text == "true")
            if text == "null":
                return Node("literal", None)
            if text == "not":
                self.expect("(")
                self._nested()
                node = self.disjunction()
                self.expect(")")
                return Node("not", None, (node,))
            if text == "is" and self.accept("defined"):
                self.expect("(")
                node = self.disjunction()
                self.expect(")")
                return Node("defined", None, (node,))
            if text in _KEYWORDS:
                raise FeelError(f"此处不能使用关键字“{text}”")
            return Node("name", text)
        raise FeelError(f"此处不能出现“{text}”")


def _unescape(text: str) -> str:
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def parse(expression: str) -> Node:
    """Parse a form-js expression (``=…``); raises FeelError in Chinese for anything unsupported."""
    text = expression.strip()
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise FeelError(f"表达式过长（上限 {MAX_EXPRESSION_LENGTH} 个字符）")
    if not text.startswith("="):
        raise FeelError("条件表达式应以“=”开头（FEEL）")
    return _Parser(text[1:]).parse()


def names(node: Node) -> set[str]:
    """The top-level variable names an expression reads."""
    if node.kind == "name":
        return {str(node.value)}
    found: set[str] = set()
    for child in node.children:
        found |= names(child)
    return found


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _normal(value: Any) -> Any:
    number = _number(value)
    return number if number is not None else value


def _equal(left: Any, right: Any) -> bool | None:
    left, right = _normal(left), _normal(right)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, Decimal) and isinstance(right, Decimal):
        return left == right
    if type(left) is not type(right):
        return None
    return bool(left == right)


def _order(op: str, left: Any, right: Any) -> bool | None:
    left, right = _normal(left), _normal(right)
    comparable = (isinstance(left, Decimal) and isinstance(right, Decimal)) or (
        isinstance(left, str) and isinstance(right, str))
    if not comparable:
        return None
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def evaluate(node: Node, data: Mapping[str, Any]) -> Any:
    """Evaluate against the form's data (case variables overlaid with the submitted values)."""
    kind = node.kind
    if kind == "literal":
        return node.value
    if kind == "name":
        return data.get(str(node.value))
    if kind == "path":
        base = evaluate(node.children[0], data)
        return base.get(node.value) if isinstance(base, Mapping) else None
    if kind == "list":
        return [evaluate(child, data) for child in node.children]
    if kind == "compare":
        left, right = (evaluate(child, data) for child in node.children)
        if node.value == "=":
            return _equal(left, right)
        if node.value == "!=":
            equal = _equal(left, right)
            return None if equal is None else not equal
        return _order(str(node.value), left, right)
    if kind == "logic":
        left, right = (evaluate(child, data) for child in node.children)
        if node.value == "and":
            if left is False or right is False:
                return False
            return True if left is True and right is True else None
        if left is True or right is True:
            return True
        return False if left is False and right is False else None
    if kind == "not":
        value = evaluate(node.children[0], data)
        return (not value) if isinstance(value, bool) else None
    if kind == "in":
        value, options = (evaluate(child, data) for child in node.children)
        if not isinstance(options, list):
            return _equal(value, options)
        return any(_equal(value, option) is True for option in options)
    if kind == "defined":
        return evaluate(node.children[0], data) is not None
    if kind == "neg":
        number = _number(evaluate(node.children[0], data))
        return -number if number is not None else None
    left, right = (evaluate(child, data) for child in node.children)
    if node.value == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    if node.value == "+":
        return a + b
    if node.value == "-":
        return a - b
    if node.value == "*":
        return a * b
    return a / b if b != 0 else None
