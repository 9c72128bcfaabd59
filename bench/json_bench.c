/*
 * json_bench.c — json-bench: BurrowDB's JSON codec against jansson.
 *
 * DESIGN.md's budget: JSON parse and write at >= 3x jansson. This program
 * measures both directions on the same four inputs, generated here from a
 * fixed seed so every run and every machine sees the same bytes:
 *
 *   small    many distinct ~200-byte records (a user's bid: ints, doubles,
 *            strings, a bool, a small object and array), a few MB in all;
 *            each is parsed and written on its own, as a server would
 *   array    one ~1 MiB JSON array of objects
 *   nested   one document nesting 400 arrays and objects (our limit is
 *            DOC_MAX_DEPTH = 512; jansson's is 2048), values at every level
 *   strings  one ~1 MiB array of objects holding long text: escapes (\n \t
 *            \" \\ \/ \u00e9, surrogate pairs) and raw multi-byte UTF-8
 *
 * What is timed, per document, in a loop over all documents of an input:
 *   BurrowDB parse   json_parse() into one reused doc_builder (+ finish)
 *   BurrowDB write   doc_root() + json_write() (compact) of the binary
 *                    document into one reused buffer
 *   jansson parse    json_loadb(text, len, 0) + json_decref() (its tree is
 *                    the only way to hold the result, so freeing it counts)
 *   jansson write    json_dumpb(tree, JSON_COMPACT) into one reused buffer.
 *                    jansson >= 2.8 always writes keys in insertion order,
 *                    as our writer does, so no JSON_PRESERVE_ORDER (a no-op)
 *                    and no JSON_SORT_KEYS (which would cost it a sort).
 * MB/s is always input JSON text bytes (10^6) per second, for parse and
 * write alike, so the two libraries' rates compare on the same bytes even
 * though their outputs differ (jansson prints doubles with %.17g, we print
 * the shortest form that reads back; \u00e9 comes out as raw UTF-8 in both).
 * Each measurement repeats the loop until --min-time has passed; the median
 * of --reps such measurements is reported, with the min and max beside it.
 * The four operations take turns, repetition by repetition, so other work
 * on the machine disturbs both libraries alike.
 *
 * Before timing, every document is checked: both parsers accept it; each
 * writer's output re-parses (with both parsers) to a document equal to the
 * original parse (doc_equal / json_equal). Output sizes are reported.
 *
 * json_parse/json_write are internal (src/doc/doc.h, not include/burrow.h),
 * so this program is built with -I../src and links libburrow.a: it measures
 * the codec itself, below any public API. jansson is linked here only.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "doc/doc.h"

/* ---- settings --------------------------------------------------------- */

static struct {
    double min_time; /* seconds per measurement */
    int reps;        /* measurements per (input, operation); median reported */
    uint64_t seed;
    size_t small_count;
    size_t array_bytes, strings_bytes;
    int depth;
    const char *cases;
    const char *out;
} cfg = {
    .min_time = 0.3,
    .reps = 5,
    .seed = 20240601,
    .small_count = 20000,
    .array_bytes = 1 << 20,
    .strings_bytes = 1 << 20,
    .depth = 400,
    .cases = "small,array,nested,strings",
};

#define MAX_REPS 99

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "json-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: the inputs depend on the seed only. */
static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }
#define PICK(arr) (arr[rnd_below(sizeof arr / sizeof arr[0])])

/* ---- text building ---------------------------------------------------- */

static void put(buf *b, const char *s) {
    if (buf_append(b, s, strlen(s))) die("out of memory");
}

static void putf(buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) die("putf: too long");
    if (buf_append(b, tmp, (size_t)n)) die("out of memory");
}

/* ---- the inputs --------------------------------------------------------- */

/* An input: ndocs JSON texts, concatenated in text; document i is
 * [off[i], off[i+1]). After check(): the binary documents the same way in
 * bin/boff, and jansson's trees in jdocs. */
typedef struct input {
    const char *id;
    const char *what; /* for the report */
    buf text;
    size_t *off, ndocs, cap;
    buf bin;
    size_t *boff;
    json_t **jdocs;
    size_t out_burrow, out_jansson; /* bytes written by each writer */
    size_t max_out;                 /* largest single output, either writer */
    char check[256];                /* "" when every check passed */
} input;

static void doc_end(input *in) {
    if (in->ndocs + 2 > in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->off = realloc(in->off, in->cap * sizeof *in->off);
        if (!in->off) die("out of memory");
    }
    if (in->ndocs == 0) in->off[0] = 0;
    in->off[++in->ndocs] = in->text.size;
}

static const char *first_names[] = {"Alice", "Bruno", "Chloé", "Dmitri", "Emma", "Farid",
                                    "Grace", "Hiro", "Inès", "Jonas", "Kofi", "Lena"};
static const char *last_names[] = {"Moreau", "Okafor", "Schmidt", "Tanaka", "Rossi",
                                   "Nguyen", "García", "Kowalski", "Smith", "Haddad"};
static const char *currencies[] = {"EUR", "USD", "GBP", "JPY", "CHF"};
static const char *tags[] = {"auction", "reserve", "buy-now", "vintage", "new", "rare",
                             "local",   "gift",    "bundle",  "sale"};

/* ~200 bytes: a bid by a user. (Random numbers are drawn into variables
 * first: the order in which a call's arguments are evaluated is unspecified,
 * and the inputs must not depend on the compiler.) */
static void gen_small(input *in) {
    for (size_t i = 0; i < cfg.small_count; i++) {
        buf *b = &in->text;
        uint64_t id = 1000000 + rnd() % 9000000;
        const char *fn = PICK(first_names), *ln = PICK(last_names);
        unsigned age = 18 + rnd_below(70);
        const char *verified = rnd() & 1 ? "true" : "false";
        putf(b, "{\"id\":%" PRIu64 ",\"user\":{\"name\":\"%s %s\",\"age\":%u,\"verified\":%s},",
             id, fn, ln, age, verified);
        unsigned units = rnd_below(5000), cents = rnd_below(100);
        const char *cur = PICK(currencies);
        int step = (int)rnd_below(50) - 10;
        putf(b, "\"bid\":{\"amount\":%u.%02u,\"currency\":\"%s\",\"step\":%d},", units, cents,
             cur, step);
        const char *t1 = PICK(tags), *t2 = PICK(tags);
        double score = (double)rnd_below(1000000) / 1e6;
        uint64_t ts = UINT64_C(1718000000000) + rnd() % 100000000;
        const char *note = rnd() % 4 ? "null" : "\"first bid\"";
        putf(b, "\"tags\":[\"%s\",\"%s\"],\"score\":%.4f,\"ts\":%" PRIu64 ",\"note\":%s}", t1,
             t2, score, ts, note);
        doc_end(in);
    }
}

/* One ~1 MiB array of product objects. */
static void gen_array(input *in) {
    static const char *colors[] = {"red", "green", "blue", "black", "white", "sand"};
    buf *b = &in->text;
    put(b, "[");
    for (uint64_t i = 0; b->size < cfg.array_bytes; i++) {
        if (i) put(b, ",");
        const char *color = PICK(colors);
        unsigned model = rnd_below(1000), units = rnd_below(500), cents = rnd_below(100);
        putf(b, "{\"sku\":\"SKU-%07" PRIu64 "\",\"title\":\"%s widget %u\",\"price\":%u.%02u,",
             i, color, model, units, cents);
        int qty = (int)rnd_below(200) - 20;
        const char *stock = rnd() & 1 ? "true" : "false";
        unsigned d[6];
        for (int k = 0; k < 6; k++) d[k] = rnd_below(k == 4 ? 9 : k == 5 ? 4 : 100);
        putf(b, "\"qty\":%d,\"in_stock\":%s,\"dims\":[%u.%u,%u.%02u,%ue-%u],", qty, stock, d[0],
             d[1] % 10, d[2] % 50, d[3], d[4] + 1, d[5] + 1);
        unsigned seller = rnd_below(100000), r1 = rnd_below(5), r2 = rnd_below(10);
        uint64_t since = UINT64_C(1500000000) + rnd() % 200000000;
        putf(b, "\"seller\":{\"id\":%u,\"rating\":%u.%u,\"since\":%" PRIu64 "},", seller, r1,
             r2, since);
        const char *l1 = PICK(tags), *l2 = PICK(tags), *l3 = PICK(tags);
        const char *discount = rnd() % 3 ? "null" : "0.15";
        putf(b, "\"labels\":[\"%s\",\"%s\",\"%s\"],\"discount\":%s}", l1, l2, l3, discount);
    }
    put(b, "]");
    doc_end(in);
}

/* cfg.depth containers nested one in another, objects and arrays taking
 * turns, each with values before and after its child. The deepest nesting
 * is cfg.depth (an object level's small "v" array sits one deeper than the
 * object, but the innermost level is an array, so no deeper than depth). */
static void gen_nested(input *in) {
    buf *b = &in->text;
    int d = cfg.depth;
    for (int i = 0; i < d; i++) {
        if (i % 2 == 0) {
            unsigned x = rnd_below(1000), y = rnd_below(100), z = rnd_below(1000);
            putf(b, "{\"d\":%d,\"k\":\"level %d\",\"v\":[%u,%u.%03u,true,null],\"c\":", i, i, x,
                 y, z);
        } else
            putf(b, "[%d,\"x%u\",false,", i, rnd_below(100000));
    }
    put(b, "\"bottom\"");
    for (int i = d - 1; i >= 0; i--) {
        if (i % 2 == 0)
            putf(b, ",\"z\":%d}", (int)rnd_below(20000) - 10000);
        else {
            unsigned x = rnd_below(100), y = rnd_below(100);
            putf(b, ",%u.%u]", x, y);
        }
    }
    doc_end(in);
}

/* Words as they appear inside a JSON string: plain ASCII, raw UTF-8 of 2, 3
 * and 4 bytes, and escapes (one-letter, \u of 2- and 3-byte characters, a
 * surrogate pair). */
static const char *words[] = {
    "the",        "database",      "keeps",         "every",          "document",
    "in",         "one",           "file",          "and",            "reads",
    "it",         "back",          "quickly",       "while",          "writers",
    "wait",       "for",           "their",         "turn",           "of",
    "a",          "page",          "tree",          "café",           "naïve",
    "Zürich",     "déjà",          "vu",            "東京",           "Ελληνικά",
    "😀",         "Москва",        "smörgåsbord",   "caf\\u00e9",     "\\u6771\\u4eac",
    "\\ud83d\\ude00", "\\\"quoted\\\"", "C:\\\\path\\\\to", "tab\\there", "a\\/b",
    "x\\u0001y",  "€100",          "señor",         "über",           "naïve",
};

static void gen_text(buf *b, unsigned nwords) {
    for (unsigned w = 0; w < nwords; w++) {
        put(b, PICK(words));
        unsigned r = rnd_below(40);
        if (w + 1 == nwords) put(b, ".");
        else if (r == 0) put(b, ".\\n\\n");
        else if (r < 3) put(b, ". ");
        else if (r < 5) put(b, ", ");
        else put(b, " ");
    }
}

/* One ~1 MiB array of articles with long bodies. */
static void gen_strings(input *in) {
    static const char *langs[] = {"en", "fr", "de", "ja", "el", "ru"};
    buf *b = &in->text;
    put(b, "[");
    for (uint64_t i = 0; b->size < cfg.strings_bytes; i++) {
        if (i) put(b, ",");
        putf(b, "{\"id\":%" PRIu64 ",\"lang\":\"%s\",\"title\":\"", i, PICK(langs));
        gen_text(b, 4 + rnd_below(8));
        put(b, "\",\"body\":\"");
        gen_text(b, 50 + rnd_below(600));
        put(b, "\",\"author\":\"");
        put(b, PICK(first_names));
        put(b, "\"}");
    }
    put(b, "]");
    doc_end(in);
}

static const struct {
    const char *id;
    void (*gen)(input *);
} generators[] = {
    {"small", gen_small},
    {"array", gen_array},
    {"nested", gen_nested},
    {"strings", gen_strings},
};
#define N_INPUTS (sizeof generators / sizeof generators[0])

static void describe(input *in) {
    static char what[256];
    if (strcmp(in->id, "small") == 0)
        snprintf(what, sizeof what, "%zu records of %zu B on average, parsed one by one",
                 in->ndocs, in->text.size / in->ndocs);
    else if (strcmp(in->id, "array") == 0)
        snprintf(what, sizeof what, "one array of product objects");
    else if (strcmp(in->id, "nested") == 0)
        snprintf(what, sizeof what, "%d nested arrays/objects with values at every level",
                 cfg.depth);
    else
        snprintf(what, sizeof what, "one array of articles: long strings, escapes, UTF-8");
    in->what = strdup(what);
}

/* ---- checks (untimed) ------------------------------------------------- */

static const char *txt(const input *in, size_t i, size_t *len) {
    *len = in->off[i + 1] - in->off[i];
    return (const char *)in->text.data + in->off[i];
}

static doc_val bin_root(const input *in, size_t i) {
    doc_val v;
    if (doc_root(in->bin.data + in->boff[i], in->boff[i + 1] - in->boff[i], &v))
        die("%s: doc_root of document %zu: %s", in->id, i, burrow_errmsg());
    return v;
}

/* 0 when the JSON text t re-parses, with both parsers, to the same document
 * as document i of in; else a message in in->check. */
static int check_output(input *in, size_t i, const char *who, const char *t, size_t n,
                        doc_builder *b) {
    const uint8_t *data;
    size_t len;
    doc_val a, orig = bin_root(in, i);
    int rc = json_parse(t, n, NULL, b);
    if (!rc) rc = doc_builder_finish(b, &data, &len);
    if (!rc) rc = doc_root(data, len, &a);
    if (rc) {
        snprintf(in->check, sizeof in->check, "doc %zu: %s's output: BurrowDB re-parse: %s %s",
                 i, who, burrow_strerror(rc), burrow_errmsg());
        return -1;
    }
    if (!doc_equal(a, orig)) {
        snprintf(in->check, sizeof in->check,
                 "doc %zu: %s's output re-parsed by BurrowDB differs from the input", i, who);
        return -1;
    }
    json_error_t err;
    json_t *j = json_loadb(t, n, 0, &err);
    if (!j) {
        snprintf(in->check, sizeof in->check, "doc %zu: %s's output: jansson re-parse: %d:%d: %s",
                 i, who, err.line, err.column, err.text);
        return -1;
    }
    int same = json_equal(j, in->jdocs[i]);
    json_decref(j);
    if (!same) {
        snprintf(in->check, sizeof in->check,
                 "doc %zu: %s's output re-parsed by jansson differs from the input", i, who);
        return -1;
    }
    return 0;
}

/* Parse every document with both libraries (keeping the results for the
 * write benchmarks), write each back with both, and check the outputs. */
static void check(input *in) {
    doc_builder b, b2;
    doc_builder_init(&b);
    doc_builder_init(&b2);
    in->boff = malloc((in->ndocs + 1) * sizeof *in->boff);
    in->jdocs = calloc(in->ndocs, sizeof *in->jdocs);
    if (!in->boff || !in->jdocs) die("out of memory");
    in->boff[0] = 0;
    for (size_t i = 0; i < in->ndocs; i++) {
        size_t n, len;
        const char *t = txt(in, i, &n);
        const uint8_t *data;
        int rc = json_parse(t, n, NULL, &b);
        if (!rc) rc = doc_builder_finish(&b, &data, &len);
        if (rc)
            die("%s: document %zu: json_parse: %s: %s", in->id, i, burrow_strerror(rc),
                burrow_errmsg());
        if (buf_append(&in->bin, data, len)) die("out of memory");
        in->boff[i + 1] = in->bin.size;
        json_error_t err;
        in->jdocs[i] = json_loadb(t, n, 0, &err);
        if (!in->jdocs[i])
            die("%s: document %zu: json_loadb: %d:%d: %s", in->id, i, err.line, err.column,
                err.text);
    }
    buf out = {0};
    for (size_t i = 0; i < in->ndocs && !in->check[0]; i++) {
        out.size = 0;
        int rc = json_write(bin_root(in, i), 0, NULL, &out);
        if (rc) die("%s: document %zu: json_write: %s", in->id, i, burrow_strerror(rc));
        in->out_burrow += out.size;
        if (out.size > in->max_out) in->max_out = out.size;
        if (check_output(in, i, "BurrowDB", (const char *)out.data, out.size, &b2)) break;
        char *j = json_dumps(in->jdocs[i], JSON_COMPACT);
        if (!j) die("%s: document %zu: json_dumps failed", in->id, i);
        size_t jn = strlen(j);
        in->out_jansson += jn;
        if (jn > in->max_out) in->max_out = jn;
        rc = check_output(in, i, "jansson", j, jn, &b2);
        free(j);
        if (rc) break;
    }
    buf_free(&out);
    doc_builder_free(&b);
    doc_builder_free(&b2);
}

/* ---- the timed operations --------------------------------------------- */

/* Each runs once over all documents of an input and returns a value that
 * depends on every result (summed into a sink, so nothing is skipped). */

static doc_builder g_builder;
static buf g_out;
static char *g_jbuf;
static size_t g_jcap;

static size_t op_burrow_parse(const input *in) {
    size_t acc = 0;
    for (size_t i = 0; i < in->ndocs; i++) {
        size_t n, len;
        const char *t = txt(in, i, &n);
        const uint8_t *data;
        int rc = json_parse(t, n, NULL, &g_builder);
        if (!rc) rc = doc_builder_finish(&g_builder, &data, &len);
        if (rc) die("%s: json_parse: %s", in->id, burrow_errmsg());
        acc += len;
    }
    return acc;
}

static size_t op_burrow_write(const input *in) {
    size_t acc = 0;
    for (size_t i = 0; i < in->ndocs; i++) {
        doc_val v;
        int rc = doc_root(in->bin.data + in->boff[i], in->boff[i + 1] - in->boff[i], &v);
        g_out.size = 0;
        if (!rc) rc = json_write(v, 0, NULL, &g_out);
        if (rc) die("%s: json_write: %s", in->id, burrow_strerror(rc));
        acc += g_out.size;
    }
    return acc;
}

static size_t op_jansson_parse(const input *in) {
    size_t acc = 0;
    for (size_t i = 0; i < in->ndocs; i++) {
        size_t n;
        const char *t = txt(in, i, &n);
        json_error_t err;
        json_t *j = json_loadb(t, n, 0, &err);
        if (!j) die("%s: json_loadb: %s", in->id, err.text);
        acc += json_typeof(j);
        json_decref(j);
    }
    return acc;
}

static size_t op_jansson_write(const input *in) {
    size_t acc = 0;
    for (size_t i = 0; i < in->ndocs; i++) {
        size_t n = json_dumpb(in->jdocs[i], g_jbuf, g_jcap, JSON_COMPACT);
        if (n == 0 || n > g_jcap) die("%s: json_dumpb: %zu bytes", in->id, n);
        acc += n;
    }
    return acc;
}

enum { OP_B_PARSE, OP_J_PARSE, OP_B_WRITE, OP_J_WRITE, N_OPS };
static size_t (*const ops[N_OPS])(const input *) = {op_burrow_parse, op_jansson_parse,
                                                    op_burrow_write, op_jansson_write};
static const char *const op_names[N_OPS] = {"BurrowDB parse", "jansson parse",
                                            "BurrowDB write", "jansson write"};

typedef struct stat3 {
    double med, min, max; /* MB/s */
} stat3;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile size_t sink;

/* One measurement: loop over the input until min_time has passed. MB/s. */
static double measure_once(const input *in, int op) {
    uint64_t loops = 0;
    double t0 = now(), t;
    do {
        sink += ops[op](in);
        loops++;
    } while ((t = now() - t0) < cfg.min_time);
    return (double)in->text.size * (double)loops / t / 1e6;
}

/* All operations on one input. The repetitions take turns (parse B, parse
 * J, write B, write J, then again), so a burst of other work on the
 * machine slows both libraries alike rather than one of them. */
static stat3 summarize(double *x) {
    qsort(x, (size_t)cfg.reps, sizeof x[0], cmp_double);
    stat3 s = {x[cfg.reps / 2], x[0], x[cfg.reps - 1]};
    if (cfg.reps % 2 == 0) s.med = (x[cfg.reps / 2 - 1] + x[cfg.reps / 2]) / 2;
    return s;
}

/* out: MB/s per operation; ratio: BurrowDB / jansson within each turn, for
 * parse [0] and write [1] (their spread shows how noisy the run was). */
static void measure(const input *in, stat3 out[N_OPS], stat3 ratio[2]) {
    double r[N_OPS][MAX_REPS], q[2][MAX_REPS];
    for (int op = 0; op < N_OPS; op++) ops[op](in); /* warm up: caches, buffer capacity */
    for (int k = 0; k < cfg.reps; k++) {
        for (int op = 0; op < N_OPS; op++) r[op][k] = measure_once(in, op);
        q[0][k] = r[OP_B_PARSE][k] / r[OP_J_PARSE][k];
        q[1][k] = r[OP_B_WRITE][k] / r[OP_J_WRITE][k];
    }
    for (int op = 0; op < N_OPS; op++) out[op] = summarize(r[op]);
    ratio[0] = summarize(q[0]);
    ratio[1] = summarize(q[1]);
}

/* ---- report ------------------------------------------------------------- */

static void fmt_bytes(char *dst, size_t n, size_t v) {
    if (v >= 10 * 1000 * 1000) snprintf(dst, n, "%.1f MB", (double)v / 1e6);
    else if (v >= 10 * 1000) snprintf(dst, n, "%.1f kB", (double)v / 1e3);
    else snprintf(dst, n, "%zu B", v);
}

static void report(FILE *o, input *ins, size_t nin, stat3 (*res)[N_OPS], stat3 (*ratio)[2]) {
    fprintf(o, "Budget (DESIGN.md): JSON parse and write >= 3x jansson. "
               "MB/s = 10^6 bytes of input JSON text per second (also for write).\n\n");
    fprintf(o, "| input | JSON size | parse BurrowDB | parse jansson | parse ratio |"
               " write BurrowDB | write jansson | write ratio |\n");
    fprintf(o, "|---|---:|---:|---:|---:|---:|---:|---:|\n");
    int met = 0, total = 0;
    for (size_t i = 0; i < nin; i++) {
        char sz[32];
        fmt_bytes(sz, sizeof sz, ins[i].text.size);
        double pr = res[i][OP_B_PARSE].med / res[i][OP_J_PARSE].med;
        double wr = res[i][OP_B_WRITE].med / res[i][OP_J_WRITE].med;
        met += (pr >= 3.0) + (wr >= 3.0);
        total += 2;
        fprintf(o, "| %s | %s | %.0f MB/s | %.0f MB/s | **%.2f×**%s | %.0f MB/s | %.0f MB/s |"
                   " **%.2f×**%s |\n",
                ins[i].id, sz, res[i][OP_B_PARSE].med, res[i][OP_J_PARSE].med, pr,
                pr >= 3.0 ? " met" : " not met", res[i][OP_B_WRITE].med,
                res[i][OP_J_WRITE].med, wr, wr >= 3.0 ? " met" : " not met");
    }
    fprintf(o, "\nThe >= 3x budget is met in %d of %d cells. Ratios are BurrowDB / jansson "
               "(higher is better for BurrowDB).\n\n",
            met, total);

    fprintf(o, "Spread of the %d measurements (min – max MB/s; the table above shows the median), "
               "and of the ratio BurrowDB / jansson within each turn (the operations take "
               "turns):\n\n",
            cfg.reps);
    fprintf(o, "| input |");
    for (int k = 0; k < N_OPS; k++) fprintf(o, " %s |", op_names[k]);
    fprintf(o, " parse ratio per turn | write ratio per turn |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < nin; i++) {
        fprintf(o, "| %s |", ins[i].id);
        for (int k = 0; k < N_OPS; k++)
            fprintf(o, " %.0f – %.0f |", res[i][k].min, res[i][k].max);
        for (int k = 0; k < 2; k++)
            fprintf(o, " %.2f – %.2f× |", ratio[i][k].min, ratio[i][k].max);
        fprintf(o, "\n");
    }

    fprintf(o, "\nInputs (generated from seed %" PRIu64 ") and checks:\n\n", cfg.seed);
    fprintf(o, "| input | what | JSON in | BurrowDB out | jansson out | binary document |"
               " outputs re-parse equal |\n");
    fprintf(o, "|---|---|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < nin; i++) {
        input *in = &ins[i];
        fprintf(o, "| %s | %s | %zu B | %zu B | %zu B | %zu B | %s |\n", in->id, in->what,
                in->text.size, in->out_burrow, in->out_jansson, in->bin.size,
                in->check[0] ? in->check : "yes (both parsers)");
    }
    fprintf(o, "\n");
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: json-bench [options]\n"
            "  --min-time S   seconds per measurement (default 0.3)\n"
            "  --reps N       measurements per input and operation, median reported"
            " (default 5)\n"
            "  --seed N       input generator seed (default 20240601)\n"
            "  --small N      number of ~200-byte records (default 20000)\n"
            "  --depth N      nesting of the nested input (default 400)\n"
            "  --cases LIST   comma-separated, of: small,array,nested,strings (default all)\n"
            "  --out FILE     write the markdown report to FILE (default stdout)\n");
}

static double parse_num(const char *opt, const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || v < 0) {
        fprintf(stderr, "json-bench: bad number for %s: '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static int wanted(const char *id) {
    size_t n = strlen(id);
    for (const char *p = cfg.cases; (p = strstr(p, id)) != NULL; p += n)
        if ((p == cfg.cases || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--min-time") == 0) cfg.min_time = parse_num(a, v);
        else if (strcmp(a, "--reps") == 0) cfg.reps = (int)parse_num(a, v);
        else if (strcmp(a, "--seed") == 0) cfg.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--small") == 0) cfg.small_count = (size_t)parse_num(a, v);
        else if (strcmp(a, "--depth") == 0) cfg.depth = (int)parse_num(a, v);
        else if (strcmp(a, "--cases") == 0) cfg.cases = v;
        else if (strcmp(a, "--out") == 0) cfg.out = v;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (cfg.reps < 1 || cfg.reps > MAX_REPS || cfg.small_count < 1 || cfg.depth < 1 ||
        cfg.depth > DOC_MAX_DEPTH) {
        fprintf(stderr, "json-bench: need 1 <= --reps <= %d, --small >= 1, 1 <= --depth <= %d\n",
                MAX_REPS, DOC_MAX_DEPTH);
        return 2;
    }

    input ins[N_INPUTS];
    stat3 res[N_INPUTS][N_OPS], ratio[N_INPUTS][2];
    size_t nin = 0, max_out = 0;
    memset(ins, 0, sizeof ins);
    for (size_t g = 0; g < N_INPUTS; g++) {
        if (!wanted(generators[g].id)) continue;
        input *in = &ins[nin++];
        in->id = generators[g].id;
        rng_state = cfg.seed ^ (0x1000 * (g + 1));
        generators[g].gen(in);
        describe(in);
        check(in);
        if (in->max_out > max_out) max_out = in->max_out;
        fprintf(stderr, "json-bench: %s: %zu docs, %zu bytes of JSON; checks %s\n", in->id,
                in->ndocs, in->text.size, in->check[0] ? in->check : "passed");
    }
    if (nin == 0) {
        fprintf(stderr, "json-bench: no known input in --cases '%s'\n", cfg.cases);
        return 2;
    }

    doc_builder_init(&g_builder);
    g_jcap = 2 * max_out + 64;
    g_jbuf = malloc(g_jcap);
    if (!g_jbuf) die("out of memory");
    for (size_t i = 0; i < nin; i++) {
        measure(&ins[i], res[i], ratio[i]);
        for (int k = 0; k < N_OPS; k++) {
            fprintf(stderr, "json-bench: %-8s %-15s %8.1f MB/s (min %.1f, max %.1f)\n",
                    ins[i].id, op_names[k], res[i][k].med, res[i][k].min, res[i][k].max);
        }
    }

    FILE *o = stdout;
    if (cfg.out && !(o = fopen(cfg.out, "w"))) die("%s: %s", cfg.out, strerror(errno));
    report(o, ins, nin, res, ratio);
    if (o != stdout) fclose(o);

    int bad = 0;
    for (size_t i = 0; i < nin; i++) {
        if (ins[i].check[0]) bad = 1;
        buf_free(&ins[i].text);
        buf_free(&ins[i].bin);
        for (size_t d = 0; d < ins[i].ndocs; d++) json_decref(ins[i].jdocs[d]);
        free(ins[i].jdocs);
        free(ins[i].boff);
        free(ins[i].off);
        free((char *)ins[i].what);
    }
    doc_builder_free(&g_builder);
    buf_free(&g_out);
    free(g_jbuf);
    return bad ? 3 : 0;
}
