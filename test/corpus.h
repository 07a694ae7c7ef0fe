/* Helpers for tests that read conformance data under test/corpora/. */
#ifndef GW_TEST_CORPUS_H
#define GW_TEST_CORPUS_H

#include <stddef.h>
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

#endif
