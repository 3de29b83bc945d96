#!/usr/bin/env bash
# Start the real services the test suite talks to — Redis and PostgreSQL on loopback — installing
# them from Debian's packages when they are missing. Services already running are left alone.
set -euo pipefail

need_install=()
command -v redis-server >/dev/null 2>&1 || need_install+=(redis-server)
command -v pg_ctlcluster >/dev/null 2>&1 || need_install+=(postgresql)
if [ ${#need_install[@]} -gt 0 ]; then
  echo "[services] installing ${need_install[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_install[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "[services] starting redis-server on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "[services] no PostgreSQL cluster found" >&2
    exit 1
  fi
  echo "[services] starting PostgreSQL $version on 127.0.0.1:5432"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
for _ in $(seq 1 50); do
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
# The tests connect as postgres/postgres to database "test"; set both up when a fresh install lacks them.
if ! psql "postgres://postgres:postgres@127.0.0.1:5432/test" -c 'select 1' >/dev/null 2>&1; then
  echo "[services] preparing the postgres user and the test database"
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  su postgres -c "createdb test" 2>/dev/null || true
fi
psql "postgres://postgres:postgres@127.0.0.1:5432/test" -c 'select 1' >/dev/null
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
echo "[services] redis and postgresql are up"
