"""What stores answered bulkup's probes, remembered for a day so that most runs ask nothing.

One small JSON file per question, endpoint and bucket under ``<cache dir>/store-answers/``,
written whole and renamed into place (runs started at once each write a complete file; the
last one stays). The bulkup version is part of the key: another version asks again. Nothing
here is needed for correctness: a missing, expired, unreadable or corrupt answer is asked
again, and one that cannot be written is forgotten (a line in the debug log, never a failure).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from bulkup.cachedir import cache_dir
from bulkup.version import __version__

LIFETIME = 24 * 3600.0  # s: how long an answer is trusted
FOLDER = "store-answers"
log = logging.getLogger("bulkup")


def recall(question: str, where: str, bucket: str, now: float | None = None) -> dict[str, Any] | None:
    """The store's answer to ``question`` given less than ``LIFETIME`` ago (None: ask it)."""
    path = _path(question, where, bucket)
    try:
        with open(path, encoding="utf-8") as f:
            kept = json.load(f)
        if kept["key"] != _key(question, where, bucket):
            return None
        age = (time.time() if now is None else now) - float(kept["asked_at"])
        answer = kept["answer"]
        return answer if 0 <= age < LIFETIME and isinstance(answer, dict) else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.debug("store answers: %s cannot be read (%s): asking the store", path, exc)
        return None


def remember(question: str, where: str, bucket: str, answer: Mapping[str, object], now: float | None = None) -> None:
    """Keep the store's ``answer`` to ``question`` for ``LIFETIME``."""
    path = _path(question, where, bucket)
    kept = {"key": _key(question, where, bucket), "asked_at": time.time() if now is None else now, "answer": answer}
    try:
        import tempfile  # with shutil, random, bz2, lzma: ~5 ms that a run remembering nothing new need not pay

        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".answer-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(kept, f)
            os.replace(partial, path)
        except BaseException:
            _discard(partial)
            raise
    except (OSError, TypeError, ValueError) as exc:
        log.debug("store answers: %s cannot be written (%s): the store will be asked again", path, exc)


def forget(question: str, where: str, bucket: str) -> None:
    """Drop the answer to ``question``: the store is asked again next time."""
    _discard(_path(question, where, bucket))


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _key(question: str, where: str, bucket: str) -> list[str]:
    return [__version__, question, where, bucket]


def _path(question: str, where: str, bucket: str) -> str:
    digest = hashlib.sha256(json.dumps(_key(question, where, bucket)).encode()).hexdigest()[:32]
    return os.path.join(cache_dir(), FOLDER, f"{digest}.json")
