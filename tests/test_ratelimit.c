/* test_ratelimit.c - the shared token buckets, driven by an injected clock (nanoseconds). */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "check.h"
#include "ratelimit.h"
#include "sl_err.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

typedef struct {
    ratelimit *rl;
    _Atomic unsigned long allowed;
} race_ctx;

static void racer(void *arg)
{
    race_ctx *r = arg;
    uint64_t retry;
    for (int i = 0; i < 20000; i++)
        if (ratelimit_take(r->rl, "k", 1, 1, 5 * SEC, &retry)) r->allowed++;
}

int main(void)
{
    uint64_t retry = 0;
    ratelimit *rl = ratelimit_new();
    CHECK(rl != NULL);
    CHECK(!ratelimit_enabled(rl));
    /* no bucket: nothing is limited */
    CHECK(ratelimit_take(rl, "a", 1, 1000000, 0, &retry));
    CHECK_INT(ratelimit_add(rl, "a", 1, 0, 0), SL_EUSAGE);
    CHECK_INT(ratelimit_add(rl, "a", 1, 10, 5), 0);
    CHECK(ratelimit_enabled(rl));

    /* burst 5 at 10/s: five pass at t=1s, the sixth waits 100 ms */
    uint64_t t = 1 * SEC;
    for (int i = 0; i < 5; i++)
        CHECK(ratelimit_take(rl, "a", 1, 1, t, &retry));
    CHECK(!ratelimit_take(rl, "a", 1, 1, t, &retry));
    CHECK_INT(retry, 100);
    CHECK(!ratelimit_take(rl, "a", 1, 1, t + 99 * MS, &retry));
    CHECK_INT(retry, 1);
    CHECK(ratelimit_take(rl, "a", 1, 1, t + 100 * MS, &retry));
    CHECK(!ratelimit_take(rl, "a", 1, 1, t + 100 * MS, &retry));
    /* refills up to the burst, never beyond */
    t += 100 * SEC;
    int n = 0;
    while (ratelimit_take(rl, "a", 1, 1, t, &retry))
        n++;
    CHECK_INT(n, 5);
    /* a batch counts all its events */
    t += 10 * SEC;
    CHECK(ratelimit_take(rl, "a", 1, 3, t, &retry));
    CHECK(!ratelimit_take(rl, "a", 1, 3, t, &retry)); /* 2 left */
    CHECK_INT(retry, 100);
    CHECK(ratelimit_take(rl, "a", 1, 2, t, &retry));
    /* a batch larger than the burst waits for a full bucket, then leaves it in debt */
    t += 10 * SEC;
    CHECK(ratelimit_take(rl, "a", 1, 25, t, &retry));
    CHECK(!ratelimit_take(rl, "a", 1, 1, t, &retry));
    CHECK_INT(retry, 2100); /* 20 events of debt + 1 = 2.1 s */
    CHECK(!ratelimit_take(rl, "a", 1, 25, t + 2100 * MS, &retry));
    CHECK_INT(retry, 400); /* a full bucket (5) needs 2.5 s */
    CHECK(ratelimit_take(rl, "a", 1, 25, t + 2500 * MS, &retry));
    /* long-run rate: 60 s of steady offers pass about 10/s * 60 + burst */
    t += 100 * SEC;
    n = 0;
    for (uint64_t k = 0; k < 60000; k++)
        n += ratelimit_take(rl, "a", 1, 1, t + k * MS, &retry);
    CHECK(n >= 600 && n <= 606);

    /* keys are independent; other keys are unlimited without a fallback */
    CHECK_INT(ratelimit_add(rl, "b", 1, 1, 1), 0);
    CHECK(ratelimit_take(rl, "b", 1, 1, t, &retry));
    CHECK(!ratelimit_take(rl, "b", 1, 1, t, &retry));
    CHECK_INT(retry, 1000);
    CHECK(ratelimit_take(rl, "zz", 2, 1000, t, &retry));
    CHECK(ratelimit_take(rl, NULL, 0, 1000, t, &retry));
    /* the fallback is one bucket for every other key (and for none) */
    CHECK_INT(ratelimit_set_fallback(rl, 2, 0), 0); /* burst 0 = rate */
    CHECK(ratelimit_take(rl, "x", 1, 1, t, &retry));
    CHECK(ratelimit_take(rl, NULL, 0, 1, t, &retry));
    CHECK(!ratelimit_take(rl, "y", 1, 1, t, &retry));
    CHECK_INT(retry, 500);
    /* fractional rates: 30/min */
    CHECK_INT(ratelimit_add(rl, "slow", 4, 0.5, 0), 0);
    CHECK(ratelimit_take(rl, "slow", 4, 1, t, &retry));
    CHECK(!ratelimit_take(rl, "slow", 4, 1, t, &retry));
    CHECK_INT(retry, 2000);
    /* re-adding replaces the rule */
    CHECK_INT(ratelimit_add(rl, "b", 1, 1000, 1000), 0);
    CHECK(ratelimit_take(rl, "b", 1, 500, t + 10 * SEC, &retry));
    ratelimit_free(rl);

    /* shared by threads: with a frozen clock exactly `burst` takes succeed in total */
    race_ctx rc = {.rl = ratelimit_new()};
    CHECK_INT(ratelimit_add(rc.rl, "k", 1, 1, 1000), 0);
    uv_thread_t th[4];
    for (int i = 0; i < 4; i++)
        uv_thread_create(&th[i], racer, &rc);
    for (int i = 0; i < 4; i++)
        uv_thread_join(&th[i]);
    CHECK_INT(rc.allowed, 1000);
    ratelimit_free(rc.rl);
    ratelimit_free(NULL);
    return check_done();
}
