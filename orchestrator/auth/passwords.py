"""Password hashing with Argon2id (argon2-cffi), and a small cache so HTTP Basic clients stay cheap.

Camunda clients send HTTP Basic on every request; hashing each one with Argon2 (tens of ms by
design) would cost more than the request. A successful check is remembered for a short time by a
SHA-256 of (stored hash, password): a changed password changes the stored hash, so it never matches.
"""

from __future__ import annotations

import hashlib
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_cache_lock = threading.Lock()
_verified: dict[str, float] = {}
CACHE_SECONDS = 300.0
_CACHE_MAX = 10_000

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _cache_key(stored: str, password: str) -> str:
    return hashlib.sha256(f"{stored}\0{password}".encode()).hexdigest()


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches the stored Argon2 hash."""
    if not stored:
        _hasher.hash(password)  # same work for unknown users: no timing hint that the name does not exist
        return False
    key = _cache_key(stored, password)
    now = time.monotonic()
    with _cache_lock:
        seen = _verified.get(key)
        if seen is not None and now - seen < CACHE_SECONDS:
            return True
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    with _cache_lock:
        if len(_verified) >= _CACHE_MAX:
            _verified.clear()
        _verified[key] = now
    return True


def forget_verified() -> None:
    with _cache_lock:
        _verified.clear()
