"""bulkup as a user installs it: the wheel holds the package alone, and works from anywhere."""

import os
import subprocess
import sys
import zipfile

import pytest
from conftest import assert_same_bytes, write_random_file

from devtools.timescale import scaled

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), ROOT],
        check=True,
        capture_output=True,
    )
    [name] = os.listdir(out)
    return str(out / name)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> str:
    """The wheel installed into a folder of its own (its dependencies come from this venv)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), wheel],
        check=True,
        capture_output=True,
    )
    return str(target)


def test_the_wheel_holds_the_package_and_no_dev_tooling(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"bulkup"}
    assert "bulkup/transport/worker.py" in names
    assert not [n for n in names if "devtools" in n or "/dev" in n or "demo" in n or "tests/" in n]


def run_installed(installed, cwd, *argv, env=None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full_env.update(env or {}, PYTHONPATH=installed)
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=scaled(300)
    )


def test_installed_outside_the_checkout_it_imports_from_the_install(installed, tmp_path):
    proc = run_installed(
        installed,
        tmp_path,
        "-c",
        "import bulkup, sys; print(bulkup.__file__); print(bulkup.upload.__module__, bulkup.ProgressSink.__name__)",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(installed)
    assert proc.stdout.splitlines()[1] == "bulkup.api ProgressSink"
    assert run_installed(installed, tmp_path, "-c", "import devtools").returncode != 0


def test_installed_outside_the_checkout_bulkup_put_lands_byte_exact(installed, s3server, s3, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 6 * 1024 * 1024 + 3)
    proc = run_installed(
        installed,
        tmp_path,
        "-m",
        "bulkup",
        "put",
        path,
        f"s3://{bucket}/f.bin",
        "--endpoint-url",
        s3server.https_url,
        "--part-size",
        "5MiB",
        env=s3server.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert_same_bytes(s3, bucket, "f.bin", path)
