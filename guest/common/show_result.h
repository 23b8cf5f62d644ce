/* show_result.h - one line per system call for the guests that check many calls' results:
 * SHOW("label", call) prints "label: N" or "label: ENAME" (glibc's error names; static glibc
 * guests only). Include after guest_util.h.
 */
#ifndef MMUEMU_GUEST_SHOW_RESULT_H
#define MMUEMU_GUEST_SHOW_RESULT_H

/* A pointer no mapping covers, hidden from the compiler's buffer checks. */
static void *volatile bad_pointer __attribute__((unused)) = (void *)8;

/* "N" for a result, the errno's name for -1 (rotating buffers: several per line). */
GUEST_STATIC const char *result_text(long r)
{
    static char buf[8][48];
    static int i;
    char *b = buf[i++ & 7];
    if (r < 0)
        snprintf(b, 48, "%s", strerrorname_np(errno));
    else
        snprintf(b, 48, "%ld", r);
    return b;
}

/* The call runs before anything else of the line is read (argument order is unspecified). */
#define SHOW(label, call)                          \
    do {                                           \
        const long r_ = (call);                    \
        out("%s: %s\n", label, result_text(r_));   \
    } while (0)

#endif
