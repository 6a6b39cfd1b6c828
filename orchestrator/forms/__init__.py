"""Task forms: form-js schemas in forms/, referenced by `camunda:formKey="lianban:<name>"`.

No Flask and no SQL here: `schema` reads a form file, `feel` evaluates its conditions, `validation`
checks a submission. The registry finds `forms/<name>.form` for a form key and keeps each checked
form until its file changes.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from orchestrator.errors import LianbanError
from orchestrator.forms.schema import FormSchema, load_form

FORM_KEY_PREFIX = "lianban:"
FORM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,100}$")


def form_name(form_key: str | None) -> str | None:
    """`lianban:restaurant-fire-safety` → `restaurant-fire-safety`; None for other keys (not ours to check)."""
    if not form_key or not form_key.startswith(FORM_KEY_PREFIX):
        return None
    return form_key[len(FORM_KEY_PREFIX):]


class FormRegistry:
    """Checked forms by name, reloaded when the file's modification time or size changes."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or Path(__file__).resolve().parents[2] / "forms"
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[int, int], FormSchema]] = {}

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.form") if p.is_file() and FORM_NAME.match(p.stem))

    def get(self, name: str) -> FormSchema:
        if not FORM_NAME.match(name):  # never a path: no "..", no "/"
            raise _missing(name)
        path = self.directory / f"{name}.form"
        try:
            stat = path.stat()
        except OSError:
            raise _missing(name) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        form = load_form(name, path.read_bytes())
        with self._lock:
            self._cache[name] = (stamp, form)
        return form

    def for_key(self, form_key: str | None) -> FormSchema | None:
        """The form of a task's form key, or None when the key is not a `lianban:` one."""
        name = form_name(form_key)
        return self.get(name) if name is not None else None


def _missing(name: str) -> LianbanError:
    return LianbanError(f"表单不存在：{FORM_KEY_PREFIX}{name}（forms/{name}.form）",
                         f"No form file for {FORM_KEY_PREFIX}{name}", code="form.not_found", status=422,
                        field="formKey")


registry = FormRegistry()

__all__ = ["FORM_KEY_PREFIX", "FormRegistry", "FormSchema", "form_name", "registry"]
