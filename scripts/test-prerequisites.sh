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
#   rabbitmqctl   $PARLEY_RABBITMQCTL or rabbitmqctl on PATH     rabbitmq-server  sync-server/test/ingest
#   nats-server   only when nothing answers on 127.0.0.1:4222:  nats-server      sync-server/test/ingest
#                 $PARLEY_NATS_SERVER or /usr/sbin/nats-server
#   openssl       openssl on PATH                               openssl          sync-server/test/fixtures/certificate.ts (TLS certificates)
#
# RabbitMQ and NATS: the ingest tests use the brokers on 127.0.0.1:5672 (guest/guest; a vhost
# per test, made with rabbitmqctl) and 127.0.0.1:4222 (JetStream; a stream per test). One
# installed but not answering is started here (as root), and waited for; then it keeps running.
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
present openssl || missing+=(openssl)
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
postgres_programs() {
  local dir
  for dir in ${PARLEY_POSTGRES_BIN:-} $(printf '%s ' ${PATH//:/ }) /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && return 0
  done
  return 1
}
postgres_ready() { [ -n "${PARLEY_TEST_POSTGRES:-}" ] || answers 5432 || postgres_programs; }
postgres_ready || missing+=(postgresql)
nats_bin=${PARLEY_NATS_SERVER:-/usr/sbin/nats-server}
rabbitmq_answers() { answers 5672 && "${PARLEY_RABBITMQCTL:-rabbitmqctl}" -q status >/dev/null 2>&1; }
present "${PARLEY_RABBITMQCTL:-rabbitmqctl}" || missing+=(rabbitmq-server)
answers 4222 || present "$nats_bin" || missing+=(nats-server)

# Waits up to $2 seconds for $1 (a command) to succeed.
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}
# The brokers the ingest tests use, started when installed but not answering.
start_brokers() {
  local stopped=()
  answers 5672 || stopped+=(RabbitMQ)
  answers 4222 || stopped+=(NATS)
  [ ${#stopped[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "npm test needs ${stopped[*]} running (RabbitMQ on 127.0.0.1:5672, NATS with JetStream on 127.0.0.1:4222): start them (sudo rabbitmq-server -detached; sudo nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server), then run npm test again" >&2
    exit 1
  fi
  if ! answers 5672; then
    echo "test prerequisites: starting RabbitMQ (rabbitmq-server -detached)"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_for rabbitmq_answers 90 || { echo "npm test: RabbitMQ did not answer on 127.0.0.1:5672 within 90 s of rabbitmq-server -detached (see /var/log/rabbitmq)" >&2; exit 1; }
  fi
  if ! answers 4222; then
    echo "test prerequisites: starting NATS with JetStream ($nats_bin)"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec "$nats_bin" -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    wait_for 'answers 4222' 30 || { echo "npm test: NATS did not answer on 127.0.0.1:4222 within 30 s (see /var/log/nats-server.log)" >&2; exit 1; }
  fi
}
[ ${#missing[@]} -eq 0 ] && { start_brokers; exit 0; }

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "npm test needs ${missing[*]}: install them (Debian: sudo apt-get install -y --no-install-recommends ${missing[*]}) or set PARLEY_CHROMIUM / PARLEY_NGINX / PARLEY_REDIS_SERVER / PARLEY_POSTGRES_BIN / PARLEY_RABBITMQCTL / PARLEY_NATS_SERVER to them (PARLEY_TEST_POSTGRES to a PostgreSQL server), then run npm test again" >&2
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
present "${PARLEY_CHROMIUM:-/usr/bin/chromium}" && present "${PARLEY_NGINX:-/usr/sbin/nginx}" && present "${PARLEY_REDIS_SERVER:-redis-server}" && present openssl && postgres_ready &&
  present "${PARLEY_RABBITMQCTL:-rabbitmqctl}" && { answers 4222 || present "$nats_bin"; } || {
  echo "npm test: installed ${missing[*]}, but a program is still not where the tests look (check PARLEY_CHROMIUM / PARLEY_NGINX / PARLEY_REDIS_SERVER / PARLEY_POSTGRES_BIN / PARLEY_RABBITMQCTL / PARLEY_NATS_SERVER)" >&2
  exit 1
}
echo "test prerequisites: done in $((SECONDS - started)) s ($(grep -c '^Setting up ' "$log") packages set up)"
start_brokers
