#!/bin/sh
# Correctness test of ecs-bench (not a benchmark: no timing is asserted).
# Starts a private ecsd on 127.0.0.1:0 in a temporary directory, runs
# ecs-bench --setup with small counts over all phases and checks that it
# exits 0 and that its counts are the requested ones; then checks that it
# fails when messages go missing, and that it refuses a remote target.
# Exit status: 0 pass, 1 fail.

if [ -z "$top_builddir" ]; then
	top_builddir=$(cd "$(dirname "$0")/.." && pwd) || exit 1
fi
ECSD=${ECSD:-$top_builddir/ecsd/ecsd}
BENCH=${ECS_BENCH:-$top_builddir/tools/ecs-bench}
PASSWORD=bench-test-pw

for f in "$ECSD" "$BENCH"; do
	if [ ! -x "$f" ]; then
		echo "bench: $f is missing"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ecs-bench-test-XXXXXX") || exit 1
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failures=0
fail() {
	echo "not ok: $*"
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}
# expect FILE TEXT DESCRIPTION: the output holds TEXT (a fixed string).
expect() {
	if grep -F -q -- "$2" "$1"; then
		pass "$3"
	else
		fail "$3 (no \"$2\")"
	fi
}

cat > "$tmp/ecsd.conf" <<EOF
listen = 127.0.0.1:0
datadir = $tmp/data
EOF
ECSD_ADMIN_PASSWORD=$PASSWORD "$ECSD" -c "$tmp/ecsd.conf" \
    > "$tmp/ecsd.log" 2>&1 < /dev/null &
pid=$!
addr=
i=0
while [ $i -lt 150 ]; do
	addr=$(sed -n 's/.*ready http=\([^ ]*\).*/\1/p' "$tmp/ecsd.log")
	[ -n "$addr" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
if [ -z "$addr" ]; then
	echo "bench: ecsd did not get ready:"
	cat "$tmp/ecsd.log"
	exit 1
fi
url=http://$addr

# 1. All phases: produce 2000, mixed 2000 requests (1000 messages), consume
# 2000, events 2000; the drain pops the 1000 events left.
ECSD_ADMIN_PASSWORD=$PASSWORD "$BENCH" -S -u "$url" -n 2000 -c 4 -T 120 \
    -p produce,mixed,consume,events -k "$pid" > "$tmp/run1" 2>&1
rc=$?
cat "$tmp/run1"
[ $rc -eq 0 ] && pass "full run exits 0" || fail "full run exits $rc"
expect "$tmp/run1" "RESULT phase=produce conns=4 requests=2000 ok=2000 " \
    "produce: 2000 messages created"
expect "$tmp/run1" "RESULT phase=mixed conns=4 requests=2000 ok=2000 " \
    "mixed: 2000 requests"
expect "$tmp/run1" "status: 200=1000 201=1000" "mixed: half produce, half pop"
expect "$tmp/run1" "RESULT phase=consume conns=4 requests=2000 ok=2000 " \
    "consume: 2000 messages popped"
expect "$tmp/run1" "RESULT phase=events conns=4 requests=2000 ok=2000 " \
    "events: 2000 events popped"
expect "$tmp/run1" \
    "verify: produced 3000, consumed 3000, 0 duplicates, 0 missing (0 unacknowledged consumed, 0 foreign)" \
    "every message consumed exactly once"
expect "$tmp/run1" \
    "events: expected 3000, popped 3000, 0 duplicates, 0 missing (0 unknown)" \
    "every event popped exactly once"
expect "$tmp/run1" "server: " "server CPU reported"
expect "$tmp/run1" "result: ok" "result line"
mid=$(sed -n 's/^setup: .*(mid \([0-9]*\)).*/\1/p' "$tmp/run1")
[ -n "$mid" ] && pass "setup reports the mid" || fail "setup reports no mid"

# 2. Open loop, and participants provisioned on the way.
ECSD_ADMIN_PASSWORD=$PASSWORD "$BENCH" -S -P 20 -u "$url" -n 300 -c 4 \
    -r 3000 -T 120 -p produce,consume > "$tmp/run2" 2>&1
rc=$?
cat "$tmp/run2"
[ $rc -eq 0 ] && pass "open-loop run exits 0" || fail "open-loop run exits $rc"
expect "$tmp/run2" "20 extra participants" "extra participants provisioned"
expect "$tmp/run2" "RESULT phase=produce conns=4 requests=300 ok=300 " \
    "open loop: 300 messages created"
expect "$tmp/run2" \
    "verify: produced 300, consumed 300, 0 duplicates, 0 missing" \
    "open loop: every message consumed exactly once"

# 3. Pops by the wrong participant: the messages stay in the receiver's
# queue, so all 50 are missing and the run must fail.
if [ -n "$mid" ]; then
	"$BENCH" -u "$url" -s ecs-bench-sender -R ecs-bench-sender -m "$mid" \
	    -n 50 -c 2 -T 60 -p produce > "$tmp/run3" 2>&1
	rc=$?
	cat "$tmp/run3"
	[ $rc -eq 1 ] && pass "missing messages fail the run" ||
	    fail "missing messages: exit $rc, not 1"
	expect "$tmp/run3" "produced 50, consumed 0, 0 duplicates, 50 missing" \
	    "missing messages are counted"
	expect "$tmp/run3" "result: FAILED" "result line says FAILED"
fi

# 4. A remote target is refused without --allow-remote.
"$BENCH" -u http://192.0.2.1:3000 -s a -R b -m 1 -n 1 > "$tmp/run4" 2>&1
rc=$?
[ $rc -eq 2 ] && pass "remote target refused" ||
    fail "remote target: exit $rc, not 2"
expect "$tmp/run4" "not a loopback address" "remote target: message"

kill "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] && pass "ecsd exits 0" || fail "ecsd exits $rc"
if grep -E -q 'AddressSanitizer|LeakSanitizer|runtime error|fatal' \
    "$tmp/ecsd.log"; then
	fail "ecsd log has sanitizer or fatal lines"
	grep -E 'AddressSanitizer|LeakSanitizer|runtime error|fatal' \
	    "$tmp/ecsd.log" | head -20
fi

if [ $failures -gt 0 ]; then
	echo "bench: $failures checks failed"
	exit 1
fi
echo "bench: all checks passed"
exit 0
