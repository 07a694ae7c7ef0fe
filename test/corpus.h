/* Helpers for tests that read conformance data under test/corpora/. */
#ifndef GW_TEST_CORPUS_H
#define GW_TEST_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Absolute path of test/corpora/<rel> in the source tree (GW_SRCDIR, else "."). Static buffer. */
const char *corpus_path(const char *rel);
/* Load test/corpora/<rel> as JSON; aborts the test on failure. */
json_t *corpus_json(const char *rel);
/* Read test/corpora/<rel> whole; *len set; malloc'd, NUL-terminated. Aborts on failure. */
char *corpus_file(const char *rel, size_t *len);

/* Inputs placed so that they end right at a PROT_NONE page: a decoder that
 * reads one byte past what it was given faults at once. */
struct guard {
	unsigned char *map;
	size_t map_len;
	unsigned char *end; /* the first byte of the PROT_NONE page */
};
/* Room for inputs of up to room bytes. */
struct guard guard_new(size_t room);
void guard_free(struct guard *g);
/* Copy src[0..n) so that it ends right at the guard page; returns where. */
const void *guard_place(struct guard *g, const void *src, size_t n);

/* A name and its value as the binary codecs carry them (FastCGI name-value
 * pairs, uwsgi vars): bytes with their lengths. */
struct name_value {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
#define NAME_VALUE(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }

/* Are a[0..a_len) and b[0..b_len) the same bytes? */
bool bytes_eq(const void *a, size_t a_len, const void *b, size_t b_len);
/* A decoded name and value (views) must be want's; the failure names the
 * unit ("pair", "var"), what was decoded and which one (i). */
void expect_name_value(const uint8_t *name, size_t name_len, const uint8_t *value,
                       size_t value_len, const struct name_value *want, const char *unit,
                       const char *what, size_t i);

#endif
