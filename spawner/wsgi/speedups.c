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
			goto malformed;
		Py_ssize_t kl = p[i] | p[i + 1] << 8;
		Py_ssize_t ke = i + 2 + kl;
		if (kl == 0 || total - ke < 2)
			goto malformed;
		Py_ssize_t vl = p[ke] | p[ke + 1] << 8;
		Py_ssize_t ve = ke + 2 + vl;
		if (ve > total)
			goto malformed;
		PyObject *k = PyUnicode_DecodeLatin1((const char *)p + i + 2, kl, NULL);
		if (!k)
			goto fail;
		/* Interned: the application's environ["PATH_INFO"] then compares
		 * pointers. */
		PyUnicode_InternInPlace(&k);
		PyObject *v = PyUnicode_DecodeLatin1((const char *)p + ke + 2, vl, NULL);
		if (!v) {
			Py_DECREF(k);
			goto fail;
		}
		int rc = PyDict_SetItem(env, k, v);
		Py_DECREF(k);
		Py_DECREF(v);
		if (rc < 0)
			goto fail;
		i = ve;
	}
	PyBuffer_Release(&view);
	return env;
malformed:
	Py_DECREF(env);
	PyBuffer_Release(&view);
	Py_RETURN_NONE;
fail:
	Py_DECREF(env);
	PyBuffer_Release(&view);
	return NULL;
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
			goto malformed;
		PyObject *k = PyUnicode_DecodeLatin1((const char *)p + i, kl, NULL);
		if (!k)
			goto fail;
		PyUnicode_InternInPlace(&k); /* as parse_vars does */
		PyObject *v = PyUnicode_DecodeLatin1((const char *)p + i + kl, vl, NULL);
		if (!v) {
			Py_DECREF(k);
			goto fail;
		}
		int rc = PyDict_SetItem(env, k, v);
		Py_DECREF(k);
		Py_DECREF(v);
		if (rc < 0)
			goto fail;
		i += kl + vl;
	}
	PyBuffer_Release(&view);
	return env;
malformed:
	Py_DECREF(env);
	PyBuffer_Release(&view);
	Py_RETURN_NONE;
fail:
	Py_DECREF(env);
	PyBuffer_Release(&view);
	return NULL;
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
