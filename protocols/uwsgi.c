/* The uwsgi binary protocol codec. Pure: no I/O, no allocation, no mutable
 * global state. See uwsgi.h for the contracts.
 *
 * All multi-byte integers on the wire are little-endian. */
#include "protocols/uwsgi.h"

#include <string.h>

/* A var's own overhead: key_size and val_size. */
#define VAR_HEAD 4

static uint16_t get16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* ---- decoding ---------------------------------------------------------------- */

/*   0           1           2           3
 * +-----------+-----------+-----------+-----------+
 * | modifier1 | datasize (LE)         | modifier2 |
 * +-----------+-----------+-----------+-----------+
 * | vars[datasize]                                |
 *
 * Any modifier is accepted: answering it is the caller's business. */
ssize_t uwsgi_packet_decode(const uint8_t *buf, size_t len, struct uwsgi_header *hdr)
{
	memset(hdr, 0, sizeof *hdr);
	if (len < UWSGI_HEADER_LEN)
		return UWSGI_INCOMPLETE;
	hdr->modifier1 = buf[0];
	hdr->datasize = get16le(buf + 1);
	hdr->modifier2 = buf[3];

	size_t span = UWSGI_HEADER_LEN + (size_t)hdr->datasize;
	if (len < span)
		return UWSGI_INCOMPLETE;
	return (ssize_t)span;
}

/* | key_size (LE) | key[key_size] | val_size (LE) | val[val_size] |
 *
 * The block is complete (its size is in the header), so a var that does not
 * fit is an error, never "incomplete". */
int uwsgi_var_next(const uint8_t *vars, size_t len, size_t *off, const uint8_t **key,
                   size_t *key_len, const uint8_t **val, size_t *val_len)
{
	size_t pos = *off, klen, vlen;

	*key = *val = NULL;
	*key_len = *val_len = 0;
	if (pos > len)
		return UWSGI_ERROR;
	if (pos == len)
		return 0;
	if (len - pos < 2)
		return UWSGI_ERROR; /* a trailing byte */
	klen = get16le(vars + pos);
	pos += 2;
	if (klen == 0 || klen > len - pos || len - pos - klen < 2)
		return UWSGI_ERROR;
	const uint8_t *k = vars + pos;
	pos += klen;
	vlen = get16le(vars + pos);
	pos += 2;
	if (vlen > len - pos)
		return UWSGI_ERROR;

	*key = k;
	*key_len = klen;
	*val = vars + pos;
	*val_len = vlen;
	*off = pos + vlen;
	return 1;
}

/* ---- encoding ---------------------------------------------------------------- */

void uwsgi_writer_init(struct uwsgi_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = cap < UWSGI_HEADER_LEN;
	if (!w->overflow) {
		memset(buf, 0, UWSGI_HEADER_LEN);
		w->len = UWSGI_HEADER_LEN;
	}
}

void uwsgi_writer_var(struct uwsgi_writer *w, const char *key, size_t key_len, const char *val,
                      size_t val_len)
{
	if (w->overflow)
		return;
	/* an empty key would make a packet the peer must refuse: refuse it here */
	if (key_len == 0 || key_len > UWSGI_MAX_VARS || val_len > UWSGI_MAX_VARS) {
		w->overflow = true;
		return;
	}
	size_t need = VAR_HEAD + key_len + val_len; /* < 2^17: no wrap */
	size_t vars = w->len - UWSGI_HEADER_LEN;
	if (need > UWSGI_MAX_VARS - vars || need > w->cap - w->len) {
		w->overflow = true;
		return;
	}

	uint8_t *p = w->buf + w->len;
	put16le(p, (uint16_t)key_len);
	memcpy(p + 2, key, key_len);
	put16le(p + 2 + key_len, (uint16_t)val_len);
	if (val_len)
		memcpy(p + VAR_HEAD + key_len, val, val_len);
	w->len += need;
}

ssize_t uwsgi_writer_finish(struct uwsgi_writer *w)
{
	if (w->overflow)
		return UWSGI_ERROR;
	w->buf[0] = 0;
	put16le(w->buf + 1, (uint16_t)(w->len - UWSGI_HEADER_LEN));
	w->buf[3] = 0;
	return (ssize_t)w->len;
}
