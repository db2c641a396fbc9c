"""The one place resource keys are bound. Values come from environment variables; an unset
variable falls back to the local stack's default (the same as docker-compose.yml), so
`dagster dev` works with no configuration after `file-pipeline stack up`.
"""

import os

import dagster as dg

from file_pipeline import settings
from file_pipeline.resources import (
    ClamAVResource,
    KafkaResource,
    ObjectStorageResource,
    PostgresResource,
)


def env_or_default(var: settings.EnvVar) -> str:
    """`EnvVar(name)` when the variable is set (resolved at run time, shown as env in the UI),
    else the local-stack default. Reads only the environment: nothing connects here."""
    return dg.EnvVar(var.name) if var.name in os.environ else var.default


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "storage": ObjectStorageResource(
                endpoint_url=env_or_default(settings.S3_ENDPOINT_URL),
                aws_access_key_id=env_or_default(settings.AWS_ACCESS_KEY_ID),
                aws_secret_access_key=env_or_default(settings.AWS_SECRET_ACCESS_KEY),
                region_name=env_or_default(settings.AWS_REGION),
                bucket=env_or_default(settings.S3_BUCKET),
            ),
            "postgres": PostgresResource(database_url=env_or_default(settings.DATABASE_URL)),
            "kafka": KafkaResource(
                bootstrap_servers=env_or_default(settings.KAFKA_BOOTSTRAP_SERVERS),
                file_events_topic=env_or_default(settings.FILE_EVENTS_TOPIC),
                notifications_topic=env_or_default(settings.FILE_NOTIFICATIONS_TOPIC),
            ),
            "clamav": ClamAVResource(
                host=env_or_default(settings.CLAMAV_HOST),
                port=(
                    dg.EnvVar.int(settings.CLAMAV_PORT_VAR.name)
                    if settings.CLAMAV_PORT_VAR.name in os.environ
                    else settings.CLAMAV_PORT
                ),
            ),
        }
    )
