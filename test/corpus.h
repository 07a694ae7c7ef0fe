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

#endif
