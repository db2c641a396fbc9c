-- Runs once, when the postgres container initialises an empty volume (docker-entrypoint-initdb.d).
-- The container's POSTGRES_DB already creates file_pipeline; this adds Dagster's instance database.
-- Same names as file_pipeline/settings.py (APP_DATABASE, DAGSTER_DATABASE).
SELECT 'CREATE DATABASE file_pipeline'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'file_pipeline')\gexec
SELECT 'CREATE DATABASE dagster'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'dagster')\gexec
