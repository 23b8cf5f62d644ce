/* file_offset_beyond_index.c - touches a page 8 TiB into a sparse file through a shared mapping.
 * Linux gives the page; mmuemu indexes an object's pages in a table that would need 16 GiB of
 * host memory for it, so it refuses with a one-line message and the guest dies by SIGKILL (as
 * out of memory) instead of the host running out of memory (tests/emu: emu.far_file_offset).
 * Natively it prints "read back 7".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    const char *path = "file_offset_beyond_index.tmp";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    const off_t size = (off_t)1 << 43;
    if (fd < 0 || ftruncate(fd, size) != 0) {
        printf("setup failed: %s\n", strerror(errno));
        return 1;
    }
    unlink(path);
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, size - 4096);
    if (p == MAP_FAILED) {
        printf("mmap failed: %s\n", strerror(errno));
        return 1;
    }
    p[0] = 7;
    printf("read back %d\n", p[0]);
    return 0;
}
