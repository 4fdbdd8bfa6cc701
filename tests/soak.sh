#!/bin/sh
# Soak: steady mixed load (ecs-bench, open loop) against a private ecsd for
# SOAK_SECONDS (default 40 in make check; run it for an hour by hand with
# SOAK_SECONDS=3600), sampling the daemon's RSS and open file descriptors.
# Passes when every message is consumed exactly once, after warm-up (the
# first quarter) RSS and descriptors stop growing, and the WAL stays bounded.
# With ECSD_TEST_PGHOST (a server of tests/pg/pgserver) ecsd runs on a fresh
# PostgreSQL database there; the database must stay as bounded as the WAL,
# and the checkpoint check, which has no PostgreSQL meaning, is left out.
# Exit status: 0 pass, 1 fail.

if [ -z "$top_builddir" ]; then
	top_builddir=$(cd "$(dirname "$0")/.." && pwd) || exit 1
fi
ECSD=${ECSD:-$top_builddir/ecsd/ecsd}
BENCH=${ECS_BENCH:-$top_builddir/tools/ecs-bench}
SECS=${SOAK_SECONDS:-40}
RATE=${SOAK_RATE:-400}
PASSWORD=soak-test-pw

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ecsd-soak-XXXXXX") || exit 1
pid=
pgdb=
# psql_run SQL: run SQL in the database postgres of the test server.
psql_run() {
	"$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -h "$ECSD_TEST_PGHOST" \
	    -U "${ECSD_TEST_PGUSER:-postgres}" -d postgres -c "$1"
}
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	if [ -n "$pgdb" ] && [ -z "$ECSD_TEST_KEEP" ]; then
		psql_run "DROP DATABASE IF EXISTS \"$pgdb\" WITH (FORCE)"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat > "$tmp/ecsd.conf" <<EOF2
listen = 127.0.0.1:0
datadir = $tmp/data
log_level = warn
EOF2
if [ -n "$ECSD_TEST_PGHOST" ]; then
	PSQL=psql
	for d in ${ECSD_TEST_PGBIN:-} $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
		if [ -x "$d/psql" ]; then
			PSQL=$d/psql
			break
		fi
	done
	pgdb=ecsd_soak_$$
	psql_run "CREATE DATABASE \"$pgdb\"" || { pgdb=; exit 1; }
	cat >> "$tmp/ecsd.conf" <<EOF2
store = postgresql
postgresql_dsn = host=$ECSD_TEST_PGHOST dbname=$pgdb user=${ECSD_TEST_PGUSER:-postgres}
EOF2
	echo "soak: on PostgreSQL, database $pgdb"
fi
# Under AddressSanitizer freed memory sits in a quarantine: keep it small
# so that RSS means what it means in a normal build.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64" \
ECSD_ADMIN_PASSWORD=$PASSWORD "$ECSD" -c "$tmp/ecsd.conf" -o log_level=info \
    > "$tmp/ecsd.log" 2>&1 < /dev/null &
pid=$!
i=0
addr=
while [ $i -lt 150 ] && [ -z "$addr" ]; do
	addr=$(sed -n 's/.*ready http=\([^ ]*\).*/\1/p' "$tmp/ecsd.log")
	kill -0 "$pid" 2>/dev/null || break
	[ -z "$addr" ] && sleep 0.1
	i=$((i + 1))
done
if [ -z "$addr" ]; then
	echo "soak: ecsd did not get ready"
	cat "$tmp/ecsd.log"
	exit 1
fi

rss() { sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }

ECSD_ADMIN_PASSWORD=$PASSWORD "$BENCH" -S -u "http://$addr" -n 0 -d "$SECS" \
    -r "$RATE" -c 8 -T $((SECS + 120)) -p mixed > "$tmp/bench" 2>&1 &
bench=$!
t=0
: > "$tmp/samples"
while kill -0 "$bench" 2>/dev/null; do
	echo "$t $(rss) $(fds)" >> "$tmp/samples"
	sleep 2
	t=$((t + 2))
done
wait "$bench"
rc=$?
cat "$tmp/bench"
echo "soak: samples (seconds, RSS KiB, open fds):"
cat "$tmp/samples"

failures=0
if [ $rc -ne 0 ]; then
	echo "not ok: ecs-bench exited $rc"
	failures=$((failures + 1))
fi
if ! grep -q "0 duplicates, 0 missing" "$tmp/bench"; then
	echo "not ok: messages lost or duplicated"
	failures=$((failures + 1))
fi
n=$(wc -l < "$tmp/samples")
warm=$(sed -n "$(( (n + 3) / 4 ))p" "$tmp/samples")
last=$(tail -n 1 "$tmp/samples")
set -- $warm
wrss=$2 wfds=$3
set -- $last
lrss=$2 lfds=$3
echo "soak: after warm-up RSS ${wrss} KiB, fds ${wfds}; at the end RSS ${lrss} KiB, fds ${lfds}"
if [ "$n" -lt 4 ]; then
	echo "not ok: too few samples ($n)"
	failures=$((failures + 1))
elif [ "$lrss" -gt $((wrss + wrss / 4 + 4096)) ]; then
	echo "not ok: RSS grew from ${wrss} to ${lrss} KiB after warm-up"
	failures=$((failures + 1))
else
	echo "ok: RSS bounded after warm-up"
fi
if [ -n "$lfds" ] && [ "$lfds" -gt $((wfds + 16)) ]; then
	echo "not ok: open descriptors grew from ${wfds} to ${lfds}"
	failures=$((failures + 1))
else
	echo "ok: open descriptors bounded"
fi
if [ -n "$pgdb" ]; then
	# What consumed messages leave behind (rows, dead rows not yet
	# vacuumed, indexes) stays under the WAL's bound. The server's own
	# WAL and checkpoints are the server's business: no check here.
	db=$(psql_run "SELECT pg_database_size('$pgdb')" || echo 0)
	echo "soak: PostgreSQL database $db bytes"
	echo "soak: no checkpoint or WAL check on PostgreSQL (the server checkpoints its own WAL)"
	if [ "$db" -eq 0 ]; then
		echo "not ok: cannot read the size of database $pgdb"
		failures=$((failures + 1))
	elif [ "$db" -gt $((72 * 1024 * 1024)) ]; then
		echo "not ok: the database grew to $db bytes"
		failures=$((failures + 1))
	else
		echo "ok: database bounded"
	fi
else
	# The WAL is checkpointed and wrapped: it stays under
	# journal_size_limit (64 MiB) plus a commit's worth, however long
	# the load runs.
	wal=$(stat -c %s "$tmp/data/ecsd.db-wal" 2>/dev/null || echo 0)
	db=$(stat -c %s "$tmp/data/ecsd.db" 2>/dev/null || echo 0)
	echo "soak: WAL $wal bytes, database $db bytes"
	if [ "$db" -lt 65536 ]; then
		echo "not ok: the database file holds nothing: no checkpoint ran"
		failures=$((failures + 1))
	fi
	if [ "$wal" -gt $((72 * 1024 * 1024)) ]; then
		echo "not ok: the WAL grew to $wal bytes (checkpoints do not keep up)"
		failures=$((failures + 1))
	else
		echo "ok: WAL bounded"
	fi
fi
kill "$pid"
wait "$pid"
erc=$?
pid=
if [ $erc -ne 0 ] || grep -E -q "fatal|AddressSanitizer|runtime error" "$tmp/ecsd.log"; then
	echo "not ok: ecsd exit $erc or errors in its log"
	failures=$((failures + 1))
fi
[ $failures -eq 0 ] && echo "soak: ok" || echo "soak: $failures failed"
[ $failures -eq 0 ]
