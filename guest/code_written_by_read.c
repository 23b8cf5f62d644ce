/* code_written_by_read.c - code that the kernel writes is what runs next: a function in an RWX
 * page is called (and so translated by an emulator), then read() and pread() put different code
 * into the same page, which is called again. Linux: the new code runs (the CPU's caches are
 * coherent with the kernel's writes). The same for code written by a guest store.
 */
#include "guest_util.h"

static int call(unsigned char *code) { return ((int (*)(void))code)(); }

static void make_code(unsigned char *buf, int value)
{
    buf[0] = 0xb8; /* mov eax, imm32 */
    memcpy(buf + 1, &value, 4);
    buf[5] = 0xc3; /* ret */
}

int main(void)
{
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    make_code(page, 1);
    int first = 0;
    for (int i = 0; i < 100; i++)
        first = call(page);
    out("code written by a store: %d\n", first);

    int p[2];
    if (pipe(p) != 0)
        return 2;
    unsigned char next[6];
    make_code(next, 2);
    (void)!write(p[1], next, sizeof next);
    (void)!read(p[0], page, sizeof next);
    out("code written by read(): %d\n", call(page));

    char path[] = "/tmp/code_written_by_read.XXXXXX";
    int fd = mkstemp(path);
    make_code(next, 3);
    (void)!write(fd, next, sizeof next);
    (void)!pread(fd, page, sizeof next, 0);
    out("code written by pread(): %d\n", call(page));
    unlink(path);

    make_code(page, 4);
    out("code written by a store again: %d\n", call(page));
    return 0;
}
