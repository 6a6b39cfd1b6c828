"""Masking of personal ID numbers (身份证号) in whatever a read returns: variables, reports, free text.

Two rules, applied the same way to every document a route returns:
- a value under a personal-ID name (`applicant_id_number`, `id_number`, `身份证号`; also the `value` of a
  `{"name"|"field"|"key"|"variable": <such a name>, "value": …}` entry or of a Camunda typed variable) is masked whole;
- any other text is searched for numbers shaped like an 18-digit ID number (region, birth date, sequence,
  check character), which are masked where they stand: a reviewer writing the number into an opinion, a
  file named after it, a note.
Masking keeps the first and last four characters (`6301**********1234`) and is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Variables that hold a personal ID number (身份证号): `applicant_id_number`, `id_number`, `身份证号`.
PII_NAME = re.compile(r"(^|_)id_number$|身份证")
# An 18-digit resident ID number (GB 11643) inside text: region, birth date 18xx–20xx, sequence, check.
ID_NUMBER_IN_TEXT = re.compile(
    r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)")
_ENTRY_NAME_KEYS = ("name", "field", "key", "variable")


def mask_id_number(value: str) -> str:
    """`110105199001011234` → `1101**********1234`: enough to tell two people apart, not to use the number."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_text(text: str) -> str:
    """The text with every ID-number-shaped run masked where it stands."""
    return ID_NUMBER_IN_TEXT.sub(lambda match: mask_id_number(match.group(0)), text)


def is_pii_name(name: Any) -> bool:
    return isinstance(name, str) and PII_NAME.search(name) is not None


def mask_document(value: Any, pii: bool = False) -> Any:
    """A copy of a JSON-like document with every personal ID number masked (`pii`: `value` is one whole)."""
    if isinstance(value, str):
        return mask_id_number(value) if pii else mask_text(value)
    if isinstance(value, Mapping):
        entry_is_pii = pii or any(is_pii_name(value.get(key)) for key in _ENTRY_NAME_KEYS)
        return {key: mask_document(item, is_pii_name(key) or (entry_is_pii and key == "value"))
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_document(item, pii) for item in value]
    return value


def pii_names(variables: Mapping[str, Any]) -> list[str]:
    """The names of the variables that masking changes: what a view in clear discloses (for the audit)."""
    return sorted(name for name, value in variables.items() if mask_document(value, is_pii_name(name)) != value)


def mask_pii(variables: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the variables with every personal ID number masked."""
    return {name: mask_document(value, is_pii_name(name)) for name, value in variables.items()}
