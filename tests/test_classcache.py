"""The dataclass method cache: a class made from cached bytecode is the class the compiler
makes, a second run compiles nothing, and a cache that cannot be trusted is not used."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest

from bulkup import classcache

TEMPLATE = textwrap.dedent(
    """
    from dataclasses import dataclass, field

    @dataclass(frozen=True, kw_only=True)
    class Part:
        key: str
        number: int = 1
        tags: tuple[str, ...] = field(default_factory=tuple)
    """
)


def _made(exec_function):
    """The Part class made with the dataclasses module's exec set to ``exec_function``."""
    before = dataclasses.__dict__.get("exec")
    dataclasses.exec = exec_function
    try:
        namespace: dict = {}
        exec(TEMPLATE, namespace)
        return namespace["Part"]
    finally:
        if before is None:
            del dataclasses.exec
        else:
            dataclasses.exec = before


def test_a_dataclass_made_from_cached_bytecode_behaves_as_the_compiled_one():
    stock = _made(exec)
    _made(classcache._exec)  # compiles the texts and keeps them
    cached = _made(classcache._exec)  # made from what was kept
    for cls in (stock, cached):
        part = cls(key="a", number=2)
        assert repr(part) == "Part(key='a', number=2, tags=())"
        assert part == cls(key="a", number=2) and hash(part) == hash(cls(key="a", number=2))
        with pytest.raises(dataclasses.FrozenInstanceError):
            part.key = "b"
        with pytest.raises(TypeError):
            cls("a")  # keyword-only
    assert cached.__init__.__annotations__ == stock.__init__.__annotations__  # no __future__ flags leaked in
    for method in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
        assert getattr(cached, method).__code__.co_code == getattr(stock, method).__code__.co_code, method


def _run(code: str, cache: str) -> str:
    env = {**os.environ, "BULKUP_CACHE_DIR": cache}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


COUNT = "import bulkup.cli.main; from bulkup import classcache; print(classcache._compiled)"


def test_a_second_command_line_start_compiles_no_dataclass_text(tmp_path):
    first = int(_run(COUNT + "; classcache.save()", str(tmp_path)))
    assert first > 20  # the command line's classes, compiled and then kept
    assert int(_run(COUNT, str(tmp_path))) == 0


def _saved_cache(tmp_path, monkeypatch) -> str:
    """A cache file a command line start wrote into ``tmp_path``; its path."""
    _run(COUNT + "; classcache.save()", str(tmp_path))
    monkeypatch.setenv("BULKUP_CACHE_DIR", str(tmp_path))
    path = classcache.cache_file()
    assert os.stat(path).st_mode & 0o077 == 0  # this user's alone
    return path


def test_a_cache_anyone_else_could_have_written_is_not_used(tmp_path, monkeypatch):
    path = _saved_cache(tmp_path, monkeypatch)
    os.chmod(path, 0o666)
    assert int(_run(COUNT, str(tmp_path))) > 20


def test_a_damaged_cache_means_compiling_again(tmp_path, monkeypatch):
    path = _saved_cache(tmp_path, monkeypatch)
    with open(path, "r+b") as f:
        f.truncate(100)
    assert int(_run(COUNT, str(tmp_path))) > 20
    with open(path, "wb") as f:
        f.write(b"not marshal data")
    assert int(_run(COUNT, str(tmp_path))) > 20


def test_the_cached_exec_without_globals_runs_in_its_callers_namespace_as_exec_does():
    made: dict = {}
    classcache._exec("name = __name__", None, made)
    assert made["name"] == __name__  # this module's globals, not the cache's
