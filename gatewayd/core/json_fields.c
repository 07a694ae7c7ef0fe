#include "gatewayd/core/json_fields.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fail(struct check *c, const char *where, const char *fmt, ...)
{
	int n = snprintf(c->err, c->errlen, "%s: %s: ", c->file, where);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Every key of obj must be in allowed: a misspelt key is an error, not a default. */
int check_keys(struct check *c, json_t *obj, const char *where, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		/* JSON has no comments: a key "//..." is one, in any object. */
		if (strncmp(key, "//", 2) == 0)
			continue;
		const char *const *a = allowed;
		while (*a && strcmp(*a, key) != 0)
			a++;
		if (!*a)
			return fail(c, where, "unknown key \"%s\"", key);
	}
	return 0;
}

int want_object(struct check *c, json_t *v, const char *where)
{
	return json_is_object(v) ? 0 : fail(c, where, "must be an object");
}

int get_string(struct check *c, json_t *obj, const char *key, const char *where, char **out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(c, where, "\"%s\" must be a string", key);
	free(*out);
	*out = strdup(json_string_value(v));
	return *out ? 0 : fail(c, where, "out of memory");
}

int get_seconds(struct check *c, json_t *obj, const char *key, const char *where, double *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 86400)
		return fail(c, where, "\"%s\" must be a number of seconds in (0, 86400]", key);
	*out = json_number_value(v);
	return 0;
}

int get_int(struct check *c, json_t *obj, const char *key, const char *where, int *out, int min,
            int max)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(c, where, "\"%s\" must be an integer in [%d, %d]", key, min, max);
	*out = (int)json_integer_value(v);
	return 0;
}

int get_number(struct check *c, json_t *obj, const char *key, const char *where, double *out,
               double min, double max)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
		return fail(c, where, "\"%s\" must be a number in [%g, %g]", key, min, max);
	*out = json_number_value(v);
	return 0;
}

/* A size: an integer of bytes, or a string with a K, M or G suffix ("100M"). */
int get_size(struct check *c, json_t *obj, const char *key, const char *where, uint64_t *out,
             uint64_t min, uint64_t max)
{
	json_t *v = json_object_get(obj, key);
	uint64_t n;
	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		n = (uint64_t)json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		unsigned long long x = strtoull(s, &end, 10);
		uint64_t mul = 1;
		bool no_digits = end == s;
		if (*end == 'K' || *end == 'k')
			mul = 1ULL << 10;
		else if (*end == 'M' || *end == 'm')
			mul = 1ULL << 20;
		else if (*end == 'G' || *end == 'g')
			mul = 1ULL << 30;
		if (mul != 1)
			end++;
		if (errno || no_digits || *end || s[0] == '-' || x > UINT64_MAX / mul)
			return fail(
			        c, where,
			        "\"%s\": \"%s\" is not a size (bytes, or a number with K, M or G)",
			        key, s);
		n = x * mul;
	} else {
		return fail(c, where, "\"%s\" must be a size (bytes, or a string like \"10M\")",
		            key);
	}
	if (n < min || n > max)
		return fail(c, where, "\"%s\" must be between %llu and %llu bytes", key,
		            (unsigned long long)min, (unsigned long long)max);
	*out = n;
	return 0;
}

int get_bool(struct check *c, json_t *obj, const char *key, const char *where, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(c, where, "\"%s\" must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

/* A directory named in the file: relative to the file's own directory, resolved. */
int get_dir(struct check *c, json_t *obj, const char *key, const char *where, char **out,
            bool required)
{
	json_t *v = json_object_get(obj, key);
	char joined[PATH_MAX * 2], real[PATH_MAX];
	struct stat st;
	if (!v)
		return required ? fail(c, where, "\"%s\" is required", key) : 0;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return fail(c, where, "\"%s\" must be a non-empty string", key);
	const char *p = json_string_value(v);
	if (p[0] == '/')
		snprintf(joined, sizeof joined, "%s", p);
	else
		snprintf(joined, sizeof joined, "%s/%s", c->base_dir, p);
	char at[256];
	snprintf(at, sizeof at, "%s.%s", where, key);
	if (!realpath(joined, real) || stat(real, &st) < 0)
		return fail(c, at, "no such directory \"%s\"", p);
	if (!S_ISDIR(st.st_mode))
		return fail(c, at, "\"%s\" is not a directory", p);
	free(*out);
	*out = strdup(real);
	return *out ? 0 : fail(c, where, "out of memory");
}

int get_string_list(struct check *c, json_t *obj, const char *key, const char *where, char ***out,
                    size_t *n)
{
	json_t *v = json_object_get(obj, key), *item;
	size_t i;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return fail(c, where, "\"%s\" must be an array of strings", key);
	char **list = calloc(json_array_size(v) + 1, sizeof *list);
	if (!list)
		return fail(c, where, "out of memory");
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item) || !(list[i] = strdup(json_string_value(item)))) {
			for (size_t j = 0; j < i; j++)
				free(list[j]);
			free(list);
			return fail(c, where, "%s[%zu] must be a string", key, i);
		}
	}
	*out = list;
	*n = json_array_size(v);
	return 0;
}

void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* "env": {"NAME": "value", ...} as NAME=value strings (a NULL-terminated list). */
int get_env(struct check *c, json_t *obj, const char *where, char ***out, size_t *n)
{
	json_t *env = json_object_get(obj, "env");
	const char *k;
	json_t *v;
	char w[300];

	if (!env)
		return 0;
	snprintf(w, sizeof w, "%s.env", where);
	if (!json_is_object(env))
		return fail(c, w, "must be an object of strings");
	*out = calloc(json_object_size(env) + 1, sizeof **out);
	if (!*out)
		return fail(c, w, "out of memory");
	json_object_foreach(env, k, v)
	{
		if (!json_is_string(v) || !k[0] || strchr(k, '='))
			return fail(c, w, "\"%s\" must be a name without '=' and a string value",
			            k);
		if (asprintf(&(*out)[*n], "%s=%s", k, json_string_value(v)) < 0)
			return fail(c, w, "out of memory");
		(*n)++;
	}
	return 0;
}

/* A file mode as an octal string, "0660". */
int get_mode(struct check *c, json_t *obj, const char *where, int *out)
{
	json_t *v = json_object_get(obj, "mode");
	if (!v)
		return 0;
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	char *end;
	long m = strtol(s, &end, 8);
	if (!*s || *end || m < 0 || m > 0777)
		return fail(c, where, "\"mode\" must be an octal string like \"0660\"");
	*out = (int)m;
	return 0;
}
