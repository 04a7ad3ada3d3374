/* test_srcmap.c - unit tests for the pointer-keyed position map. */
#include <stdlib.h>

#include "check.h"
#include "sl_err.h"
#include "srcmap.h"

static void test_basic(void)
{
    srcmap *m = srcmap_new();
    CHECK(m != NULL);
    int a, b, c, line = -1, col = -1;

    CHECK_INT(srcmap_get(m, &a, &line, &col), SL_ENOTFOUND);
    CHECK_INT(line, -1); /* untouched when not found */
    CHECK_INT(srcmap_size(m), 0);

    CHECK_INT(srcmap_put(m, &a, 3, 7), 0);
    CHECK_INT(srcmap_put(m, &b, 10, 1), 0);
    CHECK_INT(srcmap_get(m, &a, &line, &col), 0);
    CHECK_INT(line, 3);
    CHECK_INT(col, 7);
    CHECK_INT(srcmap_get(m, &b, &line, &col), 0);
    CHECK_INT(line, 10);
    CHECK_INT(col, 1);
    CHECK_INT(srcmap_get(m, &c, &line, &col), SL_ENOTFOUND);
    CHECK_INT(srcmap_size(m), 2);

    /* overwrite keeps one entry */
    CHECK_INT(srcmap_put(m, &a, 4, 2), 0);
    CHECK_INT(srcmap_get(m, &a, &line, &col), 0);
    CHECK_INT(line, 4);
    CHECK_INT(col, 2);
    CHECK_INT(srcmap_size(m), 2);

    /* NULL outputs are allowed: presence test only */
    CHECK_INT(srcmap_get(m, &b, NULL, NULL), 0);

    /* the schema_locate_fn adapter */
    CHECK_INT(srcmap_locate(m, &b, &line, &col), 0);
    CHECK_INT(line, 10);
    CHECK_INT(srcmap_locate(NULL, &b, &line, &col), SL_ENOTFOUND);
    CHECK_INT(srcmap_locate(m, &c, &line, &col), SL_ENOTFOUND);

    /* NULL keys / maps */
    CHECK_INT(srcmap_put(m, NULL, 1, 1), SL_EUSAGE);
    CHECK_INT(srcmap_put(NULL, &a, 1, 1), SL_EUSAGE);
    CHECK_INT(srcmap_get(m, NULL, &line, &col), SL_ENOTFOUND);
    CHECK_INT(srcmap_get(NULL, &a, &line, &col), SL_ENOTFOUND);
    CHECK_INT(srcmap_size(NULL), 0);

    srcmap_free(m);
    srcmap_free(NULL); /* no-op */
}

/* Many keys: forces several rehashes; adjacent addresses (aligned, low bits equal) must not
 * collide into one chain. Every key must still be found with its own value. */
static void test_grow(void)
{
    enum { N = 100000 };
    srcmap *m = srcmap_new();
    char *block = malloc(N * 8);
    CHECK(m && block);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (srcmap_put(m, block + (size_t)i * 8, i + 1, (i % 200) + 1)) bad++;
    CHECK_INT(bad, 0);
    CHECK_INT(srcmap_size(m), N);
    for (int i = 0; i < N; i++) {
        int line = 0, col = 0;
        if (srcmap_get(m, block + (size_t)i * 8, &line, &col) || line != i + 1 ||
            col != (i % 200) + 1)
            bad++;
    }
    CHECK_INT(bad, 0);
    /* interior pointers that were never put are not found */
    int found = 0;
    for (int i = 0; i < 1000; i++)
        if (srcmap_get(m, block + (size_t)i * 8 + 3, NULL, NULL) == 0) found++;
    CHECK_INT(found, 0);
    /* overwrite after growth */
    CHECK_INT(srcmap_put(m, block + 8 * 500, 77, 88), 0);
    int line = 0, col = 0;
    CHECK_INT(srcmap_get(m, block + 8 * 500, &line, &col), 0);
    CHECK_INT(line, 77);
    CHECK_INT(col, 88);
    CHECK_INT(srcmap_size(m), N);
    srcmap_free(m);
    free(block);
}

int main(void)
{
    test_basic();
    test_grow();
    return check_done();
}
