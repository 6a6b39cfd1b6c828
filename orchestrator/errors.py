"""One error hierarchy for Lianban; the web layer renders every subclass as problem+json."""

from __future__ import annotations

from typing import Any


class LianbanError(Exception):
    """Base of every error a user may see: a stable code, a Chinese and an English message."""

    status: int = 400
    code: str = "lianban.error"

    def __init__(
        self,
        message_zh: str,
        message_en: str,
        *,
        code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        filename: str | None = None,
        element_id: str | None = None,
        line: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.filename = filename
        self.element_id = element_id
        self.line = line
        self.extra = extra or {}

    def to_problem(self) -> dict[str, Any]:
        """Render as an RFC 9457 problem document (with Camunda's `message` for its clients)."""
        problem: dict[str, Any] = {
            "type": f"https://lianban.dev/problems/{self.code}",
            "title": self.message_zh,
            "status": self.status,
            "code": self.code,
            "detail": self.message_zh,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            # Camunda 7 clients read these two keys.
            "message": self.message_en,
        }
        for key in ("field", "filename", "element_id", "line"):
            value = getattr(self, key)
            if value is not None:
                problem[key] = value
        problem.update(self.extra)
        return problem


class InvalidRequestError(LianbanError):
    """The request itself is malformed or names a bad field."""

    status = 400
    code = "request.invalid"


class NotFoundError(LianbanError):
    status = 404
    code = "resource.not_found"


class ConflictError(LianbanError):
    status = 409
    code = "resource.conflict"


class DiagramError(LianbanError):
    """A BPMN/DMN/form document was refused; names the file, the element id and the line."""

    status = 400
    code = "bpmn.invalid"


class ExpressionError(LianbanError):
    """An expression or script in a diagram failed or is not allowed."""

    status = 400
    code = "expression.invalid"


class SandboxViolationError(ExpressionError):
    """An expression or script tried to leave the sandbox (imports, dunders, files, CPU, memory)."""

    code = "expression.forbidden"


class EngineError(LianbanError):
    """The engine met a state it will not run on silently (depth stall, branch variable conflict)."""

    status = 500
    code = "engine.error"


class AuthenticationError(LianbanError):
    """No valid credentials: sign in (browser) or send HTTP Basic / a bearer token (API)."""

    status = 401
    code = "auth.unauthenticated"


class PermissionDeniedError(LianbanError):
    """Signed in, but this role or this scope may not do that."""

    status = 403
    code = "auth.forbidden"


class TooManyAttemptsError(LianbanError):
    """Sign-in throttled after repeated failures."""

    status = 429
    code = "auth.throttled"
