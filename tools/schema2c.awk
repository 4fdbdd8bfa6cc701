# Turn schema/sqlite/schema.sql into a C string (libecs/store_schema.c).
# Comment lines and blank lines are dropped; everything else is kept verbatim.
BEGIN {
	print "/* Generated from schema/sqlite/schema.sql by tools/schema2c.awk. */"
	print "#include \"store.h\""
	print ""
	print "const char store_schema_sql[] ="
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
}
