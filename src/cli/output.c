/*
 * output.c — how burrow prints replies.
 *
 * Text mode (the default), one reply at a time:
 *   status      OK
 *   error       (error) ERR no such collection 'x'
 *   integer     (integer) 3
 *   nil         (nil)
 *   string      the value as JSON: JSON text as it is (indented two spaces
 *               a level when stdout is a terminal, compact otherwise), any
 *               other bytes as a JSON string ("hello")
 *   array       1) element, 2) element, ... one per line (empty: (empty array))
 * --json: each reply is one line of JSON: status and string values as in
 *   text mode (compact), integers as numbers, nil as null, arrays as JSON
 *   arrays, errors as {"error": "text"}.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void out_json_string(FILE *f, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                fprintf(f, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
            } else if (ch >= 0x80) {
                /* valid UTF-8 passes through; a stray byte becomes U+FFFD's
                 * escape so the output stays valid JSON */
                size_t len = ch >= 0xf0 && ch < 0xf5 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc2 && ch < 0xe0 ? 2 : 0;
                bool ok = len && i + len <= n;
                for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char)p[i + k] & 0xc0) == 0x80;
                if (ok) {
                    fwrite(p + i, 1, len, f);
                    i += len - 1;
                } else {
                    fputs("\\ufffd", f);
                }
            } else {
                fputc(ch, f);
            }
        }
    }
    fputc('"', f);
}

void out_value(const cli_out *o, const char *p, size_t n)
{
    burrow_buf doc = {0}, text = {0};
    if (burrow_json_parse(p, n, &doc) == 0 &&
        burrow_json_write(doc.data, doc.size, o->pretty && !o->json ? BURROW_JSON_PRETTY : 0, &text) == 0) {
        fwrite(text.data, 1, text.size, o->f);
    } else {
        out_json_string(o->f, p, n);
    }
    burrow_buf_free(&doc);
    burrow_buf_free(&text);
}

/* Indent every line after the first of what print_text writes by pad
 * spaces: arrays inside arrays line up under their numbers. */
static void print_text(const cli_out *o, const redisReply *r, int pad);

static void print_indented_value(const cli_out *o, const char *p, size_t n, int pad)
{
    if (!o->pretty || pad == 0) {
        out_value(o, p, n);
        return;
    }
    burrow_buf doc = {0}, text = {0};
    if (burrow_json_parse(p, n, &doc) == 0 && burrow_json_write(doc.data, doc.size, BURROW_JSON_PRETTY, &text) == 0) {
        for (size_t i = 0; i < text.size; i++) {
            fputc(text.data[i], o->f);
            if (text.data[i] == '\n') fprintf(o->f, "%*s", pad, "");
        }
    } else {
        out_json_string(o->f, p, n);
    }
    burrow_buf_free(&doc);
    burrow_buf_free(&text);
}

static void print_text(const cli_out *o, const redisReply *r, int pad)
{
    FILE *f = o->f;
    switch (r->type) {
    case REDIS_REPLY_STATUS: fwrite(r->str, 1, r->len, f); break;
    case REDIS_REPLY_ERROR:
        fputs("(error) ", f);
        fwrite(r->str, 1, r->len, f);
        break;
    case REDIS_REPLY_INTEGER: fprintf(f, "(integer) %lld", r->integer); break;
    case REDIS_REPLY_NIL: fputs("(nil)", f); break;
    case REDIS_REPLY_STRING: print_indented_value(o, r->str, r->len, pad); break;
    case REDIS_REPLY_ARRAY:
        if (r->elements == 0) {
            fputs("(empty array)", f);
            break;
        }
        for (size_t i = 0; i < r->elements; i++) {
            char num[32];
            int w = snprintf(num, sizeof num, "%zu) ", i + 1);
            if (i) fprintf(f, "\n%*s", pad, "");
            fputs(num, f);
            print_text(o, r->element[i], pad + w);
        }
        break;
    default: fputs("(unknown reply)", f); break;
    }
}

static void print_json(const cli_out *o, const redisReply *r)
{
    FILE *f = o->f;
    switch (r->type) {
    case REDIS_REPLY_STATUS: out_json_string(f, r->str, r->len); break;
    case REDIS_REPLY_ERROR:
        fputs("{\"error\":", f);
        out_json_string(f, r->str, r->len);
        fputc('}', f);
        break;
    case REDIS_REPLY_INTEGER: fprintf(f, "%lld", r->integer); break;
    case REDIS_REPLY_NIL: fputs("null", f); break;
    case REDIS_REPLY_STRING: out_value(o, r->str, r->len); break;
    case REDIS_REPLY_ARRAY:
        fputc('[', f);
        for (size_t i = 0; i < r->elements; i++) {
            if (i) fputc(',', f);
            print_json(o, r->element[i]);
        }
        fputc(']', f);
        break;
    default: fputs("null", f); break;
    }
}

int out_reply(const cli_out *o, const redisReply *r)
{
    if (o->json) print_json(o, r);
    else print_text(o, r, 0);
    fputc('\n', o->f);
    fflush(o->f);
    return r->type == REDIS_REPLY_ERROR;
}

void out_error(const cli_out *o, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (o->json) {
        fputs("{\"error\":", o->f);
        out_json_string(o->f, text, strlen(text));
        fputs("}\n", o->f);
    } else {
        fprintf(o->f, "(error) %s\n", text);
    }
    fflush(o->f);
}

void out_note(const cli_out *o, const char *fmt, ...)
{
    if (o->json) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->f, fmt, ap);
    va_end(ap);
    fputc('\n', o->f);
    fflush(o->f);
}

/* Replies made here are shaped as hiredis makes them, so freeReplyObject
 * frees them: the object and its str come from malloc. */
static redisReply *reply_text(int type, const char *text)
{
    redisReply *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = type;
    r->len = strlen(text);
    r->str = strdup(text);
    if (!r->str) {
        free(r);
        return NULL;
    }
    return r;
}

redisReply *reply_new_error(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return reply_text(REDIS_REPLY_ERROR, text);
}

redisReply *reply_new_status(const char *s) { return reply_text(REDIS_REPLY_STATUS, s); }
