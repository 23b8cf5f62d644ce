/* An embedded Python interpreter: Debian's static libpython3.11.a (libpython3.11-dev) linked into
 * a static program, started isolated with the system's standard library (/usr/lib/python3.11),
 * running a script that imports json, re and hashlib (its built-in SHA-2 and MD5), builds and
 * sorts data, and formats numbers -- the same output natively and under mmuemu. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static const char kScript[] =
    "import json, re, hashlib, sys\n"
    "record = {'name': 'mmuemu', 'pages': [4096 * i for i in range(5)], 'ok': True, 'none': None}\n"
    "text = json.dumps(record, sort_keys=True)\n"
    "print(text)\n"
    "print(json.loads(text)['pages'][-1], ascii(json.loads('[1.5, \"\\\\u00e9\"]')))\n"
    "print(re.sub(r'(\\d+)', lambda m: '<%d>' % (int(m.group(1)) * 2), 'a1b22c333'))\n"
    "print(re.findall(r'\\b[a-z]+(?=\\d)', 'guard1 region22 marker'))\n"
    "print(hashlib.sha256(b'mmuemu').hexdigest())\n"
    "print(hashlib.md5(b'guard regions').hexdigest(), hashlib.sha512(b'').hexdigest()[:16])\n"
    "words = sorted({w.lower() for w in 'The MMU owns a radix page table the TLB caches'.split()})\n"
    "print(words, len(words))\n"
    "print(sum(i * i for i in range(200000)), 1 / 3, 2 ** 100)\n"
    "print(sys.version_info[:2])\n";

int main(void)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    PyStatus status = PyConfig_SetString(&config, &config.home, L"/usr");
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
    const int failed = PyRun_SimpleString(kScript);
    if (Py_FinalizeEx() < 0) return 120;
    return failed ? 1 : 0;
}
