/*
 * path.c — parsing, following and printing paths into documents.
 *
 * Two spellings (doc.h):
 *
 *   JSONPath subset, as RedisJSON accepts it (DOC_PATH_JSONPATH):
 *     path    := "" | "$" step* | "." | legacy
 *     legacy  := ("." name | name | bracket) step*   (no leading $)
 *     step    := "." name | bracket
 *     bracket := "[" sp* (quoted | index) sp* "]"
 *     quoted  := "'" ... "'" | '"' ... '"'   with \\ \' \" escapes
 *     index   := "-"? digits                  (fits int64; negative from the end)
 *     name    := one or more bytes other than . [ ]   ("*" is a wildcard)
 *   A name after a dot is always a key, even when it is all digits.
 *   Wildcards, recursive descent (..), filters, slices and unions are not
 *   supported and say so.
 *
 *   Dotted, as MongoDB filters and update operators write it
 *   (DOC_PATH_DOTTED): names separated by single dots, none empty. A name
 *   of ASCII digits only, without a leading zero ("0" itself is fine), is a
 *   DIGITS step: an index into an array, the key of that spelling in an
 *   object (MongoDB's rule: "a.01" names only the key "01"). Its index
 *   saturates at INT64_MAX when the digits are too many, which no array
 *   reaches.
 *
 * Errors are BURROW_EINVAL with "path '<text>': <what> at column <n>",
 * columns counted in bytes from 1.
 *
 * A parsed path owns two allocations: the steps, and the unescaped names
 * the steps point into. doc_path_get opens each container on the way once
 * (value.c's checked cursor) and allocates nothing, for the filter
 * evaluator's hot path.
 */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "doc/doc.h"

typedef struct parser {
    const char *s;
    size_t len, pos;
    doc_path *out;
    size_t used; /* bytes of out->storage taken */
} parser;

static int fail(const parser *ps, size_t col0, const char *what)
{
    /* Long paths are cut in the message; the column still counts in the
     * full text. */
    int shown = ps->len > 200 ? 200 : (int)ps->len;
    return diag_set(BURROW_EINVAL, "path '%.*s%s': %s at column %zu", shown, ps->s,
                    ps->len > 200 ? "..." : "", what, col0 + 1);
}

static doc_step *add_step(parser *ps, enum doc_step_kind kind)
{
    doc_step *st = &ps->out->steps[ps->out->nsteps++];
    st->kind = kind;
    st->name = NULL;
    st->len = 0;
    st->index = 0;
    return st;
}

/* Copy a name into storage (escapes are resolved by the caller writing
 * byte by byte through name_put). */
static char *name_begin(parser *ps) { return ps->out->storage + ps->used; }
static void name_put(parser *ps, char c) { ps->out->storage[ps->used++] = c; }

static void add_name(parser *ps, enum doc_step_kind kind, const char *name, size_t n)
{
    doc_step *st = add_step(ps, kind);
    char *dst = name_begin(ps);
    memcpy(dst, name, n);
    ps->used += n;
    st->name = dst;
    st->len = n;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool is_name_byte(char c) { return c != '.' && c != '[' && c != ']'; }

/* A name after a dot (or at the start of a legacy path), at ps->pos. */
static int parse_name(parser *ps)
{
    size_t start = ps->pos;
    while (ps->pos < ps->len && is_name_byte(ps->s[ps->pos]))
        ps->pos++;
    size_t n = ps->pos - start;
    if (n == 0)
        return fail(ps, start, "empty step");
    if (n == 1 && ps->s[start] == '*')
        return fail(ps, start, "wildcard '*' not supported");
    add_name(ps, DOC_STEP_KEY, ps->s + start, n);
    return 0;
}

static void skip_spaces(parser *ps)
{
    while (ps->pos < ps->len && ps->s[ps->pos] == ' ')
        ps->pos++;
}

/* The quoted key of a bracket, at the opening quote. */
static int parse_quoted(parser *ps)
{
    char quote = ps->s[ps->pos];
    size_t qpos = ps->pos++;
    doc_step *st = add_step(ps, DOC_STEP_KEY);
    st->name = name_begin(ps);
    for (;;) {
        if (ps->pos >= ps->len)
            return fail(ps, qpos, "unterminated quote");
        char c = ps->s[ps->pos];
        if (c == quote)
            break;
        if (c == '\\') {
            if (ps->pos + 1 >= ps->len)
                return fail(ps, qpos, "unterminated quote");
            char e = ps->s[ps->pos + 1];
            if (e != '\\' && e != '\'' && e != '"')
                return fail(ps, ps->pos, "bad escape");
            name_put(ps, e);
            ps->pos += 2;
            continue;
        }
        name_put(ps, c);
        ps->pos++;
    }
    ps->pos++;
    st->len = (size_t)(ps->out->storage + ps->used - st->name);
    return 0;
}

/* An index of a bracket: "-"? digits, within int64. */
static int parse_index(parser *ps)
{
    size_t start = ps->pos;
    bool neg = ps->s[ps->pos] == '-';
    ps->pos += neg;
    size_t digits = ps->pos;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (ps->pos < ps->len && ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '9') {
        unsigned d = (unsigned)(ps->s[ps->pos] - '0');
        if (v > (limit - d) / 10)
            return fail(ps, start, "bad index");
        v = v * 10 + d;
        ps->pos++;
    }
    if (ps->pos == digits)
        return fail(ps, start, "bad index");
    doc_step *st = add_step(ps, DOC_STEP_INDEX);
    /* -2^63 has no positive int64; negate in unsigned arithmetic. */
    st->index = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_bracket(parser *ps)
{
    size_t open = ps->pos++;
    skip_spaces(ps);
    if (ps->pos >= ps->len)
        return fail(ps, open, "unterminated bracket");
    char c = ps->s[ps->pos];
    int rc;
    if (c == '\'' || c == '"')
        rc = parse_quoted(ps);
    else if (c == '-' || (c >= '0' && c <= '9'))
        rc = parse_index(ps);
    else if (c == '*')
        return fail(ps, ps->pos, "wildcard '*' not supported");
    else if (c == '?')
        return fail(ps, ps->pos, "filter expressions not supported");
    else if (c == ']')
        return fail(ps, ps->pos, "empty step");
    else
        return fail(ps, ps->pos, "bad index");
    if (rc)
        return rc;
    skip_spaces(ps);
    if (ps->pos >= ps->len)
        return fail(ps, open, "unterminated bracket");
    c = ps->s[ps->pos];
    if (c == ':' || c == ',')
        return fail(ps, ps->pos, "slices and unions not supported");
    if (c != ']') {
        /* "[3x]": the index is bad; "['a'x]": the bracket is not closed. */
        bool quoted = ps->out->steps[ps->out->nsteps - 1].kind == DOC_STEP_KEY;
        return quoted ? fail(ps, ps->pos, "expected ']'") : fail(ps, open + 1, "bad index");
    }
    ps->pos++;
    return 0;
}

/* Steps from ps->pos to the end: ("." name | bracket)*. */
static int parse_steps(parser *ps)
{
    while (ps->pos < ps->len) {
        char c = ps->s[ps->pos];
        int rc;
        if (c == '.') {
            if (ps->pos + 1 < ps->len && ps->s[ps->pos + 1] == '.')
                return fail(ps, ps->pos, "recursive descent '..' not supported");
            ps->pos++;
            rc = parse_name(ps);
        } else if (c == '[') {
            rc = parse_bracket(ps);
        } else {
            return fail(ps, ps->pos, "trailing characters");
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_jsonpath(parser *ps)
{
    const char *s = ps->s;
    if (ps->len == 0 || (ps->len == 1 && (s[0] == '$' || s[0] == '.')))
        return 0; /* the root */
    if (s[0] == '$') {
        ps->pos = 1;
    } else if (s[0] != '.' && s[0] != '[') {
        int rc = parse_name(ps); /* legacy "a.b" */
        if (rc)
            return rc;
    }
    return parse_steps(ps);
}

static int parse_dotted(parser *ps)
{
    size_t start = 0;
    for (;;) {
        size_t end = start;
        while (end < ps->len && ps->s[end] != '.')
            end++;
        if (end == start)
            return fail(ps, start, "empty step");
        const char *name = ps->s + start;
        size_t n = end - start;
        if (all_digits(name, n) && (n == 1 || name[0] != '0')) {
            add_name(ps, DOC_STEP_DIGITS, name, n);
            int64_t v = 0;
            for (size_t i = 0; i < n; i++) {
                int d = name[i] - '0';
                if (v > (INT64_MAX - d) / 10) {
                    v = INT64_MAX;
                    break;
                }
                v = v * 10 + d;
            }
            ps->out->steps[ps->out->nsteps - 1].index = v;
        } else {
            add_name(ps, DOC_STEP_KEY, name, n);
        }
        if (end == ps->len)
            return 0;
        start = end + 1;
    }
}

int doc_path_parse(const char *s, size_t len, int syntax, doc_path *out)
{
    assert(s || len == 0);
    assert(syntax == DOC_PATH_JSONPATH || syntax == DOC_PATH_DOTTED);
    out->steps = NULL;
    out->nsteps = 0;
    out->storage = NULL;
    parser ps = {.s = s, .len = len, .out = out};
    if (len > INT_MAX / 2)
        return fail(&ps, 0, "path too long");
    /* Every step starts at a '.' or a '[', or at the very start. */
    size_t max_steps = 1;
    for (size_t i = 0; i < len; i++)
        max_steps += s[i] == '.' || s[i] == '[';
    if (len > 0) {
        out->steps = malloc(max_steps * sizeof *out->steps);
        out->storage = malloc(len); /* names are never longer than the text */
        if (!out->steps || !out->storage) {
            doc_path_free(out);
            return BURROW_ENOMEM;
        }
    }
    int rc = syntax == DOC_PATH_DOTTED ? parse_dotted(&ps) : parse_jsonpath(&ps);
    if (rc)
        doc_path_free(out);
    return rc;
}

void doc_path_free(doc_path *p)
{
    free(p->steps);
    free(p->storage);
    p->steps = NULL;
    p->storage = NULL;
    p->nsteps = 0;
}

/* ---- following ----------------------------------------------------------- */

int doc_path_get(doc_val v, const doc_path *p, doc_val *out)
{
    doc_val cur = v;
    for (int s = 0; s < p->nsteps; s++) {
        const doc_step *st = &p->steps[s];
        enum doc_type t = doc_type(cur);
        doc_container c;
        int rc;
        if (t == DOC_ARRAY && st->kind != DOC_STEP_KEY) {
            if (!(rc = doc_container_open(cur, &c))) {
                int64_t i = st->index < 0 ? st->index + (int64_t)c.count : st->index;
                /* Out of range: ENOTFOUND, the header having been checked. */
                rc = i >= 0 && i < (int64_t)c.count
                         ? doc_container_elem(&c, (uint32_t)i, NULL, NULL, &cur)
                         : BURROW_ENOTFOUND;
            }
        } else if (t == DOC_OBJECT && st->kind != DOC_STEP_INDEX) {
            if (!(rc = doc_container_open(cur, &c)))
                rc = doc_container_find(&c, st->name, st->len, &cur);
        } else if (t == DOC_INVALID) {
            rc = BURROW_ECORRUPT;
        } else {
            return BURROW_ENOTFOUND;
        }
        if (rc == BURROW_ECORRUPT)
            return diag_set(rc, "document damaged at step %d of a path", s + 1);
        if (rc)
            return BURROW_ENOTFOUND;
    }
    *out = cur;
    return 0;
}

/* ---- printing ------------------------------------------------------------ */

static bool is_identifier(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static int format_key(const char *s, size_t n, buf *out)
{
    int rc;
    if (is_identifier(s, n)) {
        if ((rc = buf_putc(out, '.')))
            return rc;
        return buf_append(out, s, n);
    }
    if ((rc = buf_append(out, "['", 2)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((s[i] == '\'' || s[i] == '\\') && (rc = buf_putc(out, '\\')))
            return rc;
        if ((rc = buf_putc(out, (uint8_t)s[i])))
            return rc;
    }
    return buf_append(out, "']", 2);
}

int doc_path_format(const doc_path *p, buf *out)
{
    size_t mark = out->size;
    int rc = buf_putc(out, '$');
    for (int s = 0; s < p->nsteps && !rc; s++) {
        const doc_step *st = &p->steps[s];
        char num[24];
        switch (st->kind) {
        case DOC_STEP_KEY: rc = format_key(st->name, st->len, out); break;
        case DOC_STEP_INDEX:
            rc = buf_append(out, num, (size_t)snprintf(num, sizeof num, "[%lld]",
                                                       (long long)st->index));
            break;
        case DOC_STEP_DIGITS:
            /* As written: "01" stays "01", and a too-long number is kept. */
            if (!(rc = buf_putc(out, '[')) && !(rc = buf_append(out, st->name, st->len)))
                rc = buf_putc(out, ']');
            break;
        }
    }
    if (rc)
        out->size = mark;
    return rc;
}
