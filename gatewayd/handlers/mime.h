#ifndef GW_MIME_H
#define GW_MIME_H

/* The Content-Type for a file name, by its extension; application/octet-stream if unknown. */
const char *mime_type_for(const char *path);

#endif
