/* Bytes as the inside of a JSON string, reversibly (RFC 8259).
 *
 * Valid UTF-8 (RFC 3629: shortest form, no surrogates, at most U+10FFFF) is
 * copied as it is, except:
 *   "  ->  \"          control bytes 0x01-0x1f and DEL 0x7f  ->  \b \f \n \r \t
 *   \  ->  \\\\                                                 or \u00XX
 * Every byte that is not part of a valid UTF-8 sequence becomes the four
 * characters \xHH (lowercase hex) of the decoded string, written \\xHH in the
 * JSON text; so does NUL (\\x00: jansson and others refuse \u0000 by
 * default, and C readers would stop there). So that this stays reversible, a
 * backslash of the input becomes two backslashes of the decoded string
 * (\\\\ in the JSON text). A reader
 * recovers the exact bytes from the decoded string: "\\" is one backslash,
 * "\xHH" one byte, anything else itself. (A \u00XX escape of the raw byte
 * would not be reversible: it is also what valid text holding U+00XX decodes
 * to; a lone surrogate such as \udcXX is refused by most JSON parsers.) */
#ifndef GW_JSON_ESCAPE_H
#define GW_JSON_ESCAPE_H

#include <stddef.h>

/* Escape in[0..n) into out[0..cap): whole escapes and whole UTF-8 sequences
 * only, never a part of one. Returns the bytes written (no NUL added); sets
 * *used (when not NULL) to the input bytes consumed, n unless out was full. */
size_t json_escape(char *out, size_t cap, const char *in, size_t n, size_t *used);

/* The most bytes json_escape() may write for n input bytes. */
#define JSON_ESCAPE_MAX(n) ((n) * 6)

/* The reverse of the byte layer, for readers and tests: s is a decoded JSON
 * string (s[0..n)); writes the original bytes to out (at most n) and returns
 * their count, or (size_t)-1 if s holds a backslash not followed by a
 * backslash or xHH. */
size_t json_unescape_bytes(char *out, const char *s, size_t n);

#endif
