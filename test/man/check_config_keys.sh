#!/bin/sh
# make check: gatewayd.json(5) documents every key the configuration parser
# accepts, each in the list of its own object, and no key the parser refuses.
#
# The accepted keys come from the parser's source, not from a list kept here.
# gatewayd/core/config.c refuses unknown keys with
#     check_keys(c, obj, where, TABLE)
# where TABLE is a NULL-terminated array of string literals declared in the
# same function:
#     static const char *const keys[] = {"root", "timeout", ..., NULL};
# The extraction (awk, below) reads gatewayd/core/config*.c line by line (so a
# parser split into several config*.c files is still read whole), comments
# dropped, braces counted (depth 0 is file scope), and:
#  1. names the function each line is in: at file scope, a line starting at
#     column 0 with an identifier followed by "(" declares it ("static int
#     load_cgi(struct check *c, ..."), and the next "{" opens its body;
#  2. records, per function, the TABLE each check_keys() call passes as its
#     last argument (a call wrapped over up to 5 lines is read whole);
#  3. reads the initializer of each array declared as "NAME[] = {", in a
#     function or at file scope, over as many lines as it takes, up to "}",
#     and takes its string literals.
# It fails, rather than compare nothing, when a check_keys() call cannot be
# read, when a call's table is found neither in its function nor at file
# scope, when a table holds anything but string literals and NULL, or when no
# check_keys() call is found at all.
# Free-form objects (env, the pools' names) are not tables, so not keys.
#
# The page marks each object's list with the comment line
#     .\" keys of FUNCTION() in gatewayd/core/config.c
# and documents each key of that list on an ".It Ic KEY" line; a list runs to
# the next marker, .Sh or .Ss. Ic is kept for configuration keys, so every
# ".It Ic" line must be in a marked list, and every "Ic" reference elsewhere
# (".Ic limits.body") must name a key the parser accepts (its last part).
set -u
src=${GW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
page=${PAGE:-$src/man/gatewayd.json.5.in}
# The parser's sources: gatewayd/core/config.c, and any gatewayd/core/config*.c it may
# be split into (CONFIG_C names one file instead).
if [ -n "${CONFIG_C:-}" ]; then
	set -- "$CONFIG_C"
else
	set -- "$src"/gatewayd/core/config*.c
fi
for f in "$@" "$page"; do
	if [ ! -r "$f" ]; then
		echo "FAIL: cannot read $f"
		exit 1
	fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_config_keys.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# The parser -> "FUNCTION KEY" lines (tmp/parser), or "ERROR ..." lines.
awk '
function fail(msg) { print "ERROR " file ":" FNR ": " msg; bad = 1 }
FNR == 1 {
	file = FILENAME
	sub(/.*\//, "", file)
	depth = incomment = intable = incall = 0
	fn = candidate = ""
}
# Comments are dropped (a commented-out table or call is not read), then the
# braces of code are counted: depth 0 is file scope.
{
	line = $0
	if (incomment) {
		if (!sub(/^([^*]|\*+[^*\/])*\*+\//, "", line)) next
		incomment = 0
	}
	while (match(line, /\/\*/)) {
		rest = substr(line, RSTART + 2)
		if (match(rest, /\*\//)) {
			line = substr(line, 1, index(line, "/*") - 1) " " substr(rest, RSTART + 2)
		} else {
			line = substr(line, 1, index(line, "/*") - 1)
			incomment = 1
		}
	}
	sub(/\/\/.*/, "", line)
	code = line
	gsub(/"([^"\\]|\\.)*"/, "\"\"", code)
	gsub(/\047([^\047\\]|\\.)*\047/, "0", code)
	depth0 = depth
	opens = gsub(/[{]/, "{", code)
	closes = gsub(/[}]/, "}", code)
	depth += opens - closes
}
intable {
	text = text " " line
	if (code ~ /[}]/) { tables[tabkey] = text; intable = 0 }
	next
}
# At file scope, the last identifier before a "(" names the function whose
# body the next "{" opens ("static int load_cgi(struct check *c, ...").
depth0 == 0 && code ~ /^[A-Za-z_]/ && code ~ /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/ {
	match(code, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)
	candidate = substr(code, RSTART, RLENGTH - 1)
	gsub(/[ \t]/, "", candidate)
}
code ~ /[A-Za-z_][A-Za-z0-9_]*[ \t]*\[[ \t]*\][ \t]*=[ \t]*[{]/ {
	match(line, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\[[ \t]*\][ \t]*=[ \t]*[{]/)
	decl = substr(line, RSTART, RLENGTH)
	name = substr(decl, 1, index(decl, "[") - 1)
	gsub(/[ \t]/, "", name)
	# A table at file scope may serve any function.
	tabkey = (depth0 == 0 ? "@" file : fn) SUBSEP name
	text = substr(line, RSTART + RLENGTH)
	if (depth == depth0) tables[tabkey] = text
	else intable = 1
	next
}
depth0 == 0 && depth > 0 { fn = candidate }
# A check_keys() call: its arguments up to the closing parenthesis, read on
# the following lines too (at most 5) when the call is wrapped; string
# literals are emptied first (a "where" such as "(top)" holds parentheses).
incall {
	args = args " " code
	callines++
}
!incall && code ~ /(^|[^A-Za-z0-9_])check_keys[ \t]*\(/ && depth0 > 0 {
	match(code, /check_keys[ \t]*\(/)
	args = substr(code, RSTART + RLENGTH)
	incall = 1
	callines = 1
	callfn = fn
	callat = FNR
}
incall {
	if (!match(args, /^[^()]*\)/)) {
		if (callines >= 5) {
			fail("a check_keys() call this test cannot read (no \")\" within 5 lines of line " callat ")")
			incall = 0
		}
		next
	}
	incall = 0
	args = substr(args, 1, RLENGTH - 1)
	n = split(args, a, ",")
	t = a[n]
	gsub(/^[ \t]+|[ \t]+$/, "", t)
	if (t !~ /^[A-Za-z_][A-Za-z0-9_]*$/) {
		fail("check_keys() in " callfn "() takes \"" t "\", not the name of a table")
		next
	}
	calls[callfn SUBSEP t] = file ":" callat
	callfile[callfn SUBSEP t] = file
	ncalls++
}
END {
	if (intable) fail("a key table that never ends")
	if (incall) fail("a check_keys() call that never ends")
	if (ncalls == 0) fail("no check_keys() call found: the extraction needs updating")
	for (c in calls) {
		split(c, ft, SUBSEP)
		if (c in tables) {
			text = tables[c]
		} else if (("@" callfile[c] SUBSEP ft[2]) in tables) {
			text = tables["@" callfile[c] SUBSEP ft[2]]
		} else {
			print "ERROR " calls[c] ": check_keys() in " ft[1] "() uses table \"" ft[2] "\", declared as \"" ft[2] "[] = {...}\" neither in that function nor at file scope"
			bad = 1
			continue
		}
		sub(/[}].*/, "", text)
		rest = text
		gsub(/"[^"]*"/, "", rest)
		gsub(/NULL|,|[ \t]/, "", rest)
		if (rest != "") {
			print "ERROR " callfile[c] ": table \"" ft[2] "\" in " ft[1] "() holds more than string literals and NULL: " rest
			bad = 1
			continue
		}
		nkeys = 0
		while (match(text, /"[^"]*"/)) {
			print ft[1], substr(text, RSTART + 1, RLENGTH - 2)
			text = substr(text, RSTART + RLENGTH)
			nkeys++
		}
		if (nkeys == 0) {
			print "ERROR " callfile[c] ": table \"" ft[2] "\" in " ft[1] "() has no key"
			bad = 1
		}
	}
}' "$@" >"$tmp/parser.raw"
grep '^ERROR ' "$tmp/parser.raw" | sed 's/^ERROR /FAIL: /' >"$tmp/errors"
grep -v '^ERROR ' "$tmp/parser.raw" | sort -u >"$tmp/parser";

# The page -> "FUNCTION KEY" lines (tmp/page), "REF KEY" for every Ic
# reference outside an .It line, "NOLIST KEY" for an .It Ic outside any list,
# "MARK FUNCTION" for every marker.
awk '
/^\.\\" keys of [A-Za-z_][A-Za-z0-9_]*\(\) in gatewayd\/core\/config\.c/ {
	cur = $4
	sub(/\(\)$/, "", cur)
	print "MARK", cur
	next
}
/^\.\\"/ { next }
/^\.S[hs]([ \t]|$)/ { cur = "" }
/^\.It[ \t]+Ic[ \t]/ {
	k = $3
	gsub(/"/, "", k)
	if (cur == "") print "NOLIST", k
	else print cur, k, "LINE", FNR
}
/^\./ {
	for (i = (/^\.It[ \t]+Ic[ \t]/ ? 4 : 1); i < NF; i++) {
		if ($i == "Ic" || $i == ".Ic") {
			k = $(i + 1)
			gsub(/"/, "", k)
			if (k ~ /^[A-Za-z_][A-Za-z0-9_.]*$/) {
				n = split(k, parts, ".")
				print "REF", parts[n], "LINE", FNR
			}
		}
	}
}' "$page" >"$tmp/page.raw"

awk '$1 == "NOLIST" { print "FAIL: \"" $2 "\" is documented (.It Ic) outside any list marked with the function of its key table" }' "$tmp/page.raw" >>"$tmp/errors"
awk '$1 != "NOLIST" && $1 != "MARK" && $1 != "REF" && $3 == "LINE" { if (seen[$1 " " $2]++) print "FAIL: page line " $4 ": \"" $2 "\" documented twice in the list of " $1 "()" }' "$tmp/page.raw" >>"$tmp/errors"
awk '$1 == "MARK" { if (seen[$2]++) print "FAIL: two lists marked for " $2 "()" }' "$tmp/page.raw" >>"$tmp/errors"
awk '$1 != "NOLIST" && $1 != "MARK" && $1 != "REF" { print $1, $2 }' "$tmp/page.raw" | sort -u >"$tmp/page"

# Lists the page has for functions with no key table.
cut -d' ' -f1 "$tmp/parser" | sort -u >"$tmp/parser.funcs"
awk '$1 == "MARK" { print $2 }' "$tmp/page.raw" | sort -u >"$tmp/page.funcs"
comm -13 "$tmp/parser.funcs" "$tmp/page.funcs" | while read -r f; do
	echo "FAIL: the page has a key list for $f(), but config.c has no key table there"
done >>"$tmp/errors"
comm -23 "$tmp/parser.funcs" "$tmp/page.funcs" | while read -r f; do
	echo "FAIL: config.c checks keys in $f(), but the page has no list marked '.\\\" keys of $f() in gatewayd/core/config.c'"
done >>"$tmp/errors"
# Keys accepted, not documented in their object's list; documented, not accepted.
comm -23 "$tmp/parser" "$tmp/page" | while read -r f k; do
	grep -qx "MARK $f" "$tmp/page.raw" || continue
	echo "FAIL: config.c accepts \"$k\" (table in $f()), but gatewayd.json(5) does not document it in that list (.It Ic $k)"
done >>"$tmp/errors"
comm -13 "$tmp/parser" "$tmp/page" | while read -r f k; do
	grep -q "^$f " "$tmp/parser" || continue
	echo "FAIL: gatewayd.json(5) documents \"$k\" in the list of $f(), but config.c's table there does not accept it"
done >>"$tmp/errors"
# Ic references to keys no table has.
cut -d' ' -f2 "$tmp/parser" | sort -u >"$tmp/parser.keys"
awk '$1 == "REF" { print $2, $4 }' "$tmp/page.raw" | while read -r k line; do
	grep -qx "$k" "$tmp/parser.keys" ||
		echo "FAIL: page line $line: \"Ic $k\" names no key config.c accepts"
done >>"$tmp/errors"

nkeys=$(wc -l <"$tmp/parser")
nfuncs=$(wc -l <"$tmp/parser.funcs")
ndoc=$(comm -12 "$tmp/parser" "$tmp/page" | wc -l)
if [ -s "$tmp/errors" ]; then
	cat "$tmp/errors"
	echo "FAIL: $ndoc of the $nkeys keys config.c accepts ($nfuncs objects) are documented in their place in $page"
	exit 1
fi
echo "ok: all $nkeys keys of config.c's $nfuncs key tables are documented in gatewayd.json(5), and no other:"
awk '{ keys[$1] = keys[$1] " " $2 } END { for (f in keys) print "  " f "():" keys[f] }' "$tmp/parser" | sort
exit 0
