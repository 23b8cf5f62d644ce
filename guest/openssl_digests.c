/* openssl_digests.c - Debian's static libcrypto (OpenSSL 3) under mmuemu: SHA-256, SHA-512,
 * SHA3-256 and MD5 of a generated buffer, an HMAC, AES-256-CBC and ChaCha20-Poly1305 round trips,
 * printed in hex (deterministic), compared with the native run. OpenSSL picks code paths by
 * CPUID, so this also checks that what Unicorn's CPUID promises works.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static void hex(const char *label, const unsigned char *p, unsigned n)
{
    printf("%-14s", label);
    for (unsigned i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static void digest(const char *name, const unsigned char *data, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(data, n, md, &len, EVP_get_digestbyname(name), NULL);
    hex(name, md, len);
}

static int round_trip(const EVP_CIPHER *cipher, const unsigned char *data, int n)
{
    unsigned char key[32], iv[16], enc[70000], dec[70000];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < 16; i++)
        iv[i] = (unsigned char)(i * 3);
    int len = 0, total = 0, dlen = 0, dtotal = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(ctx, cipher, NULL, key, iv);
    EVP_EncryptUpdate(ctx, enc, &len, data, n);
    total = len;
    EVP_EncryptFinal_ex(ctx, enc + total, &len);
    total += len;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(enc, (size_t)total, md, &mdlen, EVP_sha256(), NULL);
    hex(EVP_CIPHER_get0_name(cipher), md, 8);
    EVP_DecryptInit_ex(ctx, cipher, NULL, key, iv);
    EVP_DecryptUpdate(ctx, dec, &dlen, enc, total);
    dtotal = dlen;
    EVP_DecryptFinal_ex(ctx, dec + dtotal, &dlen);
    dtotal += dlen;
    EVP_CIPHER_CTX_free(ctx);
    return dtotal == n && !memcmp(dec, data, (size_t)n);
}

int main(void)
{
    static unsigned char data[65536];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)((i * 2654435761u) >> 13);
    digest("SHA256", data, sizeof data);
    digest("SHA512", data, sizeof data);
    digest("SHA3-256", data, sizeof data);
    digest("MD5", data, sizeof data);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), "mmuemu", 6, data, sizeof data, mac, &maclen);
    hex("HMAC-SHA256", mac, maclen);
    printf("aes-256-cbc round trip %s\n", round_trip(EVP_aes_256_cbc(), data, (int)sizeof data) ? "ok" : "BAD");
    printf("chacha20 round trip %s\n", round_trip(EVP_chacha20(), data, (int)sizeof data) ? "ok" : "BAD");
    return 0;
}
