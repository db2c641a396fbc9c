import pytest

from file_pipeline.db.migrate import apply_migrations, available_migrations
from file_pipeline.resources import PostgresResource

pytestmark = pytest.mark.stack


def test_migrations_are_numbered_and_ordered() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == sorted(versions) and versions[0] == 1


def test_migrations_apply_once(postgres: PostgresResource) -> None:
    assert apply_migrations(postgres.database_url) == []  # the session fixture applied them all
    with postgres.connection() as conn:
        recorded = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert recorded == [m.version for m in available_migrations()]
