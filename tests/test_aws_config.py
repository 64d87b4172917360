"""The AWS CLI's s3 settings of the profile in use carry over; flags win; doctor says which."""

import json

from conftest import error_line, run_bulkup, write_random_file

from bulkup.plan.parts import MiB


def profile_env(server, tmp_path, s3_lines: list[str]) -> dict[str, str]:
    """A config file with one profile, ``tuned``, holding the server's keys and ``s3_lines``."""
    config = tmp_path / "config"
    who = server.admin
    config.write_text(
        "[profile tuned]\n"
        f"aws_access_key_id = {who.access_key}\naws_secret_access_key = {who.secret_key}\n"
        "region = us-east-1\ns3 =\n" + "".join(f"  {line}\n" for line in s3_lines)
    )
    return {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CA_BUNDLE": server.ca_file,
    }


def put(server, env, *args):
    return run_bulkup("put", *args, "--profile", "tuned", "--endpoint-url", server.https_url, env=env)


def parts_of(s3, bucket: str, key: str) -> tuple[int, int]:
    """(parts, size of the first) of a multipart object."""
    first = s3.head_object(Bucket=bucket, Key=key, PartNumber=1)
    return first["PartsCount"], first["ContentLength"]


def test_a_profiles_multipart_chunksize_sets_the_part_size(s3server, s3, bucket, tmp_path):
    env = profile_env(s3server, tmp_path, ["multipart_chunksize = 16MB", "multipart_threshold = 16MB"])
    path = write_random_file(tmp_path / "f.bin", 40 * MiB)
    proc = put(s3server, env, path, f"s3://{bucket}/f.bin", "--progress", "none")
    assert proc.returncode == 0, proc.stderr
    assert parts_of(s3, bucket, "f.bin") == (3, 16 * MiB)


def test_a_flag_wins_over_the_profile(s3server, s3, bucket, tmp_path):
    env = profile_env(s3server, tmp_path, ["multipart_chunksize = 16MB"])
    path = write_random_file(tmp_path / "f.bin", 40 * MiB)
    proc = put(s3server, env, path, f"s3://{bucket}/f.bin", "--part-size", "10MiB", "--progress", "none")
    assert proc.returncode == 0, proc.stderr
    assert parts_of(s3, bucket, "f.bin") == (4, 10 * MiB)


def test_max_concurrent_requests_is_shared_by_the_workers(s3server, bucket, tmp_path):
    env = profile_env(s3server, tmp_path, ["max_concurrent_requests = 6"])
    path = write_random_file(tmp_path / "f.bin", 1000)
    proc = put(s3server, env, path, f"s3://{bucket}/", "--workers", "2", "--progress", "json")
    assert proc.returncode == 0, proc.stderr
    workers = [json.loads(line) for line in proc.stdout.splitlines() if '"event": "worker"' in line]
    assert [w["connections"] for w in workers] == [3, 3]


def test_doctor_says_where_each_setting_came_from(s3server, tmp_path):
    env = profile_env(s3server, tmp_path, ["multipart_chunksize = 16MB", "payload_signing_enabled = true"])
    proc = run_bulkup("doctor", "--profile", "tuned", env=env)
    assert proc.returncode == 0, proc.stderr
    config = env["AWS_CONFIG_FILE"]
    assert f"part_size: 16.0 MiB  ([profile tuned] s3.multipart_chunksize in {config})" in proc.stdout
    assert "multipart_threshold: 16.0 MiB  (default)" in proc.stdout
    assert (
        f"payload_signing_enabled: true  ([profile tuned] s3.payload_signing_enabled in {config}: not applied"
        in proc.stdout
    )


def test_a_bad_profile_setting_is_one_line_naming_it(s3server, bucket, tmp_path):
    env = profile_env(s3server, tmp_path, ["multipart_chunksize = lots"])
    path = write_random_file(tmp_path / "f.bin", 10)
    line = error_line(put(s3server, env, path, f"s3://{bucket}/"), exit_code=2)
    assert "[profile tuned] s3.multipart_chunksize" in line and "not a size: 'lots'" in line
