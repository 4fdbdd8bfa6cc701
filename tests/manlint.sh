#!/bin/sh
# Lint the manual pages with mandoc and check that ecsd.conf(5) documents
# every key of the configuration table in ecsd/conf.c.
# Exit status: 0 pass, 1 fail, 77 skip (mandoc not installed).

if [ -n "$top_srcdir" ]; then
	srcdir=$top_srcdir
else
	srcdir=$(cd "$(dirname "$0")/.." && pwd) || exit 1
fi

if ! command -v mandoc >/dev/null 2>&1; then
	echo "manlint: mandoc not installed, skipping"
	exit 77
fi

status=0

found=0
for page in "$srcdir"/man/*.[1-8]; do
	[ -f "$page" ] || continue
	found=1
	if ! mandoc -Tlint -Wwarning "$page"; then
		echo "manlint: $page: mandoc -Tlint -Wwarning failed"
		status=1
	fi
done
if [ "$found" -eq 0 ]; then
	echo "manlint: no manual pages in $srcdir/man"
	exit 1
fi

conf_c=$srcdir/ecsd/conf.c
conf_5=$srcdir/man/ecsd.conf.5
if [ -f "$conf_c" ]; then
	if [ ! -f "$conf_5" ]; then
		echo "manlint: $conf_5 is missing"
		exit 1
	fi
	keys=$(grep -o '{[[:space:]]*"[^"]*"[[:space:]]*,' "$conf_c" |
	    sed 's/^{[[:space:]]*"\([^"]*\)".*/\1/' | sort -u)
	missing=
	for key in $keys; do
		if ! awk -v k="$key" '
		    $1 == ".It" && $2 == "Ic" && $3 == k { found = 1 }
		    END { exit !found }' "$conf_5"; then
			missing="$missing $key"
		fi
	done
	if [ -n "$missing" ]; then
		echo "manlint: keys of ecsd/conf.c not documented in" \
		    "man/ecsd.conf.5:$missing"
		status=1
	fi
fi

exit $status
