#!/bin/sh
# make check: the manual pages lint clean with mandoc(1).
#
# Every man/*.in of the source tree must have been built (paths filled in)
# into man/ of the build tree, with no @variable@ left, and
#   mandoc -Tlint -W warning PAGE
# must print nothing. The stricter -W style is run too and must print nothing
# either, but for the messages that depend on the machine rather than on the
# page: "referenced manual not found" (an .Xr to a page not installed here,
# such as wrk(1)) and mandoc's note about an outdated mandoc.db.
# Skipped (77) without mandoc: `sh .ci/deps` installs it.
set -u
src=${GW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${GW_BUILDDIR:-$src}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "SKIP: no mandoc to lint the manual pages with (apt-get install mandoc)"
	exit 77
fi
failed=0
checked=0
for in in "$src"/man/*.in; do
	[ -e "$in" ] || { echo "FAIL: no manual page sources in $src/man"; exit 1; }
	name=$(basename "$in" .in)
	page=$build/man/$name
	before=$failed
	if [ ! -s "$page" ]; then
		echo "FAIL: $page was not built from $in (make builds it)"
		failed=$((failed + 1))
		continue
	fi
	if grep -n '@[A-Za-z_]*@' "$page"; then
		echo "FAIL: $name: an @variable@ above was left unsubstituted (see man_subst in Makefile.am)"
		failed=$((failed + 1))
	fi
	out=$(mandoc -Tlint -W warning "$page" 2>&1)
	if [ -n "$out" ]; then
		echo "$out"
		echo "FAIL: $name: mandoc -Tlint -W warning printed the above"
		failed=$((failed + 1))
	fi
	out=$(mandoc -Tlint -W style "$page" 2>&1 |
		grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db')
	if [ -n "$out" ]; then
		echo "$out"
		echo "FAIL: $name: mandoc -Tlint -W style printed the above"
		failed=$((failed + 1))
	fi
	checked=$((checked + 1))
	[ "$failed" != "$before" ] || echo "ok: $name"
done
[ "$failed" = 0 ] || exit 1
echo "ok: $checked manual pages lint clean (mandoc -Tlint, -W warning and -W style)"
exit 0
