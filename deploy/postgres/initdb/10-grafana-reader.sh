#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume: a login role for
# Grafana that can read the archive and change nothing. The tables do not exist yet (the monitor
# creates them at its first start, as user labwire): default privileges give the role SELECT on
# every table labwire creates later, partitions included.
set -eu
password=$(cat "${GRAFANA_PG_PASSWORD_FILE:?}")
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$password" <<'SQL'
CREATE ROLE grafana LOGIN PASSWORD :'pw';
GRANT CONNECT ON DATABASE labwire TO grafana;
GRANT USAGE ON SCHEMA public TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE labwire IN SCHEMA public GRANT SELECT ON TABLES TO grafana;
SQL
