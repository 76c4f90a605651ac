/* datatools.native._kernels: an importable module, so that setuptools builds and locates the
 * extension like any other; its functions (dedup.c, trl_screen.c) are called through ctypes
 * (`datatools/native/__init__.py`). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef kernels_module = {PyModuleDef_HEAD_INIT, "_kernels",
                                            "compiled kernels, called through ctypes", -1, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
