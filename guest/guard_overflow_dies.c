/* guard_overflow_dies.c - the first example a new user runs: a buffer overflow into a guard page
 * with no SIGSEGV handler installed kills the process with SIGSEGV (the shell sees 128+11=139).
 *
 * A 2-page buffer is followed by a guard page; the program fills the buffer, prints a line, then
 * writes one byte past the end. Nothing after that line may be printed.
 */
#include "guest_util.h"

int main(void)
{
    char *buf = map_anon(3, PROT_READ | PROT_WRITE);
    if (madvise(buf + 2 * PG, PG, MADV_GUARD_INSTALL) != 0) {
        out("MADV_GUARD_INSTALL failed: %s\n", errname(errno));
        return 2;
    }
    size_t len = 2 * PG;
    memset(buf, 'x', len);
    out("filled an 8192-byte buffer followed by a guard page\n");
    out("now writing buf[8192], one byte past the end: expect death by SIGSEGV\n");
    volatile char *p = buf;
    p[len] = '!';
    out("BUG: the overflow was not caught\n");
    return 1;
}
