/*
 * test_schema.c — collection schemas and computed fields (query/schema.c,
 * query/computed.c): every rule passing and failing with its exact message,
 * malformed schemas and expressions with theirs, computed fields over a
 * table of documents, and damaged stored schemas refused without reading
 * outside them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "doc/doc.h"
#include "query/computed.h"
#include "query/schema.h"
#include "testutil.h"

/* Parse JSON text into b and return its root (valid until b's next use). */
static doc_val parse(doc_builder *b, const char *json)
{
    const uint8_t *d;
    size_t n;
    doc_val v;
    int rc = json_parse(json, strlen(json), NULL, b);
    if (rc)
        fail_msg("json_parse(%s): %s", json, burrow_errmsg());
    assert_int_equal(doc_builder_finish(b, &d, &n), 0);
    assert_int_equal(doc_root(d, n, &v), 0);
    return v;
}

/* The compact JSON of v, NUL-terminated, in out (reset first). */
static const char *to_json(doc_val v, buf *out)
{
    out->size = 0;
    assert_int_equal(json_write(v, 0, NULL, out), 0);
    assert_int_equal(buf_putc(out, 0), 0);
    return (const char *)out->data;
}

static schema *compile_ok(const char *json)
{
    doc_builder b;
    doc_builder_init(&b);
    schema *s = NULL;
    int rc = schema_compile(parse(&b, json), &s);
    if (rc)
        fail_msg("schema_compile(%s): %d %s", json, rc, burrow_errmsg());
    doc_builder_free(&b);
    return s;
}

/* ---- checking: every rule ----------------------------------------------- */

typedef struct check_case {
    const char *schema;
    const char *doc;
    const char *error; /* NULL: the document passes */
} check_case;

#define PERSON                                                                                     \
    "{\"fields\": {"                                                                               \
    "\"name\": {\"type\": \"string\", \"required\": true, \"minLength\": 1, \"maxLength\": 5},"    \
    "\"email\": {\"type\": \"string\", \"unique\": true},"                                         \
    "\"age\": {\"type\": \"integer\", \"indexed\": true, \"min\": 0, \"max\": 150},"               \
    "\"price\": {\"type\": \"number\", \"min\": -0.5, \"max\": 1e3},"                              \
    "\"address.city\": {\"type\": [\"string\", \"null\"]},"                                        \
    "\"tags\": {\"type\": \"array\", \"items\": \"string\"},"                                      \
    "\"status\": {\"enum\": [\"open\", \"closed\", 3, {\"a\": [1, 2]}]}"                           \
    "}}"

static const check_case check_cases[] = {
    /* passing documents */
    {PERSON, "{\"name\": \"ann\"}", NULL},
    {PERSON,
     "{\"_id\": \"x\", \"name\": \"ann\", \"email\": \"a@b\", \"age\": 0, \"price\": 1000, "
     "\"address\": {\"city\": null}, \"tags\": [], \"status\": \"open\", \"more\": 1}",
     NULL},
    {PERSON, "{\"name\": \"ann\", \"age\": 150, \"price\": -0.5}", NULL},
    {PERSON, "{\"name\": \"ann\", \"price\": 7}", NULL}, /* integer is a number */
    {PERSON, "{\"name\": \"ann\", \"price\": 999.99}", NULL},
    {PERSON, "{\"name\": \"héllo\"}", NULL},                     /* 5 characters, 6 bytes */
    {PERSON, "{\"name\": \"日本語日本\"}", NULL},                /* 5 characters, 15 bytes */
    {PERSON, "{\"name\": \"x\", \"address\": \"paris\"}", NULL}, /* address.city missing */
    {PERSON, "{\"name\": \"x\", \"address\": {\"city\": \"paris\"}}", NULL},
    /* a name step does not fan out over an array's elements */
    {PERSON, "{\"name\": \"x\", \"address\": [{\"city\": 1}]}", NULL},
    {PERSON, "{\"name\": \"x\", \"tags\": [\"a\", \"b\"]}", NULL},
    {PERSON, "{\"name\": \"x\", \"status\": 3.0}", NULL}, /* 3 equals 3.0 */
    {PERSON, "{\"name\": \"x\", \"status\": {\"a\": [1, 2.0]}}", NULL},
    {PERSON, "{\"name\": \"x\", \"status\": \"closed\"}", NULL},
    {PERSON, "{\"name\": \"x\", \"email\": null}", "field 'email': must be string, found null"},

    /* required */
    {PERSON, "{}", "field 'name' is required"},
    {PERSON, "{\"nam\": \"ann\"}", "field 'name' is required"},
    {"{\"fields\": {\"a.b\": {\"required\": true}}}", "{\"a\": 1}", "field 'a.b' is required"},
    {"{\"fields\": {\"a.b\": {\"required\": true}}}", "{\"a\": {\"b\": null}}", NULL},
    {"{\"fields\": {\"a\": {\"required\": true}}}", "{\"a\": null}", NULL},

    /* type */
    {PERSON, "{\"name\": 5}", "field 'name': must be string, found integer"},
    {PERSON, "{\"name\": \"x\", \"age\": \"12\"}", "field 'age': must be integer, found string"},
    {PERSON, "{\"name\": \"x\", \"age\": 12.0}", "field 'age': must be integer, found number"},
    {PERSON, "{\"name\": \"x\", \"age\": true}", "field 'age': must be integer, found boolean"},
    {PERSON, "{\"name\": \"x\", \"price\": \"1\"}", "field 'price': must be number, found string"},
    {PERSON, "{\"name\": \"x\", \"address\": {\"city\": 7}}",
     "field 'address.city': must be string or null, found integer"},
    {PERSON, "{\"name\": \"x\", \"tags\": {}}", "field 'tags': must be array, found object"},
    {"{\"fields\": {\"a\": {\"type\": [\"boolean\", \"object\", \"null\"]}}}", "{\"a\": false}",
     NULL},
    {"{\"fields\": {\"a\": {\"type\": [\"boolean\", \"object\", \"null\"]}}}", "{\"a\": {}}", NULL},
    {"{\"fields\": {\"a\": {\"type\": [\"object\", \"null\", \"boolean\"]}}}", "{\"a\": []}",
     "field 'a': must be boolean, null or object, found array"},
    {"{\"fields\": {\"a\": {\"type\": \"any\"}}}", "{\"a\": [1]}", NULL},
    {"{\"fields\": {\"a\": {\"type\": [\"any\", \"string\"]}}}", "{\"a\": 1}", NULL},
    {"{\"fields\": {\"_id\": {\"type\": \"string\"}}}", "{\"_id\": 1}",
     "field '_id': must be string, found integer"},
    {"{\"fields\": {\"_id\": {}}}", "{\"_id\": [\"x\"]}",
     "field '_id': must be string, found array"},

    /* min / max, exact across integers and doubles */
    {PERSON, "{\"name\": \"x\", \"age\": -1}", "field 'age': -1 is below the minimum 0"},
    {PERSON, "{\"name\": \"x\", \"age\": 200}", "field 'age': 200 is above the maximum 150"},
    {PERSON, "{\"name\": \"x\", \"price\": -0.75}",
     "field 'price': -0.75 is below the minimum -0.5"},
    {PERSON, "{\"name\": \"x\", \"price\": -1}", "field 'price': -1 is below the minimum -0.5"},
    {PERSON, "{\"name\": \"x\", \"price\": 1000.5}",
     "field 'price': 1000.5 is above the maximum 1000.0"},
    {"{\"fields\": {\"n\": {\"max\": 9007199254740992}}}", "{\"n\": 9007199254740993}",
     "field 'n': 9007199254740993 is above the maximum 9007199254740992"},
    {"{\"fields\": {\"n\": {\"max\": 9007199254740992.0}}}", "{\"n\": 9007199254740993}",
     "field 'n': 9007199254740993 is above the maximum 9007199254740992.0"},
    {"{\"fields\": {\"n\": {\"min\": 1}}}", "{\"n\": \"0\"}", NULL}, /* min is for numbers */
    {"{\"fields\": {\"n\": {\"type\": [\"integer\", \"null\"], \"min\": 1}}}", "{\"n\": null}",
     NULL},

    /* minLength / maxLength in characters */
    {PERSON, "{\"name\": \"\"}", "field 'name': length 0 is below the minimum length 1"},
    {PERSON, "{\"name\": \"abcdef\"}", "field 'name': length 6 is above the maximum length 5"},
    {PERSON, "{\"name\": \"日本語日本語\"}",
     "field 'name': length 6 is above the maximum length 5"},
    {"{\"fields\": {\"s\": {\"minLength\": 3}}}", "{\"s\": \"éé\"}",
     "field 's': length 2 is below the minimum length 3"},
    {"{\"fields\": {\"s\": {\"minLength\": 3}}}", "{\"s\": \"😀😀😀\"}", NULL},
    {"{\"fields\": {\"s\": {\"maxLength\": 0}}}", "{\"s\": \"\"}", NULL},
    {"{\"fields\": {\"s\": {\"maxLength\": 0}}}", "{\"s\": [1, 2]}", NULL},

    /* items */
    {PERSON, "{\"name\": \"x\", \"tags\": [\"a\", \"b\", 3]}",
     "field 'tags': element 2 must be string, found integer"},
    {"{\"fields\": {\"t\": {\"items\": [\"integer\", \"null\"]}}}", "{\"t\": [1, null, 2]}", NULL},
    {"{\"fields\": {\"t\": {\"items\": [\"integer\", \"null\"]}}}", "{\"t\": [1, 2.5]}",
     "field 't': element 1 must be integer or null, found number"},
    {"{\"fields\": {\"t\": {\"items\": \"any\"}}}", "{\"t\": [1, \"a\"]}", NULL},
    {"{\"fields\": {\"t\": {\"items\": \"string\"}}}", "{\"t\": \"abc\"}", NULL},

    /* enum */
    {PERSON, "{\"name\": \"x\", \"status\": \"OPEN\"}",
     "field 'status': not one of the allowed values"},
    {PERSON, "{\"name\": \"x\", \"status\": null}",
     "field 'status': not one of the allowed values"},
    {PERSON, "{\"name\": \"x\", \"status\": {\"a\": [2, 1]}}",
     "field 'status': not one of the allowed values"},
    {"{\"fields\": {\"e\": {\"enum\": [{\"x\": 1, \"y\": 2}]}}}", "{\"e\": {\"y\": 2, \"x\": 1}}",
     NULL},

    /* the order of checks: declared fields first, in order; type before the rest */
    {PERSON, "{\"age\": -5}", "field 'name' is required"},
    {PERSON, "{\"name\": \"\", \"age\": -5}",
     "field 'name': length 0 is below the minimum length 1"},
    {"{\"fields\": {\"a\": {\"type\": \"integer\", \"enum\": [1], \"min\": 5}}}", "{\"a\": 2}",
     "field 'a': not one of the allowed values"},

    /* dotted paths through arrays and digits */
    {"{\"fields\": {\"items.0.sku\": {\"type\": \"string\", \"required\": true}}}",
     "{\"items\": [{\"sku\": \"a\"}, {\"sku\": 2}]}", NULL},
    {"{\"fields\": {\"items.1.sku\": {\"type\": \"string\"}}}",
     "{\"items\": [{\"sku\": \"a\"}, {\"sku\": 2}]}",
     "field 'items.1.sku': must be string, found integer"},
    {"{\"fields\": {\"m.1\": {\"type\": \"string\"}}}", "{\"m\": {\"1\": 5}}",
     "field 'm.1': must be string, found integer"},
    {"{\"fields\": {\"a.b.c\": {\"type\": \"integer\"}}}", "{\"a\": {\"b\": {\"c\": \"deep\"}}}",
     "field 'a.b.c': must be integer, found string"},

    /* additionalFields */
    {"{\"fields\": {\"name\": {}, \"address.city\": {}}, \"additionalFields\": false}",
     "{\"_id\": \"1\", \"name\": 1, \"address\": {\"zip\": 5}}", NULL},
    {"{\"fields\": {\"name\": {}}, \"additionalFields\": false}", "{\"name\": 1, \"nickname\": 2}",
     "field 'nickname' is not in the schema"},
    {"{\"fields\": {\"name\": {}}, \"additionalFields\": false}", "{\"Name\": 1}",
     "field 'Name' is not in the schema"},
    {"{\"additionalFields\": false}", "{\"_id\": \"a\"}", NULL},
    {"{\"additionalFields\": false}", "{\"a\": 1}", "field 'a' is not in the schema"},
    {"{\"additionalFields\": false, \"computed\": {\"t\": {\"$sum\": [\"$a\"]}}}", "{\"t\": 1}",
     "field 't' is not in the schema"},
    {"{\"fields\": {\"name\": {}}, \"additionalFields\": true}", "{\"x\": 1}", NULL},

    /* the document itself */
    {"{}", "[1]", "document must be an object, found array"},
    {"{}", "{}", NULL},
};

static void test_check_table(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    for (size_t i = 0; i < sizeof check_cases / sizeof *check_cases; i++) {
        const check_case *c = &check_cases[i];
        schema *s = compile_ok(c->schema);
        int rc = schema_check(s, parse(&b, c->doc));
        if (!c->error && rc != 0)
            fail_msg("case %zu %s: expected to pass, got %d %s", i, c->doc, rc, burrow_errmsg());
        if (c->error && (rc != BURROW_ECONSTRAINT || strcmp(burrow_errmsg(), c->error) != 0))
            fail_msg("case %zu %s: expected '%s', got %d '%s'", i, c->doc, c->error, rc,
                     burrow_errmsg());
        schema_free(s);
    }
    doc_builder_free(&b);
}

/* ---- malformed schemas -------------------------------------------------- */

typedef struct bad_case {
    const char *json;
    const char *error;
} bad_case;

static const bad_case bad_schemas[] = {
    {"[]", "schema: must be an object, found array"},
    {"{\"field\": {}}",
     "schema: unknown member 'field' (expected fields, additionalFields or computed)"},
    {"{\"fields\": []}", "schema: 'fields' must be an object of field path -> rules, found array"},
    {"{\"additionalFields\": 0}", "schema: 'additionalFields' must be true or false"},
    {"{\"fields\": {\"age\": {\"foo\": 1}}}", "schema: unknown rule 'foo' for field 'age'"},
    {"{\"fields\": {\"age\": {\"type\": \"integer\", \"Min\": 1}}}",
     "schema: unknown rule 'Min' for field 'age'"},
    {"{\"fields\": {\"age\": \"integer\"}}",
     "schema: field 'age': the rules of a field must be an object, found string"},
    {"{\"fields\": {\"age\": {\"type\": \"int\"}}}",
     "schema: field 'age': unknown type 'int' in 'type' (expected string, integer, number, "
     "boolean, null, array, object or any)"},
    {"{\"fields\": {\"age\": {\"type\": []}}}",
     "schema: field 'age': 'type' must be a type name or a non-empty array of type names"},
    {"{\"fields\": {\"age\": {\"type\": 3}}}",
     "schema: field 'age': 'type' must be a type name or a non-empty array of type names"},
    {"{\"fields\": {\"age\": {\"type\": [\"string\", 3]}}}",
     "schema: field 'age': 'type' must be a type name or a non-empty array of type names"},
    {"{\"fields\": {\"age\": {\"type\": [\"null\", \"null\"]}}}",
     "schema: field 'age': type 'null' is listed twice in 'type'"},
    {"{\"fields\": {\"t\": {\"items\": \"strings\"}}}",
     "schema: field 't': unknown type 'strings' in 'items' (expected string, integer, number, "
     "boolean, null, array, object or any)"},
    {"{\"fields\": {\"a\": {\"required\": 1}}}",
     "schema: field 'a': 'required' must be true or false"},
    {"{\"fields\": {\"a\": {\"unique\": \"yes\"}}}",
     "schema: field 'a': 'unique' must be true or false"},
    {"{\"fields\": {\"a\": {\"indexed\": null}}}",
     "schema: field 'a': 'indexed' must be true or false"},
    {"{\"fields\": {\"a\": {\"unique\": true, \"indexed\": false}}}",
     "schema: field 'a': a unique field is always indexed (drop \"indexed\": false)"},
    {"{\"fields\": {\"a\": {\"min\": \"1\"}}}", "schema: field 'a': 'min' must be a number"},
    {"{\"fields\": {\"a\": {\"max\": null}}}", "schema: field 'a': 'max' must be a number"},
    {"{\"fields\": {\"a\": {\"min\": 5, \"max\": 4.5}}}",
     "schema: field 'a': 'min' 5 is above 'max' 4.5"},
    {"{\"fields\": {\"a\": {\"minLength\": -1}}}",
     "schema: field 'a': 'minLength' must be a non-negative integer"},
    {"{\"fields\": {\"a\": {\"maxLength\": 2.0}}}",
     "schema: field 'a': 'maxLength' must be a non-negative integer"},
    {"{\"fields\": {\"a\": {\"minLength\": 3, \"maxLength\": 2}}}",
     "schema: field 'a': 'minLength' 3 is above 'maxLength' 2"},
    {"{\"fields\": {\"a\": {\"type\": \"string\", \"min\": 1}}}",
     "schema: field 'a': 'min' applies to numbers, but the field's type is string"},
    {"{\"fields\": {\"a\": {\"type\": [\"boolean\", \"null\"], \"max\": 1}}}",
     "schema: field 'a': 'max' applies to numbers, but the field's type is boolean or null"},
    {"{\"fields\": {\"a\": {\"type\": \"integer\", \"maxLength\": 1}}}",
     "schema: field 'a': 'maxLength' applies to strings, but the field's type is integer"},
    {"{\"fields\": {\"a\": {\"type\": \"object\", \"items\": \"string\"}}}",
     "schema: field 'a': 'items' applies to arrays, but the field's type is object"},
    {"{\"fields\": {\"a\": {\"enum\": []}}}",
     "schema: field 'a': 'enum' must be a non-empty array of values"},
    {"{\"fields\": {\"a\": {\"enum\": \"x\"}}}",
     "schema: field 'a': 'enum' must be a non-empty array of values"},
    {"{\"fields\": {\"a\": {\"type\": \"integer\", \"enum\": [1, \"2\"]}}}",
     "schema: field 'a': enum value 1 is string, not integer"},
    {"{\"fields\": {\"a..b\": {}}}", "schema: bad field path 'a..b': empty step at column 3"},
    {"{\"fields\": {\"\": {}}}", "schema: bad field path '': empty step at column 1"},
    {"{\"fields\": {\"_id\": {\"type\": \"integer\"}}}",
     "schema: field '_id': the document id is a string; its type can only be \"string\""},
    {"{\"fields\": {\"_id\": {\"type\": [\"string\", \"null\"]}}}",
     "schema: field '_id': the document id is a string; its type can only be \"string\""},
    {"{\"fields\": {\"_id\": {\"unique\": true}}}",
     "schema: field '_id': the document id is unique and indexed already"},
    {"{\"fields\": {\"_id.x\": {}}}",
     "schema: field '_id.x': the document id '_id' is a string; it has no fields"},
    {"{\"fields\": {\"_id\": {\"min\": 1}}}",
     "schema: field '_id': 'min' applies to numbers, but the field's type is string"},
    {"{\"fields\": {\"total\": {}}, \"computed\": {\"total\": {\"$sum\": [1]}}}",
     "schema: 'total' is both a field and a computed field"},
    {"{\"fields\": {\"a.b\": {}}, \"computed\": {\"a\": \"$c\"}}",
     "schema: 'a' is both a field and a computed field"},
    {"{\"computed\": {\"total\": {\"$foo\": [1]}}}", "computed 'total': unknown operator '$foo'"},
    {"{\"computed\": []}", "computed fields must be an object of name -> expression"},
};

static void test_malformed_schemas(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    for (size_t i = 0; i < sizeof bad_schemas / sizeof *bad_schemas; i++) {
        schema *s = (schema *)&b; /* must be reset to NULL */
        int rc = schema_compile(parse(&b, bad_schemas[i].json), &s);
        if (rc != BURROW_EINVAL || strcmp(burrow_errmsg(), bad_schemas[i].error) != 0)
            fail_msg("case %zu %s: expected '%s', got %d '%s'", i, bad_schemas[i].json,
                     bad_schemas[i].error, rc, burrow_errmsg());
        assert_null(s);
    }
    doc_builder_free(&b);
}

/* ---- accessors, flags, round trip ---------------------------------------- */

static void test_fields_and_round_trip(void **state)
{
    (void)state;
    schema *s = compile_ok(PERSON);
    assert_int_equal(schema_nfields(s), 7);
    static const char *const paths[] = {"name",         "email", "age",   "price",
                                        "address.city", "tags",  "status"};
    static const unsigned flags[] = {
        SCHEMA_REQUIRED, SCHEMA_UNIQUE | SCHEMA_INDEXED, SCHEMA_INDEXED, 0, 0, 0, 0};
    for (int i = 0; i < 7; i++) {
        assert_string_equal(schema_field_path(s, i), paths[i]);
        assert_int_equal(schema_field_flags(s, i), flags[i]);
    }
    const doc_path *p = schema_field_doc_path(s, 4);
    assert_int_equal(p->nsteps, 2);
    assert_memory_equal(p->steps[1].name, "city", 4);
    assert_true(schema_additional_fields(s));
    assert_null(schema_computed(s));

    /* Stored and compiled again: the same bytes, the same JSON. */
    size_t len;
    const uint8_t *d = schema_doc(s, &len);
    assert_int_equal(doc_validate(d, len), 0);
    doc_val root;
    assert_int_equal(doc_root(d, len, &root), 0);
    schema *again;
    assert_int_equal(schema_compile(root, &again), 0);
    size_t len2;
    const uint8_t *d2 = schema_doc(again, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(d, d2, len);
    buf j1 = {0}, j2 = {0};
    assert_int_equal(schema_to_json(s, 0, &j1), 0);
    assert_int_equal(schema_to_json(again, 0, &j2), 0);
    assert_int_equal(j1.size, j2.size);
    assert_memory_equal(j1.data, j2.data, j1.size);
    assert_memory_equal(j1.data, "{\"fields\":{\"name\":{", 19);
    buf_free(&j1);
    buf_free(&j2);
    schema_free(again);
    schema_free(s);

    s = compile_ok("{\"additionalFields\": false, \"computed\": {\"t\": 1, \"u\": \"$a\"}}");
    assert_int_equal(schema_nfields(s), 0);
    assert_false(schema_additional_fields(s));
    assert_non_null(schema_computed(s));
    assert_int_equal(computed_count(schema_computed(s)), 2);
    assert_string_equal(computed_name(schema_computed(s), 1), "u");
    schema_free(s);

    s = compile_ok("{\"computed\": {}}");
    assert_null(schema_computed(s));
    schema_free(s);
    schema_free(NULL);
}

/* ---- computed fields ---------------------------------------------------- */

typedef struct apply_case {
    const char *computed;
    const char *doc;
    const char *expect; /* compact JSON of computed_apply's output */
} apply_case;

#define NAME_TOTAL                                                                                 \
    "{\"full_name\": {\"$concat\": [\"$first\", \" \", \"$last\"]},"                               \
    " \"total\": {\"$sum\": [\"$price\", \"$tax\"]},"                                              \
    " \"mean\": {\"$avg\": [\"$a\", \"$b\", \"$c\"]}}"

static const apply_case apply_cases[] = {
    {NAME_TOTAL,
     "{\"first\": \"Ada\", \"last\": \"Lovelace\", \"price\": 10, \"tax\": 2, \"a\": 1, "
     "\"b\": 2, \"c\": 4}",
     "{\"first\":\"Ada\",\"last\":\"Lovelace\",\"price\":10,\"tax\":2,\"a\":1,\"b\":2,\"c\":4,"
     "\"full_name\":\"Ada Lovelace\",\"total\":12,\"mean\":2.3333333333333335}"},
    /* missing operands: concat null, sum skips, avg of nothing is null */
    {NAME_TOTAL, "{\"first\": \"Ada\"}",
     "{\"first\":\"Ada\",\"full_name\":null,\"total\":0,\"mean\":null}"},
    /* type mixes: numbers in concat, non-numbers skipped by sum and avg */
    {NAME_TOTAL,
     "{\"first\": 7, \"last\": 2.5, \"price\": 1.5, \"tax\": \"2\", \"a\": true, "
     "\"b\": 3, \"c\": null}",
     "{\"first\":7,\"last\":2.5,\"price\":1.5,\"tax\":\"2\",\"a\":true,\"b\":3,\"c\":null,"
     "\"full_name\":\"7 2.5\",\"total\":1.5,\"mean\":3.0}"},
    {NAME_TOTAL, "{\"first\": 2.0, \"last\": 1e300, \"price\": 1, \"tax\": 2.0}",
     "{\"first\":2.0,\"last\":1e+300,\"price\":1,\"tax\":2.0,\"full_name\":\"2.0 1e+300\","
     "\"total\":3.0,\"mean\":null}"},
    {NAME_TOTAL, "{\"first\": \"a\", \"last\": true}",
     "{\"first\":\"a\",\"last\":true,\"full_name\":null,\"total\":0,\"mean\":null}"},
    {NAME_TOTAL, "{\"first\": \"a\", \"last\": [\"b\"]}",
     "{\"first\":\"a\",\"last\":[\"b\"],\"full_name\":null,\"total\":0,\"mean\":null}"},
    /* stored fields of a computed name are replaced, computed ones go last */
    {NAME_TOTAL, "{\"total\": \"stored\", \"price\": 1, \"mean\": 5, \"z\": 0}",
     "{\"price\":1,\"z\":0,\"full_name\":null,\"total\":1,\"mean\":null}"},
    /* integer overflow turns the sum into a double */
    {"{\"t\": {\"$sum\": [\"$a\", \"$b\"]}}", "{\"a\": 9223372036854775807, \"b\": 1}",
     "{\"a\":9223372036854775807,\"b\":1,\"t\":9.223372036854776e+18}"},
    {"{\"t\": {\"$sum\": [\"$a\", \"$b\", \"$c\"]}}",
     "{\"a\": 9223372036854775807, \"b\": -9223372036854775807, \"c\": 5}",
     "{\"a\":9223372036854775807,\"b\":-9223372036854775807,\"c\":5,\"t\":5}"},
    {"{\"t\": {\"$sum\": [\"$a\", \"$a\"]}}", "{\"a\": 1e308}", "{\"a\":1e+308,\"t\":null}"},
    {"{\"t\": {\"$avg\": [\"$a\", \"$a\"]}}", "{\"a\": 9223372036854775807}",
     "{\"a\":9223372036854775807,\"t\":9.223372036854776e+18}"},
    {"{\"t\": {\"$mul\": [\"$a\", 2]}}", "{\"a\": 4611686018427387904}",
     "{\"a\":4611686018427387904,\"t\":9.223372036854776e+18}"},
    {"{\"t\": {\"$mul\": [\"$a\", 2, 0.5]}}", "{\"a\": 3}", "{\"a\":3,\"t\":3.0}"},
    {"{\"t\": {\"$mul\": [\"$a\", \"$b\"]}}", "{\"a\": 3}", "{\"a\":3,\"t\":null}"},
    {"{\"t\": {\"$mul\": []}, \"u\": {\"$sum\": []}, \"v\": {\"$concat\": []}}", "{}",
     "{\"t\":1,\"u\":0,\"v\":\"\"}"},
    {"{\"t\": {\"$sub\": [\"$a\", \"$b\"]}}", "{\"a\": -9223372036854775807, \"b\": 2}",
     "{\"a\":-9223372036854775807,\"b\":2,\"t\":-9.223372036854776e+18}"},
    {"{\"t\": {\"$sub\": [\"$a\", \"$b\"]}}", "{\"a\": 10, \"b\": 2.5}",
     "{\"a\":10,\"b\":2.5,\"t\":7.5}"},
    {"{\"t\": {\"$sub\": [\"$a\", \"$b\"]}}", "{\"a\": 10, \"b\": \"2\"}",
     "{\"a\":10,\"b\":\"2\",\"t\":null}"},
    {"{\"t\": {\"$div\": [\"$a\", \"$b\"]}}", "{\"a\": 6, \"b\": 3}",
     "{\"a\":6,\"b\":3,\"t\":2.0}"},
    {"{\"t\": {\"$div\": [\"$a\", \"$b\"]}}", "{\"a\": 1, \"b\": 0}",
     "{\"a\":1,\"b\":0,\"t\":null}"},
    {"{\"t\": {\"$div\": [\"$a\", \"$b\"]}}", "{\"a\": 1, \"b\": -0.0}",
     "{\"a\":1,\"b\":-0.0,\"t\":null}"},
    {"{\"t\": {\"$div\": [\"$a\", \"$b\"]}}", "{\"a\": 1e300, \"b\": 1e-300}",
     "{\"a\":1e+300,\"b\":1e-300,\"t\":null}"},
    {"{\"t\": {\"$div\": [\"$a\", \"$b\"]}}", "{\"b\": 2}", "{\"b\":2,\"t\":null}"},
    /* rounding: ties to even, integers stay integers */
    {"{\"a\": {\"$round\": [2.5]}, \"b\": {\"$round\": [3.5]}, \"c\": {\"$round\": [-2.5]},"
     " \"d\": {\"$round\": [2.675, 2]}, \"e\": {\"$round\": [0.125, 2]},"
     " \"f\": {\"$round\": [1234.5678, -2]}, \"g\": {\"$round\": [1250, -2]},"
     " \"h\": {\"$round\": [1350, -2]}, \"i\": {\"$round\": [-1251, -2]},"
     " \"j\": {\"$round\": [7, 3]}, \"k\": {\"$round\": [-0.4]}, \"l\": {\"$round\": [1e300, 2]},"
     " \"m\": {\"$round\": [9223372036854775807, -1]}, \"n\": {\"$round\": [5, -20]},"
     " \"o\": {\"$round\": [\"$x\", \"$dg\"]}, \"p\": {\"$round\": [\"$x\", \"$sd\"]}}",
     "{\"x\": 3.14159, \"dg\": 3, \"sd\": \"3\"}",
     "{\"x\":3.14159,\"dg\":3,\"sd\":\"3\",\"a\":2.0,\"b\":4.0,\"c\":-2.0,\"d\":2.67,\"e\":0.12,"
     "\"f\":1200.0,\"g\":1200,\"h\":1400,\"i\":-1300,\"j\":7,\"k\":0.0,\"l\":1e+300,"
     "\"m\":9.223372036854776e+18,\"n\":0,\"o\":3.142,\"p\":null}"},
    /* nesting, literals, $$ escapes, bare paths, arrays and objects copied */
    {"{\"gross\": {\"$round\": [{\"$mul\": [{\"$sum\": [\"$price\", \"$tax\"]}, 1.1]}, 2]},"
     " \"label\": {\"$concat\": [\"$$\", {\"$concat\": [\"$name\", \"-\", \"$n\"]}, \"$$x\"]},"
     " \"copy\": \"$obj\", \"first\": \"$list.0\", \"deep\": \"$obj.k\", \"lit\": \"text\","
     " \"num\": 42, \"flag\": true, \"nothing\": null, \"gone\": \"$missing.path\"}",
     "{\"price\": 10, \"tax\": 0.5, \"name\": \"w\", \"n\": -3, \"obj\": {\"k\": [1, {}]},"
     " \"list\": [\"x\", \"y\"]}",
     "{\"price\":10,\"tax\":0.5,\"name\":\"w\",\"n\":-3,\"obj\":{\"k\":[1,{}]},\"list\":[\"x\","
     "\"y\"],\"gross\":11.55,\"label\":\"$w--3$x\",\"copy\":{\"k\":[1,{}]},\"first\":\"x\","
     "\"deep\":[1,{}],\"lit\":\"text\",\"num\":42,\"flag\":true,\"nothing\":null,\"gone\":null}"},
    /* one-operand concat of a number, and of a nested result */
    {"{\"s\": {\"$concat\": [\"$n\"]}, \"t\": {\"$concat\": [{\"$concat\": [\"a\", \"$n\"]}]}}",
     "{\"n\": 12}", "{\"n\":12,\"s\":\"12\",\"t\":\"a12\"}"},
    /* UTF-8 passes through */
    {"{\"s\": {\"$concat\": [\"$a\", \"·\", \"$b\"]}}", "{\"a\": \"日本\", \"b\": \"😀\"}",
     "{\"a\":\"日本\",\"b\":\"😀\",\"s\":\"日本·😀\"}"},
};

static void test_apply_table(void **state)
{
    (void)state;
    doc_builder b, out;
    doc_builder_init(&b);
    doc_builder_init(&out);
    buf text = {0};
    for (size_t i = 0; i < sizeof apply_cases / sizeof *apply_cases; i++) {
        const apply_case *c = &apply_cases[i];
        computed *comp;
        int rc = computed_compile(parse(&b, c->computed), &comp);
        if (rc)
            fail_msg("case %zu: computed_compile: %d %s", i, rc, burrow_errmsg());
        doc_val root = parse(&b, c->doc);
        if ((rc = computed_apply(comp, root, &out)))
            fail_msg("case %zu: computed_apply: %d %s", i, rc, burrow_errmsg());
        const uint8_t *d;
        size_t n;
        assert_int_equal(doc_builder_finish(&out, &d, &n), 0);
        assert_int_equal(doc_validate(d, n), 0);
        doc_val res;
        assert_int_equal(doc_root(d, n, &res), 0);
        const char *got = to_json(res, &text);
        if (strcmp(got, c->expect) != 0)
            fail_msg("case %zu:\n  expected %s\n  got      %s", i, c->expect, got);
        computed_free(comp);
    }
    buf_free(&text);
    doc_builder_free(&b);
    doc_builder_free(&out);
}

static const bad_case bad_computed[] = {
    {"{\"total\": {\"$foo\": [1]}}", "computed 'total': unknown operator '$foo'"},
    {"{\"t\": {\"$sum\": [{\"$avg\": [{\"$bar\": []}]}]}}",
     "computed 't': unknown operator '$bar'"},
    {"{\"t\": {\"sum\": [1]}}",
     "computed 't': an operator object has exactly one key, an operator such as \"$sum\""},
    {"{\"t\": {\"$sum\": [1], \"$avg\": [1]}}",
     "computed 't': an operator object has exactly one key, an operator such as \"$sum\""},
    {"{\"t\": {}}",
     "computed 't': an operator object has exactly one key, an operator such as \"$sum\""},
    {"{\"t\": {\"$sum\": 1}}", "computed 't': the operands of '$sum' must be an array"},
    {"{\"t\": {\"$sub\": [1]}}", "computed 't': '$sub' takes 2 operands, found 1"},
    {"{\"t\": {\"$div\": [1, 2, 3]}}", "computed 't': '$div' takes 2 operands, found 3"},
    {"{\"t\": {\"$round\": []}}", "computed 't': '$round' takes 1 or 2 operands, found 0"},
    {"{\"t\": {\"$round\": [1, 101]}}",
     "computed 't': the digits of '$round' must be an integer from -20 to 100"},
    {"{\"t\": {\"$round\": [1, 1.0]}}",
     "computed 't': the digits of '$round' must be an integer from -20 to 100"},
    {"{\"t\": [1, 2]}",
     "computed 't': an array is not an expression (operands go in an operator's array, like "
     "{\"$sum\": [...]})"},
    {"{\"t\": {\"$sum\": [[1]]}}",
     "computed 't': an array is not an expression (operands go in an operator's array, like "
     "{\"$sum\": [...]})"},
    {"{\"t\": \"$\"}", "computed 't': '$' names no field (write \"$$\" for a literal '$')"},
    {"{\"t\": \"$a..b\"}", "computed 't': bad operand: path 'a..b': empty step at column 3"},
    {"{\"t\": \"$u\", \"u\": 1}",
     "computed 't': '$u' reads the computed field 'u'; operands read stored fields only"},
    {"{\"t\": {\"$sum\": [\"$t.x\"]}}",
     "computed 't': '$t.x' reads the computed field 't'; operands read stored fields only"},
    {"{\"\": 1}", "computed '': a name cannot be empty"},
    {"{\"a.b\": 1}", "computed 'a.b': a name is a top-level field, without dots"},
    {"{\"$a\": 1}", "computed '$a': a name cannot start with '$'"},
    {"{\"_id\": 1}", "computed '_id': the document id cannot be computed"},
    {"[]", "computed fields must be an object of name -> expression"},
};

static void test_malformed_computed(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    for (size_t i = 0; i < sizeof bad_computed / sizeof *bad_computed; i++) {
        computed *c = (computed *)&b; /* must be reset to NULL */
        int rc = computed_compile(parse(&b, bad_computed[i].json), &c);
        if (rc != BURROW_EINVAL || strcmp(burrow_errmsg(), bad_computed[i].error) != 0)
            fail_msg("case %zu %s: expected '%s', got %d '%s'", i, bad_computed[i].json,
                     bad_computed[i].error, rc, burrow_errmsg());
        assert_null(c);
    }

    /* Nesting: COMPUTED_MAX_DEPTH levels compile, one more does not. */
    for (int depth = COMPUTED_MAX_DEPTH; depth <= COMPUTED_MAX_DEPTH + 1; depth++) {
        buf j = {0};
        assert_int_equal(buf_append(&j, "{\"t\": ", 6), 0);
        for (int k = 0; k < depth; k++)
            assert_int_equal(buf_append(&j, "{\"$sum\": [1, ", 13), 0);
        assert_int_equal(buf_putc(&j, '2'), 0);
        for (int k = 0; k < depth; k++)
            assert_int_equal(buf_append(&j, "]}", 2), 0);
        assert_int_equal(buf_append(&j, "}", 2), 0); /* with the NUL */
        computed *c;
        int rc = computed_compile(parse(&b, (const char *)j.data), &c);
        if (depth == COMPUTED_MAX_DEPTH) {
            assert_int_equal(rc, 0);
            doc_builder out;
            doc_builder_init(&out);
            assert_int_equal(computed_apply(c, parse(&b, "{}"), &out), 0);
            const uint8_t *d;
            size_t n;
            assert_int_equal(doc_builder_finish(&out, &d, &n), 0);
            doc_val root, t;
            int64_t sum;
            assert_int_equal(doc_root(d, n, &root), 0);
            assert_int_equal(doc_object_get(root, "t", 1, &t), 0);
            assert_int_equal(doc_get_int(t, &sum), 0);
            assert_int_equal(sum, COMPUTED_MAX_DEPTH + 2);
            doc_builder_free(&out);
            computed_free(c);
        } else {
            assert_int_equal(rc, BURROW_EINVAL);
            assert_string_equal(burrow_errmsg(), "computed 't': expressions nest deeper than 32");
        }
        buf_free(&j);
    }

    /* computed_apply on a non-object. */
    computed *c;
    assert_int_equal(computed_compile(parse(&b, "{\"t\": 1}"), &c), 0);
    doc_builder out;
    doc_builder_init(&out);
    assert_int_equal(computed_apply(c, parse(&b, "[1]"), &out), BURROW_ETYPE);
    doc_builder_free(&out);
    computed_free(c);
    doc_builder_free(&b);
}

/* ---- randomised ----------------------------------------------------------- */

/* Integer arithmetic against a 128-bit model: the result is an integer
 * exactly when the model's fits int64, else the double of it. */
static void test_integer_model(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(2000, 200000);
    doc_builder b, out;
    doc_builder_init(&b);
    doc_builder_init(&out);
    computed *c;
    assert_int_equal(computed_compile(parse(&b, "{\"s\": {\"$sum\": [\"$a\", \"$b\", \"$c\"]},"
                                                " \"d\": {\"$sub\": [\"$a\", \"$b\"]},"
                                                " \"m\": {\"$mul\": [\"$a\", \"$b\"]}}"),
                                      &c),
                     0);
    for (unsigned i = 0; i < rounds; i++) {
        int64_t v[3];
        for (int k = 0; k < 3; k++) {
            /* Mostly large magnitudes, where overflow happens. */
            uint64_t x = tu_rand(&r);
            if (tu_chance(&r, 1, 3))
                x >>= tu_below(&r, 64);
            v[k] = (int64_t)x;
        }
        doc_builder_begin(&b);
        doc_builder_begin_object(&b);
        const char *names[] = {"a", "b", "c"};
        for (int k = 0; k < 3; k++) {
            doc_builder_key(&b, names[k], 1);
            doc_builder_int(&b, v[k]);
        }
        doc_builder_end(&b);
        const uint8_t *d;
        size_t n;
        assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
        doc_val root;
        assert_int_equal(doc_root(d, n, &root), 0);
        assert_int_equal(computed_apply(c, root, &out), 0);
        assert_int_equal(doc_builder_finish(&out, &d, &n), 0);
        assert_int_equal(doc_validate(d, n), 0);
        assert_int_equal(doc_root(d, n, &root), 0);

        /* $sum stays an integer only while every partial sum fits. */
        __int128 s1 = (__int128)v[0] + v[1];
        bool sum_int = s1 >= INT64_MIN && s1 <= INT64_MAX;
        __int128 s2 = s1 + v[2];
        sum_int = sum_int && s2 >= INT64_MIN && s2 <= INT64_MAX;
        double sum_dbl = sum_int ? 0
                         : (s1 >= INT64_MIN && s1 <= INT64_MAX)
                             ? (double)(int64_t)s1 + (double)v[2]
                             : (double)v[0] + (double)v[1] + (double)v[2];
        __int128 model[3] = {s2, (__int128)v[0] - v[1], (__int128)v[0] * v[1]};
        const char *keys[] = {"s", "d", "m"};
        for (int k = 0; k < 3; k++) {
            doc_val got;
            assert_int_equal(doc_object_get(root, keys[k], 1, &got), 0);
            bool fits = model[k] >= INT64_MIN && model[k] <= INT64_MAX;
            if (k == 0)
                fits = sum_int;
            if (fits) {
                int64_t g;
                assert_int_equal(doc_get_int(got, &g), 0);
                assert_true(g == (int64_t)model[k]);
            } else {
                double g;
                assert_int_equal(doc_type(got), DOC_DOUBLE);
                assert_int_equal(doc_get_double(got, &g), 0);
                double want = k == 0   ? sum_dbl
                              : k == 1 ? (double)v[0] - (double)v[1]
                                       : (double)v[0] * (double)v[1];
                if (g != want)
                    fail_msg("round %u key %s: %lld %lld %lld: got %.17g want %.17g", i, keys[k],
                             (long long)v[0], (long long)v[1], (long long)v[2], g, want);
            }
        }
    }
    computed_free(c);
    doc_builder_free(&b);
    doc_builder_free(&out);
}

/* A stored schema whose bytes were damaged compiles to an error or to a
 * schema, never to a crash or a read outside the bytes (ASan watches). */
static void test_damaged_schema(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x5c4e3a);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(3000, 300000);
    schema *s = compile_ok("{\"fields\": {" /* PERSON and computed fields */
                           "\"name\": {\"type\": \"string\", \"required\": true, \"maxLength\": 5},"
                           "\"age\": {\"type\": \"integer\", \"min\": 0, \"max\": 150},"
                           "\"status\": {\"enum\": [\"open\", \"closed\"]}},"
                           "\"computed\": {\"t\": {\"$sum\": [\"$age\", 1]},"
                           " \"n\": {\"$concat\": [\"$name\", \"!\"]}}}");
    size_t len;
    const uint8_t *orig = schema_doc(s, &len);
    uint8_t *copy = malloc(len);
    doc_builder b;
    doc_builder_init(&b);
    doc_val person = parse(&b, "{\"name\": \"ann\", \"age\": 40, \"status\": \"open\"}");
    unsigned compiled = 0;
    for (unsigned i = 0; i < rounds; i++) {
        memcpy(copy, orig, len);
        for (unsigned f = 1 + (unsigned)tu_below(&r, 3); f; f--)
            copy[1 + tu_below(&r, len - 1)] ^= (uint8_t)(1u << tu_below(&r, 8));
        size_t cut = tu_chance(&r, 1, 4) ? 1 + tu_below(&r, len - 1) : len;
        uint8_t *exact = malloc(cut); /* ASan sees reads past the end */
        memcpy(exact, copy, cut);
        doc_val v = {exact + 1, cut - 1};
        schema *t = NULL;
        if (schema_compile(v, &t) == 0) {
            compiled++;
            int rc = schema_check(t, person);
            assert_true(rc == 0 || rc == BURROW_ECONSTRAINT);
            if (schema_computed(t)) {
                doc_builder out;
                doc_builder_init(&out);
                assert_int_equal(computed_apply(schema_computed(t), person, &out), 0);
                doc_builder_free(&out);
            }
            schema_free(t);
        } else {
            assert_null(t);
        }
        free(exact);
    }
    print_message("damaged schemas that still compiled: %u of %u\n", compiled, rounds);
    free(copy);
    doc_builder_free(&b);
    schema_free(s);
}

/* Damaged documents (a stored one, say) give an answer or BURROW_ECORRUPT,
 * never a read outside their bytes. */
static void test_damaged_documents(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xd0c);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(3000, 300000);
    schema *s = compile_ok("{\"fields\": {\"name\": {\"type\": \"string\", \"maxLength\": 5},"
                           "\"a.b\": {\"type\": \"integer\", \"min\": 0},"
                           "\"tags\": {\"items\": \"string\"}, \"e\": {\"enum\": [[1, 2]]}},"
                           "\"additionalFields\": false,"
                           "\"computed\": {\"t\": {\"$sum\": [\"$a.b\", 1]},"
                           " \"n\": {\"$concat\": [\"$name\", \"$a.b\", \"$tags.1\"]},"
                           " \"r\": {\"$round\": [{\"$div\": [\"$a.b\", 3]}, 2]}}}");
    doc_builder b, out;
    doc_builder_init(&b);
    doc_builder_init(&out);
    parse(&b, "{\"name\": \"ann\", \"a\": {\"b\": 40}, \"tags\": [\"x\", \"yz\"], "
              "\"e\": [1, 2]}");
    const uint8_t *d;
    size_t len;
    assert_int_equal(doc_builder_finish(&b, &d, &len), 0);
    uint8_t *copy = malloc(len);
    for (unsigned i = 0; i < rounds; i++) {
        memcpy(copy, d, len);
        for (unsigned f = 1 + (unsigned)tu_below(&r, 3); f; f--)
            copy[1 + tu_below(&r, len - 1)] ^= (uint8_t)(1u << tu_below(&r, 8));
        size_t cut = tu_chance(&r, 1, 4) ? 2 + tu_below(&r, len - 2) : len;
        uint8_t *exact = malloc(cut);
        memcpy(exact, copy, cut);
        doc_val v = {exact + 1, cut - 1};
        int rc = schema_check(s, v);
        assert_true(rc == 0 || rc == BURROW_ECONSTRAINT || rc == BURROW_ECORRUPT);
        if (doc_type(v) == DOC_OBJECT) {
            rc = computed_apply(schema_computed(s), v, &out);
            if (!(rc == 0 || rc == BURROW_ECORRUPT))
                fail_msg("round %u: %d %s", i, rc, burrow_errmsg());
        }
        free(exact);
    }
    free(copy);
    doc_builder_free(&b);
    doc_builder_free(&out);
    schema_free(s);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_table),           cmocka_unit_test(test_malformed_schemas),
        cmocka_unit_test(test_fields_and_round_trip), cmocka_unit_test(test_apply_table),
        cmocka_unit_test(test_malformed_computed),    cmocka_unit_test(test_integer_model),
        cmocka_unit_test(test_damaged_schema),        cmocka_unit_test(test_damaged_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
