/* A file changed by another host process while the guest has it mapped (run by
 * tests/emu/host_file_change_test.sh, which writes the file when this prints "ready"): a fresh
 * mapping sees the new bytes and the new size, and so does the mapping made before, which maps
 * the same page cache. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) return 3;
    char *before = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    printf("before: %c\nready\n", before[0]);
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 4;
    char *fresh = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    char *private_map = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("fresh mapping: %c, second page %c\n", fresh[0], fresh[4096]);
    printf("private mapping: %c, second page %c\n", private_map[0], private_map[4096]);
    printf("earlier mapping: %c, second page %c\n", before[0], before[4096]);
    char byte = 0;
    pread(fd, &byte, 1, 0);
    printf("read(2): %c\n", byte);
    return 0;
}
