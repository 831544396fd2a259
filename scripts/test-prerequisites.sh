#!/usr/bin/env bash
# `npm test`'s first step (the root package.json's pretest): the programs the tests drive
# that npm does not install. Each is found where the tests look for it (or where its
# variable says); whatever is missing is installed from Debian's packages when this runs
# as root with apt-get, and otherwise the run stops here with one line saying what to install.
#
#   program       where the tests look                         Debian package   used by
#   chromium      $PARLEY_CHROMIUM or /usr/bin/chromium        chromium         clients/web/test/browser
#   nginx         $PARLEY_NGINX or /usr/sbin/nginx             nginx            test/e2e/cluster.test.ts
#   redis-server  $PARLEY_REDIS_SERVER or redis-server on PATH redis-server     cluster tests, the soak
#   initdb,       only when $PARLEY_TEST_POSTGRES is unset     postgresql       sync-server/test/storage/postgres-*,
#   postgres      and nothing answers on 127.0.0.1:5432:                        every test on PostgreSQL
#                 $PARLEY_POSTGRES_BIN, PATH, /usr/lib/postgresql/*/bin
#
# PostgreSQL: tests use the server $PARLEY_TEST_POSTGRES names, or the one on 127.0.0.1:5432
# (trust auth, user postgres); when neither answers, each test file starts a private server
# of its own (initdb in a temporary directory, a free port) and stops it at its end
# (sync-server/src/storage/postgres/test-database.ts). So here only the programs must exist.
set -euo pipefail

missing=()
present() { [ -x "$1" ] || command -v "$1" >/dev/null 2>&1; }
present "${PARLEY_CHROMIUM:-/usr/bin/chromium}" || missing+=(chromium)
present "${PARLEY_NGINX:-/usr/sbin/nginx}" || missing+=(nginx)
present "${PARLEY_REDIS_SERVER:-redis-server}" || missing+=(redis-server)
postgres_answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
postgres_programs() {
  local dir
  for dir in ${PARLEY_POSTGRES_BIN:-} $(printf '%s ' ${PATH//:/ }) /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && return 0
  done
  return 1
}
postgres_ready() { [ -n "${PARLEY_TEST_POSTGRES:-}" ] || postgres_answers || postgres_programs; }
postgres_ready || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "npm test needs ${missing[*]}: install them (Debian: sudo apt-get install -y --no-install-recommends ${missing[*]}) or set PARLEY_CHROMIUM / PARLEY_NGINX / PARLEY_REDIS_SERVER / PARLEY_POSTGRES_BIN to them (PARLEY_TEST_POSTGRES to a PostgreSQL server), then run npm test again" >&2
  exit 1
fi

echo "test prerequisites: installing ${missing[*]} with apt-get (missing on this machine)"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# Installing nginx, redis-server or postgresql must not start the system's own services (80, 6379, 5432):
# Debian's policy-rc.d hook forbids it for the length of the install, unless one is in place.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=true
fi
cleanup() {
  if $own_policy; then rm -f "$policy"; fi
  rm -f "$log"
}
trap cleanup EXIT
started=$SECONDS
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "npm test: could not install ${missing[*]} with apt-get (output above); install them by hand and run npm test again" >&2
  exit 1
fi
for package in "${missing[@]}"; do
  echo "test prerequisites: installed $package $(dpkg-query -W -f='${Version}' "$package")"
done
present "${PARLEY_CHROMIUM:-/usr/bin/chromium}" && present "${PARLEY_NGINX:-/usr/sbin/nginx}" && present "${PARLEY_REDIS_SERVER:-redis-server}" && postgres_ready || {
  echo "npm test: installed ${missing[*]}, but a program is still not where the tests look (check PARLEY_CHROMIUM / PARLEY_NGINX / PARLEY_REDIS_SERVER / PARLEY_POSTGRES_BIN)" >&2
  exit 1
}
echo "test prerequisites: done in $((SECONDS - started)) s ($(grep -c '^Setting up ' "$log") packages set up)"
