#!/bin/sh
# store_pg.sh - run tests/unit/test_store_pg against PostgreSQL: the server
# of ECSD_TEST_PG_DSN when it is set, else a private one that
# tests/pg/pgserver starts and stops. Skipped (77) without the server
# binaries (Debian: apt-get install postgresql).
set -u

prog=${top_builddir:-.}/tests/unit/test_store_pg
pgserver=${top_srcdir:-.}/tests/pg/pgserver

if [ -n "${ECSD_TEST_PG_DSN:-}" ]; then
	exec "$prog"
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/ecsd-unitpg-XXXXXX") || exit 99
bash "$pgserver" start "$dir"
rc=$?
if [ $rc -ne 0 ]; then
	[ $rc -eq 77 ] || cat "$dir/server.log" 2>/dev/null
	rm -rf "$dir"
	[ $rc -eq 77 ] && exit 77
	exit 99
fi
ECSD_TEST_PG_DSN="host=$dir user=postgres dbname=postgres" "$prog"
rc=$?
bash "$pgserver" stop "$dir" || rc=99
rm -rf "$dir"
exit $rc
