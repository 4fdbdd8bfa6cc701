# Turn schema/sqlite/schema.sql (version 1) and the migrations
# schema/sqlite/migrate-NNN.sql (to version NNN, in order) into C strings:
# store_schema_sql and store_migrations[] (libecs/store_schema.c).
# Comment lines and blank lines are dropped; everything else is kept.
#
# Another backend's files: -v prefix=store_pg -v header=- (no header: the
# driver declares them) -v from=schema/postgresql give store_pg_schema_sql
# and store_pg_migrations[].
BEGIN {
	if (prefix == "")
		prefix = "store"
	if (header == "")
		header = "store.h"
	if (from == "")
		from = "schema/sqlite"
	print "/* Generated from the " from " files by tools/schema2c.awk. */"
	print "#include <stddef.h>"
	print ""
	if (header != "-") {
		print "#include \"" header "\""
		print ""
	}
	n = 0
}
FNR == 1 {
	if (n > 0)
		print "    \"\";\n"
	if (n == 0)
		print "const char " prefix "_schema_sql[] ="
	else
		printf "static const char migration_%d[] =\n", n + 1
	n++
}
/^[ \t]*--/ { next }
/^[ \t]*$/ { next }
{
	gsub(/\\/, "\\\\")
	gsub(/"/, "\\\"")
	printf "    \"%s\\n\"\n", $0
}
END {
	print "    \"\";"
	print ""
	print "/* The migrations after the schema, in order. */"
	print "const char *const " prefix "_migrations[] = {"
	for (i = 2; i <= n; i++)
		printf "\tmigration_%d,\n", i
	print "\tNULL"
	print "};"
}
