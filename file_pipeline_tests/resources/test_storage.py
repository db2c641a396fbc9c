import hashlib
import os

import pytest
import requests

from file_pipeline.errors import ObjectStoreError
from file_pipeline.resources import ObjectStorageResource

pytestmark = pytest.mark.stack


def test_blob_round_trip(storage: ObjectStorageResource, tmp_path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    storage.upload_file(path, "tests/round-trip/blob.bin", "application/octet-stream")
    stored = storage.get_bytes("tests/round-trip/blob.bin")
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    assert storage.get_bytes("tests/round-trip/blob.bin", max_bytes=10) == data[:10]
    assert storage.exists("tests/round-trip/blob.bin")
    storage.delete("tests/round-trip/blob.bin")
    assert not storage.exists("tests/round-trip/blob.bin")


def test_bucket_is_private_and_presigned_urls_work(storage: ObjectStorageResource) -> None:
    storage.put_bytes("tests/private.txt", b"secret", "text/plain")
    plain = requests.get(storage.object_url("tests/private.txt"), timeout=10)
    assert plain.status_code == 403
    signed = requests.get(storage.presigned_url("tests/private.txt", 60), timeout=10)
    assert signed.status_code == 200 and signed.content == b"secret"


def test_unreachable_object_store_raises_a_typed_error(storage: ObjectStorageResource) -> None:
    dead = ObjectStorageResource(
        endpoint_url="http://localhost:1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
        bucket=storage.bucket,
        max_attempts=1,
    )
    with pytest.raises(ObjectStoreError, match="object store put failed"):
        dead.put_bytes("k", b"v", "text/plain")


def test_the_client_honours_every_field_s3resource_declares() -> None:
    """No inherited field is silently ignored: each one shows in the client it builds."""
    from botocore import UNSIGNED
    from botocore.exceptions import ProfileNotFound

    client = ObjectStorageResource(
        endpoint_url="http://127.0.0.1:1",
        region_name="eu-west-3",
        use_ssl=False,
        verify=False,
        max_attempts=7,
        aws_access_key_id="AKIA-TEST",
        aws_secret_access_key="secret",
        aws_session_token="token",
        use_unsigned_session=True,
    ).get_client()
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.config.retries["total_max_attempts"] == 8, "7 retries after the first try"
    assert client.meta.config.signature_version is UNSIGNED
    assert client.meta.config.s3["addressing_style"] == "path"
    with pytest.raises(ProfileNotFound):
        ObjectStorageResource(profile_name="no-such-profile-here").get_client()
