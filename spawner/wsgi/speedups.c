/* _gatewayd_wsgi: the WSGI worker's per-request work that costs the most in
 * Python, done in C against Debian's python3-dev. gatewayd-wsgi imports it when
 * it was built for the interpreter running it and falls back to its own
 * Python otherwise; both give the same answers (test/wsgi/check_worker.py
 * compares them).
 *
 *   parse_vars(buffer, total) -> dict | None
 *       The vars of a uwsgi packet (buffer[0:total], the 4-byte header
 *       first) as an environ dict of latin-1 str; None when a size runs past
 *       the block or a key is empty.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define UWSGI_HEADER 4

/* env[key] = value, both latin-1 str. The key is interned: the
 * application's environ["PATH_INFO"] then compares pointers. -1 with a
 * Python error set when memory runs out. */
static int env_put(PyObject *env, const unsigned char *key, Py_ssize_t kl,
                   const unsigned char *value, Py_ssize_t vl)
{
	PyObject *k = PyUnicode_DecodeLatin1((const char *)key, kl, NULL);
	if (!k)
		return -1;
	PyUnicode_InternInPlace(&k);
	PyObject *v = PyUnicode_DecodeLatin1((const char *)value, vl, NULL);
	if (!v) {
		Py_DECREF(k);
		return -1;
	}
	int rc = PyDict_SetItem(env, k, v);
	Py_DECREF(k);
	Py_DECREF(v);
	return rc;
}

enum parsed { PARSED, MALFORMED, FAILED };

/* What a parser returns: env, None for malformed input, NULL with the
 * Python error for a failure; view released. */
static PyObject *parse_end(PyObject *env, Py_buffer *view, enum parsed how)
{
	PyBuffer_Release(view);
	if (how == PARSED)
		return env;
	Py_DECREF(env);
	if (how == FAILED)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *parse_vars(PyObject *self, PyObject *args)
{
	Py_buffer view;
	Py_ssize_t total;
	(void)self;
	if (!PyArg_ParseTuple(args, "y*n", &view, &total))
		return NULL;
	if (total < UWSGI_HEADER || total > view.len) {
		PyBuffer_Release(&view);
		PyErr_SetString(PyExc_ValueError, "total outside the buffer");
		return NULL;
	}
	const unsigned char *p = view.buf;
	PyObject *env = PyDict_New();
	if (!env) {
		PyBuffer_Release(&view);
		return NULL;
	}
	Py_ssize_t i = UWSGI_HEADER;
	while (i < total) {
		if (total - i < 2)
			return parse_end(env, &view, MALFORMED);
		Py_ssize_t kl = p[i] | p[i + 1] << 8;
		Py_ssize_t ke = i + 2 + kl;
		if (kl == 0 || total - ke < 2)
			return parse_end(env, &view, MALFORMED);
		Py_ssize_t vl = p[ke] | p[ke + 1] << 8;
		Py_ssize_t ve = ke + 2 + vl;
		if (ve > total)
			return parse_end(env, &view, MALFORMED);
		if (env_put(env, p + i + 2, kl, p + ke + 2, vl) < 0)
			return parse_end(env, &view, FAILED);
		i = ve;
	}
	return parse_end(env, &view, PARSED);
}

/* One FastCGI pair length at p[*i] (1 byte, or 4 with the high bit set);
 * -1 when it runs past n. */
static Py_ssize_t pair_length(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i)
{
	if (*i >= n)
		return -1;
	if (!(p[*i] & 0x80))
		return p[(*i)++];
	if (n - *i < 4)
		return -1;
	Py_ssize_t len = (Py_ssize_t)(p[*i] & 0x7f) << 24 | (Py_ssize_t)p[*i + 1] << 16 |
	                 (Py_ssize_t)p[*i + 2] << 8 | p[*i + 3];
	*i += 4;
	return len;
}

static PyObject *parse_pairs(PyObject *self, PyObject *args)
{
	Py_buffer view;
	(void)self;
	if (!PyArg_ParseTuple(args, "y*", &view))
		return NULL;
	const unsigned char *p = view.buf;
	Py_ssize_t n = view.len, i = 0;
	PyObject *env = PyDict_New();
	if (!env) {
		PyBuffer_Release(&view);
		return NULL;
	}
	while (i < n) {
		Py_ssize_t kl = pair_length(p, n, &i);
		Py_ssize_t vl = kl < 0 ? -1 : pair_length(p, n, &i);
		if (vl < 0 || kl > n - i || vl > n - i - kl)
			return parse_end(env, &view, MALFORMED);
		if (env_put(env, p + i, kl, p + i + kl, vl) < 0)
			return parse_end(env, &view, FAILED);
		i += kl + vl;
	}
	return parse_end(env, &view, PARSED);
}

static PyMethodDef methods[] = {
	{ "parse_vars", parse_vars, METH_VARARGS,
	  "parse_vars(buffer, total) -> dict | None: a uwsgi packet's vars." },
	{ "parse_pairs", parse_pairs, METH_VARARGS,
	  "parse_pairs(data) -> dict | None: FastCGI name-value pairs." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	"_gatewayd_wsgi",
	"gatewayd-wsgi's C parts.",
	-1,
	methods,
	NULL,
	NULL,
	NULL,
	NULL,
};

PyMODINIT_FUNC PyInit__gatewayd_wsgi(void)
{
	return PyModule_Create(&module);
}
