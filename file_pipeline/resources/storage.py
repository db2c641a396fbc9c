"""Object storage (MinIO or AWS S3) for uploads, derived outputs and quarantine."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from file_pipeline.errors import ObjectStoreError

MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024


class ObjectStorageResource(S3Resource):
    """dagster-aws's S3Resource plus the bucket and the operations the pipeline needs.

    The client is built from every field S3Resource declares (profile, unsigned session, SSL,
    verification, retries, credentials, endpoint, region), as dagster-aws builds it, plus what
    MinIO and a busy pipeline need: path-style addressing, timeouts and a larger connection pool.
    It is created on first use (never at import or definition time) and reused.
    """

    bucket: str = Field(default="files", description="Bucket for uploads, thumbnails, quarantine.")
    max_concurrency: int = Field(
        default=4, description="Parallel part uploads per large file (multipart)."
    )
    connect_timeout_seconds: float = Field(default=5.0, description="TCP connect timeout.")
    read_timeout_seconds: float = Field(default=60.0, description="Socket read timeout.")

    _client: Any = PrivateAttr(default=None)
    _client_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def get_client(self) -> Any:
        if self._client is not None:
            return self._client
        # Threads asking at once (an upload's workers) share one client: building one loads the
        # S3 service model, about 0.1 s of CPU each.
        with self._client_lock:
            if self._client is not None:
                return self._client
            session = boto3.session.Session(profile_name=self.profile_name)
            config = BotoConfig(
                signature_version=UNSIGNED if self.use_unsigned_session else "s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": self.max_attempts, "mode": "standard"},
                connect_timeout=self.connect_timeout_seconds,
                read_timeout=self.read_timeout_seconds,
                max_pool_connections=32,
            )
            client = session.client(
                "s3",
                endpoint_url=self.endpoint_url or None,
                region_name=self.region_name,
                # Empty keys mean "use the default AWS credential chain" (instance profile, IRSA).
                aws_access_key_id=self.aws_access_key_id or None,
                aws_secret_access_key=self.aws_secret_access_key or None,
                aws_session_token=self.aws_session_token or None,
                use_ssl=self.use_ssl,
                verify=self.verify,
                config=config,
            )
            self._client = client
            return client

    def get_object_to_set_on_execution_context(self) -> Any:
        """This resource itself (S3Resource would hand out the bare boto client): code outside
        a run, through `dg.build_resources`, gets the same operations as an asset."""
        return self

    def _fail(self, operation: str, key: str | None, exc: BaseException) -> ObjectStoreError:
        return ObjectStoreError(operation, key, exc)

    def ensure_bucket(self) -> None:
        """Create the bucket if missing; it stays private (no bucket policy is ever set)."""
        client = self.get_client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise self._fail("head_bucket", None, exc) from exc
            try:
                client.create_bucket(Bucket=self.bucket)
            except ClientError as create_exc:
                code = create_exc.response.get("Error", {}).get("Code")
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise self._fail("create_bucket", None, create_exc) from create_exc
        except BotoCoreError as exc:
            raise self._fail("head_bucket", None, exc) from exc

    def object_url(self, key: str) -> str:
        """The object's plain URL (as the seed's `s3_url`); reading it needs a presigned URL."""
        base = (self.endpoint_url or f"https://s3.{self.region_name}.amazonaws.com").rstrip("/")
        return f"{base}/{self.bucket}/{key}"

    def upload_file(self, path: Path, key: str, content_type: str) -> None:
        """Stream a local file to `key`.

        Files above 16 MiB go up as a multipart upload whose parts are read from disk only when
        a worker is free to send them: at most `max_concurrency` parts of 8 MiB are in memory,
        whatever the file's size or the store's speed. A failed multipart upload is aborted, so
        no invisible parts are left behind.
        """
        size = path.stat().st_size
        if size <= MULTIPART_THRESHOLD:
            self.put_bytes(key, path.read_bytes(), content_type)
            return
        client = self.get_client()
        try:
            upload_id = client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type
            )["UploadId"]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("upload", key, exc) from exc

        def send(number: int) -> dict[str, Any]:
            with path.open("rb") as fh:
                fh.seek((number - 1) * MULTIPART_CHUNK)
                body = fh.read(MULTIPART_CHUNK)
            etag = client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )["ETag"]
            return {"PartNumber": number, "ETag": etag}

        part_count = -(-size // MULTIPART_CHUNK)
        try:
            with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
                # Every part is submitted at once, but a task reads its part only when it runs.
                parts = list(pool.map(send, range(1, part_count + 1)))
            client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except (BotoCoreError, ClientError) as exc:
            with contextlib.suppress(BotoCoreError, ClientError):
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise self._fail("upload", key, exc) from exc
        except OSError:
            with contextlib.suppress(BotoCoreError, ClientError):
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self.get_client().put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("put", key, exc) from exc

    def get_bytes(self, key: str, max_bytes: int | None = None) -> bytes:
        """Read an object (or its first `max_bytes`)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if max_bytes is not None:
            kwargs["Range"] = f"bytes=0-{max_bytes - 1}"
        try:
            return self.get_client().get_object(**kwargs)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("get", key, exc) from exc

    def open_stream(self, key: str) -> Any:
        """A streaming body (`.read(n)`) for the object, for bounded-memory readers."""
        try:
            return self.get_client().get_object(Bucket=self.bucket, Key=key)["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("get", key, exc) from exc

    def copy(self, source: str, destination: str) -> None:
        """Server-side copy (S3 has no rename: a move is copy, record, then delete)."""
        client = self.get_client()
        try:
            client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, destination)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("copy", source, exc) from exc

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""
        try:
            return int(self.get_client().head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail("head", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("head", key, exc) from exc

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def delete(self, key: str) -> None:
        try:
            self.get_client().delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc

    def list_objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Every object under `prefix` (key, size, last-modified), page by page."""
        paginator = self.get_client().get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("list", prefix, exc) from exc

    def list_keys(self, prefix: str) -> list[str]:
        return [obj["Key"] for obj in self.list_objects(prefix)]

    def presigned_url(self, key: str, expires_seconds: int = 3600) -> str:
        return self.get_client().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
        )

    def delete_bucket(self) -> None:
        """Remove every object and the bucket itself (test and benchmark environments only)."""
        client = self.get_client()
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
            client.delete_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise self._fail("delete_bucket", None, exc) from exc
