"""In-process stand-ins for the coordinator's surroundings: a pool of workers driven on cue
by the test, a boto3 S3 client that records its calls, and a boto3 session whose
credentials can rotate.

``FakePool`` workers read the real files of the tasks they are given and answer as real
workers do: ``BytesSent`` and ``PartDone`` with the part's ETag (MD5 of its bytes) and
checksum (the task's algorithm over its bytes). A test tells them, before or during the run,
to fail a part (``fail``), to retry one (``retry``), or to die (``die``). Each call of
``receive()`` is one round: every live worker answers what it holds (at most ``pace`` tasks);
a dying worker answers some, then its ``WorkerGone`` closes its messages in the same batch,
as ``LocalPool`` reports a death. With ``store=`` a ``FakeS3Client``, the parts and objects
workers send land in that fake server.

``FakeS3Client`` answers the control-plane calls bulkup makes (create, complete and abort
multipart uploads, HeadObject, and the ListParts / ListMultipartUploads paginators) from
a small in-memory server, and raises ``botocore.exceptions.ClientError`` with a given code
when told to (``answer_error``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import botocore.exceptions as bex
from botocore.credentials import ReadOnlyCredentials

from bulkup.plan.checksums import get_algorithm
from bulkup.plan.results import WorkerStats
from bulkup.pools.base import OnMessage, Pool, Worker, WorkerGone, WorkerState
from bulkup.transport.messages import (
    BytesSent,
    PartDone,
    PartError,
    PartRetrying,
    PartTask,
    WorkerConfig,
    WorkerReady,
)
from bulkup.transport.request import CredentialSet

OLD_CREDENTIALS = CredentialSet("AKIDOLD", "old-secret", None)
MAX_ROUNDS = 500  # a run that has not finished by then never will: fail, don't hang


def read_range(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def checksum_of(data: bytes, algorithm_name: str) -> str | None:
    """The base64 checksum of ``data``, as a worker sends it and S3 verifies it."""
    algorithm = get_algorithm(algorithm_name)
    return algorithm.text(data)


def etag_of(data: bytes) -> str:
    """S3's ETag of a part or single PUT: the quoted MD5 of its bytes."""
    return f'"{hashlib.md5(data).hexdigest()}"'


def client_error(code: str, operation: str, message: str = "", status: int | None = None) -> bex.ClientError:
    """A ClientError as botocore raises it for an S3 error answer."""
    status = status or {
        "NoSuchUpload": 404,
        "NoSuchKey": 404,
        "404": 404,
        "AccessDenied": 403,
        "InternalError": 500,
        "SlowDown": 503,
    }.get(code, 400)
    return bex.ClientError(
        {"Error": {"Code": code, "Message": message or f"fake {code}"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


# -- the pool -------------------------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class FakeWorker(Worker):
    """A worker of the fake pool: the tasks it holds, in the order they came."""

    node: str | None = None
    holding: list[PartTask] = field(default_factory=list)
    announced: bool = False
    requests: int = 0


@dataclass
class _Death:
    after: int
    why: str


@dataclass
class _Rule:
    key: str
    part: int | None  # None: every task of the key (the single PUT included)
    times: int
    answer: Callable[[FakePool, FakeWorker, PartTask], list[object]]

    def matches(self, task: PartTask) -> bool:
        return self.times > 0 and task.key == self.key and (self.part is None or task.part_number == self.part)


class FakePool(Pool):
    """``workers`` in-process workers, answering on cue (see the module's docstring).

    ``nodes``: each worker's node, for pinned objects (a worker serves its own node only).
    ``replacements``: how many dead workers may be replaced (a replacement keeps the dead
    one's node). ``pace``: tasks a worker answers per round (None: all it holds).
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        connections: int = 1,
        nodes: list[str] | None = None,
        replacements: int | None = None,
        pace: int | None = None,
        store: FakeS3Client | None = None,
        credentials: CredentialSet = OLD_CREDENTIALS,
    ) -> None:
        assert nodes is None or len(nodes) == workers
        self.config = WorkerConfig(region="us-east-1", credentials=credentials, connections=connections)
        self.workers: list[FakeWorker] = [FakeWorker(index=i, node=nodes[i] if nodes else None) for i in range(workers)]
        self.replacements_left = 2 * workers if replacements is None else replacements
        self.pace = pace
        self.store = store
        self.sent: list[tuple[int, object]] = []  # (worker index, message), in order
        self.replaced: list[int] = []  # indexes of the dead that replace() was asked for
        self.rounds = 0
        self.started = self.stopped = False
        self._deaths: dict[int, _Death] = {}
        self._rules: list[_Rule] = []
        self._round_hooks: list[Callable[[int], None]] = []

    # -- cues -------------------------------------------------------------------------------

    def die(self, worker: int, *, after: int = 0, why: str = "killed by signal 9") -> None:
        """At its next round with tasks, worker ``worker`` answers ``after`` of them and dies."""
        self._deaths[worker] = _Death(after, why)

    def fail(
        self,
        key: str,
        part: int | None = None,
        *,
        message: str = "InternalError: fake failure",
        fatal: bool = False,
        code: str = "",
        times: int = 1,
    ) -> None:
        """The next ``times`` sends of ``key`` part ``part`` are given up (PartError)."""

        def answer(pool: FakePool, worker: FakeWorker, task: PartTask) -> list[object]:
            return [PartError(task_id=task.task_id, message=message, fatal=fatal, code=code)]

        self._rules.append(_Rule(key, part, times, answer))

    def retry(
        self, key: str, part: int | None = None, *, attempts: int = 2, reason: str = "SlowDown: fake", times: int = 1
    ) -> None:
        """The next ``times`` sends of ``key`` part ``part`` take ``attempts`` attempts: a
        PartRetrying for each failed one, then PartDone."""

        def answer(pool: FakePool, worker: FakeWorker, task: PartTask) -> list[object]:
            retrying = [
                PartRetrying(worker=worker.index, task_id=task.task_id, attempt=n, reason=reason)
                for n in range(1, attempts)
            ]
            return retrying + pool._sent_part(worker, task, attempts)

        self._rules.append(_Rule(key, part, times, answer))

    def on_round(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(round)`` at the start of every round (before workers answer)."""
        self._round_hooks.append(callback)

    # -- what was sent --------------------------------------------------------------------

    def tasks_sent(self, key: str | None = None) -> list[tuple[int, PartTask]]:
        """(worker index, task) for every task sent, in order."""
        return [(i, m) for i, m in self.sent if isinstance(m, PartTask) and (key is None or m.key == key)]

    def messages_to(self, worker: int, kind: type) -> list[object]:
        return [m for i, m in self.sent if i == worker and isinstance(m, kind)]

    # -- the Pool interface -------------------------------------------------------------------

    def start(self) -> None:
        self.started = True
        for worker in self.workers:
            worker.state = WorkerState.READY

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def send(self, worker: Worker, message: object) -> None:
        self.sent.append((worker.index, message))
        if isinstance(message, PartTask) and worker.alive:
            worker.holding.append(message)

    def flush(self) -> None:
        pass

    def receive(self, timeout: float) -> list[tuple[Worker, object]]:
        self.rounds += 1
        if self.rounds > MAX_ROUNDS:
            raise AssertionError(f"the run did not finish in {MAX_ROUNDS} rounds")
        for hook in self._round_hooks:
            hook(self.rounds)
        batch: list[tuple[Worker, object]] = []
        for worker in list(self.workers):
            if not worker.alive:
                continue
            if not worker.announced:
                worker.announced = True
                batch.append(
                    (
                        worker,
                        WorkerReady(
                            worker=worker.index,
                            pid=1000 + worker.index,
                            engine="fake",
                            engine_label="fake",
                            reason="a test",
                            node=worker.node or "",
                        ),
                    )
                )
            death = self._deaths.get(worker.index)
            if death is not None and worker.holding:
                del self._deaths[worker.index]
                for task in worker.holding[: death.after]:
                    batch += [(worker, m) for m in self._answer(worker, task)]
                worker.holding.clear()
                worker.state = WorkerState.GONE
                batch.append((worker, WorkerGone(why=death.why)))
                continue
            answering = worker.holding[: self.pace] if self.pace else list(worker.holding)
            del worker.holding[: len(answering)]
            for task in answering:
                batch += [(worker, m) for m in self._answer(worker, task)]
        return batch

    def replace(self, dead: Worker) -> Worker | None:
        self.replaced.append(dead.index)
        if self.replacements_left <= 0:
            return None
        self.replacements_left -= 1
        worker = FakeWorker(index=len(self.workers), node=dead.node, state=WorkerState.READY)
        self.workers.append(worker)
        return worker

    def halt(self) -> None:
        for worker in self.workers:
            worker.state = WorkerState.GONE

    def stop(self, on_message: OnMessage) -> None:
        self.stopped = True
        for worker in self.live():
            on_message(
                worker,
                WorkerStats(
                    worker=worker.index, pid=1000 + worker.index, cpu_user=0.01, cpu_system=0.01, max_rss=1 << 20
                ),
            )
            worker.state = WorkerState.GONE

    def serves(self, worker: Worker, node: str | None) -> bool:
        return node is None or worker.node == node

    def unservable(self, node: str) -> str | None:
        if any(w.node == node for w in self.workers if w.alive):
            return None
        return f"no live worker on node {node!r}"

    # -- answers ----------------------------------------------------------------------------

    def _answer(self, worker: FakeWorker, task: PartTask) -> list[object]:
        for rule in self._rules:
            if rule.matches(task):
                rule.times -= 1
                return rule.answer(self, worker, task)
        return self._sent_part(worker, task, attempts=1)

    def _sent_part(self, worker: FakeWorker, task: PartTask, attempts: int) -> list[object]:
        data = read_range(task.source.path, task.source.offset, task.source.length)
        checksum = task.checksum or checksum_of(data, task.checksum_algorithm)
        etag = etag_of(data)
        worker.requests += 1
        if self.store is not None:
            bucket = task.endpoint.base_path.strip("/")
            if task.upload_id is None:
                self.store.put_object(bucket, task.key, len(data), etag, task.checksum_algorithm, checksum)
            else:
                self.store.put_part(
                    task.upload_id, task.part_number, etag, len(data), task.checksum_algorithm, checksum
                )
        return [
            BytesSent(worker=worker.index, nbytes=len(data) * attempts),
            PartDone(
                task_id=task.task_id,
                etag=etag,
                checksum=checksum,
                worker=worker.index,
                pid=1000 + worker.index,
                connection=f"{worker.index}.0",
                request_on_connection=worker.requests,
                attempts=attempts,
                data_path="fake",
            ),
        ]


# -- the S3 client ----------------------------------------------------------------------------


@dataclass
class Call:
    operation: str  # the boto3 method, e.g. "complete_multipart_upload"
    params: dict
    answer: dict | None = None

    @property
    def key(self) -> str | None:
        return self.params.get("Key")


@dataclass
class FakeUpload:
    bucket: str
    key: str
    initiated: datetime
    params: dict = field(default_factory=dict)
    parts: dict[int, dict] = field(default_factory=dict)  # number -> a ListParts entry


@dataclass
class _Cue:
    operation: str
    key: str | None
    error: bex.ClientError
    times: int
    took_effect: bool


_OPERATION_NAMES = {
    "create_multipart_upload": "CreateMultipartUpload",
    "complete_multipart_upload": "CompleteMultipartUpload",
    "abort_multipart_upload": "AbortMultipartUpload",
    "head_object": "HeadObject",
    "list_parts": "ListParts",
    "list_multipart_uploads": "ListMultipartUploads",
}


class FakeS3Client:
    """A boto3 S3 client's control-plane calls against an in-memory server.

    ``calls`` records every call; ``timeline`` (a list shared with the test, optional) gets
    ``"<operation> <key>"`` for each. ``page_size`` cuts paginator answers into pages.
    """

    def __init__(self, timeline: list[str] | None = None, page_size: int = 2) -> None:
        self.calls: list[Call] = []
        self.timeline = timeline
        self.page_size = page_size
        self.uploads: dict[str, FakeUpload] = {}
        self.objects: dict[tuple[str, str], dict] = {}  # (bucket, key) -> HeadObject answer
        self._cues: list[_Cue] = []
        self._hooks: dict[str, list] = {}
        self._ids = itertools.count(1)

    # -- cues and the server's state ------------------------------------------------------------

    def answer_error(
        self,
        operation: str,
        code: str,
        *,
        key: str | None = None,
        times: int = 1,
        message: str = "",
        took_effect: bool = False,
    ) -> None:
        """The next ``times`` calls of ``operation`` (for ``key``, or any) answer ``code``.
        ``took_effect``: the server did the work before the error reached the client (a
        retried request whose first answer was lost)."""
        error = client_error(code, _OPERATION_NAMES[operation], message)
        self._cues.append(_Cue(operation, key, error, times, took_effect))

    def add_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        initiated: datetime | None = None,
        parts: dict[int, tuple[str, int, str | None]] | None = None,
        checksum_key: str = "ChecksumCRC64NVME",
    ) -> None:
        """An open upload on the server, with parts ``{number: (etag, size, checksum)}``."""
        upload = FakeUpload(bucket, key, initiated or datetime.now(UTC))
        for number, (etag, size, checksum) in (parts or {}).items():
            upload.parts[number] = {
                "PartNumber": number,
                "ETag": etag,
                "Size": size,
                "LastModified": upload.initiated,
                **({checksum_key: checksum} if checksum else {}),
            }
        self.uploads[upload_id] = upload

    def put_part(self, upload_id: str, number: int, etag: str, size: int, algorithm: str, checksum: str | None) -> None:
        upload = self.uploads.get(upload_id)
        if upload is not None:
            s3_name = get_algorithm(algorithm).s3_name
            upload.parts[number] = {
                "PartNumber": number,
                "ETag": etag,
                "Size": size,
                "LastModified": datetime.now(UTC),
                **({f"Checksum{s3_name}": checksum} if s3_name and checksum else {}),
            }

    def put_object(
        self, bucket: str, key: str, size: int, etag: str, algorithm: str = "crc64nvme", checksum: str | None = None
    ) -> None:
        s3_name = get_algorithm(algorithm).s3_name
        self.objects[(bucket, key)] = {
            "ContentLength": size,
            "ETag": etag,
            **({f"Checksum{s3_name}": checksum, "ChecksumType": "FULL_OBJECT"} if s3_name and checksum else {}),
        }

    # -- queries for tests --------------------------------------------------------------------

    def calls_to(self, operation: str, key: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.operation == operation and (key is None or c.key == key)]

    def upload_id_of(self, key: str) -> str:
        """The id CreateMultipartUpload answered for ``key`` (the one call made for it)."""
        [call] = self.calls_to("create_multipart_upload", key)
        return call.answer["UploadId"]

    def aborted(self) -> list[str]:
        """The upload ids AbortMultipartUpload was called for, in order."""
        return [c.params["UploadId"] for c in self.calls_to("abort_multipart_upload")]

    # -- boto3's methods ----------------------------------------------------------------------

    def create_multipart_upload(self, **params) -> dict:
        self._called("create_multipart_upload", params)
        upload_id = f"upload-{next(self._ids)}"
        bucket, key = params["Bucket"], params["Key"]
        self.uploads[upload_id] = FakeUpload(bucket, key, datetime.now(UTC), params)
        answer = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        self.calls[-1].answer = answer
        return answer

    def complete_multipart_upload(self, **params) -> dict:
        cue = self._cue("complete_multipart_upload", params)
        self._called("complete_multipart_upload", params)
        if cue is not None and not cue.took_effect:
            raise cue.error
        upload = self.uploads.get(params["UploadId"])
        if upload is None:
            raise client_error("NoSuchUpload", "CompleteMultipartUpload", "The specified upload does not exist.")
        listed = params["MultipartUpload"]["Parts"]
        for entry in listed:
            held = upload.parts.get(entry["PartNumber"])
            if held is None or held["ETag"] != entry["ETag"]:
                raise client_error(
                    "InvalidPart",
                    "CompleteMultipartUpload",
                    f"part {entry['PartNumber']} was not uploaded with that ETag",
                )
        digest = hashlib.md5(b"".join(bytes.fromhex(e["ETag"].strip('"')) for e in listed))
        etag = f'"{digest.hexdigest()}-{len(listed)}"'
        head = {"ContentLength": sum(upload.parts[e["PartNumber"]]["Size"] for e in listed), "ETag": etag}
        head.update({k: v for k, v in params.items() if k.startswith("Checksum")})
        del self.uploads[params["UploadId"]]
        self.objects[(params["Bucket"], params["Key"])] = head
        if cue is not None:
            raise cue.error
        return {"Bucket": params["Bucket"], "Key": params["Key"], "ETag": etag}

    def abort_multipart_upload(self, **params) -> dict:
        self._called("abort_multipart_upload", params)
        if self.uploads.pop(params["UploadId"], None) is None:
            raise client_error("NoSuchUpload", "AbortMultipartUpload")
        return {}

    def list_parts(self, **params) -> dict:
        self._called("list_parts", params)
        return {"Parts": self._list_parts(params)}

    def delete_object(self, **params) -> dict:
        self._called("delete_object", params)
        self.objects.pop((params["Bucket"], params["Key"]), None)
        return {}

    def head_object(self, **params) -> dict:
        self._called("head_object", params)
        head = self.objects.get((params["Bucket"], params["Key"]))
        if head is None:
            raise client_error("404", "HeadObject", "Not Found")
        return dict(head)

    def get_paginator(self, operation: str) -> _Paginator:
        return _Paginator(self, operation)

    # -- the plumbing -------------------------------------------------------------------------

    def on_call(self, operation: str, callback) -> None:
        """Run ``callback()`` as each call of ``operation`` arrives (to look at the run then)."""
        self._hooks.setdefault(operation, []).append(callback)

    def _called(self, operation: str, params: dict) -> None:
        self.calls.append(Call(operation, dict(params)))
        for callback in self._hooks.get(operation, ()):
            callback()
        if self.timeline is not None:
            self.timeline.append(f"{operation} {params.get('Key', params.get('Prefix', ''))}")
        if operation != "complete_multipart_upload" and (cue := self._cue(operation, params)) is not None:
            raise cue.error

    def _cue(self, operation: str, params: dict) -> _Cue | None:
        for cue in self._cues:
            if cue.times > 0 and cue.operation == operation and cue.key in (None, params.get("Key")):
                cue.times -= 1
                return cue
        return None

    def _list_parts(self, params: dict) -> list[dict]:
        upload = self.uploads.get(params["UploadId"])
        if upload is None or upload.key != params["Key"]:
            raise client_error("NoSuchUpload", "ListParts", "The specified upload does not exist.")
        return [dict(upload.parts[n]) for n in sorted(upload.parts)]

    def _list_uploads(self, params: dict) -> list[dict]:
        prefix = params.get("Prefix", "")
        return [
            {"Key": u.key, "UploadId": upload_id, "Initiated": u.initiated}
            for upload_id, u in sorted(self.uploads.items(), key=lambda item: (item[1].key, item[0]))
            if u.bucket == params["Bucket"] and u.key.startswith(prefix)
        ]


class _Paginator:
    """``get_paginator(...).paginate(...)``: pages fetched lazily, as botocore does."""

    def __init__(self, client: FakeS3Client, operation: str) -> None:
        self.client, self.operation = client, operation

    def paginate(self, **params):
        client, operation = self.client, self.operation
        client._called(operation, params)
        if operation == "list_parts":
            items, name = client._list_parts(params), "Parts"
        elif operation == "list_multipart_uploads":
            items, name = client._list_uploads(params), "Uploads"
        else:
            raise NotImplementedError(operation)
        size = client.page_size
        pages = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        for page in pages:
            yield {name: page} if page else {}


# -- the session --------------------------------------------------------------------------------


class FakeSession:
    """A boto3 session's credentials, as ``frozen_credentials`` reads them; ``rotate`` swaps them."""

    def __init__(self, credentials: CredentialSet = OLD_CREDENTIALS) -> None:
        self.current = credentials
        self.looks = 0

    def rotate(self, credentials: CredentialSet) -> None:
        self.current = credentials

    def get_credentials(self) -> _FakeCredentials:
        self.looks += 1
        return _FakeCredentials(self.current)


@dataclass
class _FakeCredentials:
    credentials: CredentialSet

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        c = self.credentials
        return ReadOnlyCredentials(c.access_key, c.secret_key, c.token)
