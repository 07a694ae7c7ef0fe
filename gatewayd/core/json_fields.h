/* Reading the JSON config's values with errors that say where: every reader
 * takes the object, the key and the JSON path of the object ("routes[2].cgi")
 * and, on a bad value, writes "FILE: PATH.KEY: what is wrong" into the check's
 * error buffer and returns -1. A missing key is no error: the default stays. */
#ifndef GW_JSON_FIELDS_H
#define GW_JSON_FIELDS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct check {
	const char *file;
	char base_dir[PATH_MAX]; /* relative paths in the file are relative to it */
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) int fail(struct check *c, const char *where, const char *fmt,
                                               ...);
int check_keys(struct check *c, json_t *obj, const char *where, const char *const *allowed);
int want_object(struct check *c, json_t *v, const char *where);
int get_string(struct check *c, json_t *obj, const char *key, const char *where, char **out);
int get_seconds(struct check *c, json_t *obj, const char *key, const char *where, double *out);
int get_int(struct check *c, json_t *obj, const char *key, const char *where, int *out, int min,
            int max);
/* A JSON number, fractions allowed. */
int get_number(struct check *c, json_t *obj, const char *key, const char *where, double *out,
               double min, double max);
int get_size(struct check *c, json_t *obj, const char *key, const char *where, uint64_t *out,
             uint64_t min, uint64_t max);
int get_bool(struct check *c, json_t *obj, const char *key, const char *where, bool *out);
int get_dir(struct check *c, json_t *obj, const char *key, const char *where, char **out,
            bool required);
int get_string_list(struct check *c, json_t *obj, const char *key, const char *where, char ***out,
                    size_t *n);
void free_list(char **list, size_t n);
int get_env(struct check *c, json_t *obj, const char *where, char ***out, size_t *n);
int get_mode(struct check *c, json_t *obj, const char *where, int *out);

#endif
