/* Finding the script a URL path names under a root, and the CGI variables
 * that say where it is: shared by the cgi handler and the pool handler. */
#ifndef GW_SCRIPT_H
#define GW_SCRIPT_H

#include <limits.h>
#include <stddef.h>

struct request;

struct script_match {
	char file[PATH_MAX];
	char script_name[PATH_MAX];
	const char *path_info; /* the rest of r->path */
};

/* Walk r->path (less the route's mount) below root to the first regular file:
 * that is the script, the rest of the path is PATH_INFO. A walk that ends in a
 * directory takes the first of index (NULL-terminated, may be NULL) found there.
 * Returns 0 or an HTTP status (404 missing, 403 a directory or not a file, 414
 * too long). */
int script_find(struct request *r, const char *root, const char *const *index,
                struct script_match *m);

/* SCRIPT_NAME, PATH_INFO, SCRIPT_FILENAME, DOCUMENT_ROOT, PATH_TRANSLATED for m.
 * Returns 0 or 500. */
int script_location_env(struct request *r, const struct script_match *m);

#endif
