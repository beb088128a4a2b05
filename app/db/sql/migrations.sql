-- name: lock
SELECT pg_advisory_xact_lock($1)

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS onefile_sync

-- name: create_history
CREATE TABLE IF NOT EXISTS onefile_sync.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: history
SELECT version, name, checksum FROM onefile_sync.schema_migrations ORDER BY version

-- name: record
INSERT INTO onefile_sync.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)

-- name: picsweb_tables
SELECT table_name FROM information_schema.tables WHERE table_schema = 'picsweb'

-- name: picsweb_columns
SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'picsweb'
