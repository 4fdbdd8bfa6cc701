#!/bin/sh
# The short form of tests/crash/kill9.pl for make check: 8 kills.
top_srcdir=${top_srcdir:-.}
KILL9_N=${KILL9_N:-8}
export KILL9_N
exec "${PERL:-perl}" -I"$top_srcdir/tests/blackbox/lib" \
    "$top_srcdir/tests/crash/kill9.pl"
