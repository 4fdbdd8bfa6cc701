#!/bin/sh
# Replay the seed and regression corpora (tests/fuzz/corpus/<target>/)
# through the standalone builds of the fuzz targets. Run by make check.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
rc=0
for t in json broker dates conf http; do
	prog=$top_builddir/tests/fuzz/replay_$t
	dir=$top_srcdir/tests/fuzz/corpus/fuzz_$t
	if ! test -x "$prog"; then
		echo "replay: $prog not built"
		rc=99
		continue
	fi
	if "$prog" "$dir"; then
		echo "PASS: fuzz_$t corpus"
	else
		echo "FAIL: fuzz_$t corpus (exit $?)"
		test $rc = 0 && rc=1
	fi
done
exit $rc
