/* shared_memory_bench.c - shared and file-backed memory in a loop:
 *   `file N`  N x (write one byte into each of 64 pages of a MAP_SHARED mapping of a file,
 *             msync(MS_SYNC), pread one page back) -- dirty tracking and write-back;
 *   `guard N` N x (MADV_GUARD_INSTALL then MADV_GUARD_REMOVE over 16 pages of a MAP_SHARED
 *             memfd mapping, then read every page, which refaults the shmem page).
 * Prints a line with a checksum (the same natively and under every emulator), timed from
 * outside by compare_shared_memory.sh. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#define PAGE 4096L

static long file_loop(long n)
{
    char path[] = "/tmp/mmuemu-shared-bench-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 64 * PAGE) != 0) return -1;
    unlink(path);
    char *m = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return -1;
    long sum = 0;
    char page[PAGE];
    for (long i = 0; i < n; i++) {
        for (long p = 0; p < 64; p++) m[p * PAGE + (i % PAGE)] = (char)(i + p);
        if (msync(m, 64 * PAGE, MS_SYNC) != 0) return -1;
        if (pread(fd, page, PAGE, (i % 64) * PAGE) != PAGE) return -1;
        sum += (unsigned char)page[i % PAGE];
    }
    return sum;
}

static long guard_loop(long n)
{
    int fd = memfd_create("bench", 0);
    if (fd < 0 || ftruncate(fd, 16 * PAGE) != 0) return -1;
    char *m = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return -1;
    for (long p = 0; p < 16; p++) m[p * PAGE] = (char)p;
    long sum = 0;
    for (long i = 0; i < n; i++) {
        if (madvise(m, 16 * PAGE, MADV_GUARD_INSTALL) != 0) return -1;
        if (madvise(m, 16 * PAGE, MADV_GUARD_REMOVE) != 0) return -1;
        for (long p = 0; p < 16; p++) sum += m[p * PAGE];
    }
    return sum;
}

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    const long n = atol(argv[2]);
    const long sum = strcmp(argv[1], "file") == 0 ? file_loop(n) : guard_loop(n);
    printf("%s %ld: checksum %ld\n", argv[1], n, sum);
    return sum < 0;
}
