"""Object storage (MinIO or AWS S3) for uploads, derived outputs and quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from file_pipeline.errors import ObjectStoreError

MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024


class ObjectStorageResource(S3Resource):
    """dagster-aws's S3Resource plus the bucket and the operations the pipeline needs.

    The boto3 client is created on first use (never at import or definition time) and reused.
    Path-style addressing keeps MinIO and other S3-compatible servers working.
    """

    bucket: str = Field(default="files", description="Bucket for uploads, thumbnails, quarantine.")
    max_concurrency: int = Field(
        default=4, description="Parallel part uploads per large file (multipart)."
    )

    _client: Any = PrivateAttr(default=None)

    def get_client(self) -> Any:
        if self._client is None:
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url or None,
                region_name=self.region_name,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
                aws_session_token=self.aws_session_token,
                use_ssl=self.use_ssl,
                verify=self.verify,
                config=BotoConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": self.max_attempts, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=60,
                    max_pool_connections=32,
                ),
            )
        return self._client

    def setup_for_execution(self, context: Any) -> None:
        """Create the bucket if missing before a run uses it."""
        self.ensure_bucket()

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

    def _transfer_config(self) -> TransferConfig:
        return TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNK,
            max_concurrency=self.max_concurrency,
            use_threads=self.max_concurrency > 1,
        )

    def upload_file(self, path: Path, key: str, content_type: str) -> None:
        """Stream a local file to `key`: multipart above 16 MiB, parts read from disk as they are
        sent, so memory stays bounded whatever the file's size."""
        try:
            self.get_client().upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer_config(),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("upload", key, exc) from exc

    def upload_stream(self, stream: BinaryIO, key: str, content_type: str) -> None:
        try:
            self.get_client().upload_fileobj(
                stream,
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer_config(),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("upload", key, exc) from exc

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

    def move(self, source: str, destination: str) -> None:
        """Server-side copy then delete (S3 has no rename)."""
        client = self.get_client()
        try:
            client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, destination)
            client.delete_object(Bucket=self.bucket, Key=source)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("move", source, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self.get_client().head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("head", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("head", key, exc) from exc

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
