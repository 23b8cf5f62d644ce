/* code_written_by_file_write.c - code in a file mapped executable is rewritten through the file:
 * pwrite() and write() change the page cache the mapping shows, and the function in it, already
 * called (and so translated by an emulator), is called again. Linux: the new code runs, for a
 * MAP_SHARED mapping and for a MAP_PRIVATE one the process never wrote to, of a file and of a
 * memfd (a JIT's double mapping).
 */
#include "guest_util.h"

#include <fcntl.h>

static int call(const unsigned char *code) { return ((int (*)(void))code)(); }

static void make_code(unsigned char *buf, int value)
{
    buf[0] = 0xb8; /* mov eax, imm32 */
    memcpy(buf + 1, &value, 4);
    buf[5] = 0xc3; /* ret */
}

static int open_file(int memfd)
{
    if (memfd)
        return memfd_create("code", 0);
    char path[] = "/tmp/code_written_by_file_write.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static int rewrite_and_call(const char *kind, int memfd, int flags)
{
    int fd = open_file(memfd);
    if (fd < 0)
        return 1;
    unsigned char page[4096] = {0};
    make_code(page, 1);
    if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
        return 1;
    const unsigned char *code = mmap(NULL, sizeof page, PROT_READ | PROT_EXEC, flags, fd, 0);
    if (code == MAP_FAILED)
        return 1;
    int first = 0;
    for (int i = 0; i < 100; i++)
        first = call(code);
    out("%s: before: %d\n", kind, first);

    make_code(page, 2);
    if (pwrite(fd, page, 6, 0) != 6)
        return 1;
    out("%s: after pwrite(): %d\n", kind, call(code));

    make_code(page, 3);
    if (lseek(fd, 0, SEEK_SET) != 0 || write(fd, page, 6) != 6)
        return 1;
    out("%s: after write(): %d\n", kind, call(code));
    munmap((void *)code, sizeof page);
    close(fd);
    return 0;
}

int main(void)
{
    if (rewrite_and_call("file MAP_SHARED", 0, MAP_SHARED) ||
        rewrite_and_call("file MAP_PRIVATE", 0, MAP_PRIVATE) ||
        rewrite_and_call("memfd MAP_SHARED", 1, MAP_SHARED) ||
        rewrite_and_call("memfd MAP_PRIVATE", 1, MAP_PRIVATE))
        return 1;
    return 0;
}
