/* fuzz_format.c - libFuzzer driver for the format checkers and IDNA: any bytes, under every
 * format, must give an answer without reading past n; whatever Punycode decodes must encode and
 * decode back to the same code points; a name idna_check_name accepts in ASCII mode it also
 * accepts with IDNA_UNICODE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "idna.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    for (int f = 0; f < FORMAT__COUNT; f++)
        (void)format_check((format_id)f, s, size);
    if (idna_check_name(s, size, 0) == 0 && idna_check_name(s, size, IDNA_UNICODE) != 0) abort();
    uint32_t cp[64], back[64];
    size_t n, m, k;
    char enc[256];
    if (idna_punycode_decode(s, size, cp, 64, &n) == 0) {
        if (idna_punycode_encode(cp, n, enc, sizeof enc, &m) != 0) abort();
        if (idna_punycode_decode(enc, m, back, 64, &k) != 0 || k != n ||
            memcmp(cp, back, n * sizeof cp[0]) != 0)
            abort();
    }
    return 0;
}
