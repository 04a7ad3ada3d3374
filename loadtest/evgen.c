/* evgen.c - e-commerce event templates and request bodies (see evgen.h).
 *
 * The templates follow specs/ecommerce.yaml (acme-shop 2.4.0): events that must stay valid use
 * only planned properties with planned types, enums, patterns and formats; each invalid template
 * breaks exactly one rule. If the plan changes, the builders below are the place to follow it.
 * A template stores the byte offset of its messageId value; the id is written there per send. */
#include "evgen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <zlib.h>

#include "lterr.h"

/* ---- deterministic randomness (splitmix64) ----------------------------------------------- */

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static unsigned rng_below(rng *r, unsigned n)
{
    return n ? (unsigned)(rng_next(r) % n) : 0;
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static const char *pick(rng *r, const char *const *list, unsigned n)
{
    return list[rng_below(r, n)];
}

#define PICK(r, arr) pick((r), (arr), (unsigned)(sizeof(arr) / sizeof(arr)[0]))

/* ---- a minimal JSON writer (our strings never need escaping) ------------------------------ */

typedef struct {
    sl_buf *b;
    bool first[16];
    int d;
} jw;

static void jw_key(jw *w, const char *key)
{
    if (!w->first[w->d]) sl_buf_putc(w->b, ',');
    w->first[w->d] = false;
    if (key) sl_buf_printf(w->b, "\"%s\":", key);
}

static void jw_open(jw *w, const char *key, char c)
{
    jw_key(w, key);
    sl_buf_putc(w->b, c);
    w->first[++w->d] = true;
}

static void jw_close(jw *w, char c)
{
    sl_buf_putc(w->b, c);
    w->d--;
}

static void jw_str(jw *w, const char *key, const char *v)
{
    jw_key(w, key);
    sl_buf_printf(w->b, "\"%s\"", v);
}

static void jw_int(jw *w, const char *key, long v)
{
    jw_key(w, key);
    sl_buf_printf(w->b, "%ld", v);
}

static void jw_money(jw *w, const char *key, double v)
{
    jw_key(w, key);
    sl_buf_printf(w->b, "%.2f", v);
}

static void jw_raw(jw *w, const char *key, const char *raw)
{
    jw_key(w, key);
    sl_buf_puts(w->b, raw);
}

/* ---- catalogue ----------------------------------------------------------------------------- */

static const char *const adjectives[] = {"Merino", "Alpine", "Coastal", "Trail",  "Classic",
                                         "Storm",  "Urban",  "Summit",  "Harbor", "Canyon",
                                         "Linen",  "Cotton", "Fleece",  "Waxed",  "Organic"};
static const char *const nouns[] = {"Crew Tee",    "Hoodie", "Parka",        "Chino",
                                    "Rain Jacket", "Beanie", "Trail Runner", "Backpack",
                                    "Overshirt",   "Vest",   "Duffel Bag",   "Sneaker"};
static const char *const noun_codes[] = {"TEE", "HOD", "PRK", "CHN", "RJK", "BNI",
                                         "TRN", "BPK", "OVS", "VST", "DFL", "SNK"};
static const char *const noun_slugs[] = {"crew-tee",    "hoodie", "parka",        "chino",
                                         "rain-jacket", "beanie", "trail-runner", "backpack",
                                         "overshirt",   "vest",   "duffel-bag",   "sneaker"};
static const char *const categories[] = {"Tops",     "Outerwear",   "Bottoms",
                                         "Footwear", "Accessories", "Bags"};
static const char *const brands[] = {"Acme Outfitters", "Northpeak", "Saltline", "Acme Basics"};
static const char *const colors[] = {"Navy", "Black", "Forest Green",
                                     "Sand", "Rust",  "Heather Grey"};
static const char *const sizes[] = {"XS", "S", "M", "L", "XL"};
static const char *const currencies[] = {"USD", "USD", "USD", "EUR", "GBP", "CAD"};
static const char *const locales[] = {"en-US", "en-US", "en-GB", "de-DE", "fr-FR", "en"};
static const char *const user_agents[] = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile"};
static const char *const referrers[] = {"https://www.google.com/", "https://www.instagram.com/",
                                        "https://shop.acme.example/", ""};
static const char *const sources[] = {"google", "newsletter", "instagram", "bing"};
static const char *const mediums[] = {"cpc", "email", "social", "display"};
static const char *const campaigns[] = {"spring_sale", "new-arrivals", "black_friday_2024",
                                        "loyalty-q3"};
static const char *const queries[] = {"rain jacket", "merino",      "waterproof boots",
                                      "kids hoodie", "linen shirt", "backpack 30l"};
static const char *const first_names[] = {"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara"};
static const char *const last_names[] = {"Lovelace", "Hopper",   "Torvalds",
                                         "Hamilton", "Thompson", "Liskov"};
static const char *const cities[] = {"Portland", "Leeds", "Toronto", "Lyon", "Austin"};
static const char *const countries[] = {"US", "GB", "CA", "FR", "US"};

typedef struct {
    char id[25];
    char sku[32];
    char name[64];
    char slug[64];
    const char *category, *brand, *variant;
    double price;
} product;

#define NPRODUCTS 48

static void make_product(rng *r, product *p)
{
    unsigned a = rng_below(r, sizeof adjectives / sizeof adjectives[0]);
    unsigned n = rng_below(r, sizeof nouns / sizeof nouns[0]);
    for (int i = 0; i < 24; i++)
        p->id[i] = "0123456789abcdef"[rng_below(r, 16)];
    p->id[24] = 0;
    snprintf(p->sku, sizeof p->sku, "AO-%s-%03u-%s", noun_codes[n], rng_below(r, 1000),
             PICK(r, sizes));
    snprintf(p->name, sizeof p->name, "%s %s", adjectives[a], nouns[n]);
    char adj_lower[32];
    size_t k = 0;
    for (; adjectives[a][k] && k < sizeof adj_lower - 1; k++)
        adj_lower[k] = (char)(adjectives[a][k] | 0x20);
    adj_lower[k] = 0;
    snprintf(p->slug, sizeof p->slug, "%s-%s", adj_lower, noun_slugs[n]);
    p->category = PICK(r, categories);
    p->brand = PICK(r, brands);
    p->variant = PICK(r, colors);
    p->price = (double)(1500 + rng_below(r, 23500)) / 100.0;
    p->price = floor(p->price) + 0.99;
}

static void make_uuid(rng *r, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 36; i++)
        out[i] = hex[rng_below(r, 16)];
    out[8] = out[13] = out[18] = out[23] = '-';
    out[14] = '4';
    out[19] = hex[8 + rng_below(r, 4)];
    out[36] = 0;
}

/* ---- templates ----------------------------------------------------------------------------- */

typedef enum {
    K_PRODUCT_VIEWED,
    K_PRODUCT_ADDED,
    K_PRODUCTS_SEARCHED,
    K_ORDER_COMPLETED,
    K_CHECKOUT_STARTED,
    K_IDENTIFY,
    K_PAGE,
    K__COUNT
} kind;

/* Weights of the kinds in the mix (a storefront sees many views, fewer orders). */
static const unsigned kind_weight[K__COUNT] = {26, 11, 9, 8, 4, 12, 30};
static const evgen_call kind_call[K__COUNT] = {
    EVGEN_TRACK, EVGEN_TRACK, EVGEN_TRACK, EVGEN_TRACK, EVGEN_TRACK, EVGEN_IDENTIFY, EVGEN_PAGE};
/* How many distinct violations each kind's builder knows (bad = 1..n). */
static const unsigned kind_nbad[K__COUNT] = {4, 3, 2, 6, 2, 3, 3};
static const char *const call_path[EVGEN__CALLS] = {"/v1/track", "/v1/identify", "/v1/page"};
static const char *const call_type[EVGEN__CALLS] = {"track", "identify", "page"};

typedef struct {
    size_t off, len; /* in evgen.tpl_bytes */
    size_t mid_off;  /* offset of the messageId value within the template */
} tpl;

#define MID_RUN_LEN 24 /* "xxxxxxxx-xxxx-4xxx-8xxx-": fixed per run; 12 hex of seq follow */

struct evgen {
    evgen_config cfg;
    rng r;
    char run[MID_RUN_LEN + 1];
    char ts[32], sent_at[32];
    product products[NPRODUCTS];
    sl_buf tpl_bytes;
    tpl *tpls;                   /* [kind][valid=0/invalid=1][pool] */
    unsigned kinds[K__COUNT];    /* kinds allowed in single-event requests */
    unsigned nkinds, weight_sum; /* over kinds[] */
    unsigned all_weight_sum;     /* over every kind, for batches */
    uint64_t seq;                /* next event sequence number */
    uint64_t ev_count, ev_bytes; /* events produced so far, for the mean size */
    sl_buf raw;                  /* uncompressed body when gzip is on */
    z_stream zs;
    bool zs_live;
};

static tpl *tpl_at(evgen *g, kind k, int invalid, unsigned i)
{
    return &g->tpls[((size_t)k * 2 + (size_t)invalid) * g->cfg.pool + i];
}

static void put_product(jw *w, rng *r, const product *p, int bad, bool with_url)
{
    /* bad: 0 valid, 1 no product_id, 2 negative price, 3 lower-case sku, 4 quantity 0 */
    if (bad != 1) jw_str(w, "product_id", p->id);
    if (bad == 3) {
        char sku[32];
        snprintf(sku, sizeof sku, "%s", p->sku);
        for (char *c = sku; *c; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c | 0x20);
        jw_str(w, "sku", sku);
    } else {
        jw_str(w, "sku", p->sku);
    }
    jw_str(w, "category", p->category);
    jw_str(w, "name", p->name);
    if (rng_below(r, 2)) jw_str(w, "brand", p->brand);
    jw_str(w, "variant", p->variant);
    jw_money(w, "price", bad == 2 ? -p->price : p->price);
    jw_int(w, "quantity", bad == 4 ? 0 : 1 + (long)rng_below(r, 3));
    if (!with_url) return;
    char url[128];
    snprintf(url, sizeof url, "https://shop.acme.example/p/%s", p->slug);
    jw_str(w, "url", url);
}

static void put_products(jw *w, evgen *g, unsigned n, int bad_line_kind)
{
    jw_open(w, "products", '[');
    for (unsigned i = 0; i < n; i++) {
        jw_open(w, NULL, '{');
        const product *p = &g->products[rng_below(&g->r, NPRODUCTS)];
        put_product(w, &g->r, p, i == n - 1 ? bad_line_kind : 0, false);
        jw_int(w, "position", (long)i + 1);
        jw_close(w, '}');
    }
    jw_close(w, ']');
}

static void put_context(jw *w, evgen *g, const char *path)
{
    rng *r = &g->r;
    char url[160];
    snprintf(url, sizeof url, "https://shop.acme.example%s", path);
    jw_open(w, "context", '{');
    jw_open(w, "library", '{');
    jw_str(w, "name", "analytics.js");
    jw_str(w, "version", "next-1.64.0");
    jw_close(w, '}');
    jw_str(w, "locale", PICK(r, locales));
    if (rng_below(r, 2)) jw_str(w, "userAgent", PICK(r, user_agents));
    jw_open(w, "page", '{');
    jw_str(w, "url", url);
    jw_close(w, '}');
    if (rng_below(r, 3) == 0) {
        jw_open(w, "campaign", '{');
        jw_str(w, "source", PICK(r, sources));
        jw_str(w, "medium", PICK(r, mediums));
        jw_str(w, "name", PICK(r, campaigns));
        jw_close(w, '}');
    }
    jw_close(w, '}');
}

/* Envelope members common to every call; returns the messageId value offset within b. */
static size_t put_envelope(jw *w, evgen *g, evgen_call call, size_t start)
{
    rng *r = &g->r;
    jw_str(w, "type", call_type[call]);
    char anon[37];
    make_uuid(r, anon);
    if (rng_below(r, 4) != 0) {
        char uid[32];
        snprintf(uid, sizeof uid, "user_%06u", rng_below(r, 1000000));
        jw_str(w, "userId", uid);
    }
    jw_str(w, "anonymousId", anon);
    jw_key(w, "messageId");
    sl_buf_putc(w->b, '"');
    size_t mid = w->b->n - start;
    sl_buf_put(w->b, g->run, MID_RUN_LEN);
    sl_buf_puts(w->b, "000000000000\"");
    jw_str(w, "timestamp", g->ts);
    return mid;
}

static void order_id(rng *r, char out[16])
{
    snprintf(out, 16, "AO-%08u", rng_below(r, 100000000));
}

/* Renders one template of kind k into g->tpl_bytes; bad = 0 for a valid event, else which
 * violation (1..kind_nbad[k]). */
static void build(evgen *g, kind k, int bad, tpl *t)
{
    rng *r = &g->r;
    sl_buf *b = &g->tpl_bytes;
    size_t start = b->n;
    jw w = {.b = b, .first = {true}, .d = 0};
    evgen_call call = kind_call[k];
    const product *p = &g->products[rng_below(r, NPRODUCTS)];
    char path[128], uuid[37], oid[16];

    sl_buf_putc(b, '{');
    w.first[0] = true;
    switch (k) {
    case K_PRODUCT_VIEWED:
        snprintf(path, sizeof path, "/p/%s", p->slug);
        break;
    case K_PRODUCT_ADDED:
        snprintf(path, sizeof path, "/p/%s", p->slug);
        break;
    case K_PRODUCTS_SEARCHED:
        snprintf(path, sizeof path, "/search");
        break;
    case K_ORDER_COMPLETED:
        snprintf(path, sizeof path, "/checkout/confirmation");
        break;
    case K_CHECKOUT_STARTED:
        snprintf(path, sizeof path, "/cart");
        break;
    case K_IDENTIFY:
        snprintf(path, sizeof path, "/account");
        break;
    default:
        snprintf(path, sizeof path, "/");
        break;
    }
    t->mid_off = put_envelope(&w, g, call, start);

    switch (k) {
    case K_PRODUCT_VIEWED: /* bad: 1 no product_id, 2 negative price, 3 sku pattern, 4 extra */
        jw_str(&w, "event", "Product Viewed");
        jw_open(&w, "properties", '{');
        put_product(&w, r, p, bad <= 3 ? bad : 0, true);
        jw_str(&w, "currency", PICK(r, currencies));
        jw_money(&w, "value", p->price);
        if (bad == 4) jw_str(&w, "productId", p->id);
        jw_close(&w, '}');
        break;
    case K_PRODUCT_ADDED: /* bad: 1 cart_id not a uuid, 2 no cart_id, 3 quantity 0 */
        jw_str(&w, "event", "Product Added");
        jw_open(&w, "properties", '{');
        put_product(&w, r, p, bad == 3 ? 4 : 0, true);
        make_uuid(r, uuid);
        if (bad == 1)
            jw_str(&w, "cart_id", "cart-8812");
        else if (bad != 2)
            jw_str(&w, "cart_id", uuid);
        jw_str(&w, "currency", PICK(r, currencies));
        jw_close(&w, '}');
        break;
    case K_PRODUCTS_SEARCHED: /* bad: 1 empty query, 2 negative results_count */
        jw_str(&w, "event", "Products Searched");
        jw_open(&w, "properties", '{');
        jw_str(&w, "query", bad == 1 ? "" : PICK(r, queries));
        jw_int(&w, "results_count", bad == 2 ? -1 : (long)rng_below(r, 400));
        jw_close(&w, '}');
        break;
    case K_ORDER_COMPLETED: {
        /* bad: 1 no order_id, 2 currency "usd", 3 total as a string, 4 unplanned name
         * "Order Complete", 5 a product with quantity 0, 6 extra property orderId */
        jw_str(&w, "event", bad == 4 ? "Order Complete" : "Order Completed");
        jw_open(&w, "properties", '{');
        order_id(r, oid);
        if (bad != 1) jw_str(&w, "order_id", oid);
        make_uuid(r, uuid);
        jw_str(&w, "checkout_id", uuid);
        jw_str(&w, "affiliation", "Acme Online");
        double sub = (double)(2000 + rng_below(r, 30000)) / 100.0;
        double ship = rng_below(r, 2) ? 4.95 : 0.0, tax = floor(sub * 8.0) / 100.0;
        jw_money(&w, "subtotal", sub);
        if (bad == 3) {
            char s[32];
            snprintf(s, sizeof s, "\"%.2f\"", sub + ship + tax);
            jw_raw(&w, "total", s);
        } else {
            jw_money(&w, "total", sub + ship + tax);
        }
        jw_money(&w, "revenue", sub);
        jw_money(&w, "shipping", ship);
        jw_money(&w, "tax", tax);
        jw_str(&w, "currency", bad == 2 ? "usd" : PICK(r, currencies));
        if (bad == 6) jw_str(&w, "orderId", oid);
        put_products(&w, g, 1 + rng_below(r, 2), bad == 5 ? 4 : 0);
        jw_close(&w, '}');
        break;
    }
    case K_CHECKOUT_STARTED: /* bad: 1 order_id pattern, 2 empty products */
        jw_str(&w, "event", "Checkout Started");
        jw_open(&w, "properties", '{');
        order_id(r, oid);
        jw_str(&w, "order_id", bad == 1 ? oid + 3 : oid);
        jw_money(&w, "value", p->price);
        jw_str(&w, "currency", PICK(r, currencies));
        if (bad == 2)
            jw_raw(&w, "products", "[]");
        else
            put_products(&w, g, 1 + rng_below(r, 2), 0);
        jw_close(&w, '}');
        break;
    case K_IDENTIFY: { /* bad: 1 email format, 2 plan enum, 3 country pattern */
        jw_open(&w, "traits", '{');
        const char *fn = PICK(r, first_names), *ln = PICK(r, last_names);
        char email[96];
        snprintf(email, sizeof email, bad == 1 ? "%s.%s.example.com" : "%s.%s@example.com", fn, ln);
        for (char *c = email; *c; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c | 0x20);
        jw_str(&w, "email", email);
        jw_str(&w, "first_name", fn);
        jw_str(&w, "last_name", ln);
        static const char *const plans[] = {"free", "plus", "premium"};
        jw_str(&w, "plan", bad == 2 ? "gold" : PICK(r, plans));
        jw_int(&w, "loyalty_points", (long)rng_below(r, 5000));
        jw_raw(&w, "marketing_opt_in", rng_below(r, 2) ? "true" : "false");
        jw_open(&w, "address", '{');
        unsigned ci = rng_below(r, sizeof cities / sizeof cities[0]);
        jw_str(&w, "city", cities[ci]);
        jw_str(&w, "country", bad == 3 ? "usa" : countries[ci]);
        jw_close(&w, '}');
        jw_close(&w, '}');
        break;
    }
    case K_PAGE: { /* bad: 1 Product Detail without product_id, 2 url not a URI, 3 extra */
        static const char *const pages[] = {"Home", "Product Detail", "Category", "Cart"};
        const char *name = bad == 1 ? "Product Detail" : PICK(r, pages);
        char purl[160];
        if (!strcmp(name, "Product Detail"))
            snprintf(path, sizeof path, "/p/%s", p->slug);
        else if (!strcmp(name, "Category"))
            snprintf(path, sizeof path, "/c/%s", p->category);
        else if (!strcmp(name, "Cart"))
            snprintf(path, sizeof path, "/cart");
        snprintf(purl, sizeof purl, "https://shop.acme.example%s", path);
        for (char *c = purl; *c; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c | 0x20);
        jw_str(&w, "name", name);
        jw_open(&w, "properties", '{');
        jw_str(&w, "name", name);
        jw_str(&w, "path", path);
        jw_str(&w, "referrer", PICK(r, referrers));
        jw_str(&w, "title", name);
        jw_str(&w, "url", bad == 2 ? "shop acme example" : purl);
        if (!strcmp(name, "Product Detail") && bad != 1) jw_str(&w, "product_id", p->id);
        if (!strcmp(name, "Category")) jw_str(&w, "category", p->category);
        if (bad == 3) jw_str(&w, "pageType", "landing");
        jw_close(&w, '}');
        break;
    }
    default:
        break;
    }
    put_context(&w, g, path);
    sl_buf_putc(b, '}');
    t->off = start;
    t->len = b->n - start;
}

/* ---- public API ---------------------------------------------------------------------------- */

static void iso_time(time_t t, unsigned ms, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", ms % 1000);
}

int evgen_new(const evgen_config *cfg, evgen **out)
{
    *out = NULL;
    if (cfg->invalid < 0 || cfg->invalid > 1) return LT_EUSAGE;
    evgen *g = calloc(1, sizeof *g);
    if (!g) return LT_ENOMEM;
    g->cfg = *cfg;
    if (!g->cfg.pool) g->cfg.pool = 64;
    if (g->cfg.gzip_level < 1 || g->cfg.gzip_level > 9) g->cfg.gzip_level = 1;
    g->r.s = cfg->seed ^ 0x5eed5eed5eedull;
    g->tpl_bytes = (sl_buf){0};
    g->raw = (sl_buf){0};

    /* The run part of messageIds: random, so ids never repeat across runs. */
    uint64_t rnd[2] = {0, 0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        rnd[0] = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
        rnd[1] = rnd[0] * 0x9e3779b97f4a7c15ull;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < MID_RUN_LEN; i++)
        g->run[i] = hex[(i < 16 ? rnd[0] >> (4 * i) : rnd[1] >> (4 * (i - 16))) & 15];
    g->run[8] = g->run[13] = g->run[18] = g->run[23] = '-';
    g->run[14] = '4';
    g->run[19] = hex[8 + (rnd[1] & 3)];
    g->run[MID_RUN_LEN] = 0;

    time_t now = time(NULL);
    iso_time(now - 1, 250, g->ts);
    iso_time(now, 0, g->sent_at);

    for (int i = 0; i < NPRODUCTS; i++)
        make_product(&g->r, &g->products[i]);

    g->tpls = calloc((size_t)K__COUNT * 2 * g->cfg.pool, sizeof *g->tpls);
    if (!g->tpls) goto oom;
    for (int k = 0; k < K__COUNT; k++)
        for (int inv = 0; inv < 2; inv++)
            for (unsigned i = 0; i < g->cfg.pool; i++)
                build(g, (kind)k, inv ? 1 + (int)(i % kind_nbad[k]) : 0,
                      tpl_at(g, (kind)k, inv, i));
    if (g->tpl_bytes.oom) goto oom;

    unsigned mask = cfg->calls_mask ? cfg->calls_mask : (1u << EVGEN__CALLS) - 1;
    for (int k = 0; k < K__COUNT; k++) {
        g->all_weight_sum += kind_weight[k];
        if (mask & (1u << kind_call[k])) {
            g->kinds[g->nkinds++] = (unsigned)k;
            g->weight_sum += kind_weight[k];
        }
    }
    if (!g->nkinds) {
        evgen_free(g);
        return LT_EUSAGE;
    }
    if (cfg->gzip) {
        if (deflateInit2(&g->zs, g->cfg.gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK) {
            evgen_free(g);
            return LT_EZLIB;
        }
        g->zs_live = true;
    }
    *out = g;
    return 0;
oom:
    evgen_free(g);
    return LT_ENOMEM;
}

void evgen_free(evgen *g)
{
    if (!g) return;
    if (g->zs_live) deflateEnd(&g->zs);
    sl_buf_free(&g->tpl_bytes);
    sl_buf_free(&g->raw);
    free(g->tpls);
    free(g);
}

void evgen_message_id(const evgen *g, uint64_t seq, char id[37])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(id, g->run, MID_RUN_LEN);
    for (int i = 11; i >= 0; i--, seq >>= 4)
        id[MID_RUN_LEN + i] = hex[seq & 15];
    id[36] = 0;
}

static kind pick_kind(evgen *g, bool any)
{
    unsigned sum = any ? g->all_weight_sum : g->weight_sum;
    unsigned x = rng_below(&g->r, sum);
    if (any) {
        for (unsigned k = 0; k < K__COUNT; k++) {
            if (x < kind_weight[k]) return (kind)k;
            x -= kind_weight[k];
        }
        return K_PAGE;
    }
    for (unsigned i = 0; i < g->nkinds; i++) {
        if (x < kind_weight[g->kinds[i]]) return (kind)g->kinds[i];
        x -= kind_weight[g->kinds[i]];
    }
    return (kind)g->kinds[g->nkinds - 1];
}

/* Appends one event (a fresh sequence number) to b; returns whether it is an invalid one. */
static bool put_event(evgen *g, sl_buf *b, kind k)
{
    int inv = g->cfg.invalid > 0 && rng_unit(&g->r) < g->cfg.invalid;
    const tpl *t = tpl_at(g, k, inv, rng_below(&g->r, g->cfg.pool));
    size_t at = b->n;
    sl_buf_put(b, g->tpl_bytes.p + t->off, t->len);
    if (!b->oom) {
        char id[37];
        evgen_message_id(g, g->seq, id);
        memcpy(b->p + at + t->mid_off + MID_RUN_LEN, id + MID_RUN_LEN, 12);
    }
    g->seq++;
    g->ev_count++;
    g->ev_bytes += t->len;
    return inv;
}

static int gzip_into(evgen *g, const sl_buf *src, sl_buf *dst)
{
    dst->n = 0;
    if (!sl_buf_reserve(dst, deflateBound(&g->zs, (uLong)src->n) + 32)) return LT_ENOMEM;
    if (deflateReset(&g->zs) != Z_OK) return LT_EZLIB;
    g->zs.next_in = (Bytef *)src->p;
    g->zs.avail_in = (uInt)src->n;
    g->zs.next_out = (Bytef *)dst->p;
    g->zs.avail_out = (uInt)dst->cap;
    if (deflate(&g->zs, Z_FINISH) != Z_STREAM_END) return LT_EZLIB;
    dst->n = dst->cap - g->zs.avail_out;
    return 0;
}

int evgen_next(evgen *g, sl_buf *out, evgen_req *rq)
{
    sl_buf *b = g->cfg.gzip ? &g->raw : out;
    b->n = 0;
    memset(rq, 0, sizeof *rq);
    rq->first_seq = g->seq;
    if (g->cfg.batch == 0) {
        kind k = pick_kind(g, false);
        rq->ninvalid = put_event(g, b, k);
        rq->nevents = 1;
        rq->path = call_path[kind_call[k]];
    } else {
        sl_buf_puts(b, "{\"batch\":[");
        for (unsigned i = 0; i < g->cfg.batch; i++) {
            if (i) sl_buf_putc(b, ',');
            rq->ninvalid += put_event(g, b, pick_kind(g, true));
        }
        sl_buf_printf(b, "],\"sentAt\":\"%s\"}", g->sent_at);
        rq->nevents = g->cfg.batch;
        rq->path = "/v1/batch";
    }
    if (b->oom) return LT_ENOMEM;
    rq->raw_len = b->n;
    if (g->cfg.gzip) return gzip_into(g, b, out);
    return 0;
}

int evgen_dump(evgen *g, FILE *f, uint64_t count)
{
    sl_buf b;
    b = (sl_buf){0};
    int rc = 0;
    for (uint64_t i = 0; i < count && !rc; i++) {
        b.n = 0;
        put_event(g, &b, pick_kind(g, g->cfg.batch > 0));
        sl_buf_putc(&b, '\n');
        if (b.oom)
            rc = LT_ENOMEM;
        else if (fwrite(b.p, 1, b.n, f) != b.n)
            rc = LT_EIO;
    }
    sl_buf_free(&b);
    return rc;
}

double evgen_mean_event_bytes(const evgen *g)
{
    if (g->ev_count) return (double)g->ev_bytes / (double)g->ev_count;
    size_t n = (size_t)K__COUNT * 2 * g->cfg.pool;
    return n ? (double)g->tpl_bytes.n / (double)n : 0.0;
}
