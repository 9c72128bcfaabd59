/*
 * schema.c — compiling a collection schema and checking documents against it.
 *
 * ---------------------------------------------------------------------------
 * The schema language (docs/queries.md copies this). A schema is a JSON
 * object with three members, each optional:
 *
 *   {
 *     "fields": {
 *       "name":  {"type": "string", "required": true, "minLength": 1, "maxLength": 100},
 *       "email": {"type": "string", "unique": true},
 *       "age":   {"type": "integer", "indexed": true, "min": 0, "max": 150},
 *       "address.city": {"type": ["string", "null"]},
 *       "tags":  {"type": "array", "items": "string"},
 *       "status": {"enum": ["open", "closed"]}
 *     },
 *     "additionalFields": true,
 *     "computed": {"total": {"$sum": ["$price", "$tax"]}}
 *   }
 *
 * "fields": an object of field path -> rules. A path is MongoDB dotted
 *   ("address.city", "items.0.sku"): names separated by dots, a name of
 *   digits only also indexes an array. Following a path stops at a value
 *   that is not an object (or an array, for a digits step): the field is
 *   then missing. A name step does not fan out over array elements.
 *   The rules of one field, each optional ({} declares a field, nothing
 *   more):
 *     "type"       a type name or a non-empty array of distinct type names
 *                  (the value must be one of them): "string", "integer"
 *                  (a number stored as an integer: 2 but not 2.0), "number"
 *                  (integer or not), "boolean", "null", "array", "object",
 *                  "any" (the default).
 *     "required"   true: the field must be present (null is present).
 *     "unique"     true: no two documents have equal values here; the
 *                  collection keeps a unique index on the field.
 *     "indexed"    true: the collection keeps an index on the field.
 *                  A unique field is always indexed ("indexed": false with
 *                  "unique": true is an error).
 *     "min", "max" numbers, inclusive bounds on a value that is a number
 *                  (compared exactly, integer or double).
 *     "minLength", "maxLength"
 *                  non-negative integers, inclusive bounds on the length of
 *                  a value that is a string, counted in characters (Unicode
 *                  code points), not bytes.
 *     "items"      a type name or array of type names, as "type": every
 *                  element of a value that is an array must be of one of
 *                  them.
 *     "enum"       a non-empty array of values; the value must equal one of
 *                  them (equality of values: 1 equals 1.0, key order of
 *                  objects does not matter).
 *   min/max, minLength/maxLength and items apply only to values of their
 *   kind: with "type": ["string", "null"] and "minLength": 1 a null passes.
 *   A rule that can never apply to the declared type (min on a string
 *   field) is an error, as are min above max and minLength above maxLength,
 *   and an enum value not of the declared type.
 *   A missing field passes every rule but "required".
 *   "_id", the document id, may be declared; it is a string: its type may
 *   only be "string", it has no sub-fields, and it is already unique and
 *   indexed (so "unique"/"indexed" on it are errors).
 *
 * "additionalFields": true (the default) or false. With false, every
 *   top-level field of a document must be "_id" or the first name of a
 *   declared path ("address.city" declares "address").
 *
 * "computed": an object of name -> expression, evaluated when a document
 *   is read (computed.c describes the expressions). A computed field may
 *   not have the name of a declared top-level field.
 *
 * Any other member, anywhere, is an error: BURROW_EINVAL with "schema:
 * unknown rule 'foo' for field 'age'", "schema: unknown member 'foo'", ...
 *
 * Checking reports the first rule broken, BURROW_ECONSTRAINT with a
 * message naming the field and the rule. Fields are checked in declaration
 * order, each field's rules in the order type, enum, min, max, minLength,
 * maxLength, items; then additionalFields over the document's own order:
 *   field 'name' is required
 *   field 'age': must be integer, found string
 *   field 'address.city': must be string or null, found integer
 *   field 'status': not one of the allowed values
 *   field 'age': 200 is above the maximum 150
 *   field 'age': -1 is below the minimum 0
 *   field 'name': length 0 is below the minimum length 1
 *   field 'name': length 101 is above the maximum length 100
 *   field 'tags': element 2 must be string, found integer   (from 0)
 *   field 'nickname' is not in the schema
 *   document must be an object, found array
 * Found types are named as in "type", a non-integer number as "number",
 * true and false as "boolean".
 * ---------------------------------------------------------------------------
 *
 * A compiled schema owns a validated copy of its source value: bounds and
 * enum values are read from it in place, and schema_doc hands it back for
 * storing.
 */
#include "query/schema.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* Paths and keys are cut to this many bytes in messages, so a long one
 * cannot crowd out the reason in the diagnostics record. */
#define SHOW 100
#define SHOWN(n) ((int)((n) > SHOW ? SHOW : (n)))

/* Type bits; a set of 0 means any type. */
enum {
    T_STRING = 1u << 0,
    T_INTEGER = 1u << 1,
    T_NUMBER = 1u << 2,
    T_BOOLEAN = 1u << 3,
    T_NULL = 1u << 4,
    T_ARRAY = 1u << 5,
    T_OBJECT = 1u << 6,
    T_ANY = 1u << 7,
};

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    {"string", T_STRING}, {"integer", T_INTEGER}, {"number", T_NUMBER}, {"boolean", T_BOOLEAN},
    {"null", T_NULL},     {"array", T_ARRAY},     {"object", T_OBJECT}, {"any", T_ANY},
};
#define NTYPES (sizeof type_names / sizeof *type_names)

typedef struct field {
    const char *text; /* the path as declared, NUL-terminated (in schema.texts) */
    size_t text_len;
    doc_path path;
    unsigned flags;
    unsigned types;      /* 0: any */
    unsigned item_types; /* with has_items; 0: any */
    bool has_items;
    doc_val min, max;         /* .p NULL when absent; into schema.src */
    int64_t min_len, max_len; /* -1 when absent */
    doc_val enum_values;      /* an array, .p NULL when absent */
} field;

typedef struct name_ref {
    const char *s;
    size_t len;
} name_ref;

struct schema {
    uint8_t *src; /* version byte + the schema object */
    size_t src_len;
    int nfields;
    field *fields;
    char *texts;    /* the field paths, NUL-terminated, back to back */
    name_ref *tops; /* distinct first names of the paths, sorted */
    int ntops;
    bool additional;
    computed *computed;
};

/* ---- small helpers -------------------------------------------------------- */

static bool key_is(const char *k, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(k, lit, n) == 0;
}

static int name_order(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* The type of a value as schema messages name it. */
static const char *found_name(doc_val v)
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
    case DOC_INVALID: break;
    }
    return "a damaged value";
}

static bool type_ok(unsigned types, doc_val v)
{
    if (types == 0)
        return true;
    switch (doc_type(v)) {
    case DOC_NULL: return types & T_NULL;
    case DOC_FALSE:
    case DOC_TRUE: return types & T_BOOLEAN;
    case DOC_INT: return types & (T_INTEGER | T_NUMBER);
    case DOC_DOUBLE: return types & T_NUMBER;
    case DOC_STRING: return types & T_STRING;
    case DOC_ARRAY: return types & T_ARRAY;
    case DOC_OBJECT: return types & T_OBJECT;
    case DOC_INVALID: break;
    }
    return false;
}

/* "string", "string or null", "string, integer or null". */
static void describe_types(unsigned types, char *out, size_t cap)
{
    size_t n = 0, left = (size_t)__builtin_popcount(types);
    out[0] = '\0';
    for (size_t t = 0; t < NTYPES; t++) {
        if (!(types & type_names[t].bit))
            continue;
        left--;
        const char *sep = n == 0 ? "" : left == 0 ? " or " : ", ";
        int w = snprintf(out + n, cap - n, "%s%s", sep, type_names[t].name);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

/* A number as JSON writes it: 150, 0.5, 2.0. */
static void format_number(doc_val v, char out[40])
{
    int64_t i;
    double d;
    if (doc_get_int(v, &i) == 0)
        snprintf(out, 40, "%" PRId64, i);
    else if (doc_get_double(v, &d) == 0)
        out[json_format_double(d, out)] = '\0';
    else
        snprintf(out, 40, "?");
}

/* Characters (code points) of valid UTF-8: the bytes that do not continue
 * a sequence. */
static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

/* ---- compiling ------------------------------------------------------------ */

/* BURROW_EINVAL "schema: field '<path>': <why>". */
static int field_error(const field *f, const char *fmt, ...) BURROW_PRINTF(2, 3);

static int field_error(const field *f, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return diag_set(BURROW_EINVAL, "schema: field '%.*s': %s", SHOWN(f->text_len), f->text, why);
}

/* "type" or "items": a type name or a non-empty array of distinct ones. */
static int parse_one_type(const field *f, const char *rule, doc_val v, unsigned *types)
{
    const char *s;
    size_t n;
    if (doc_get_string(v, &s, &n) != 0)
        return field_error(f, "'%s' must be a type name or a non-empty array of type names", rule);
    for (size_t t = 0; t < NTYPES; t++) {
        if (!key_is(s, n, type_names[t].name))
            continue;
        if (*types & type_names[t].bit)
            return field_error(f, "type '%s' is listed twice in '%s'", type_names[t].name, rule);
        *types |= type_names[t].bit;
        return 0;
    }
    return field_error(f,
                       "unknown type '%.*s' in '%s' (expected string, integer, number, boolean, "
                       "null, array, object or any)",
                       SHOWN(n), s, rule);
}

static int parse_types(const field *f, const char *rule, doc_val v, unsigned *out)
{
    unsigned types = 0;
    int rc;
    if (doc_type(v) == DOC_ARRAY) {
        uint32_t n = doc_count(v);
        if (n == 0)
            return field_error(f, "'%s' must be a type name or a non-empty array of type names",
                               rule);
        for (uint32_t i = 0; i < n; i++) {
            doc_val t;
            if ((rc = doc_array_at(v, i, &t)) || (rc = parse_one_type(f, rule, t, &types)))
                return rc;
        }
    } else if ((rc = parse_one_type(f, rule, v, &types))) {
        return rc;
    }
    *out = types & T_ANY ? 0 : types;
    return 0;
}

static int parse_flag(const field *f, const char *rule, doc_val v, bool *out)
{
    if (doc_get_bool(v, out) != 0)
        return field_error(f, "'%s' must be true or false", rule);
    return 0;
}

static int parse_length(const field *f, const char *rule, doc_val v, int64_t *out)
{
    if (doc_get_int(v, out) != 0 || *out < 0)
        return field_error(f, "'%s' must be a non-negative integer", rule);
    return 0;
}

/* Rules that cannot apply to any type the field admits are mistakes. */
static int check_applicable(const field *f, const char *rule, unsigned kind, const char *kind_name)
{
    if (f->types == 0 || (f->types & kind))
        return 0;
    char types[128];
    describe_types(f->types, types, sizeof types);
    return field_error(f, "'%s' applies to %s, but the field's type is %s", rule, kind_name, types);
}

/* The rules that relate to each other, once all are read. */
static int check_consistent(const field *f, bool unique, bool indexed_false)
{
    int rc;
    if (unique && indexed_false)
        return field_error(f, "a unique field is always indexed (drop \"indexed\": false)");
    if (f->min.p && (rc = check_applicable(f, "min", T_INTEGER | T_NUMBER, "numbers")))
        return rc;
    if (f->max.p && (rc = check_applicable(f, "max", T_INTEGER | T_NUMBER, "numbers")))
        return rc;
    if (f->min_len >= 0 && (rc = check_applicable(f, "minLength", T_STRING, "strings")))
        return rc;
    if (f->max_len >= 0 && (rc = check_applicable(f, "maxLength", T_STRING, "strings")))
        return rc;
    if (f->has_items && (rc = check_applicable(f, "items", T_ARRAY, "arrays")))
        return rc;
    if (f->min.p && f->max.p && doc_compare(f->min, f->max) > 0) {
        char lo[40], hi[40];
        format_number(f->min, lo);
        format_number(f->max, hi);
        return field_error(f, "'min' %s is above 'max' %s", lo, hi);
    }
    if (f->min_len >= 0 && f->max_len >= 0 && f->min_len > f->max_len)
        return field_error(f, "'minLength' %" PRId64 " is above 'maxLength' %" PRId64, f->min_len,
                           f->max_len);
    if (f->enum_values.p) {
        for (uint32_t i = 0; i < doc_count(f->enum_values); i++) {
            doc_val e;
            if ((rc = doc_array_at(f->enum_values, i, &e)))
                return rc;
            if (!type_ok(f->types, e)) {
                char types[128];
                describe_types(f->types, types, sizeof types);
                return field_error(f, "enum value %u is %s, not %s", i, found_name(e), types);
            }
        }
    }
    return 0;
}

/* The document id is a string the collection keeps unique and indexed. */
static int check_id_field(field *f, bool unique, bool indexed)
{
    const doc_step *first = &f->path.steps[0];
    if (first->kind != DOC_STEP_KEY || !key_is(first->name, first->len, "_id"))
        return 0;
    if (f->path.nsteps > 1)
        return field_error(f, "the document id '_id' is a string; it has no fields");
    if (f->types != 0 && f->types != T_STRING)
        return field_error(f, "the document id is a string; its type can only be \"string\"");
    if (unique || indexed)
        return field_error(f, "the document id is unique and indexed already");
    f->types = T_STRING;
    return 0;
}

static int compile_field(field *f, doc_val rules)
{
    int rc;
    if (doc_type(rules) != DOC_OBJECT)
        return field_error(f, "the rules of a field must be an object, found %s",
                           found_name(rules));
    f->min_len = f->max_len = -1;
    bool required = false, unique = false, indexed = false, indexed_false = false;
    doc_iter it;
    doc_iter_init(&it, rules);
    const char *k;
    size_t kn;
    doc_val v;
    int more;
    while ((more = doc_iter_next(&it, &k, &kn, &v)) == 1) {
        rc = 0;
        if (key_is(k, kn, "type"))
            rc = parse_types(f, "type", v, &f->types);
        else if (key_is(k, kn, "required"))
            rc = parse_flag(f, "required", v, &required);
        else if (key_is(k, kn, "unique"))
            rc = parse_flag(f, "unique", v, &unique);
        else if (key_is(k, kn, "indexed")) {
            rc = parse_flag(f, "indexed", v, &indexed);
            indexed_false = !rc && !indexed;
        } else if (key_is(k, kn, "min") || key_is(k, kn, "max")) {
            if (!doc_is_number(v))
                return field_error(f, "'%.*s' must be a number", (int)kn, k);
            *(k[1] == 'i' ? &f->min : &f->max) = v;
        } else if (key_is(k, kn, "minLength"))
            rc = parse_length(f, "minLength", v, &f->min_len);
        else if (key_is(k, kn, "maxLength"))
            rc = parse_length(f, "maxLength", v, &f->max_len);
        else if (key_is(k, kn, "items")) {
            rc = parse_types(f, "items", v, &f->item_types);
            f->has_items = true;
        } else if (key_is(k, kn, "enum")) {
            if (doc_type(v) != DOC_ARRAY || doc_count(v) == 0)
                return field_error(f, "'enum' must be a non-empty array of values");
            f->enum_values = v;
        } else
            return diag_set(BURROW_EINVAL, "schema: unknown rule '%.*s' for field '%.*s'",
                            SHOWN(kn), k, SHOWN(f->text_len), f->text);
        if (rc)
            return rc;
    }
    if (more)
        return more;
    f->flags = (required ? SCHEMA_REQUIRED : 0) | (unique ? SCHEMA_UNIQUE | SCHEMA_INDEXED : 0) |
               (indexed ? SCHEMA_INDEXED : 0);
    if ((rc = check_id_field(f, unique, indexed)))
        return rc;
    return check_consistent(f, unique, indexed_false);
}

static int compile_fields(schema *s, doc_val fields)
{
    if (doc_type(fields) != DOC_OBJECT)
        return diag_set(BURROW_EINVAL,
                        "schema: 'fields' must be an object of field path -> rules, found %s",
                        found_name(fields));
    uint32_t n = doc_count(fields);
    size_t texts_size = 0;
    int rc;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t kn;
        doc_val v;
        if ((rc = doc_object_at(fields, i, &k, &kn, &v)))
            return rc;
        texts_size += kn + 1;
    }
    s->fields = calloc(n ? n : 1, sizeof *s->fields);
    s->texts = malloc(texts_size ? texts_size : 1);
    s->tops = calloc(n ? n : 1, sizeof *s->tops);
    if (!s->fields || !s->texts || !s->tops)
        return BURROW_ENOMEM;
    char *at = s->texts;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t kn;
        doc_val v;
        if ((rc = doc_object_at(fields, i, &k, &kn, &v)))
            return rc;
        field *f = &s->fields[i];
        memcpy(at, k, kn);
        at[kn] = '\0';
        f->text = at;
        f->text_len = kn;
        at += kn + 1;
        rc = doc_path_parse(k, kn, DOC_PATH_DOTTED, &f->path);
        if (rc == BURROW_EINVAL) {
            char why[400];
            snprintf(why, sizeof why, "%s", burrow_errmsg());
            return diag_set(BURROW_EINVAL, "schema: bad field %s", why);
        }
        if (rc)
            return rc;
        s->nfields = (int)i + 1; /* so schema_free frees this path if the rules fail */
        if ((rc = compile_field(f, v)))
            return rc;
    }
    return 0;
}

/* The distinct first names of the declared paths, sorted, for
 * additionalFields and for the computed names. */
static void collect_tops(schema *s)
{
    for (int i = 0; i < s->nfields; i++) {
        const doc_step *st = &s->fields[i].path.steps[0];
        int lo = 0, hi = s->ntops;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (name_order(s->tops[mid].s, s->tops[mid].len, st->name, st->len) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < s->ntops && name_order(s->tops[lo].s, s->tops[lo].len, st->name, st->len) == 0)
            continue;
        memmove(&s->tops[lo + 1], &s->tops[lo], (size_t)(s->ntops - lo) * sizeof *s->tops);
        s->tops[lo] = (name_ref){st->name, st->len};
        s->ntops++;
    }
}

static bool is_top(const schema *s, const char *k, size_t kn)
{
    int lo = 0, hi = s->ntops;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = name_order(s->tops[mid].s, s->tops[mid].len, k, kn);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int compile_computed(schema *s, doc_val v)
{
    int rc = computed_compile(v, &s->computed);
    if (rc)
        return rc;
    int n = computed_count(s->computed);
    for (int i = 0; i < n; i++) {
        const char *name = computed_name(s->computed, i);
        if (is_top(s, name, strlen(name)))
            return diag_set(BURROW_EINVAL, "schema: '%.*s' is both a field and a computed field",
                            SHOWN(strlen(name)), name);
    }
    if (n == 0) {
        computed_free(s->computed);
        s->computed = NULL;
    }
    return 0;
}

static int compile_schema(schema *s, doc_val root)
{
    if (doc_type(root) != DOC_OBJECT)
        return diag_set(BURROW_EINVAL, "schema: must be an object, found %s", found_name(root));
    doc_val fields = {0}, comp = {0}, additional = {0};
    doc_iter it;
    doc_iter_init(&it, root);
    const char *k;
    size_t kn;
    doc_val v;
    int rc;
    while ((rc = doc_iter_next(&it, &k, &kn, &v)) == 1) {
        if (key_is(k, kn, "fields"))
            fields = v;
        else if (key_is(k, kn, "computed"))
            comp = v;
        else if (key_is(k, kn, "additionalFields"))
            additional = v;
        else
            return diag_set(BURROW_EINVAL,
                            "schema: unknown member '%.*s' (expected fields, additionalFields or "
                            "computed)",
                            SHOWN(kn), k);
    }
    if (rc)
        return rc;
    s->additional = true;
    if (additional.p && doc_get_bool(additional, &s->additional) != 0)
        return diag_set(BURROW_EINVAL, "schema: 'additionalFields' must be true or false");
    if (fields.p && (rc = compile_fields(s, fields)))
        return rc;
    if (s->tops)
        collect_tops(s);
    if (comp.p && (rc = compile_computed(s, comp)))
        return rc;
    return 0;
}

void schema_free(schema *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nfields; i++)
        doc_path_free(&s->fields[i].path);
    free(s->fields);
    free(s->texts);
    free(s->tops);
    computed_free(s->computed);
    free(s->src);
    free(s);
}

int schema_compile(doc_val schema_object, schema **out)
{
    assert(out);
    *out = NULL;
    if (schema_object.len > DOC_MAX_SIZE)
        return diag_set(BURROW_EINVAL, "schema: too large");
    schema *s = calloc(1, sizeof *s);
    if (!s)
        return BURROW_ENOMEM;
    /* A private, validated copy: reads of it cannot fail later, and the
     * caller's bytes may go away. */
    s->src_len = 1 + schema_object.len;
    s->src = malloc(s->src_len);
    if (!s->src) {
        free(s);
        return BURROW_ENOMEM;
    }
    s->src[0] = DOC_FORMAT_VERSION;
    memcpy(s->src + 1, schema_object.p, schema_object.len);
    doc_val root;
    int rc = doc_validate(s->src, s->src_len);
    if (!rc)
        rc = doc_root(s->src, s->src_len, &root);
    if (!rc)
        rc = compile_schema(s, root);
    if (rc) {
        schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- checking ------------------------------------------------------------- */

static int broken(const field *f, const char *fmt, ...) BURROW_PRINTF(2, 3);

static int broken(const field *f, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return diag_set(BURROW_ECONSTRAINT, "field '%.*s': %s", SHOWN(f->text_len), f->text, why);
}

static int check_type(const field *f, unsigned types, doc_val v, const char *what)
{
    if (type_ok(types, v))
        return 0;
    char names[128];
    describe_types(types, names, sizeof names);
    return broken(f, "%smust be %s, found %s", what, names, found_name(v));
}

static int check_enum(const field *f, doc_val v)
{
    uint32_t n = doc_count(f->enum_values);
    for (uint32_t i = 0; i < n; i++) {
        doc_val e;
        int rc = doc_array_at(f->enum_values, i, &e);
        if (rc)
            return rc;
        if (doc_equal(v, e))
            return 0;
    }
    return broken(f, "not one of the allowed values");
}

static int check_bounds(const field *f, doc_val v)
{
    char value[40], bound[40];
    if (f->min.p && doc_compare(v, f->min) < 0) {
        format_number(v, value);
        format_number(f->min, bound);
        return broken(f, "%s is below the minimum %s", value, bound);
    }
    if (f->max.p && doc_compare(v, f->max) > 0) {
        format_number(v, value);
        format_number(f->max, bound);
        return broken(f, "%s is above the maximum %s", value, bound);
    }
    return 0;
}

static int check_length(const field *f, doc_val v)
{
    const char *s;
    size_t n;
    int rc = doc_get_string(v, &s, &n);
    if (rc)
        return rc;
    /* A string of n bytes has between n/4 and n characters (UTF-8 takes
     * 1 to 4 bytes for each): most strings pass without counting. */
    if ((f->max_len < 0 || n <= (uint64_t)f->max_len) &&
        (f->min_len < 0 || n / 4 >= (uint64_t)f->min_len))
        return 0;
    n = utf8_length(s, n);
    if (f->min_len >= 0 && n < (uint64_t)f->min_len)
        return broken(f, "length %zu is below the minimum length %" PRId64, n, f->min_len);
    if (f->max_len >= 0 && n > (uint64_t)f->max_len)
        return broken(f, "length %zu is above the maximum length %" PRId64, n, f->max_len);
    return 0;
}

static int check_items(const field *f, doc_val v)
{
    doc_iter it;
    doc_iter_init(&it, v);
    doc_val e;
    int rc;
    for (uint32_t i = 0; (rc = doc_iter_next(&it, NULL, NULL, &e)) == 1; i++) {
        char what[32];
        snprintf(what, sizeof what, "element %u ", i);
        if ((rc = check_type(f, f->item_types, e, what)))
            return rc;
    }
    return rc;
}

static int check_field(const field *f, doc_val v)
{
    int rc;
    if ((rc = check_type(f, f->types, v, "")))
        return rc;
    if (f->enum_values.p && (rc = check_enum(f, v)))
        return rc;
    enum doc_type t = doc_type(v);
    if ((t == DOC_INT || t == DOC_DOUBLE) && (rc = check_bounds(f, v)))
        return rc;
    if (t == DOC_STRING && (f->min_len >= 0 || f->max_len >= 0) && (rc = check_length(f, v)))
        return rc;
    if (t == DOC_ARRAY && f->has_items && f->item_types && (rc = check_items(f, v)))
        return rc;
    if (t == DOC_INVALID)
        return diag_set(BURROW_ECORRUPT, "field '%.*s': damaged value", SHOWN(f->text_len),
                        f->text);
    return 0;
}

static int check_additional(const schema *s, doc_val root)
{
    doc_iter it;
    doc_iter_init(&it, root);
    const char *k;
    size_t kn;
    doc_val v;
    int rc;
    while ((rc = doc_iter_next(&it, &k, &kn, &v)) == 1) {
        if (!key_is(k, kn, "_id") && !is_top(s, k, kn))
            return diag_set(BURROW_ECONSTRAINT, "field '%.*s' is not in the schema", SHOWN(kn), k);
    }
    return rc;
}

int schema_check(const schema *s, doc_val root)
{
    assert(s);
    if (doc_type(root) != DOC_OBJECT)
        return diag_set(BURROW_ECONSTRAINT, "document must be an object, found %s",
                        found_name(root));
    for (int i = 0; i < s->nfields; i++) {
        const field *f = &s->fields[i];
        doc_val v;
        int rc = doc_path_get(root, &f->path, &v);
        if (rc == BURROW_ENOTFOUND) {
            if (f->flags & SCHEMA_REQUIRED)
                return diag_set(BURROW_ECONSTRAINT, "field '%.*s' is required", SHOWN(f->text_len),
                                f->text);
            continue;
        }
        if (rc || (rc = check_field(f, v)))
            return rc;
    }
    return s->additional ? 0 : check_additional(s, root);
}

/* ---- accessors -------------------------------------------------------------- */

int schema_nfields(const schema *s) { return s->nfields; }

const char *schema_field_path(const schema *s, int i)
{
    assert(i >= 0 && i < s->nfields);
    return s->fields[i].text;
}

const doc_path *schema_field_doc_path(const schema *s, int i)
{
    assert(i >= 0 && i < s->nfields);
    return &s->fields[i].path;
}

unsigned schema_field_flags(const schema *s, int i)
{
    assert(i >= 0 && i < s->nfields);
    return s->fields[i].flags;
}

bool schema_additional_fields(const schema *s) { return s->additional; }

const computed *schema_computed(const schema *s) { return s->computed; }

const uint8_t *schema_doc(const schema *s, size_t *len)
{
    *len = s->src_len;
    return s->src;
}

int schema_to_json(const schema *s, unsigned json_flags, buf *out)
{
    doc_val root;
    int rc = doc_root(s->src, s->src_len, &root);
    return rc ? rc : json_write(root, json_flags, NULL, out);
}
