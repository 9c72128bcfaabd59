/*
 * lex.c — splitting a REPL line into the arguments of a command.
 *
 * The rules (cli.h, lex_split), chosen so that what a user types for
 * redis-cli works here and JSON can be typed as it is:
 *   set k hello                  -> set, k, hello
 *   set k "two words\n"          -> ..., two words + newline
 *   doc.insert u {"n": "A B"}    -> doc.insert, u, {"n": "A B"}
 *   doc.find u {"age": {"$gt":
 *     21}} LIMIT 2               -> continues on the next line (LEX_MORE)
 * Inside an argument that starts with { or [, brackets are counted outside
 * JSON strings and the argument ends where the count returns to zero (what
 * follows without a blank belongs to it too). The JSON is not checked
 * here: the command checks it and reports line:column.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, char ch)
{
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    b->p[b->n++] = ch;
    b->p[b->n] = 0;
    return 0;
}

static int push_arg(lex_args *a, sbuf *b)
{
    char **argv = realloc(a->argv, (size_t)(a->argc + 1) * sizeof *argv);
    if (!argv) return -1;
    a->argv = argv;
    size_t *lens = realloc(a->lens, (size_t)(a->argc + 1) * sizeof *lens);
    if (!lens) return -1;
    a->lens = lens;
    if (!b->p && sb_put(b, 0) == 0) b->n = 0; /* the empty argument "" */
    if (!b->p) return -1;
    a->argv[a->argc] = b->p;
    a->lens[a->argc] = b->n;
    a->argc++;
    *b = (sbuf){0};
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static bool blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* A quoted argument starting at *p (the quote); advances past the closing
 * quote. */
static int lex_quoted(const char **pp, sbuf *b, char *err, size_t errlen)
{
    const char *p = *pp;
    char q = *p++;
    for (;;) {
        if (!*p) return LEX_MORE;
        if (*p == q) {
            p++;
            break;
        }
        char ch = *p++;
        if (ch == '\\' && q == '"') {
            if (!*p) return LEX_MORE;
            char e = *p++;
            switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'a': ch = '\a'; break;
            case 'b': ch = '\b'; break;
            case 'x': {
                int h = hexval(p[0]), l = h >= 0 ? hexval(p[1]) : -1;
                if (l < 0) {
                    snprintf(err, errlen, "\\x needs two hex digits");
                    return LEX_ERROR;
                }
                ch = (char)(h * 16 + l);
                p += 2;
                break;
            }
            default: ch = e; break; /* \" \\ \' and anything else: itself */
            }
        } else if (ch == '\\' && q == '\'' && *p == '\'') {
            ch = *p++;
        }
        if (sb_put(b, ch)) return LEX_ERROR;
    }
    if (*p && !blank(*p)) {
        snprintf(err, errlen, "a closing quote must be followed by a blank");
        return LEX_ERROR;
    }
    if (!b->p && sb_put(b, 0) == 0) b->n = 0;
    *pp = p;
    return LEX_OK;
}

/* A JSON argument starting at *p ({ or [). */
static int lex_json(const char **pp, sbuf *b)
{
    const char *p = *pp;
    int depth = 0;
    bool in_str = false;
    for (;; p++) {
        char ch = *p;
        if (!ch) return LEX_MORE;
        if (sb_put(b, ch)) return LEX_ERROR;
        if (in_str) {
            if (ch == '\\') {
                if (!p[1]) return LEX_MORE;
                if (sb_put(b, *++p)) return LEX_ERROR;
            } else if (ch == '"') {
                in_str = false;
            }
            continue;
        }
        if (ch == '"') in_str = true;
        else if (ch == '{' || ch == '[') depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0) break;
    }
    p++;
    while (*p && !blank(*p)) /* glued on: part of the argument */
        if (sb_put(b, *p++)) return LEX_ERROR;
    *pp = p;
    return LEX_OK;
}

int lex_split(const char *text, lex_args *out, char *err, size_t errlen)
{
    *out = (lex_args){0};
    if (errlen) err[0] = 0;
    const char *p = text;
    int rc = LEX_OK;
    for (;;) {
        while (blank(*p)) p++;
        if (!*p) break;
        sbuf b = {0};
        if (*p == '"' || *p == '\'') {
            rc = lex_quoted(&p, &b, err, errlen);
        } else if (*p == '{' || *p == '[') {
            rc = lex_json(&p, &b);
        } else {
            while (*p && !blank(*p))
                if (sb_put(&b, *p++)) {
                    rc = LEX_ERROR;
                    break;
                }
        }
        if (rc == LEX_OK && push_arg(out, &b)) rc = LEX_ERROR;
        if (rc != LEX_OK) {
            if (rc == LEX_ERROR && !*err) snprintf(err, errlen, "out of memory");
            free(b.p);
            lex_free(out);
            return rc;
        }
    }
    return LEX_OK;
}

void lex_free(lex_args *a)
{
    for (int i = 0; i < a->argc; i++) free(a->argv[i]);
    free(a->argv);
    free(a->lens);
    *a = (lex_args){0};
}
