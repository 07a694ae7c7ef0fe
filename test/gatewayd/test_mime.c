/* gatewayd/mime.c: Content-Type by the file name's last extension. */
#include <criterion/criterion.h>

#include "gatewayd/handlers/mime.h"
#include "test/gatewayd/fixture.h"

TestSuite(mime, .init = fx_setup, .fini = fx_teardown);

static const char *const cases[][2] = {
	{"/a/index.html", "text/html; charset=utf-8"},
	{"/a/INDEX.HTM", "text/html; charset=utf-8"}, /* any case */
	{"style.css", "text/css; charset=utf-8"},
	{"/x/app.mjs", "text/javascript; charset=utf-8"},
	{"/x/data.json", "application/json"},
	{"/x/a.tar.gz", "application/gzip"},           /* the last extension */
	{"/x/font.woff2", "font/woff2"},
	{"/x/font.woff", "font/woff"},
	{"/x/photo.JPEG", "image/jpeg"},
	{"/x/noext", "application/octet-stream"},
	{"/x/trailing.", "application/octet-stream"},
	{"/x.d/noext", "application/octet-stream"},    /* a dot in a directory is no extension */
	{"/x/.html", "text/html; charset=utf-8"},
	{"/x/a.htmlx", "application/octet-stream"},
	{"/x/a.exe", "application/octet-stream"},
	{"", "application/octet-stream"},
};

Test(mime, by_extension)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_str_eq(mime_type_for(cases[i][0]), cases[i][1], "\"%s\"", cases[i][0]);
}
