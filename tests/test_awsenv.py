"""What bulkup reads of the AWS environment without botocore is what botocore finds in it,
where the environment is plain; anywhere else bulkup leaves the reading to botocore. And a
bucket's route is remembered for the settings it was found with, not for others."""

from __future__ import annotations

import os

import botocore.session
import pytest

from bulkup.control.awsenv import plain_environment
from bulkup.control.plane import recall_route, remember_route
from bulkup.control.s3client import ClientSettings
from bulkup.options.profile import botocore_s3_settings, read_s3_settings
from bulkup.transport.request import BucketEndpoint, CredentialSet


@pytest.fixture
def plain(monkeypatch, tmp_path):
    """A plain environment: credentials, a region and a trust store in AWS_* variables, an
    empty config file and no credentials file."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / "ca.pem").write_text("")
    (tmp_path / "config").write_text("")
    values = {
        "AWS_ACCESS_KEY_ID": "AKIDPLAIN",
        "AWS_SECRET_ACCESS_KEY": "plain-secret",
        "AWS_SESSION_TOKEN": "plain-token",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_CA_BUNDLE": str(tmp_path / "ca.pem"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-such-file"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_a_plain_environment_gives_what_botocore_finds_in_it(plain):
    found = plain_environment(None)
    session = botocore.session.Session()
    frozen = session.get_credentials().get_frozen_credentials()
    assert found is not None
    assert found.credentials == CredentialSet(frozen.access_key, frozen.secret_key, frozen.token)
    assert found.region == session.get_config_variable("region") == "eu-west-3"
    assert found.ca_bundle == session.get_config_variable("ca_bundle") == str(plain / "ca.pem")
    assert read_s3_settings(None) == botocore_s3_settings(None)


def test_a_config_file_that_is_not_a_regular_file_says_nothing_to_botocore_either(plain, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    assert plain_environment(None) is not None
    assert read_s3_settings(None) == botocore_s3_settings(None)


NOT_PLAIN = {
    "a profile given": ({}, "p"),
    "AWS_PROFILE": ({"AWS_PROFILE": "p"}, None),
    "AWS_DEFAULT_PROFILE": ({"AWS_DEFAULT_PROFILE": "p"}, None),
    "a config file that says something": ({"AWS_CONFIG_FILE": "{config_with_region}"}, None),
    "a credentials file that says something": ({"AWS_SHARED_CREDENTIALS_FILE": "{config_with_region}"}, None),
    "no secret key": ({"AWS_SECRET_ACCESS_KEY": None}, None),
    "an empty session token": ({"AWS_SESSION_TOKEN": ""}, None),
    "an expiring credential": ({"AWS_CREDENTIAL_EXPIRATION": "2030-01-01T00:00:00Z"}, None),
    "the older token variable": ({"AWS_SECURITY_TOKEN": "t"}, None),
    "an endpoint in the environment": ({"AWS_ENDPOINT_URL_S3": "https://elsewhere"}, None),
    "a trust store that is not there": ({"AWS_CA_BUNDLE": "{missing}"}, None),
}


@pytest.mark.parametrize("case", list(NOT_PLAIN))
def test_the_environment_is_left_to_botocore_with(case, plain, monkeypatch):
    changes, profile = NOT_PLAIN[case]
    (plain / "config-with-region").write_text("[default]\nregion = us-east-2\n")
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(
                name, value.format(config_with_region=plain / "config-with-region", missing=plain / "missing.pem")
            )
    assert plain_environment(profile) is None


def test_a_route_is_recalled_only_with_the_settings_it_was_found_with(monkeypatch, tmp_path):
    monkeypatch.setenv("BULKUP_CACHE_DIR", str(tmp_path))
    settings = ClientSettings(endpoint_url="https://127.0.0.1:9000")
    endpoint = BucketEndpoint("https", "127.0.0.1", 9000, "/b", "us-east-1")
    remember_route(settings, "us-east-1", "b", endpoint)
    assert recall_route(settings, "us-east-1", "b") == endpoint
    assert recall_route(settings, "eu-west-1", "b") is None
    assert recall_route(settings, "us-east-1", "other") is None
    assert recall_route(ClientSettings(endpoint_url="https://127.0.0.1:9001"), "us-east-1", "b") is None
    assert (
        recall_route(ClientSettings(endpoint_url=settings.endpoint_url, addressing_style="virtual"), "us-east-1", "b")
        is None
    )
