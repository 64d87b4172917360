"""The discard endpoint's nginx.conf: which S3 operation a request is, and its fixed answer.

nginx settings and why:

* ``worker_processes 1``: one worker process, cheap and predictable; its CPU is easy to
  attribute and it leaves the other cores to the client being measured.
* ``return`` answers in the rewrite phase and nginx discards the body (never buffered or
  written to disk); ``Expect: 100-continue`` is honoured (nginx sends ``100 Continue`` before
  discarding), chunked and aws-chunked bodies are discarded like any other.
* ``client_max_body_size 0`` (no limit); ``lingering_time`` raised to an hour: nginx keeps
  discarding a body after it has answered, and by default gives up (closing the connection)
  30 s after the answer, which a slow multi-GiB PutObject would exceed.
* ``keepalive_requests`` and ``keepalive_timeout`` high, so connections are reused.
* The access log (method, S3 operation, status, request length, connection and its request
  count, URI; never a header, so no Authorization) is buffered (``buffer=64k flush=1s``):
  logging costs one write per 64 KiB. ``requests()`` makes nginx flush it (SIGUSR1, "reopen
  logs") before reading it. A logged 200 does not prove the body arrived (nginx answers
  before it has read it): over HTTPS ``bytes_read()`` does.
* nginx runs as a foreground child (``daemon off``) with every file it writes (pid, logs,
  temp paths) under the per-run work directory. Run as root, the worker keeps root's identity
  (``user root``) so it can write there; otherwise nginx runs as the invoking user.
"""

from __future__ import annotations

import os

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
UPLOAD_ID = "discard-upload"
REGION = "us-east-1"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
CHECKSUMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
XML_NAMES = {
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "crc64nvme": "ChecksumCRC64NVME",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
}

# (S3 operation, nginx regex on "METHOD TARGET ?QUERY", where TARGET is bucket or object),
# first match wins.
OPERATIONS = (
    ("HeadBucket", r"^HEAD bucket "),
    ("GetBucketLocation", r"^GET bucket .*[?&]location(=|&|$)"),
    ("ListMultipartUploads", r"^GET bucket .*[?&]uploads(=|&|$)"),
    ("ListObjectsV2", r"^GET bucket .*[?&]list-type=2(&|$)"),
    ("ListObjects", r"^GET bucket "),
    ("CreateBucket", r"^PUT bucket "),
    ("DeleteObjects", r"^POST bucket .*[?&]delete(=|&|$)"),
    ("CreateMultipartUpload", r"^POST object .*[?&]uploads(=|&|$)"),
    ("UploadPart", r"^PUT object .*[?&](partNumber|uploadId)="),
    ("CompleteMultipartUpload", r"^POST object .*[?&]uploadId="),
    ("AbortMultipartUpload", r"^DELETE object .*[?&]uploadId="),
    ("ListParts", r"^GET object .*[?&]uploadId="),
    ("PutObject", r"^PUT object "),
    ("HeadObject", r"^HEAD object "),
    ("GetObject", r"^GET object "),
    ("DeleteObject", r"^DELETE object "),
)


def _xml(body: str) -> str:
    """An XML answer as an nginx string literal (single-quoted; no quote inside)."""
    assert "'" not in body
    return '\'<?xml version="1.0" encoding="UTF-8"?>' + body + "'"


def _error(code: str, message: str) -> str:
    return _xml(
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<Resource>$s3_path</Resource><RequestId>discard</RequestId></Error>"
    )


# What each operation answers: (status, body or None). Headers come from the maps below.
RESPONSES = {
    "HeadBucket": (200, "''"),
    "GetBucketLocation": (200, _xml(f'<LocationConstraint xmlns="{S3_NS}"></LocationConstraint>')),
    "ListMultipartUploads": (
        200,
        _xml(
            f'<ListMultipartUploadsResult xmlns="{S3_NS}"><Bucket>$s3_bucket</Bucket><KeyMarker></KeyMarker>'
            "<UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker>"
            "<NextUploadIdMarker></NextUploadIdMarker><MaxUploads>1000</MaxUploads>"
            "<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"
        ),
    ),
    "ListObjectsV2": (
        200,
        _xml(
            f'<ListBucketResult xmlns="{S3_NS}"><Name>$s3_bucket</Name><Prefix>$s3_prefix</Prefix>'
            "<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
            "</ListBucketResult>"
        ),
    ),
    "ListObjects": (
        200,
        _xml(
            f'<ListBucketResult xmlns="{S3_NS}"><Name>$s3_bucket</Name><Prefix>$s3_prefix</Prefix>'
            "<Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
            "</ListBucketResult>"
        ),
    ),
    "CreateBucket": (200, "''"),
    "DeleteObjects": (200, _xml(f'<DeleteResult xmlns="{S3_NS}"></DeleteResult>')),
    "CreateMultipartUpload": (
        200,
        _xml(
            f'<InitiateMultipartUploadResult xmlns="{S3_NS}"><Bucket>$s3_bucket</Bucket>'
            f"<Key>$s3_key</Key><UploadId>{UPLOAD_ID}</UploadId></InitiateMultipartUploadResult>"
        ),
    ),
    "UploadPart": (200, "''"),
    "CompleteMultipartUpload": (
        200,
        _xml(
            f'<CompleteMultipartUploadResult xmlns="{S3_NS}"><Location>$s3_location</Location>'
            f"<Bucket>$s3_bucket</Bucket><Key>$s3_key</Key><ETag>&quot;{EMPTY_MD5}-1&quot;</ETag>"
            + "".join(f"$s3_xml_{c}" for c in CHECKSUMS)
            + "$s3_xml_type"
            "</CompleteMultipartUploadResult>"
        ),
    ),
    "AbortMultipartUpload": (204, None),
    "ListParts": (404, _error("NoSuchUpload", "The specified upload does not exist.")),
    "PutObject": (200, "''"),
    "HeadObject": (404, _error("NoSuchKey", "The specified key does not exist.")),
    "GetObject": (404, _error("NoSuchKey", "The specified key does not exist.")),
    "DeleteObject": (204, None),
}


def nginx_config(workdir: str, https_port: int, http_port: int, cert: str, key: str) -> str:
    """The whole nginx.conf for one endpoint (every path inside ``workdir``)."""
    ops = "\n".join(f'        "~{pattern}" {name};' for name, pattern in OPERATIONS)
    echo_maps = "\n".join(
        f"    map $http_x_amz_checksum_{c} $s3_echo_{c} {{\n"
        f'        "~^[A-Za-z0-9+/=]+$" $http_x_amz_checksum_{c};\n        default "";\n    }}\n'
        f"    map $s3_echo_{c} $s3_xml_{c} {{\n"
        f'        "" "";\n        default "<{XML_NAMES[c]}>$s3_echo_{c}</{XML_NAMES[c]}>";\n    }}'
        for c in CHECKSUMS
    )
    echo_headers = "\n".join(f"        add_header x-amz-checksum-{c} $s3_echo_{c};" for c in CHECKSUMS)
    answers = []
    for name, (status, body) in RESPONSES.items():
        answer = f"return {status}" + (f" {body}" if body is not None else "") + ";"
        answers.append(f"        if ($s3_op = {name}) {{ {answer} }}")
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# Discard endpoint for benchmarks (written by bench/lib/discard_config.py).
{user}worker_processes 1;
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/logs/error.log notice;
pcre_jit on;

events {{
    worker_connections 1024;
}}

http {{
    server_tokens off;
    types {{ }}
    default_type application/xml;
    charset off;
    client_body_temp_path {workdir}/tmp/body;
    proxy_temp_path {workdir}/tmp/proxy;
    fastcgi_temp_path {workdir}/tmp/fastcgi;
    uwsgi_temp_path {workdir}/tmp/uwsgi;
    scgi_temp_path {workdir}/tmp/scgi;

    client_max_body_size 0;
    client_header_buffer_size 8k;
    large_client_header_buffers 8 32k;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    lingering_time 3600s;
    lingering_timeout 60s;
    merge_slashes off;
    reset_timedout_connection on;

    map $uri $s3_target {{
        "~^/[^/]+/?$" bucket;
        "~^/[^/]+/." object;
        default root;
    }}
    map "$request_method $s3_target ?$args" $s3_op {{
{ops}
        default Unsupported;
    }}
    # Bucket and key as sent (percent-encoded), left empty when not safe inside XML.
    map $request_uri $s3_bucket {{
        "~^/(?<s3b>[A-Za-z0-9._-]+)(/|\\?|$)" $s3b;
        default "";
    }}
    map $request_uri $s3_key {{
        "~^/[^/?]+/(?<s3k>[^?&<>\\"']+)" $s3k;
        default "";
    }}
    map $request_uri $s3_path {{
        "~^(?<s3p>/[^?&<>\\"']*)" $s3p;
        default "";
    }}
    map $arg_prefix $s3_prefix {{
        "~^(?<s3pre>[^&<>\\"']*)$" $s3pre;
        default "";
    }}
    map $s3_op $s3_etag {{
        PutObject '"{EMPTY_MD5}-1"';
        UploadPart '"{EMPTY_MD5}"';
        default "";
    }}
    map $s3_op $s3_location {{
        CompleteMultipartUpload "$scheme://$http_host/$s3_bucket/$s3_key";
        default "";
    }}
    map $s3_op $s3_region {{
        HeadBucket {REGION};
        default "";
    }}
{echo_maps}
    map $http_x_amz_checksum_algorithm $s3_echo_algorithm {{
        "~^[A-Za-z0-9]+$" $http_x_amz_checksum_algorithm;
        default "";
    }}
    map $http_x_amz_checksum_type $s3_echo_type {{
        "~^[A-Z_]+$" $http_x_amz_checksum_type;
        default "";
    }}
    map $s3_echo_type $s3_xml_type {{
        "" "";
        default "<ChecksumType>$s3_echo_type</ChecksumType>";
    }}

    log_format s3 '$request_method $s3_op $status $request_length $connection $connection_requests '
                  '$request_uri';
    access_log {workdir}/logs/access.log s3 buffer=64k flush=1s;

    server {{
        listen 127.0.0.1:{https_port} ssl;
        listen 127.0.0.1:{http_port};
        server_name _;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;

        add_header ETag $s3_etag;
        add_header x-amz-bucket-region $s3_region;
        add_header x-amz-checksum-algorithm $s3_echo_algorithm;
        add_header x-amz-checksum-type $s3_echo_type;
{echo_headers}
        add_header x-amz-request-id discard;

{chr(10).join(answers)}
        return 501 {_error("NotImplemented", "The discard endpoint does not answer this request.")};
    }}
}}
"""
