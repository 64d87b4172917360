"""Dataclasses made without compiling: their generated methods' bytecode, kept across runs.

``@dataclass`` writes a class's methods (``__init__``, ``__repr__``, ``__eq__``, a frozen
class's ``__setattr__``...) as source text and compiles it with ``exec``. The ~80 classes a
put imports cost 10-60 ms that way (the compiler's allocations are what this machine's
noisy phases slow most), a tenth of a 2,000-object run; made from compiled text, ~5 ms. The
text depends only on the class, so its bytecode is kept in the cache directory, as the
interpreter keeps a module's in ``__pycache__``: a run compiles only the text it has not
seen before. The methods are the same either way (the same text, compiled as ``exec``
compiles it, run with the same globals); a missing, stale or unreadable cache only means
compiling again.

``install()`` routes the ``exec`` calls of the ``dataclasses`` module (and no one else's)
through the cache. The command line and the worker zygote install it; a program that
imports bulkup as a library is left as it is.
"""

from __future__ import annotations

import atexit
import builtins
import dataclasses
import marshal
import os
import sys
import zlib
from types import CodeType
from typing import Any

from bulkup.cachedir import cache_dir

MAX_TEXTS = 4096  # texts kept at most (a put makes ~400; a program using bulkup may make more)
_codes: dict[str, CodeType] = {}
_compiled = 0  # texts this process compiled that the cache file does not hold yet


def install(save_at_exit: bool = True) -> None:
    """Read the cache and route the dataclasses module's ``exec`` through it (once); with
    ``save_at_exit``, keep what this process compiled when it ends (else call ``save``)."""
    if getattr(dataclasses, "exec", None) is _exec:
        return
    _codes.update(_read(cache_file()))
    setattr(dataclasses, "exec", _exec)  # the module's functions find it before the builtin  # noqa: B010
    if save_at_exit:
        atexit.register(save)


def save() -> None:
    """Write the cache if this process compiled text it did not hold (best effort: the cache
    is only ever a shortcut)."""
    global _compiled
    if not _compiled:
        return
    path = cache_file()
    partial = f"{path}.{os.getpid()}.partial"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(marshal.dumps(_codes))
        os.replace(partial, path)
        _compiled = 0
    except (OSError, ValueError):
        try:
            os.unlink(partial)
        except OSError:
            pass


def cache_file() -> str:
    """This interpreter's cache (bytecode differs between Python versions and builds)."""
    build = zlib.crc32(sys.version.encode())
    return os.path.join(cache_dir(), "classes", f"{sys.implementation.cache_tag}-{build:08x}.marshal")


def _exec(source: Any, globals: dict[str, Any] | None = None, locals: Any = None, /) -> None:
    """``exec`` as the dataclasses module calls it, with a text's bytecode from the cache."""
    global _compiled
    if globals is None:  # exec's default: the caller's namespaces, not this module's
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    if type(source) is not str:
        builtins.exec(source, globals, locals)
        return
    code = _codes.get(source)
    if code is None:
        # As exec compiles a text for its caller, which has no __future__ imports.
        code = compile(source, "<string>", "exec", dont_inherit=True)
        if len(_codes) < MAX_TEXTS:
            _codes[source] = code
            _compiled += 1
    builtins.exec(code, globals, locals)


def _read(path: str) -> dict[str, CodeType]:
    """The cache at ``path``: empty where it is missing or unreadable, or where anyone but this
    user could have written it (its code is run)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return {}
            codes = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(codes, dict):
        return {}
    return {text: code for text, code in codes.items() if type(text) is str and type(code) is CodeType}
