/*
 * rjson.c — RedisJSON paths and operations on binary documents (contract
 * and grammar in rjson.h).
 *
 * A path is parsed into steps. Each step selects children of a value: a
 * list of member names, a list of indexes, a slice, or everything; a step
 * written after ".." is applied to a value and to every value below it.
 * Finding walks the document step by step, depth first, and records for
 * every match the positions on the way from the root: that location is
 * what the operations take as their targets.
 *
 * Changing a document rebuilds it once, front to back, with the builder:
 * the targets are sorted by location (document order, a container before
 * what is inside it), and the walk descends only into containers that hold
 * a target; every other value is copied verbatim. So the cost is the size
 * of the containers on the targets' paths plus what is copied, never a
 * decoded tree.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "doc/rjson.h"

/* ---- paths ------------------------------------------------------------------ */

enum step_kind {
    STEP_KEYS,    /* members names[first .. first+count) */
    STEP_INDEXES, /* elements idx[first .. first+count) */
    STEP_SLICE,   /* elements [start:end:step] */
    STEP_ALL,     /* every member or element */
};

typedef struct step {
    enum step_kind kind;
    bool descent; /* written after "..": this value and every value below it */
    uint32_t first, count;
    bool has_start, has_end;
    int64_t start, end, stride;
} step;

typedef struct name {
    const char *s; /* into storage (unescaped) */
    size_t n;
} name;

struct rjson_path {
    step *steps;
    int nsteps, steps_cap;
    name *names;
    size_t nnames, names_cap;
    int64_t *idx;
    size_t nidx, idx_cap;
    char *storage; /* unescaped names */
    size_t used;
    char *fixed;   /* the text as RedisJSON rewrites it, NUL-terminated */
    size_t fixed_len;
    size_t shift;  /* bytes fixed has before the text as given */
    bool legacy;
};

typedef struct parser {
    rjson_path *p;
    const char *s; /* p->fixed */
    size_t n, pos;
    const char *orig; /* the text as given, for messages */
    size_t orig_len;
} parser;

static int fail(const parser *ps, size_t pos, const char *what)
{
    size_t col = pos >= ps->p->shift ? pos - ps->p->shift + 1 : 1;
    int shown = ps->orig_len > 200 ? 200 : (int)ps->orig_len;
    return diag_set(BURROW_EINVAL, "path '%.*s%s': %s at column %zu", shown, ps->orig,
                    ps->orig_len > 200 ? "..." : "", what, col);
}

static void skip_spaces(parser *ps)
{
    while (ps->pos < ps->n && ps->s[ps->pos] == ' ')
        ps->pos++;
}

static bool at(const parser *ps, char c) { return ps->pos < ps->n && ps->s[ps->pos] == c; }

static bool is_literal_byte(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
        return true;
    return c && strchr("-_`~+#%$^/:", c) != NULL;
}

static step *add_step(parser *ps, enum step_kind kind, bool descent)
{
    rjson_path *p = ps->p;
    if (p->nsteps == p->steps_cap) {
        int cap = p->steps_cap ? p->steps_cap * 2 : 8;
        step *s = realloc(p->steps, (size_t)cap * sizeof *s);
        if (!s)
            return NULL;
        p->steps = s;
        p->steps_cap = cap;
    }
    step *st = &p->steps[p->nsteps++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->descent = descent;
    st->stride = 1;
    st->first = kind == STEP_KEYS ? (uint32_t)p->nnames : (uint32_t)p->nidx;
    return st;
}

static int add_name(parser *ps, step *st, const char *s, size_t n)
{
    rjson_path *p = ps->p;
    if (p->nnames == p->names_cap) {
        size_t cap = p->names_cap ? p->names_cap * 2 : 8;
        name *a = realloc(p->names, cap * sizeof *a);
        if (!a)
            return BURROW_ENOMEM;
        p->names = a;
        p->names_cap = cap;
    }
    p->names[p->nnames].s = s;
    p->names[p->nnames].n = n;
    p->nnames++;
    st->count++;
    return 0;
}

static int add_index(parser *ps, step *st, int64_t v)
{
    rjson_path *p = ps->p;
    if (p->nidx == p->idx_cap) {
        size_t cap = p->idx_cap ? p->idx_cap * 2 : 8;
        int64_t *a = realloc(p->idx, cap * sizeof *a);
        if (!a)
            return BURROW_ENOMEM;
        p->idx = a;
        p->idx_cap = cap;
    }
    p->idx[p->nidx++] = v;
    st->count++;
    return 0;
}

static int parse_literal(parser *ps, bool descent)
{
    size_t start = ps->pos;
    while (ps->pos < ps->n && is_literal_byte((unsigned char)ps->s[ps->pos]))
        ps->pos++;
    if (ps->pos == start)
        return fail(ps, start, "expected a member name");
    step *st = add_step(ps, STEP_KEYS, descent);
    if (!st)
        return BURROW_ENOMEM;
    return add_name(ps, st, ps->s + start, ps->pos - start);
}

/* A quoted string at ps->pos, unescaped into storage. */
static int parse_string(parser *ps, step *st)
{
    char quote = ps->s[ps->pos];
    size_t open = ps->pos++;
    char *dst = ps->p->storage + ps->p->used;
    size_t k = 0;
    for (;;) {
        if (ps->pos >= ps->n)
            return fail(ps, open, "unterminated string");
        char c = ps->s[ps->pos];
        if (c == quote)
            break;
        if (c == '\\') {
            char e = ps->pos + 1 < ps->n ? ps->s[ps->pos + 1] : 0;
            if (e != '\\' && e != quote)
                return fail(ps, ps->pos, "bad escape");
            dst[k++] = e;
            ps->pos += 2;
            continue;
        }
        dst[k++] = c;
        ps->pos++;
    }
    ps->pos++;
    ps->p->used += k;
    return add_name(ps, st, dst, k);
}

/* number := "-"? (0 | [1-9][0-9]*), within int64; positive: [1-9][0-9]*. */
static int parse_number(parser *ps, bool positive, int64_t *out)
{
    size_t start = ps->pos;
    bool neg = !positive && at(ps, '-');
    ps->pos += neg;
    size_t digits = ps->pos;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (ps->pos < ps->n && ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '9') {
        unsigned d = (unsigned)(ps->s[ps->pos] - '0');
        if (v > (limit - d) / 10)
            return fail(ps, start, "number out of range");
        v = v * 10 + d;
        ps->pos++;
    }
    size_t nd = ps->pos - digits;
    if (nd == 0 || (nd > 1 && ps->s[digits] == '0') || (positive && v == 0))
        return fail(ps, start, positive ? "expected a positive step" : "expected a number");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static bool at_number(const parser *ps)
{
    return ps->pos < ps->n &&
           (ps->s[ps->pos] == '-' || (ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '9'));
}

static int expect_close(parser *ps, size_t open)
{
    skip_spaces(ps);
    if (ps->pos >= ps->n)
        return fail(ps, open, "unterminated bracket");
    if (ps->s[ps->pos] != ']')
        return fail(ps, ps->pos, "expected ']'");
    ps->pos++;
    return 0;
}

/* The rest of a slice after its first ':' (start already read or absent). */
static int parse_slice(parser *ps, step *st, size_t open)
{
    int rc;
    ps->pos++; /* ':' */
    skip_spaces(ps);
    if (at_number(ps)) {
        if ((rc = parse_number(ps, false, &st->end)))
            return rc;
        st->has_end = true;
        skip_spaces(ps);
    }
    if (at(ps, ':')) {
        ps->pos++;
        skip_spaces(ps);
        if (at_number(ps) && (rc = parse_number(ps, true, &st->stride)))
            return rc;
    }
    return expect_close(ps, open);
}

static int parse_bracket(parser *ps, bool descent)
{
    size_t open = ps->pos++;
    int rc;
    skip_spaces(ps);
    if (ps->pos >= ps->n)
        return fail(ps, open, "unterminated bracket");
    char c = ps->s[ps->pos];
    if (c == '?')
        return fail(ps, ps->pos, "filter expressions are not supported");
    if (c == '*') {
        ps->pos++;
        if (!add_step(ps, STEP_ALL, descent))
            return BURROW_ENOMEM;
        return expect_close(ps, open);
    }
    if (c == '\'' || c == '"') {
        step *st = add_step(ps, STEP_KEYS, descent);
        if (!st)
            return BURROW_ENOMEM;
        for (;;) {
            if ((rc = parse_string(ps, st)))
                return rc;
            skip_spaces(ps);
            if (!at(ps, ','))
                break;
            ps->pos++;
            skip_spaces(ps);
            if (!at(ps, '\'') && !at(ps, '"'))
                return fail(ps, ps->pos, "expected a quoted name");
        }
        return expect_close(ps, open);
    }
    if (c == ':') {
        step *st = add_step(ps, STEP_SLICE, descent);
        if (!st)
            return BURROW_ENOMEM;
        return parse_slice(ps, st, open);
    }
    if (!at_number(ps))
        return fail(ps, ps->pos, c == ']' ? "empty brackets" : "expected a name, an index or '*'");
    int64_t v;
    if ((rc = parse_number(ps, false, &v)))
        return rc;
    skip_spaces(ps);
    if (at(ps, ':')) {
        step *st = add_step(ps, STEP_SLICE, descent);
        if (!st)
            return BURROW_ENOMEM;
        st->has_start = true;
        st->start = v;
        return parse_slice(ps, st, open);
    }
    step *st = add_step(ps, STEP_INDEXES, descent);
    if (!st || add_index(ps, st, v))
        return BURROW_ENOMEM;
    while (at(ps, ',')) {
        ps->pos++;
        skip_spaces(ps);
        if ((rc = parse_number(ps, false, &v)))
            return rc;
        if ((rc = add_index(ps, st, v)))
            return rc;
        skip_spaces(ps);
    }
    return expect_close(ps, open);
}

static int parse_elements(parser *ps)
{
    int rc;
    skip_spaces(ps);
    /* first := literal | "*", right after "$" */
    if (ps->pos < ps->n && is_literal_byte((unsigned char)ps->s[ps->pos])) {
        if ((rc = parse_literal(ps, false)))
            return rc;
    } else if (at(ps, '*')) {
        ps->pos++;
        if (!add_step(ps, STEP_ALL, false))
            return BURROW_ENOMEM;
    }
    for (;;) {
        skip_spaces(ps);
        if (ps->pos >= ps->n)
            return 0;
        char c = ps->s[ps->pos];
        if (c == '[') {
            rc = parse_bracket(ps, false);
        } else if (c == '.') {
            bool descent = ps->pos + 1 < ps->n && ps->s[ps->pos + 1] == '.';
            ps->pos += descent ? 2 : 1;
            skip_spaces(ps);
            if (at(ps, '*')) {
                ps->pos++;
                rc = add_step(ps, STEP_ALL, descent) ? 0 : BURROW_ENOMEM;
            } else if (at(ps, '[')) {
                rc = parse_bracket(ps, descent);
            } else {
                rc = parse_literal(ps, descent);
            }
        } else {
            rc = fail(ps, ps->pos, "unexpected character");
        }
        if (rc)
            return rc;
    }
}

int rjson_path_parse(const char *s, size_t n, rjson_path **out)
{
    assert(s || n == 0);
    *out = NULL;
    if (n > ((size_t)1 << 30))
        return diag_set(BURROW_EINVAL, "path too long");
    rjson_path *p = calloc(1, sizeof *p);
    if (!p)
        return BURROW_ENOMEM;
    /* RedisJSON's rewrite of a legacy path into JSONPath. */
    const char *prefix = "";
    size_t skip = 0;
    p->legacy = n == 0 || s[0] != '$';
    if (p->legacy) {
        if (n >= 1 && s[0] == '.') {
            prefix = "$";
            skip = n == 1 ? 1 : 0; /* "." is "$" */
        } else {
            prefix = "$.";
        }
    }
    size_t plen = strlen(prefix);
    p->fixed_len = plen + n - skip;
    p->fixed = malloc(p->fixed_len + 1);
    p->storage = malloc(n + 1);
    if (!p->fixed || !p->storage) {
        rjson_path_free(p);
        return BURROW_ENOMEM;
    }
    memcpy(p->fixed, prefix, plen);
    if (n > skip)
        memcpy(p->fixed + plen, s + skip, n - skip);
    p->fixed[p->fixed_len] = '\0';
    p->shift = plen - skip;
    parser ps = {.p = p, .s = p->fixed, .n = p->fixed_len, .pos = 1, .orig = s, .orig_len = n};
    int rc = parse_elements(&ps);
    if (rc) {
        rjson_path_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void rjson_path_free(rjson_path *p)
{
    if (!p)
        return;
    free(p->steps);
    free(p->names);
    free(p->idx);
    free(p->storage);
    free(p->fixed);
    free(p);
}

bool rjson_path_legacy(const rjson_path *p) { return p->legacy; }

const char *rjson_path_fixed(const rjson_path *p, size_t *len)
{
    if (len)
        *len = p->fixed_len;
    return p->fixed;
}

int rjson_path_nsteps(const rjson_path *p) { return p->nsteps; }

bool rjson_path_static(const rjson_path *p)
{
    for (int i = 0; i < p->nsteps; i++) {
        const step *st = &p->steps[i];
        if (st->descent || st->count != 1 || (st->kind != STEP_KEYS && st->kind != STEP_INDEXES))
            return false;
    }
    return true;
}

void rjson_path_last(const rjson_path *p, const char **key, size_t *klen, int64_t *index,
                     bool *is_index)
{
    assert(p->nsteps > 0);
    const step *st = &p->steps[p->nsteps - 1];
    *is_index = st->kind == STEP_INDEXES;
    *key = NULL;
    *klen = 0;
    *index = 0;
    if (st->kind == STEP_KEYS) {
        *key = p->names[st->first].s;
        *klen = p->names[st->first].n;
    } else if (st->kind == STEP_INDEXES) {
        *index = p->idx[st->first];
    }
}

/* ---- finding ------------------------------------------------------------------ */

void rjson_matches_init(rjson_matches *m) { memset(m, 0, sizeof *m); }

void rjson_matches_clear(rjson_matches *m)
{
    m->n = 0;
    m->nlocs = 0;
}

void rjson_matches_free(rjson_matches *m)
{
    free(m->v);
    free(m->locs);
    rjson_matches_init(m);
}

typedef struct finder {
    const rjson_path *p;
    int nsteps;
    rjson_matches *out;
    uint32_t loc[DOC_MAX_DEPTH + 1];
} finder;

static int emit_match(finder *f, doc_val v, uint32_t depth)
{
    rjson_matches *m = f->out;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        rjson_match *a = realloc(m->v, cap * sizeof *a);
        if (!a)
            return BURROW_ENOMEM;
        m->v = a;
        m->cap = cap;
    }
    if (m->locs_cap - m->nlocs < depth) {
        size_t cap = m->locs_cap ? m->locs_cap : 64;
        while (cap - m->nlocs < depth)
            cap *= 2;
        uint32_t *a = realloc(m->locs, cap * sizeof *a);
        if (!a)
            return BURROW_ENOMEM;
        m->locs = a;
        m->locs_cap = cap;
    }
    if (depth)
        memcpy(m->locs + m->nlocs, f->loc, depth * sizeof *f->loc);
    m->v[m->n].val = v;
    m->v[m->n].loc = (uint32_t)m->nlocs;
    m->v[m->n].depth = depth;
    m->n++;
    m->nlocs += depth;
    return 0;
}

static int walk(finder *f, doc_val v, int si, uint32_t depth);

static int corrupt(void) { return diag_set(BURROW_ECORRUPT, "document damaged under a JSON path"); }

/* Go on from child i of the container (at depth) with step si. */
static int child(finder *f, const doc_container *c, uint32_t i, int si, uint32_t depth)
{
    doc_val v;
    if (depth >= DOC_MAX_DEPTH)
        return corrupt(); /* nested deeper than any valid document */
    int rc = doc_container_elem(c, i, NULL, NULL, &v);
    if (rc)
        return rc == BURROW_ECORRUPT ? corrupt() : rc;
    f->loc[depth] = i;
    return walk(f, v, si, depth + 1);
}

/* The position of the member named k of object c, by bisecting on where
 * the member found by name lies (elements are stored in position order). */
static int member(const doc_container *c, const char *k, size_t n, uint32_t *pos)
{
    doc_val v, e;
    int rc = doc_container_find(c, k, n, &v);
    if (rc)
        return rc;
    uint32_t lo = 0, hi = c->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((rc = doc_container_elem(c, mid, NULL, NULL, &e)))
            return rc;
        if (e.p == v.p) {
            *pos = mid;
            return 0;
        }
        if (e.p < v.p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return BURROW_ECORRUPT;
}

/* Apply step si (without its descent) to v. */
static int select_step(finder *f, doc_val v, const step *st, int si, uint32_t depth)
{
    enum doc_type t = doc_type(v);
    if (t == DOC_INVALID)
        return corrupt();
    if (t != DOC_ARRAY && t != DOC_OBJECT)
        return 0;
    doc_container c;
    if (doc_container_open(v, &c))
        return corrupt();
    int rc = 0;
    switch (st->kind) {
    case STEP_ALL:
        for (uint32_t i = 0; i < c.count && !rc; i++)
            rc = child(f, &c, i, si + 1, depth);
        return rc;
    case STEP_KEYS:
        if (t != DOC_OBJECT)
            return 0;
        for (uint32_t k = 0; k < st->count && !rc; k++) {
            const name *nm = &f->p->names[st->first + k];
            uint32_t pos;
            rc = member(&c, nm->s, nm->n, &pos);
            if (rc == BURROW_ENOTFOUND) {
                rc = 0;
                continue;
            }
            if (rc)
                return rc == BURROW_ECORRUPT ? corrupt() : rc;
            rc = child(f, &c, pos, si + 1, depth);
        }
        return rc;
    case STEP_INDEXES:
        if (t != DOC_ARRAY)
            return 0;
        for (uint32_t k = 0; k < st->count && !rc; k++) {
            int64_t i = f->p->idx[st->first + k];
            if (i < 0)
                i += c.count;
            if (i >= 0 && i < (int64_t)c.count)
                rc = child(f, &c, (uint32_t)i, si + 1, depth);
        }
        return rc;
    case STEP_SLICE: {
        if (t != DOC_ARRAY)
            return 0;
        int64_t n = c.count;
        int64_t s = st->has_start ? st->start : 0, e = st->has_end ? st->end : n;
        s = s < 0 ? (n + s < 0 ? 0 : n + s) : (s > n ? n : s);
        e = e < 0 ? (n + e < 0 ? 0 : n + e) : (e > n ? n : e);
        for (int64_t i = s; i < e && !rc; i += st->stride) {
            rc = child(f, &c, (uint32_t)i, si + 1, depth);
            if (st->stride > e - i)
                break;
        }
        return rc;
    }
    }
    return 0;
}

static int walk(finder *f, doc_val v, int si, uint32_t depth)
{
    if (si == f->nsteps)
        return emit_match(f, v, depth);
    const step *st = &f->p->steps[si];
    int rc = select_step(f, v, st, si, depth);
    if (rc || !st->descent)
        return rc;
    /* ".." goes on below v with the same step. */
    enum doc_type t = doc_type(v);
    if (t != DOC_ARRAY && t != DOC_OBJECT)
        return 0;
    doc_container c;
    if (doc_container_open(v, &c))
        return corrupt();
    for (uint32_t i = 0; i < c.count && !rc; i++)
        rc = child(f, &c, i, si, depth);
    return rc;
}

int rjson_find(doc_val root, const rjson_path *p, int nsteps, rjson_matches *out)
{
    finder *f = malloc(sizeof *f);
    if (!f)
        return BURROW_ENOMEM;
    f->p = p;
    f->nsteps = nsteps < 0 || nsteps > p->nsteps ? p->nsteps : nsteps;
    f->out = out;
    size_t n0 = out->n, l0 = out->nlocs;
    int rc = walk(f, root, 0, 0);
    free(f);
    if (rc) {
        out->n = n0;
        out->nlocs = l0;
    }
    return rc;
}

/* ---- reading ---------------------------------------------------------------- */

const char *rjson_type_name(doc_val v)
{
    switch (doc_type(v)) {
    case DOC_NULL: return "null";
    case DOC_FALSE:
    case DOC_TRUE: return "boolean";
    case DOC_INT: return "integer";
    case DOC_DOUBLE: return "number";
    case DOC_STRING: return "string";
    case DOC_ARRAY: return "array";
    case DOC_OBJECT: return "object";
    default: return "null";
    }
}

bool rjson_equal(doc_val a, doc_val b)
{
    enum doc_type ta = doc_type(a), tb = doc_type(b);
    if (ta != tb || ta == DOC_INVALID)
        return false;
    switch (ta) {
    case DOC_NULL:
    case DOC_FALSE:
    case DOC_TRUE: return true;
    case DOC_INT: {
        int64_t x = 0, y = 0;
        doc_get_int(a, &x);
        doc_get_int(b, &y);
        return x == y;
    }
    case DOC_DOUBLE: {
        double x = 0, y = 0;
        doc_get_double(a, &x);
        doc_get_double(b, &y);
        return x == y;
    }
    case DOC_STRING: {
        const char *x = NULL, *y = NULL;
        size_t xn = 0, yn = 0;
        doc_get_string(a, &x, &xn);
        doc_get_string(b, &y, &yn);
        return xn == yn && (xn == 0 || memcmp(x, y, xn) == 0);
    }
    case DOC_ARRAY: {
        doc_container ca, cb;
        if (doc_container_open(a, &ca) || doc_container_open(b, &cb) || ca.count != cb.count)
            return false;
        for (uint32_t i = 0; i < ca.count; i++) {
            doc_val x, y;
            if (doc_container_elem(&ca, i, NULL, NULL, &x) ||
                doc_container_elem(&cb, i, NULL, NULL, &y) || !rjson_equal(x, y))
                return false;
        }
        return true;
    }
    case DOC_OBJECT: {
        doc_container ca, cb;
        if (doc_container_open(a, &ca) || doc_container_open(b, &cb) || ca.count != cb.count)
            return false;
        for (uint32_t i = 0; i < ca.count; i++) {
            const char *k;
            size_t kn;
            doc_val x, y;
            if (doc_container_elem(&ca, i, &k, &kn, &x) || doc_container_find(&cb, k, kn, &y) ||
                !rjson_equal(x, y))
                return false;
        }
        return true;
    }
    default: return false;
    }
}

/* RedisJSON's normalisation of a start index: negative from the end
 * (clamped at 0), past the end the last element. */
static int64_t norm_start(int64_t i, int64_t len)
{
    if (i < 0)
        return len + i < 0 ? 0 : len + i;
    return i < len - 1 ? i : len - 1;
}

int64_t rjson_arrindex(doc_val arr, doc_val v, int64_t start, int64_t stop)
{
    doc_container c;
    if (doc_container_open(arr, &c) || c.tag != DOC_TAG_ARRAY || c.count == 0)
        return -1;
    int64_t len = c.count;
    int64_t s = norm_start(start, len);
    int64_t e = stop == 0 ? len : stop < 0 ? (len + stop < 0 ? 0 : len + stop)
                                           : (stop < len ? stop : len);
    for (int64_t i = s; i < e; i++) {
        doc_val x;
        if (doc_container_elem(&c, (uint32_t)i, NULL, NULL, &x))
            return -1;
        if (rjson_equal(x, v))
            return i;
    }
    return -1;
}

/* ---- changing ---------------------------------------------------------------- */

void rjson_results_free(rjson_result *res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_free(&res[i].popped);
}

typedef struct target {
    const uint32_t *loc;
    uint32_t depth;
    size_t res; /* index into the caller's results */
} target;

typedef struct applier {
    const rjson_op *op;
    target *t;
    rjson_result *res;
} applier;

static int target_cmp(const void *pa, const void *pb)
{
    const target *a = pa, *b = pb;
    uint32_t n = a->depth < b->depth ? a->depth : b->depth;
    for (uint32_t i = 0; i < n; i++)
        if (a->loc[i] != b->loc[i])
            return a->loc[i] < b->loc[i] ? -1 : 1;
    if (a->depth != b->depth)
        return a->depth < b->depth ? -1 : 1;
    return (a->res > b->res) - (a->res < b->res);
}

static int wrong_type(const char *want, doc_val v)
{
    return diag_set(BURROW_ETYPE, "wrong type of path value - expected %s but found %s", want,
                    rjson_type_name(v));
}

static int open_array(doc_val v, doc_container *c)
{
    if (doc_type(v) != DOC_ARRAY)
        return wrong_type("array", v);
    return doc_container_open(v, c) ? corrupt() : 0;
}

/* Copy elements [from, to) of the container c into b. */
static int copy_elems(doc_builder *b, const doc_container *c, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++) {
        const char *k;
        size_t kn;
        doc_val e;
        int rc = doc_container_elem(c, i, &k, &kn, &e);
        if (rc)
            return rc == BURROW_ECORRUPT ? corrupt() : rc;
        rc = c->tag == DOC_TAG_OBJECT ? doc_builder_copy_entry(b, k, kn, e) : doc_builder_copy(b, e);
        if (rc)
            return rc;
    }
    return 0;
}

static int copy_values(doc_builder *b, const rjson_op *op)
{
    for (size_t i = 0; i < op->nvalues; i++) {
        int rc = doc_builder_copy(b, op->values[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int num_op(const rjson_op *op, doc_val v, rjson_result *r, doc_builder *b)
{
    if (!doc_is_number(v))
        return wrong_type("number", v);
    if (!doc_is_number(op->value))
        return diag_set(BURROW_ETYPE, "bad input number");
    bool mul = op->kind == RJSON_NUMMULTBY;
    int64_t x, y, z;
    if (doc_type(v) == DOC_INT && doc_type(op->value) == DOC_INT) {
        doc_get_int(v, &x);
        doc_get_int(op->value, &y);
        bool over = mul ? __builtin_mul_overflow(x, y, &z) : __builtin_add_overflow(x, y, &z);
        if (!over) {
            r->num_i = z;
            return doc_builder_int(b, z);
        }
    }
    /* A double on either side, or an int64 overflow: the double result. */
    double dx, dy;
    doc_get_double(v, &dx);
    doc_get_double(op->value, &dy);
    double d = mul ? dx * dy : dx + dy;
    if (!isfinite(d))
        return diag_set(BURROW_ERANGE, "result is not a number");
    r->is_double = true;
    r->num_d = d;
    return doc_builder_double(b, d);
}

static int str_append(const rjson_op *op, doc_val v, rjson_result *r, doc_builder *b)
{
    const char *s, *t;
    size_t n, m;
    if (doc_get_string(v, &s, &n))
        return wrong_type("string", v);
    if (doc_get_string(op->value, &t, &m))
        return diag_set(BURROW_ETYPE, "wrong type of path value - expected string");
    char *cat = malloc(n + m + 1);
    if (!cat)
        return BURROW_ENOMEM;
    memcpy(cat, s, n);
    memcpy(cat + n, t, m);
    int rc = doc_builder_string(b, cat, n + m);
    free(cat);
    r->n = (int64_t)(n + m);
    return rc;
}

static int arr_op(const rjson_op *op, doc_val v, rjson_result *r, doc_builder *b)
{
    doc_container c;
    int rc = open_array(v, &c);
    if (rc)
        return rc;
    int64_t len = c.count;
    switch (op->kind) {
    case RJSON_ARRAPPEND:
        if ((rc = doc_builder_begin_array(b)) || (rc = copy_elems(b, &c, 0, c.count)) ||
            (rc = copy_values(b, op)))
            return rc;
        r->n = len + (int64_t)op->nvalues;
        break;
    case RJSON_ARRINSERT: {
        int64_t at = op->index < 0 ? len + op->index : op->index;
        if (at < 0 || at > len)
            return diag_set(BURROW_ERANGE, "index out of bounds");
        if ((rc = doc_builder_begin_array(b)) || (rc = copy_elems(b, &c, 0, (uint32_t)at)) ||
            (rc = copy_values(b, op)) || (rc = copy_elems(b, &c, (uint32_t)at, c.count)))
            return rc;
        r->n = len + (int64_t)op->nvalues;
        break;
    }
    case RJSON_ARRPOP: {
        if (len == 0) {
            r->applied = false;
            return doc_builder_copy(b, v);
        }
        uint32_t at = (uint32_t)norm_start(op->index, len);
        doc_val e;
        if (doc_container_elem(&c, at, NULL, NULL, &e))
            return corrupt();
        if ((rc = json_write(e, 0, NULL, &r->popped)))
            return rc;
        if ((rc = doc_builder_begin_array(b)) || (rc = copy_elems(b, &c, 0, at)) ||
            (rc = copy_elems(b, &c, at + 1, c.count)))
            return rc;
        r->n = len - 1;
        break;
    }
    case RJSON_ARRTRIM: {
        /* RedisJSON: stop and start normalised like a start index; a
         * start at or past the end empties the array. */
        int64_t stop = norm_start(op->stop, len);
        int64_t start = op->start < 0 || op->start < len ? norm_start(op->start, len) : stop + 1;
        if (start > stop || len == 0)
            start = stop = -1; /* empty */
        if ((rc = doc_builder_begin_array(b)))
            return rc;
        if (start >= 0 && (rc = copy_elems(b, &c, (uint32_t)start, (uint32_t)stop + 1)))
            return rc;
        r->n = start >= 0 ? stop - start + 1 : 0;
        break;
    }
    default: return diag_set(BURROW_EINVAL, "not an array operation");
    }
    r->applied = true;
    return doc_builder_end(b);
}

static int add_key(const rjson_op *op, doc_val v, rjson_result *r, doc_builder *b)
{
    doc_val old;
    /* RedisJSON adds only to an object that lacks the key; else nothing. */
    if (doc_type(v) != DOC_OBJECT || doc_object_get(v, op->key, op->klen, &old) != BURROW_ENOTFOUND)
        return doc_builder_copy(b, v);
    doc_container c;
    int rc;
    if (doc_container_open(v, &c))
        return corrupt();
    if ((rc = doc_builder_begin_object(b)) || (rc = copy_elems(b, &c, 0, c.count)) ||
        (rc = doc_builder_copy_entry(b, op->key, op->klen, op->value)))
        return rc;
    r->applied = true;
    return doc_builder_end(b);
}

static int clear(doc_val v, rjson_result *r, doc_builder *b)
{
    enum doc_type t = doc_type(v);
    bool zero = false;
    if (t == DOC_ARRAY || t == DOC_OBJECT) {
        if (doc_count(v) > 0) {
            r->applied = true;
            r->n = 1;
            int rc = t == DOC_ARRAY ? doc_builder_begin_array(b) : doc_builder_begin_object(b);
            return rc ? rc : doc_builder_end(b);
        }
    } else if (t == DOC_INT) {
        int64_t i = 0;
        doc_get_int(v, &i);
        zero = i != 0;
    } else if (t == DOC_DOUBLE) {
        double d = 0;
        doc_get_double(v, &d);
        zero = d != 0;
    }
    if (zero) {
        r->applied = true;
        r->n = 1;
        return doc_builder_int(b, 0);
    }
    return doc_builder_copy(b, v);
}

/* Write op applied to the target v (at a location of its own) into b. */
static int apply_at(const rjson_op *op, doc_val v, rjson_result *r, doc_builder *b)
{
    switch (op->kind) {
    case RJSON_SET: r->applied = true; return doc_builder_copy(b, op->value);
    case RJSON_ADDKEY: return add_key(op, v, r, b);
    case RJSON_DEL: return diag_set(BURROW_EINVAL, "the root cannot be deleted from a document");
    case RJSON_NUMINCRBY:
    case RJSON_NUMMULTBY: r->applied = true; return num_op(op, v, r, b);
    case RJSON_STRAPPEND: r->applied = true; return str_append(op, v, r, b);
    case RJSON_ARRAPPEND:
    case RJSON_ARRINSERT:
    case RJSON_ARRPOP:
    case RJSON_ARRTRIM: return arr_op(op, v, r, b);
    case RJSON_CLEAR: return clear(v, r, b);
    case RJSON_TOGGLE: {
        bool x;
        if (doc_get_bool(v, &x))
            return wrong_type("boolean", v);
        r->applied = true;
        r->n = !x;
        return doc_builder_bool(b, !x);
    }
    }
    return diag_set(BURROW_EINVAL, "unknown JSON operation");
}

static bool bottom_up(enum rjson_op_kind k)
{
    return k == RJSON_ARRAPPEND || k == RJSON_ARRINSERT || k == RJSON_ARRPOP || k == RJSON_ARRTRIM;
}

static int copy_result(rjson_result *dst, const rjson_result *src)
{
    buf keep = dst->popped;
    *dst = *src;
    dst->popped = keep;
    dst->popped.size = 0;
    return buf_append(&dst->popped, src->popped.data, src->popped.size);
}

static int rebuild(applier *ap, doc_builder *b, doc_val v, uint32_t depth, size_t lo, size_t hi);

/* v is the target t[lo]; t[lo+1, hi) are the same location again or inside it. */
static int rebuild_target(applier *ap, doc_builder *b, doc_val v, uint32_t depth, size_t lo,
                          size_t hi)
{
    size_t k = lo + 1;
    while (k < hi && ap->t[k].depth == depth)
        k++; /* repeats of the same target */
    rjson_result *r = &ap->res[ap->t[lo].res];
    int rc;
    if (k < hi && bottom_up(ap->op->kind)) {
        /* The inner targets first, into a document of their own; then the
         * operation on the result. */
        doc_builder inner;
        const uint8_t *data;
        size_t len;
        doc_val nv;
        doc_builder_init(&inner);
        if (!(rc = doc_builder_begin(&inner)) && !(rc = rebuild(ap, &inner, v, depth, k, hi)) &&
            !(rc = doc_builder_finish(&inner, &data, &len)) && !(rc = doc_root(data, len, &nv)))
            rc = apply_at(ap->op, nv, r, b);
        doc_builder_free(&inner);
    } else {
        rc = apply_at(ap->op, v, r, b); /* targets inside it are skipped */
    }
    for (size_t i = lo + 1; i < k && !rc; i++)
        rc = copy_result(&ap->res[ap->t[i].res], r);
    return rc;
}

/* Write v, with the targets t[lo, hi) (all at or below v, sorted) applied,
 * into b. */
static int rebuild(applier *ap, doc_builder *b, doc_val v, uint32_t depth, size_t lo, size_t hi)
{
    if (lo == hi)
        return doc_builder_copy(b, v);
    if (ap->t[lo].depth == depth)
        return rebuild_target(ap, b, v, depth, lo, hi);
    doc_container c;
    if (doc_container_open(v, &c))
        return corrupt();
    bool obj = c.tag == DOC_TAG_OBJECT;
    int rc = obj ? doc_builder_begin_object(b) : doc_builder_begin_array(b);
    size_t j = lo;
    for (uint32_t i = 0; i < c.count && !rc; i++) {
        size_t end = j;
        while (end < hi && ap->t[end].loc[depth] == i)
            end++;
        const char *k;
        size_t kn;
        doc_val e;
        if ((rc = doc_container_elem(&c, i, &k, &kn, &e)))
            return rc == BURROW_ECORRUPT ? corrupt() : rc;
        if (end == j) {
            rc = obj ? doc_builder_copy_entry(b, k, kn, e) : doc_builder_copy(b, e);
        } else if (ap->op->kind == RJSON_DEL && ap->t[j].depth == depth + 1) {
            /* The element is deleted; what lies inside it goes with it. */
            ap->res[ap->t[j].res].applied = true;
        } else {
            if (obj)
                rc = doc_builder_key(b, k, kn);
            if (!rc)
                rc = rebuild(ap, b, e, depth + 1, j, end);
        }
        j = end;
    }
    if (rc)
        return rc;
    if (j != hi)
        return corrupt(); /* a location that is not in this document */
    return doc_builder_end(b);
}

int rjson_apply(doc_val root, const rjson_matches *m, const size_t *sel, size_t nsel,
                const rjson_op *op, doc_builder *b, rjson_result *res, bool *changed)
{
    memset(res, 0, nsel * sizeof *res);
    if (changed)
        *changed = false;
    target *t = malloc((nsel ? nsel : 1) * sizeof *t);
    if (!t)
        return BURROW_ENOMEM;
    for (size_t i = 0; i < nsel; i++) {
        const rjson_match *mt = &m->v[sel[i]];
        t[i].loc = m->locs + mt->loc;
        t[i].depth = mt->depth;
        t[i].res = i;
    }
    qsort(t, nsel, sizeof *t, target_cmp);
    applier ap = {.op = op, .t = t, .res = res};
    int rc = doc_builder_begin(b);
    if (!rc)
        rc = rebuild(&ap, b, root, 0, 0, nsel);
    free(t);
    if (rc)
        return rc;
    if (changed)
        for (size_t i = 0; i < nsel; i++)
            *changed = *changed || res[i].applied;
    return 0;
}
