#!/usr/bin/env bash
# PostgreSQL and Redis for the shared-store tests (tests/shared_store.rs): if they are not
# reachable at CROSSBAR_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test,
# trust auth) and CROSSBAR_TEST_REDIS_URL (default redis://127.0.0.1:6379), install them from
# Debian's packages and start them. Needs root (CI is root); prints what it does.
set -euo pipefail

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=""
install() {
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if reachable 5432; then
  echo "services: PostgreSQL already on 127.0.0.1:5432"
else
  echo "services: starting PostgreSQL"
  command -v pg_ctlcluster >/dev/null || install postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  conf=/etc/postgresql/$ver/main
  # Local test server only: trust on loopback, as the tests expect.
  sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(host\s+all\s+all\s+::1\/128\s+)\S+/\1trust/; s/^(local\s+all\s+all\s+)\S+/\1trust/' "$conf/pg_hba.conf"
  grep -q "^max_connections = 300" "$conf/postgresql.conf" || echo "max_connections = 300" >> "$conf/postgresql.conf"
  pg_ctlcluster "$ver" main start || service postgresql start
  for _ in $(seq 1 30); do reachable 5432 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test' >/dev/null
fi

if reachable 6379; then
  echo "services: Redis already on 127.0.0.1:6379"
else
  echo "services: starting Redis"
  command -v redis-server >/dev/null || install redis-server
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null
  for _ in $(seq 1 30); do reachable 6379 && break; sleep 1; done
fi
