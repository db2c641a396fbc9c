"""Helpers shared by the service tests: run the real jobs, read the real topic, ask the real
webserver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import requests
from confluent_kafka import KafkaError, TopicPartition

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
