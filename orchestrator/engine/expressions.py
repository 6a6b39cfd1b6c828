"""Camunda 7 (JUEL) expressions and bare ISO 8601 timer literals, translated to sandbox Python.

Diagrams drawn with the Camunda modeler write conditions as `${amount > 1000 && approved}` and
timers as bare `P5D`; the sandbox only speaks a Python subset.  `to_python` bridges the two:

- `${...}` / `#{...}`: the inside is tokenized and rewritten: `&&`/`||`/`!` and the JUEL keywords
  (`and or not eq ne lt gt le ge div mod`), `null`/`true`/`false`, `empty x` becomes
  `is_empty_value(x)` (a helper the sandbox always provides), `c ? a : b` becomes
  `(a if c else b)`.  String literals are copied verbatim.  `a.b` is left alone: the sandbox reads
  an attribute of a dict as the key of that name (JUEL's property access), see sandbox.py.
- Text mixing literal text and `${...}` (a JUEL composite expression) becomes a concatenation
  of strings.
- A bare ISO 8601 duration, date-time or repeating interval becomes a Python string literal, so
  SpiffWorkflow's timer parser receives the string it expects.
- Anything else is taken to be Python and returned unchanged (after strip).

JUEL's type coercions (`"1" == 1`, `+` on strings) are not reproduced: the operators keep their
Python meaning.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
from dataclasses import dataclass
from datetime import datetime

from orchestrator.errors import ExpressionError

__all__ = [
    "EMPTY_HELPER_NAME",
    "is_camunda_expression",
    "is_iso8601_timer_literal",
    "to_python",
]

# The sandbox binds this name to its `empty` test; it must not start with "_" (those are refused).
EMPTY_HELPER_NAME = "is_empty_value"

_MAX_EXPRESSION_CHARS = 20_000

_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION_RE = re.compile(
    rf"P(?=[\dT])(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?"
)
_DATE_TIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_REPEAT_RE = re.compile(r"R(\d*)/([^/]+)(?:/([^/]+))?")
# Literal text that only joins `${}` parts with logic or comparison: `${a} && ${b}`.
_OPERATOR_ONLY_RE = re.compile(
    r"\s*(?:(?:&&|\|\||==|!=|<=|>=|[<>!]|\b(?:and|or|not|eq|ne|lt|gt|le|ge|empty)\b)\s*)+"
)
_NUMBER_TOKEN_RE = re.compile(r"\d*\.?\d+(?:[eE][+-]?\d+)?|\d+\.?")

# JUEL keyword operators and literals → Python.
_KEYWORDS = {
    "and": "and",
    "or": "or",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "div": "/",
    "mod": "%",
    "null": "None",
    "true": "True",
    "false": "False",
}
_SYMBOLS = {"&&": "and", "||": "or"}
_OPERATORS = (
    "&&", "||", "==", "!=", "<=", ">=", "**", "//", "->",
    "!", "<", ">", "+", "-", "*", "/", "%", ".", ",", "?", ":", "=", "(", ")", "[", "]", "{", "}",
)
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_WORD_OPERATORS = frozenset({"and", "or", "not", "in", "is", "if", "else"})


@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "number", "string", "op"
    text: str


@dataclass
class _Group:
    opener: str
    items: list[_Token | _Group]


_Item = _Token | _Group


def _error(expression: str, detail_zh: str, detail_en: str) -> ExpressionError:
    shown = expression if len(expression) <= 200 else expression[:200] + "…"
    return ExpressionError(
        f"表达式“{shown}”无法转换：{detail_zh}",
        f"cannot translate expression '{shown}': {detail_en}",
        code="expression.syntax",
        extra={"expression": shown},
    )


def is_iso8601_timer_literal(text: str) -> bool:
    """Whether `text` is a bare ISO 8601 duration, date(-time) or repeating interval."""
    text = text.strip()
    if not text or len(text) > 100:
        return False
    if _DURATION_RE.fullmatch(text) or _is_date_time(text):
        return True
    repeat = _REPEAT_RE.fullmatch(text)
    if repeat is None:
        return False
    parts = [part for part in repeat.group(2, 3) if part is not None]
    if len(parts) == 2 and all(_is_date_time(part) for part in parts):
        return False  # start/end without a duration repeats nothing
    return all(_DURATION_RE.fullmatch(part) or _is_date_time(part) for part in parts)


def _is_date_time(text: str) -> bool:
    if not _DATE_TIME_RE.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return False
    return True


def is_camunda_expression(text: str) -> bool:
    """Whether `text` is written in Camunda's expression language rather than Python."""
    stripped = text.strip()
    if stripped.startswith(("${", "#{")):
        return True
    if "${" not in stripped and "#{" not in stripped:
        return False
    # A Python string literal may legitimately contain "${"; only text that is not Python counts.
    try:
        ast.parse(stripped, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    return False


def to_python(expression: str) -> str:
    """Translate a Camunda/JUEL expression or a bare ISO 8601 timer literal to sandbox Python."""
    if not isinstance(expression, str):
        raise ExpressionError(
            "表达式必须是文本", "an expression must be text", code="expression.syntax"
        )
    return _translate(expression.strip())


@functools.lru_cache(maxsize=1024)
def _translate(text: str) -> str:
    """`to_python` after strip; cached because the same conditions are evaluated again and again."""
    if not text:
        raise ExpressionError("表达式为空", "the expression is empty", code="expression.syntax")
    if len(text) > _MAX_EXPRESSION_CHARS:
        raise _error(text, "表达式过长", "the expression is too long")
    if is_iso8601_timer_literal(text):
        return repr(text)
    if not is_camunda_expression(text):
        return text
    parts = _split_template(text)
    if len(parts) == 1 and parts[0][0] == "expr":
        return _translate_juel(parts[0][1], text)
    pieces: list[str] = []
    for kind, content in parts:
        if kind == "text" and _OPERATOR_ONLY_RE.fullmatch(content):
            # `${a} && ${b}` would be text, and any non-empty text is true in a condition.
            raise _error(
                text,
                "多个 ${} 之间只有运算符，请写成一个 ${...}",
                "several ${} joined by operators; write a single ${...}",
            )
        if kind == "text":
            pieces.append(repr(content))
        else:
            pieces.append(f"str({_translate_juel(content, text)})")
    return " + ".join(pieces)


def _split_template(text: str) -> list[tuple[str, str]]:
    """Split composite text into literal ("text") and `${...}` ("expr") parts."""
    parts: list[tuple[str, str]] = []
    position = 0
    literal_start = 0
    while position < len(text):
        if text.startswith(("${", "#{"), position):
            if position > literal_start:
                parts.append(("text", text[literal_start:position]))
            end = _find_closing_brace(text, position + 2)
            inner = text[position + 2 : end]
            if not inner.strip():
                raise _error(text, "${} 中没有内容", "nothing inside ${}")
            parts.append(("expr", inner))
            position = end + 1
            literal_start = position
        else:
            position += 1
    if literal_start < len(text):
        parts.append(("text", text[literal_start:]))
    return parts


def _find_closing_brace(text: str, start: int) -> int:
    depth = 0
    position = start
    while position < len(text):
        char = text[position]
        if char in "'\"":
            position = _end_of_string(text, position)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return position
            depth -= 1
        position += 1
    raise _error(text, "缺少与 ${ 配对的 }", "missing the } closing ${")


def _end_of_string(text: str, start: int) -> int:
    """Index just past the string literal that opens at `start`."""
    quote = text[start]
    position = start + 1
    while position < len(text):
        if text[position] == "\\":
            position += 2
            continue
        if text[position] == quote:
            return position + 1
        position += 1
    raise _error(text, "字符串缺少结束引号", "unterminated string literal")


def _tokenize(source: str, whole: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        char = source[position]
        if char.isspace():
            position += 1
        elif char in "'\"":
            end = _end_of_string(source, position)
            tokens.append(_Token("string", source[position:end]))
            position = end
        elif char.isdigit() or (char == "." and source[position + 1 : position + 2].isdigit()):
            match = _NUMBER_TOKEN_RE.match(source, position)
            if match is None:  # pragma: no cover - the pattern always matches a digit
                raise _error(whole, "数字格式有误", "malformed number")
            tokens.append(_Token("number", match.group()))
            position = match.end()
        elif char.isalpha() or char == "_":
            end = position + 1
            while end < len(source) and (source[end].isalnum() or source[end] == "_"):
                end += 1
            tokens.append(_Token("name", source[position:end]))
            position = end
        else:
            for operator in _OPERATORS:
                if source.startswith(operator, position):
                    tokens.append(_Token("op", operator))
                    position += len(operator)
                    break
            else:
                raise _error(whole, f"无法识别的字符“{char}”", f"unexpected character {char!r}")
    return tokens


def _group(tokens: list[_Token], whole: str) -> list[_Item]:
    """Nest bracketed token runs so that the translation can treat them as single operands."""
    root: list[_Item] = []
    stack: list[tuple[str, list[_Item]]] = []
    current = root
    for token in tokens:
        if token.kind == "op" and token.text in _CLOSERS:
            stack.append((token.text, current))
            group = _Group(token.text, [])
            current.append(group)
            current = group.items
        elif token.kind == "op" and token.text in _CLOSERS.values():
            if not stack or _CLOSERS[stack[-1][0]] != token.text:
                raise _error(whole, f"多余的“{token.text}”", f"unbalanced {token.text!r}")
            current = stack.pop()[1]
        else:
            current.append(token)
    if stack:
        raise _error(whole, f"缺少与“{stack[-1][0]}”配对的括号", f"unclosed {stack[-1][0]!r}")
    return root


def _translate_juel(source: str, whole: str) -> str:
    items = _group(_tokenize(source, whole), whole)
    if not items:
        raise _error(whole, "${} 中没有内容", "nothing inside ${}")
    return _Translator(whole).sequence(items)


def _is_op(item: _Item | None, *texts: str) -> bool:
    return isinstance(item, _Token) and item.kind == "op" and item.text in texts


def _is_name(item: _Item | None, *texts: str) -> bool:
    return isinstance(item, _Token) and item.kind == "name" and item.text in texts


class _Translator:
    """Rewrites a grouped token list; unary operators get their exact JUEL operand."""

    def __init__(self, whole: str) -> None:
        self.whole = whole

    def sequence(self, items: list[_Item]) -> str:
        if not items:
            raise _error(self.whole, "缺少操作数", "an operand is missing")
        question = self._find_top_level(items, "?")
        if question is not None:
            colon = self._matching_colon(items, question)
            condition = self.sequence(items[:question])
            chosen = self.sequence(items[question + 1 : colon])
            other = self.sequence(items[colon + 1 :])
            return f"({chosen} if {condition} else {other})"
        out: list[str] = []
        index = 0
        while index < len(items):
            if self._is_unary(items, index):
                text, index = self._unary(items, index)
                out.append(text)
                continue
            out.append(self._plain(items, index))
            index += 1
        return _join(out)

    @staticmethod
    def _find_top_level(items: list[_Item], text: str) -> int | None:
        for index, item in enumerate(items):
            if _is_op(item, text):
                return index
        return None

    def _matching_colon(self, items: list[_Item], question: int) -> int:
        pending = 0
        for index in range(question + 1, len(items)):
            if _is_op(items[index], "?"):
                pending += 1
            elif _is_op(items[index], ":"):
                if pending == 0:
                    return index
                pending -= 1
        raise _error(self.whole, "条件运算 ? 缺少 :", "the ?: operator is missing its ':'")

    def _is_unary(self, items: list[_Item], index: int) -> bool:
        item = items[index]
        previous = items[index - 1] if index > 0 else None
        if _is_op(previous, "."):
            return False  # a key called "empty" or "not"
        if _is_op(item, "!") or _is_name(item, "empty"):
            return True
        if _is_name(item, "not"):
            # Python's `not in` / `is not` stay as written.
            following = items[index + 1] if index + 1 < len(items) else None
            return not _is_name(following, "in") and not _is_name(previous, "is")
        return False

    def _unary(self, items: list[_Item], index: int) -> tuple[str, int]:
        item = items[index]
        assert isinstance(item, _Token)
        if _is_op(item, "-", "+"):
            operand, end = self._operand(items, index + 1)
            return f"({item.text}{operand})", end
        operand, end = self._operand(items, index + 1)
        if item.text == "empty":
            return f"{EMPTY_HELPER_NAME}({operand})", end
        return f"(not {operand})", end

    def _operand(self, items: list[_Item], index: int) -> tuple[str, int]:
        """Translate one unary operand: prefix operators, then a primary and its postfixes."""
        if index >= len(items):
            raise _error(self.whole, "运算符后缺少操作数", "an operator is missing its operand")
        if self._is_unary(items, index) or _is_op(items[index], "-", "+"):
            return self._unary(items, index)
        item = items[index]
        if isinstance(item, _Token) and item.kind == "op":
            raise _error(
                self.whole, f"“{item.text}”不能作为操作数", f"{item.text!r} cannot be an operand"
            )
        parts = [self._plain(items, index)]
        index += 1
        while index < len(items):
            following = items[index]
            if _is_op(following, ".") and index + 1 < len(items):
                member = items[index + 1]
                if not (isinstance(member, _Token) and member.kind == "name"):
                    raise _error(self.whole, "“.”后应为名称", "a name must follow '.'")
                parts.append("." + member.text)
                index += 2
            elif isinstance(following, _Group) and following.opener in "([":
                parts.append(self._group_text(following))
                index += 1
            else:
                break
        return "".join(parts), index

    def _plain(self, items: list[_Item], index: int) -> str:
        item = items[index]
        if isinstance(item, _Group):
            return self._group_text(item)
        if item.kind == "name":
            if _is_op(items[index - 1] if index > 0 else None, "."):
                return item.text  # a member name is never a keyword
            return _KEYWORDS.get(item.text, item.text)
        if item.kind == "op":
            if item.text == "?" or item.text == "!":
                raise _error(self.whole, f"“{item.text}”用法有误", f"misplaced {item.text!r}")
            return _SYMBOLS.get(item.text, item.text)
        return item.text

    def _group_text(self, group: _Group) -> str:
        elements: list[list[_Item]] = [[]]
        for item in group.items:
            if _is_op(item, ","):
                elements.append([])
            else:
                elements[-1].append(item)
        if elements == [[]]:
            inner = ""
        else:
            rendered = [self._element(element, group.opener) for element in elements]
            inner = ", ".join(rendered)
        return f"{group.opener}{inner}{_CLOSERS[group.opener]}"

    def _element(self, element: list[_Item], opener: str) -> str:
        if not element:
            return ""  # a trailing comma, as in (1,)
        if opener == "{" or (opener == "[" and self._find_top_level(element, "?") is None):
            # Dict entries and slices use ':' themselves; translate around it.
            pieces: list[list[_Item]] = [[]]
            for item in element:
                if _is_op(item, ":"):
                    pieces.append([])
                else:
                    pieces[-1].append(item)
            return ": ".join(self.sequence(piece) if piece else "" for piece in pieces).strip()
        return self.sequence(element)


def _join(parts: list[str]) -> str:
    """Join translated tokens with single spaces, tight around '.', ',' and call brackets."""
    text = ""
    previous = ""
    for part in parts:
        tight = (
            not text
            or part in (".", ",")
            or previous == "."
            or (part[:1] in "([" and _ends_operand(previous))
        )
        text += part if tight else " " + part
        previous = part
    return text


def _ends_operand(part: str) -> bool:
    last = part[-1:]
    return (last.isalnum() or last in "_)]'\"") and not keyword.iskeyword(part)
