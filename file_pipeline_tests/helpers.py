"""Helpers shared by the service tests: run the real jobs, read the real topic, ask the real
webserver."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import dagster as dg
import requests
from confluent_kafka import KafkaError, TopicPartition
from PIL import Image

from file_pipeline.resources import KafkaResource

# The lineage a user should see, upstream to downstream.
LINEAGE_ASSETS = (
    "uploaded_files",
    "file_events",
    "virus_scan",
    "exif_metadata",
    "thumbnails",
    "search_index",
    "notifications",
    "file_statistics",
)

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        sensors { name sensorState { status } }
        assetNodes { assetKey { path } }
      }
    }
  }
}
"""


class Pipeline:
    """The sensor and the processing job, driven tick by tick as the daemon would, on the real
    topic and instance. `run_config` is merged into every run (e.g. to point `clamav` at a
    private clamd)."""

    def __init__(
        self,
        definitions: dg.Definitions,
        instance: dg.DagsterInstance,
        kafka: KafkaResource,
        postgres: Any,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        self.definitions = definitions
        self.instance = instance
        self.kafka = kafka
        self.postgres = postgres
        self.run_config = run_config or {}
        self.cursor: str | None = None
        self.job = definitions.resolve_job_def("process_file_events")

    def tick(self) -> dg.SensorResult:
        from file_pipeline.defs.processing.sensors import file_events_sensor

        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"kafka": self.kafka, "postgres": self.postgres},
        ) as context:
            data = file_events_sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return data

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        return self.job.execute_in_process(
            run_config={**request.run_config, **self.run_config},
            instance=self.instance,
            tags=request.tags,
            asset_selection=request.asset_selection,
            raise_on_error=False,
        )

    def reprocess(
        self, cursor: str | None = None
    ) -> list[tuple[dg.RunRequest, dg.ExecuteInProcessResult]]:
        """Launch every waiting reprocess batch (after batch `cursor`) as `reprocess_sensor`
        would; returns each run request with its run."""
        from file_pipeline.defs.processing.reprocess import reprocess_sensor

        with dg.build_sensor_context(
            instance=self.instance, cursor=cursor, resources={"postgres": self.postgres}
        ) as context:
            data = reprocess_sensor.evaluate_tick(context)
        return [(request, self.execute(request)) for request in data.run_requests]

    def drain(self, max_ticks: int = 20) -> list[dg.ExecuteInProcessResult]:
        """Tick until nothing is requested, executing every requested run."""
        results = []
        for _ in range(max_ticks):
            data = self.tick()
            if not data.run_requests:
                return results
            results.extend(self.execute(r) for r in data.run_requests)
        raise AssertionError("the sensor kept requesting runs")


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a query to the webserver's public GraphQL endpoint; OSError while it is not up."""
    try:
        response = requests.post(
            f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
    except requests.RequestException as exc:
        raise OSError(str(exc)) from exc
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise AssertionError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def run_upload(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    paths: list[Path | str],
    uploaded_by: str = "alice",
    description: str | None = None,
) -> dg.ExecuteInProcessResult:
    config: dict[str, Any] = {"paths": [str(p) for p in paths], "uploaded_by": uploaded_by}
    if description is not None:
        config["description"] = description
    return definitions.resolve_job_def("upload_files").execute_in_process(
        run_config={"ops": {"uploaded_files": {"config": config}}},
        instance=instance,
        raise_on_error=False,
    )


def run_delete(
    file_id: str, definitions: dg.Definitions, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    return definitions.resolve_job_def("delete_files").execute_in_process(
        run_config={"ops": {"deleted_files": {"config": {"file_ids": [file_id]}}}},
        instance=instance,
        raise_on_error=False,
    )


def uploaded_ids(result: dg.ExecuteInProcessResult) -> list[str]:
    (mat,) = result.asset_materializations_for_node("uploaded_files")
    return [record.data["id"] for record in mat.metadata["file_table"].value.records]


def read_topic(kafka: KafkaResource, topic: str, timeout: float = 20.0) -> list[Any]:
    """Every message currently on `topic` (all partitions), read by offset with no group commit."""
    consumer = kafka.consumer("test-reader")
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        assignments = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                assignments.append(TopicPartition(topic, p, low))
        if not assignments:
            return []
        consumer.assign(assignments)
        open_partitions = {tp.partition for tp in assignments}
        messages = []
        while open_partitions:
            msg = consumer.poll(timeout)
            if msg is None:
                raise TimeoutError(f"no message from {topic} in {timeout}s")
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    open_partitions.discard(msg.partition())
                    continue
                raise RuntimeError(msg.error())
            messages.append(msg)
        return messages
    finally:
        consumer.close()


def events_for(kafka: KafkaResource, file_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Parsed event JSON per file id, from the real topic."""
    wanted = set(file_ids)
    found = {}
    for msg in read_topic(kafka, kafka.file_events_topic):
        key = msg.key().decode() if msg.key() else None
        if key in wanted:
            found[key] = json.loads(msg.value())
    return found


def encrypted_zip(name: str, data: bytes, password: bytes) -> bytes:
    """A one-entry zip encrypted with traditional PKWARE encryption (what `zip -e` writes);
    Python's zipfile can read such archives but not write them."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = 0xEDB88320 ^ (c >> 1) if c & 1 else c >> 1
        table.append(c)

    def crc_byte(crc: int, byte: int) -> int:
        return (crc >> 8) ^ table[(crc ^ byte) & 0xFF]

    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = crc_byte(keys[0], byte)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc_byte(keys[2], keys[1] >> 24)

    def encrypt(plain: bytes) -> bytes:
        out = bytearray()
        for byte in plain:
            temp = keys[2] | 2
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            update(byte)
        return bytes(out)

    for byte in password:
        update(byte)
    crc = zlib.crc32(data) & 0xFFFFFFFF
    body = encrypt(bytes(range(11)) + bytes([crc >> 24])) + encrypt(data)
    encoded = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 1, 0, 0, 0, crc, len(body), len(data), len(encoded), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        1,
        0,
        0,
        0,
        crc,
        len(body),
        len(data),
        len(encoded),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    records = local + encoded + body
    directory = central + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(records), 0)
    return records + directory + end


def noise_photos(folder: Path, count: int, size: tuple[int, int] = (1600, 1200)) -> Path:
    """`count` JPEGs of noise (slow to decode, so a batch of them keeps a run busy) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        buffer = io.BytesIO()
        Image.effect_noise(size, 40 + i % 50).convert("RGB").save(buffer, "JPEG")
        (folder / f"photo-{i:03d}.jpg").write_bytes(buffer.getvalue())
    return folder
