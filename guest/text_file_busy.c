/* text_file_busy.c - a running program's file cannot be opened for writing (ETXTBSY), for
 * O_WRONLY and O_RDWR alike, while reading it is fine; a copy of it is writable. */
#include "guest_util.h"

int main(void)
{
    char self[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = 0;
    int fd = open(self, O_WRONLY);
    out("open(running program, O_WRONLY): %s\n", fd < 0 ? errname(errno) : "ok");
    fd = open(self, O_RDWR);
    out("open(running program, O_RDWR): %s\n", fd < 0 ? errname(errno) : "ok");
    fd = open(self, O_RDONLY);
    out("open(running program, O_RDONLY): %s\n", fd < 0 ? errname(errno) : "ok");
    char copy[] = "/tmp/text_file_busy.XXXXXX";
    int c = mkstemp(copy);
    out("a copy of it is writable: %s\n", c >= 0 && write(c, "x", 1) == 1 ? "yes" : "no");
    unlink(copy);
    return 0;
}
