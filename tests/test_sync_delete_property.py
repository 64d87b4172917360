"""sync --delete on random trees against a real store: it never deletes an object whose source
entry exists, never a folder marker, and nothing at all after a read error."""

import itertools
import os

import pytest
from conftest import keys_in, run_bulkup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_errors import _without_root_file_access
from trees import NAMES, build, readable_again, trees

pytestmark = pytest.mark.slow
_prefixes = itertools.count()


def entries(root: str, rel: str = "", ancestors: frozenset = frozenset()) -> list[str]:
    """Every path below ``root`` that could be a key: files, FIFOs, unreadable entries,
    directories (as markers, with ``/``), through links too (never round a loop)."""
    found = []
    directory = os.path.join(root, rel)
    if not ancestors:
        ancestors = frozenset({os.path.realpath(root)})
    for name in sorted(os.listdir(directory)):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path) or (os.path.islink(path) and os.path.isdir(path)):
            found.append(rel + name + "/")
            real = os.path.realpath(path)
            if real not in ancestors and os.access(path, os.R_OK | os.X_OK) and os.stat(path).st_mode & 0o777:
                found += entries(root, rel + name + "/", ancestors | {real})
        else:
            found.append(rel + name)
    return found


def has_read_errors(root: str) -> bool:
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if not os.path.islink(path) and os.stat(path).st_mode & 0o777 == 0:
                return True
    return False


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(steps=trees(odd=True, max_steps=10), strays=st.lists(st.tuples(NAMES, NAMES), min_size=1, max_size=4))
def test_delete_never_deletes_an_object_whose_source_exists(s3server, s3, bucket, tmp_path_factory, steps, strays):
    root = str(tmp_path_factory.mktemp("tree"))
    build(root, steps)
    prefix = f"p{next(_prefixes)}/"
    try:
        gone = {f"{prefix}{a}/{b}.gone" for a, b in strays}  # no file: --delete's to delete
        before = {prefix + rel for rel in entries(root)} | gone
        for key in before:
            s3.put_object(Bucket=bucket, Key=key, Body=b"" if key.endswith("/") else b"old")
        proc = run_bulkup(
            "sync",
            root,
            f"s3://{bucket}/{prefix}",
            "--delete",
            "--endpoint-url",
            s3server.https_url,
            "--progress",
            "none",
            env=s3server.env(),
            preexec_fn=_without_root_file_access,
        )
        assert proc.returncode in (0, 2), proc.stderr
        assert "Traceback" not in proc.stderr and "bulkup: error" not in proc.stderr, proc.stderr
        after = {k for k in keys_in(s3, bucket) if k.startswith(prefix)}
        deleted = before - after
        for key in deleted:
            rel = key[len(prefix) :]
            assert not key.endswith("/"), f"deleted the folder marker {key}"
            assert not os.path.lexists(os.path.join(root, rel)), f"deleted {key}, whose source exists"
        if has_read_errors(root):
            assert deleted == set(), "deleted after a read error"
        if "warning: skipped" not in proc.stderr:  # nothing passed over: all of them go
            assert deleted == gone
    finally:
        readable_again(root)
