/*
 * computed.c — computed fields: compiling their expressions once and
 * evaluating them against each document as it is read.
 *
 * ---------------------------------------------------------------------------
 * The language (a schema's "computed" member, docs/queries.md):
 *
 *   "computed": { name: expr, ... }
 *
 *   name  a top-level key of the output document: not empty, not "_id",
 *         without '.', not starting with '$', without NUL bytes.
 *   expr  := {"$op": [expr, ...]}   an operator and its operands
 *          | "$dotted.path"         the stored value at that MongoDB dotted
 *                                   path (missing when there is none)
 *          | "$$text"               the literal string "$text"
 *          | any other string, number, true, false or null: itself
 *         An array that is not an operator's operand list is an error.
 *
 *   $concat [e, ...]  the operands joined as one string: strings as they
 *                     are, integers in decimal, doubles as JSON writes them
 *                     (2.0, 0.1, 1e+300). A null, missing, boolean, array or
 *                     object operand makes the result null. [] gives "".
 *   $sum [e, ...]     the sum of the operands that are numbers; the others
 *                     (missing, null, strings, ...) are skipped. An integer
 *                     while every number added is an integer and the total
 *                     fits int64; from the first double or overflow on, a
 *                     double. 0 when nothing is added.
 *   $avg [e, ...]     the mean of the operands that are numbers, a double;
 *                     the others are skipped; null when there are none.
 *   $sub [a, b]       a - b
 *   $mul [e, ...]     the product; [] gives 1
 *   $div [a, b]       a / b, always a double (6 / 3 is 2.0); null when b is 0
 *   $round [x] or [x, digits]
 *                     x rounded to digits decimal places (default 0;
 *                     -20 <= digits <= 100, negative rounds to tens,
 *                     hundreds...), ties to even as MongoDB does. An integer
 *                     stays an integer, a double stays a double.
 *   For $sub, $mul, $div and $round an operand that is missing or not a
 *   number makes the result null. Integer arithmetic that overflows int64
 *   gives a double; a double beyond the double range gives null.
 *
 *   Operands read the stored document only: a path whose first step is the
 *   name of a computed field (this one or another) is refused at compile
 *   time, so no evaluation order between computed fields exists to explain.
 *   Expressions nest at most COMPUTED_MAX_DEPTH deep.
 *
 *   A computed field whose expression comes out missing (a bare "$path" to
 *   nothing) is written as null, so every computed field is always present.
 * ---------------------------------------------------------------------------
 *
 * A compiled set keeps a private copy of its source value: literal strings
 * and names point into it, so the caller's value may go away.
 */
#include "query/computed.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* Names and paths are shown cut to this many bytes in messages, so a long
 * one cannot crowd out the reason in the diagnostics record. */
#define SHOW 100
#define SHOWN(n) ((int)((n) > SHOW ? SHOW : (n)))

enum op { OP_LITERAL, OP_PATH, OP_CONCAT, OP_SUM, OP_AVG, OP_SUB, OP_MUL, OP_DIV, OP_ROUND };

#define ROUND_DIGITS_MIN (-20)
#define ROUND_DIGITS_MAX 100

static const struct {
    const char *name;
    enum op op;
    int min_args, max_args; /* max -1: any number */
} operators[] = {
    {"$concat", OP_CONCAT, 0, -1}, {"$sum", OP_SUM, 0, -1}, {"$avg", OP_AVG, 0, -1},
    {"$sub", OP_SUB, 2, 2},        {"$mul", OP_MUL, 0, -1}, {"$div", OP_DIV, 2, 2},
    {"$round", OP_ROUND, 1, 2},
};

/* A value during evaluation. Strings live in the stored document or the
 * compiled source (CV_STR) or in the evaluation's scratch buffer
 * (CV_SCRATCH, by offset: the buffer moves as it grows). */
typedef enum cv_kind {
    CV_MISSING,
    CV_NULL,
    CV_BOOL,
    CV_INT,
    CV_DOUBLE,
    CV_STR,
    CV_SCRATCH,
    CV_VALUE /* an array or object of the stored document, copied as is */
} cv_kind;

typedef struct cval {
    cv_kind kind;
    bool b;
    int64_t i;
    double d;
    const char *s; /* CV_STR */
    size_t off;    /* CV_SCRATCH */
    size_t len;    /* CV_STR, CV_SCRATCH */
    doc_val v;     /* CV_VALUE */
} cval;

typedef struct node {
    enum op op;
    uint32_t nargs;
    struct node *args; /* nargs operands */
    doc_path path;     /* OP_PATH */
    cval lit;          /* OP_LITERAL */
} node;

struct computed {
    uint8_t *src; /* version byte + the compiled object */
    int n;
    char *names;       /* n NUL-terminated names, back to back */
    const char **name; /* name[i] into names */
    size_t *name_len;
    int *sorted; /* indexes of the names in bytewise order, to look up stored keys */
    node *exprs; /* n expression trees */
};

/* ---- compiling ------------------------------------------------------------- */

typedef struct compiler {
    doc_val object; /* the computed object, to refuse paths into computed names */
    const char *name;
    size_t name_len;
} compiler;

/* BURROW_EINVAL "computed 'name': <why><detail>". */
static int bad(const compiler *cc, const char *why, const char *detail)
{
    return diag_set(BURROW_EINVAL, "computed '%.*s': %s%s", SHOWN(cc->name_len), cc->name, why,
                    detail ? detail : "");
}

static void node_free(node *n)
{
    if (n->op == OP_PATH)
        doc_path_free(&n->path);
    for (uint32_t i = 0; i < n->nargs; i++)
        node_free(&n->args[i]);
    free(n->args);
    n->args = NULL;
    n->nargs = 0;
}

static int compile_expr(const compiler *cc, doc_val v, int depth, node *out);

static int compile_path(const compiler *cc, const char *s, size_t n, node *out)
{
    if (n == 0)
        return bad(cc, "'$' names no field (write \"$$\" for a literal '$')", NULL);
    int rc = doc_path_parse(s, n, DOC_PATH_DOTTED, &out->path);
    if (rc == BURROW_EINVAL) {
        char why[256];
        snprintf(why, sizeof why, "%s", burrow_errmsg());
        return bad(cc, "bad operand: ", why);
    }
    if (rc)
        return rc;
    out->op = OP_PATH;
    const doc_step *first = &out->path.steps[0];
    doc_val ignored;
    if (doc_object_get(cc->object, first->name, first->len, &ignored) == 0) {
        rc = diag_set(BURROW_EINVAL,
                      "computed '%.*s': '$%.*s' reads the computed field '%.*s'; operands read "
                      "stored fields only",
                      SHOWN(cc->name_len), cc->name, SHOWN(n), s, SHOWN(first->len), first->name);
        doc_path_free(&out->path);
        out->op = OP_LITERAL;
    }
    return rc;
}

static int compile_operator(const compiler *cc, doc_val v, int depth, node *out)
{
    const char *key;
    size_t klen;
    doc_val args;
    int rc = doc_count(v) == 1 ? doc_object_at(v, 0, &key, &klen, &args) : BURROW_EINVAL;
    if (rc == BURROW_ECORRUPT)
        return rc;
    if (rc || klen == 0 || key[0] != '$')
        return bad(cc, "an operator object has exactly one key, an operator such as \"$sum\"",
                   NULL);
    size_t k = 0, nops = sizeof operators / sizeof *operators;
    while (k < nops &&
           !(strlen(operators[k].name) == klen && !memcmp(operators[k].name, key, klen)))
        k++;
    if (k == nops)
        return diag_set(BURROW_EINVAL, "computed '%.*s': unknown operator '%.*s'",
                        SHOWN(cc->name_len), cc->name, SHOWN(klen), key);
    const char *opname = operators[k].name;
    if (doc_type(args) != DOC_ARRAY)
        return diag_set(BURROW_EINVAL, "computed '%.*s': the operands of '%s' must be an array",
                        SHOWN(cc->name_len), cc->name, opname);
    uint32_t nargs = doc_count(args);
    int lo = operators[k].min_args, hi = operators[k].max_args;
    if (nargs < (uint32_t)lo || (hi >= 0 && nargs > (uint32_t)hi)) {
        if (lo == hi)
            return diag_set(BURROW_EINVAL, "computed '%.*s': '%s' takes %d operands, found %u",
                            SHOWN(cc->name_len), cc->name, opname, lo, nargs);
        return diag_set(BURROW_EINVAL, "computed '%.*s': '%s' takes %d or %d operands, found %u",
                        SHOWN(cc->name_len), cc->name, opname, lo, hi, nargs);
    }
    out->op = operators[k].op;
    if (nargs) {
        out->args = calloc(nargs, sizeof *out->args);
        if (!out->args)
            return BURROW_ENOMEM;
    }
    for (uint32_t i = 0; i < nargs; i++) {
        doc_val a;
        if ((rc = doc_array_at(args, i, &a)))
            return rc;
        /* Counted as it fills so node_free frees what compiled so far. */
        out->nargs = i + 1;
        if ((rc = compile_expr(cc, a, depth + 1, &out->args[i])))
            return rc;
    }
    if (out->op == OP_ROUND && nargs == 2 && out->args[1].op == OP_LITERAL) {
        const cval *d = &out->args[1].lit;
        if (d->kind != CV_INT || d->i < ROUND_DIGITS_MIN || d->i > ROUND_DIGITS_MAX)
            return diag_set(BURROW_EINVAL,
                            "computed '%.*s': the digits of '$round' must be an integer from %d "
                            "to %d",
                            SHOWN(cc->name_len), cc->name, ROUND_DIGITS_MIN, ROUND_DIGITS_MAX);
    }
    return 0;
}

static int compile_expr(const compiler *cc, doc_val v, int depth, node *out)
{
    memset(out, 0, sizeof *out);
    out->op = OP_LITERAL;
    cval *lit = &out->lit;
    switch (doc_type(v)) {
    case DOC_NULL: lit->kind = CV_NULL; return 0;
    case DOC_FALSE:
    case DOC_TRUE: lit->kind = CV_BOOL; return doc_get_bool(v, &lit->b);
    case DOC_INT: lit->kind = CV_INT; return doc_get_int(v, &lit->i);
    case DOC_DOUBLE: lit->kind = CV_DOUBLE; return doc_get_double(v, &lit->d);
    case DOC_STRING: {
        const char *s;
        size_t n;
        int rc = doc_get_string(v, &s, &n);
        if (rc)
            return rc;
        if (n >= 2 && s[0] == '$' && s[1] == '$') {
            s++;
            n--;
        } else if (n >= 1 && s[0] == '$') {
            return compile_path(cc, s + 1, n - 1, out);
        }
        lit->kind = CV_STR;
        lit->s = s;
        lit->len = n;
        return 0;
    }
    case DOC_OBJECT:
        /* Operators nest (the recursion and evaluation depth); operands
         * that are values do not count. */
        if (depth > COMPUTED_MAX_DEPTH)
            return diag_set(BURROW_EINVAL, "computed '%.*s': expressions nest deeper than %d",
                            SHOWN(cc->name_len), cc->name, COMPUTED_MAX_DEPTH);
        return compile_operator(cc, v, depth, out);
    case DOC_ARRAY:
        return bad(cc,
                   "an array is not an expression (operands go in an operator's array, "
                   "like {\"$sum\": [...]})",
                   NULL);
    case DOC_INVALID: break;
    }
    return diag_set(BURROW_ECORRUPT, "computed '%.*s': damaged expression", SHOWN(cc->name_len),
                    cc->name);
}

static int check_name(const char *name, size_t n)
{
    const char *why = NULL;
    if (n == 0)
        why = "a name cannot be empty";
    else if (memchr(name, '.', n))
        why = "a name is a top-level field, without dots";
    else if (name[0] == '$')
        why = "a name cannot start with '$'";
    else if (memchr(name, '\0', n))
        why = "a name cannot contain a NUL character";
    else if (n == 3 && !memcmp(name, "_id", 3))
        why = "the document id cannot be computed";
    if (why)
        return diag_set(BURROW_EINVAL, "computed '%.*s': %s", SHOWN(n), name, why);
    return 0;
}

/* Bytewise, shorter first on a common prefix (doc.h's key order). */
static int key_order(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static void sort_names(computed *c)
{
    /* Insertion sort: a schema has a handful of computed fields. */
    for (int i = 0; i < c->n; i++) {
        int x = i, j = i;
        c->sorted[i] = x;
        while (j > 0 && key_order(c->name[c->sorted[j - 1]], c->name_len[c->sorted[j - 1]],
                                  c->name[x], c->name_len[x]) > 0) {
            c->sorted[j] = c->sorted[j - 1];
            j--;
        }
        c->sorted[j] = x;
    }
}

void computed_free(computed *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n && c->exprs; i++)
        node_free(&c->exprs[i]);
    free(c->exprs);
    free(c->names);
    free(c->name);
    free(c->name_len);
    free(c->sorted);
    free(c->src);
    free(c);
}

static int compile_all(computed *c, doc_val object)
{
    uint32_t n = doc_count(object);
    size_t names_size = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        size_t klen;
        doc_val v;
        int rc = doc_object_at(object, i, &key, &klen, &v);
        if (rc || (rc = check_name(key, klen)))
            return rc;
        names_size += klen + 1;
    }
    c->names = malloc(names_size ? names_size : 1);
    c->name = calloc(n ? n : 1, sizeof *c->name);
    c->name_len = calloc(n ? n : 1, sizeof *c->name_len);
    c->sorted = calloc(n ? n : 1, sizeof *c->sorted);
    c->exprs = calloc(n ? n : 1, sizeof *c->exprs);
    if (!c->names || !c->name || !c->name_len || !c->sorted || !c->exprs)
        return BURROW_ENOMEM;
    char *at = c->names;
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        size_t klen;
        doc_val v;
        int rc = doc_object_at(object, i, &key, &klen, &v);
        if (rc)
            return rc;
        memcpy(at, key, klen);
        at[klen] = '\0';
        c->name[i] = at;
        c->name_len[i] = klen;
        at += klen + 1;
        compiler cc = {.object = object, .name = key, .name_len = klen};
        c->n = (int)i + 1; /* so computed_free frees this tree if it fails half way */
        if ((rc = compile_expr(&cc, v, 1, &c->exprs[i])))
            return rc;
    }
    sort_names(c);
    return 0;
}

int computed_compile(doc_val computed_object, computed **out)
{
    assert(out);
    *out = NULL;
    if (doc_type(computed_object) != DOC_OBJECT)
        return diag_set(BURROW_EINVAL, "computed fields must be an object of name -> expression");
    if (computed_object.len > DOC_MAX_SIZE)
        return diag_set(BURROW_EINVAL, "computed fields: definition too large");
    computed *c = calloc(1, sizeof *c);
    if (!c)
        return BURROW_ENOMEM;
    /* A private, validated copy: every read of it below cannot fail, and
     * the caller's bytes may go away. */
    size_t len = 1 + computed_object.len;
    c->src = malloc(len);
    if (!c->src) {
        free(c);
        return BURROW_ENOMEM;
    }
    c->src[0] = DOC_FORMAT_VERSION;
    memcpy(c->src + 1, computed_object.p, computed_object.len);
    doc_val object;
    int rc = doc_validate(c->src, len);
    if (!rc)
        rc = doc_root(c->src, len, &object);
    if (!rc)
        rc = compile_all(c, object);
    if (rc) {
        computed_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int computed_count(const computed *c) { return c ? c->n : 0; }

const char *computed_name(const computed *c, int i)
{
    assert(c && i >= 0 && i < c->n);
    return c->name[i];
}

/* ---- evaluating ------------------------------------------------------------ */

static void set_null(cval *out) { out->kind = CV_NULL; }
static void set_int(cval *out, int64_t i)
{
    out->kind = CV_INT;
    out->i = i;
}
/* A double that left the double range is not a value a document can hold. */
static void set_double(cval *out, double d)
{
    if (isfinite(d)) {
        out->kind = CV_DOUBLE;
        out->d = d;
    } else {
        out->kind = CV_NULL;
    }
}

static bool is_num(const cval *v) { return v->kind == CV_INT || v->kind == CV_DOUBLE; }
static double as_double(const cval *v) { return v->kind == CV_INT ? (double)v->i : v->d; }

static int from_doc(doc_val v, cval *out)
{
    switch (doc_type(v)) {
    case DOC_NULL: out->kind = CV_NULL; return 0;
    case DOC_FALSE:
    case DOC_TRUE: out->kind = CV_BOOL; return doc_get_bool(v, &out->b);
    case DOC_INT: out->kind = CV_INT; return doc_get_int(v, &out->i);
    case DOC_DOUBLE: out->kind = CV_DOUBLE; return doc_get_double(v, &out->d);
    case DOC_STRING: out->kind = CV_STR; return doc_get_string(v, &out->s, &out->len);
    case DOC_ARRAY:
    case DOC_OBJECT:
        out->kind = CV_VALUE;
        out->v = v;
        return 0;
    case DOC_INVALID: break;
    }
    return diag_set(BURROW_ECORRUPT, "computed fields: damaged value in the document");
}

static int eval(const node *n, doc_val root, buf *scratch, cval *out);

static int eval_sum(const node *n, doc_val root, buf *scratch, cval *out)
{
    int64_t isum = 0;
    double dsum = 0;
    bool is_double = false;
    uint64_t count = 0;
    for (uint32_t k = 0; k < n->nargs; k++) {
        cval a;
        int rc = eval(&n->args[k], root, scratch, &a);
        if (rc)
            return rc;
        if (!is_num(&a))
            continue;
        count++;
        if (!is_double && a.kind == CV_INT) {
            int64_t t;
            if (!__builtin_add_overflow(isum, a.i, &t)) {
                isum = t;
                continue;
            }
        }
        if (!is_double) {
            is_double = true;
            dsum = (double)isum;
        }
        dsum += as_double(&a);
    }
    if (n->op == OP_AVG) {
        if (count == 0)
            set_null(out);
        else
            set_double(out, (is_double ? dsum : (double)isum) / (double)count);
    } else if (is_double) {
        set_double(out, dsum);
    } else {
        set_int(out, isum);
    }
    return 0;
}

/* Evaluates every operand into args[]; *all_numbers says whether each is a
 * number. */
static int eval_numbers(const node *n, doc_val root, buf *scratch, cval *args, bool *all_numbers)
{
    *all_numbers = true;
    for (uint32_t k = 0; k < n->nargs; k++) {
        int rc = eval(&n->args[k], root, scratch, &args[k]);
        if (rc)
            return rc;
        if (!is_num(&args[k]))
            *all_numbers = false;
    }
    return 0;
}

static int eval_mul(const node *n, doc_val root, buf *scratch, cval *out)
{
    int64_t iprod = 1;
    double dprod = 1;
    bool is_double = false;
    for (uint32_t k = 0; k < n->nargs; k++) {
        cval a;
        int rc = eval(&n->args[k], root, scratch, &a);
        if (rc)
            return rc;
        if (!is_num(&a)) {
            set_null(out);
            return 0;
        }
        if (!is_double && a.kind == CV_INT) {
            int64_t t;
            if (!__builtin_mul_overflow(iprod, a.i, &t)) {
                iprod = t;
                continue;
            }
        }
        if (!is_double) {
            is_double = true;
            dprod = (double)iprod;
        }
        dprod *= as_double(&a);
    }
    if (is_double)
        set_double(out, dprod);
    else
        set_int(out, iprod);
    return 0;
}

static int eval_binary(const node *n, doc_val root, buf *scratch, cval *out)
{
    cval a[2];
    bool nums;
    int rc = eval_numbers(n, root, scratch, a, &nums);
    if (rc)
        return rc;
    if (!nums) {
        set_null(out);
        return 0;
    }
    if (n->op == OP_SUB) {
        int64_t t;
        if (a[0].kind == CV_INT && a[1].kind == CV_INT &&
            !__builtin_sub_overflow(a[0].i, a[1].i, &t))
            set_int(out, t);
        else
            set_double(out, as_double(&a[0]) - as_double(&a[1]));
        return 0;
    }
    double den = as_double(&a[1]);
    if (den == 0)
        set_null(out);
    else
        set_double(out, as_double(&a[0]) / den);
    return 0;
}

/* Integers round exactly: 10^20 (the largest power asked for) and every
 * product below fit in 128 bits. */
static void round_int(int64_t x, int64_t digits, cval *out)
{
    if (digits >= 0) {
        set_int(out, x);
        return;
    }
    __int128 p = 1;
    for (int64_t k = 0; k < -digits; k++)
        p *= 10;
    __int128 q = (__int128)x / p, r = (__int128)x % p;
    __int128 twice = 2 * (r < 0 ? -r : r);
    if (twice > p || (twice == p && (q & 1)))
        q += x < 0 ? -1 : 1;
    __int128 res = q * p;
    if (res >= INT64_MIN && res <= INT64_MAX)
        set_int(out, (int64_t)res);
    else
        set_double(out, (double)res);
}

/* Doubles round through printf, which rounds the exact binary value (ties
 * to even), so 2.675 (really 2.67499999...) gives 2.67 and 0.125 gives
 * 0.12, where scaling by 100 and rounding would be off by the error of the
 * multiplication. printf rather than nearbyint also keeps libm out. */
static void round_double(double x, int64_t digits, cval *out)
{
    double scale = 1;
    for (int64_t k = 0; k < -digits; k++)
        scale *= 10; /* exact up to 1e22 */
    double y = digits < 0 ? x / scale : x;
    /* 2^52 and beyond every double is an integer: nothing to round, and
     * the text stays short (at most 16 integer digits + 100 decimals). */
    double mag = y < 0 ? -y : y;
    if (mag < 0x1p52) {
        char text[160];
        snprintf(text, sizeof text, "%.*f", digits > 0 ? (int)digits : 0, y);
        y = strtod(text, NULL);
    }
    double r = digits < 0 ? y * scale : y;
    /* -0.4 rounds to -0, which JSON would show as "-0.0"; a rounded zero
     * is shown as plain zero. */
    set_double(out, r == 0 ? 0.0 : r);
}

static int eval_round(const node *n, doc_val root, buf *scratch, cval *out)
{
    cval a[2];
    bool nums;
    int rc = eval_numbers(n, root, scratch, a, &nums);
    if (rc)
        return rc;
    int64_t digits = 0;
    if (n->nargs == 2) {
        if (a[1].kind != CV_INT || a[1].i < ROUND_DIGITS_MIN || a[1].i > ROUND_DIGITS_MAX)
            nums = false;
        else
            digits = a[1].i;
    }
    if (!nums)
        set_null(out);
    else if (a[0].kind == CV_INT)
        round_int(a[0].i, digits, out);
    else
        round_double(a[0].d, digits, out);
    return 0;
}

/* Where a scratch string starts. An empty buffer has no data pointer, and
 * NULL + 0 is undefined behaviour. */
static const char *scratch_at(const buf *scratch, size_t off)
{
    return scratch->data ? (const char *)scratch->data + off : "";
}

static int append_scratch(buf *scratch, const char *s, size_t n, cval *out)
{
    out->kind = CV_SCRATCH;
    out->off = scratch->size;
    out->len = n;
    return buf_append(scratch, s, n);
}

/* Operands are evaluated first, then joined at the end of the scratch
 * buffer: a nested $concat appends its own result there, which would land
 * in the middle of a result being written. */
static int eval_concat(const node *n, doc_val root, buf *scratch, cval *out)
{
    cval small[8];
    cval *parts = small;
    if (n->nargs > sizeof small / sizeof *small) {
        parts = malloc(n->nargs * sizeof *parts);
        if (!parts)
            return BURROW_ENOMEM;
    }
    int rc = 0;
    size_t total = 0;
    bool null = false;
    for (uint32_t k = 0; k < n->nargs && !rc && !null; k++) {
        cval *p = &parts[k];
        if ((rc = eval(&n->args[k], root, scratch, p)))
            break;
        char num[40];
        switch (p->kind) {
        case CV_STR:
        case CV_SCRATCH: break;
        case CV_INT:
            rc = append_scratch(scratch, num, (size_t)snprintf(num, sizeof num, "%" PRId64, p->i),
                                p);
            break;
        case CV_DOUBLE: rc = append_scratch(scratch, num, json_format_double(p->d, num), p); break;
        default: null = true; break;
        }
        total += p->len;
        if (total > DOC_MAX_SIZE)
            rc = diag_set(BURROW_EVALSIZE, "computed fields: a string longer than %zu bytes",
                          DOC_MAX_SIZE);
    }
    if (!rc && null) {
        set_null(out);
    } else if (!rc && n->nargs == 1) {
        *out = parts[0];
    } else if (!rc && !(rc = buf_reserve(scratch, total))) {
        out->kind = CV_SCRATCH;
        out->off = scratch->size;
        out->len = total;
        for (uint32_t k = 0; k < n->nargs; k++) {
            const char *from =
                parts[k].kind == CV_STR ? parts[k].s : scratch_at(scratch, parts[k].off);
            /* The source is earlier in the buffer or outside it; the
             * destination is past its end: they never overlap. */
            if (parts[k].len) {
                memcpy(scratch->data + scratch->size, from, parts[k].len);
                scratch->size += parts[k].len;
            }
        }
    }
    if (parts != small)
        free(parts);
    return rc;
}

static int eval(const node *n, doc_val root, buf *scratch, cval *out)
{
    memset(out, 0, sizeof *out);
    switch (n->op) {
    case OP_LITERAL: *out = n->lit; return 0;
    case OP_PATH: {
        doc_val v;
        int rc = doc_path_get(root, &n->path, &v);
        if (rc == BURROW_ENOTFOUND) {
            out->kind = CV_MISSING;
            return 0;
        }
        return rc ? rc : from_doc(v, out);
    }
    case OP_CONCAT: return eval_concat(n, root, scratch, out);
    case OP_SUM:
    case OP_AVG: return eval_sum(n, root, scratch, out);
    case OP_MUL: return eval_mul(n, root, scratch, out);
    case OP_SUB:
    case OP_DIV: return eval_binary(n, root, scratch, out);
    case OP_ROUND: return eval_round(n, root, scratch, out);
    }
    return diag_set(BURROW_EINVAL, "computed fields: bad expression node"); /* unreachable */
}

static int write_cval(doc_builder *b, const cval *v, const buf *scratch)
{
    switch (v->kind) {
    case CV_MISSING:
    case CV_NULL: return doc_builder_null(b);
    case CV_BOOL: return doc_builder_bool(b, v->b);
    case CV_INT: return doc_builder_int(b, v->i);
    case CV_DOUBLE: return doc_builder_double(b, v->d);
    case CV_STR: return doc_builder_string(b, v->s, v->len);
    case CV_SCRATCH: return doc_builder_string(b, scratch_at(scratch, v->off), v->len);
    case CV_VALUE: return doc_builder_copy(b, v->v);
    }
    return diag_set(BURROW_EINVAL, "computed fields: bad value"); /* unreachable */
}

/* Is key the name of a computed field? The names are few; bisect anyway so
 * a document of many keys costs log(names) per key. */
static bool is_computed_name(const computed *c, const char *key, size_t klen)
{
    int lo = 0, hi = c->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, i = c->sorted[mid];
        int cmp = key_order(c->name[i], c->name_len[i], key, klen);
        if (cmp == 0)
            return true;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

int computed_apply(const computed *c, doc_val root, doc_builder *b)
{
    assert(c && b);
    if (doc_type(root) != DOC_OBJECT)
        return diag_set(BURROW_ETYPE, "computed fields apply to objects only");
    int rc = doc_builder_begin(b);
    if (rc || (rc = doc_builder_begin_object(b)))
        return rc;
    doc_iter it;
    doc_iter_init(&it, root);
    const char *key;
    size_t klen;
    doc_val v;
    while ((rc = doc_iter_next(&it, &key, &klen, &v)) == 1) {
        if (is_computed_name(c, key, klen))
            continue;
        if ((rc = doc_builder_key(b, key, klen)) || (rc = doc_builder_copy(b, v)))
            return rc;
    }
    if (rc)
        return rc;
    buf scratch;
    buf_init(&scratch);
    for (int i = 0; i < c->n && !rc; i++) {
        cval out;
        if (!(rc = eval(&c->exprs[i], root, &scratch, &out)) &&
            !(rc = doc_builder_key(b, c->name[i], c->name_len[i])))
            rc = write_cval(b, &out, &scratch);
        scratch.size = 0;
    }
    buf_free(&scratch);
    if (rc)
        return rc;
    /* Stored keys skip the computed names, so a duplicate can only come
     * from a damaged document (a valid one has unique keys). */
    rc = doc_builder_end(b);
    return rc == BURROW_EEXIST ? diag_set(BURROW_ECORRUPT, "computed fields: damaged document "
                                                           "(duplicate key)")
                               : rc;
}
