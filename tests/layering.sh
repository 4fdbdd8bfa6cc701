#!/bin/sh
# Architecture rules: third-party headers stay behind one file each (the
# SQLite driver and its WAL writer, store_sqlite*.c, are one part).
srcdir=${top_srcdir:-$(dirname "$0")/..}
cd "$srcdir" || exit 99
fail=0
check() {	# header allowed-files...
	hdr=$1; shift
	for f in $(grep -l "#include <$hdr" libecs/*.c libecs/*.h ecsd/*.c ecsd/*.h 2>/dev/null); do
		ok=0
		for a in "$@"; do [ "$f" = "$a" ] && ok=1; done
		if [ $ok = 0 ]; then
			echo "layering: $f includes <$hdr>"
			fail=1
		fi
	done
}
check sqlite3.h libecs/store_sqlite.c libecs/store_sqlite_wal.c
check yajl/ libecs/json.c
check openssl/rand.h libecs/rand.c
check openssl/ssl.h ecsd/tls.c libecs/ecc_http.c
# libevent: the ECC client (libecs/ecc*.c) only, never the broker or store.
for f in $(grep -l '#include <event2/' libecs/*.c libecs/*.h 2>/dev/null); do
	case $f in
	libecs/ecc*.c) ;;
	*)	echo "layering: $f includes libevent headers"
		fail=1 ;;
	esac
done
# The participant CLI uses the public API only: <ecs/...> and the system.
for f in tools/ecs.c; do
	[ -f "$f" ] || continue
	if grep -n '#include "' "$f" | grep -v '"config.h"' ||
	    grep -nE '#include <(event2|openssl|yajl|sqlite3)' "$f"; then
		echo "layering: $f includes more than <ecs/...> and system headers"
		fail=1
	fi
done
if grep -n 'sqlite3_\|SELECT \|INSERT INTO' libecs/broker.c ecsd/*.c >/dev/null 2>&1; then
	echo "layering: SQL outside libecs/store_sqlite.c"
	grep -n 'sqlite3_\|SELECT \|INSERT INTO' libecs/broker.c ecsd/*.c
	fail=1
fi
[ $fail = 0 ] && echo "layering: ok"
exit $fail
