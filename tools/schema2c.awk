# Turn schema/sqlite/schema.sql (version 1) and the migrations
# schema/sqlite/migrate-NNN.sql (to version NNN, in order) into C strings:
# store_schema_sql and store_migrations[] (libecs/store_schema.c).
# Comment lines and blank lines are dropped; everything else is kept.
BEGIN {
	print "/* Generated from the schema/sqlite files by tools/schema2c.awk. */"
	print "#include <stddef.h>"
	print ""
	print "#include \"store.h\""
	print ""
	n = 0
}
FNR == 1 {
	if (n > 0)
		print "    \"\";\n"
	if (n == 0)
		print "const char store_schema_sql[] ="
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
	print "/* store_migrations[i] brings a database from version i + 1 to i + 2. */"
	print "const char *const store_migrations[] = {"
	for (i = 2; i <= n; i++)
		printf "\tmigration_%d,\n", i
	print "\tNULL"
	print "};"
}
