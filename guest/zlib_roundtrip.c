/* zlib_roundtrip.c - Debian's static zlib under mmuemu: deflate a generated megabyte at three
 * levels and inflate it back, checksums, and a gzip file written and read in the current
 * directory. Prints sizes and checksums (deterministic), compared with the native run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static unsigned char *make_text(size_t n)
{
    unsigned char *p = malloc(n);
    unsigned x = 12345;
    static const char *words[] = {"guard ", "page ", "tlb ", "flush ", "marker ", "vma ", "fault\n"};
    for (size_t i = 0; i < n;) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 7];
        for (size_t k = 0; w[k] && i < n; k++)
            p[i++] = (unsigned char)w[k];
    }
    return p;
}

int main(void)
{
    const size_t n = 1 << 20;
    unsigned char *text = make_text(n);
    printf("crc32 %08lx adler32 %08lx\n", crc32(0, text, (uInt)n), adler32(1, text, (uInt)n));
    for (int level = 1; level <= 9; level += 4) {
        uLongf packed_len = compressBound(n);
        unsigned char *packed = malloc(packed_len);
        if (compress2(packed, &packed_len, text, n, level) != Z_OK)
            return 1;
        uLongf back_len = n;
        unsigned char *back = malloc(n);
        const int r = uncompress(back, &back_len, packed, packed_len);
        printf("level %d: %lu bytes, round trip %s\n", level, packed_len,
               r == Z_OK && back_len == n && !memcmp(back, text, n) ? "ok" : "BAD");
        free(packed);
        free(back);
    }
    gzFile out = gzopen("zlib_roundtrip.gz", "wb9");
    gzwrite(out, text, (unsigned)n);
    gzclose(out);
    gzFile in = gzopen("zlib_roundtrip.gz", "rb");
    unsigned char *back = malloc(n);
    const int got = gzread(in, back, (unsigned)n);
    gzclose(in);
    remove("zlib_roundtrip.gz");
    printf("gzip file: %d bytes back, %s\n", got, got == (int)n && !memcmp(back, text, n) ? "same" : "DIFFERENT");
    return 0;
}
