/* code_frames_reused.c - code whose memory is unmapped, freed, rewritten behind the mapping or
 * mapped again: what runs is always what the memory holds now. Each function is called often
 * first (so that an emulator has translated it), then:
 *   - anonymous pages of code are unmapped, and a file of other code is mapped at the same
 *     address (an emulator may hand the freed frames to that file's pages);
 *   - the pages are made writable, read() puts other code there, and they are made executable;
 *   - a file of code is unmapped, rewritten with pwrite() and mapped again at the same address;
 *   - a file of code is unmapped and mapped again unchanged (a library dlclosed and dlopened);
 *   - a memfd mapped executable is truncated to 0, extended, and written with other code;
 *   - a forked child runs the code from its own copy of the pages and exits, and the parent
 *     maps other code there.
 * Linux: the new code runs every time.
 */
#include "guest_util.h"

#include <sys/wait.h>

enum { kPages = 16, kPage = 4096 };

static int call(const unsigned char *code) { return ((int (*)(void))code)(); }

static void make_code(unsigned char *page, int value)
{
    page[0] = 0xb8; /* mov eax, imm32 */
    memcpy(page + 1, &value, 4);
    page[5] = 0xc3; /* ret */
}

/* Every page returns base + its index. */
static void make_pages(unsigned char *buf, int base)
{
    memset(buf, 0xcc, (size_t)kPages * kPage);
    for (int i = 0; i < kPages; i++)
        make_code(buf + (size_t)i * kPage, base + i);
}

/* The sum over the pages, each called 50 times first (the last call counts). */
static long run_pages(const unsigned char *code)
{
    long sum = 0;
    for (int i = 0; i < kPages; i++) {
        int value = 0;
        for (int n = 0; n < 50; n++)
            value = call(code + (size_t)i * kPage);
        sum += value;
    }
    return sum;
}

static unsigned char image[kPages * kPage];

static int code_file(int base)
{
    char path[] = "/tmp/code_frames_reused.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    make_pages(image, base);
    if (write(fd, image, sizeof image) != (ssize_t)sizeof image)
        return -1;
    return fd;
}

/* Anonymous code written by read() (the kernel), so that only the kernel wrote the frames. */
static unsigned char *anon_code(void *at, int base)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0);
    unsigned char *code = mmap(at, sizeof image, PROT_READ | PROT_WRITE | PROT_EXEC, flags, -1, 0);
    if (code == MAP_FAILED)
        return NULL;
    int fd = code_file(base);
    if (fd < 0 || pread(fd, code, sizeof image, 0) != (ssize_t)sizeof image)
        return NULL;
    close(fd);
    return code;
}

static int freed_then_file(void)
{
    unsigned char *code = anon_code(NULL, 100);
    if (!code)
        return 1;
    out("anonymous code: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    int fd = code_file(200);
    if (fd < 0 || mmap(code, sizeof image, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0) != code)
        return 1;
    out("a file mapped where it was: %ld\n", run_pages(code));
    /* And anonymous code again over the file's pages. */
    if (anon_code(code, 300) != code)
        return 1;
    out("anonymous code over the file: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    close(fd);
    return 0;
}

static int rewritten_while_not_executable(void)
{
    unsigned char *code = anon_code(NULL, 400);
    if (!code || mprotect(code, sizeof image, PROT_READ | PROT_EXEC) != 0)
        return 1;
    out("read-only code: %ld\n", run_pages(code));
    int fd = code_file(500);
    if (fd < 0 || mprotect(code, sizeof image, PROT_READ | PROT_WRITE) != 0 ||
        pread(fd, code, sizeof image, 0) != (ssize_t)sizeof image ||
        mprotect(code, sizeof image, PROT_READ | PROT_EXEC) != 0)
        return 1;
    out("read() while not executable, executable again: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    close(fd);
    return 0;
}

static int file_remapped(void)
{
    int fd = code_file(600);
    if (fd < 0)
        return 1;
    unsigned char *code = mmap(NULL, sizeof image, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (code == MAP_FAILED)
        return 1;
    out("file code: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    if (mmap(code, sizeof image, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0) != code)
        return 1;
    out("the same file mapped again: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    make_pages(image, 700);
    if (pwrite(fd, image, sizeof image, 0) != (ssize_t)sizeof image)
        return 1;
    if (mmap(code, sizeof image, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0) != code)
        return 1;
    out("the file rewritten while unmapped, mapped again: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    close(fd);
    return 0;
}

static int memfd_truncated(void)
{
    int fd = memfd_create("code", 0);
    make_pages(image, 800);
    if (fd < 0 || write(fd, image, sizeof image) != (ssize_t)sizeof image)
        return 1;
    unsigned char *code = mmap(NULL, sizeof image, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (code == MAP_FAILED)
        return 1;
    out("memfd code: %ld\n", run_pages(code));
    make_pages(image, 900);
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, sizeof image) != 0 ||
        pwrite(fd, image, sizeof image, 0) != (ssize_t)sizeof image)
        return 1;
    out("memfd truncated, extended and written: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    close(fd);
    return 0;
}

static int child_exits(void)
{
    unsigned char *code = anon_code(NULL, 1000);
    if (!code)
        return 1;
    out("code before fork: %ld\n", run_pages(code));
    pid_t child = fork();
    if (child == 0) {
        /* A store into each page gives the child frames of its own, rewritten by read(). */
        for (int i = 0; i < kPages; i++)
            code[(size_t)i * kPage + kPage - 1] = 0;
        int fd = code_file(1100);
        if (fd < 0 || pread(fd, code, sizeof image, 0) != (ssize_t)sizeof image)
            _exit(1);
        out("child's code: %ld\n", run_pages(code));
        _exit(0);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    out("parent's code after the child exited: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    int fd = code_file(1200);
    if (fd < 0 || mmap(code, sizeof image, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0) != code)
        return 1;
    out("a file mapped where the parent's code was: %ld\n", run_pages(code));
    munmap(code, sizeof image);
    close(fd);
    return 0;
}

int main(void)
{
    if (freed_then_file() || rewritten_while_not_executable() || file_remapped() || memfd_truncated() ||
        child_exits())
        return 1;
    return 0;
}
