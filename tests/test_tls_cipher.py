"""The TLS a run negotiates is said: in the summary, in JSON, and by doctor."""

import json
import re

from conftest import run_bulkup, write_random_file

NEGOTIATED = re.compile(r"TLSv1\.[23] [A-Z0-9_-]+")


def test_summary_names_the_negotiated_protocol_and_cipher(s3server, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 64 * 1024)
    proc = run_bulkup(
        "put", path, f"s3://{bucket}/", "--endpoint-url", s3server.https_url, "--progress", "plain", env=s3server.env()
    )
    assert proc.returncode == 0, proc.stderr
    worker_line = next(line for line in proc.stderr.splitlines() if line.strip().startswith("worker "))
    assert NEGOTIATED.search(worker_line), worker_line


def test_json_summary_lists_each_workers_cipher(s3server, bucket, tmp_path):
    path = write_random_file(tmp_path / "f.bin", 64 * 1024)
    proc = run_bulkup(
        "put", path, f"s3://{bucket}/", "--endpoint-url", s3server.https_url, "--progress", "json", env=s3server.env()
    )
    summary = json.loads(proc.stdout.splitlines()[-1])
    ciphers = [c for worker in summary["workers"].values() for c in worker["tls"]]
    assert ciphers and all(NEGOTIATED.fullmatch(c) for c in ciphers)


def test_doctor_names_the_cipher_a_store_negotiates(s3server, bucket):
    proc = run_bulkup("doctor", "--endpoint-url", s3server.https_url, f"s3://{bucket}", env=s3server.env())
    assert proc.returncode == 0, proc.stderr
    assert NEGOTIATED.search(next(line for line in proc.stdout.splitlines() if "TLS:" in line))
