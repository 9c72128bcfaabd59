/*
 * transfer.c — burrow import and burrow export: documents between a
 * collection and JSON text.
 *
 * import FILE COLLECTION INPUT [--stop-on-error] [--batch N]
 *   INPUT ("-": standard input) is either JSON lines (one document per
 *   line; blank lines are skipped) or one JSON array of documents, told
 *   apart by its first non-blank byte ('[' means an array). JSON lines are
 *   streamed; an array is read whole into memory first. Documents are
 *   inserted in write transactions of N documents (default 1000), so a
 *   crash keeps whole batches. The collection is created when missing.
 *   A document that cannot be inserted (bad JSON, not an object, a schema
 *   rule, a duplicate _id) is reported on stderr as "INPUT:LINE: why" — for
 *   an array, the line where the element starts — and skipped; with
 *   --stop-on-error the import stops there instead, keeping the documents
 *   before it. Exit status 0 when every document went in, else 1.
 *   Refused inserts change nothing and leave the batch's txn usable (the
 *   library's contract for refusals); any other error ends the import with
 *   the current batch rolled back.
 *
 * export FILE COLLECTION [OUTPUT]
 *   Every document in id order, one compact JSON object per line, to
 *   OUTPUT (default or "-": standard output), read from one snapshot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

#define DEFAULT_BATCH 1000

typedef struct importer {
    burrow_db *db;
    burrow_txn *txn;
    const char *coll;
    const char *input;
    unsigned batch, in_batch;
    bool stop_on_error;
    uint64_t inserted, bad;
    burrow_buf id;
    int fatal; /* an error that ends the import */
} importer;

static bool refusal(int rc)
{
    return rc == BURROW_EJSON || rc == BURROW_ECONSTRAINT || rc == BURROW_EEXIST || rc == BURROW_EINVAL ||
           rc == BURROW_ETYPE || rc == BURROW_ERANGE || rc == BURROW_EKEYSIZE || rc == BURROW_EVALSIZE;
}

static int flush_batch(importer *im)
{
    if (!im->txn) return 0;
    int rc = burrow_txn_commit(im->txn);
    im->txn = NULL;
    if (rc) {
        tool_error("commit failed; this batch is lost, earlier ones are kept", rc);
        im->fatal = rc;
        return rc;
    }
    im->inserted += im->in_batch;
    im->in_batch = 0;
    return 0;
}

/* Insert one document; returns -1 when the import must stop. */
static int import_one(importer *im, const char *text, size_t len, uint64_t line)
{
    if (!im->txn) {
        int rc = burrow_txn_begin(im->db, NULL, 0, &im->txn);
        if (rc) {
            tool_error("cannot begin a transaction", rc);
            im->fatal = rc;
            return -1;
        }
    }
    int rc = burrow_doc_insert(im->txn, im->coll, text, len, &im->id);
    if (rc == 0) {
        if (++im->in_batch >= im->batch && flush_batch(im)) return -1;
        return 0;
    }
    if (!refusal(rc)) {
        tool_error("insert failed", rc);
        burrow_txn_abort(im->txn);
        im->txn = NULL;
        im->fatal = rc;
        return -1;
    }
    const char *d = burrow_errmsg();
    fprintf(stderr, "%s:%llu: %s\n", im->input, (unsigned long long)line, d && *d ? d : burrow_strerror(rc));
    im->bad++;
    return im->stop_on_error ? -1 : 0;
}

static bool is_blank(int ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

static void import_lines(importer *im, FILE *in, const char *first, size_t flen, progress *p, uint64_t total)
{
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0, done = flen;
    /* blank lines read while sniffing count as lines */
    size_t keep = 0;
    for (size_t k = 0; k < flen; k++)
        if (first[k] == '\n') {
            lineno++;
            keep = k + 1;
        }
    first += keep;
    flen -= keep;
    /* the bytes already read to sniff the format start the first line */
    char *pending = flen ? strndup(first, flen) : NULL;
    for (;;) {
        ssize_t n = getline(&line, &cap, in);
        if (n < 0 && !pending) break;
        char *text = line;
        size_t tlen = n < 0 ? 0 : (size_t)n;
        char *joined = NULL;
        if (pending) {
            joined = malloc(flen + tlen + 1);
            if (!joined) break;
            memcpy(joined, pending, flen);
            if (tlen) memcpy(joined + flen, line, tlen);
            joined[flen + tlen] = 0;
            text = joined;
            tlen += flen;
            free(pending);
            pending = NULL;
        } else {
            done += tlen;
        }
        lineno++;
        size_t a = 0, b = tlen;
        while (a < b && is_blank(text[a])) a++;
        while (b > a && is_blank(text[b - 1])) b--;
        int stop = a < b ? import_one(im, text + a, b - a, lineno) : 0;
        free(joined);
        if (total) progress_update(p, done < total ? done : total, total);
        if (stop) break;
        if (n < 0) break;
    }
    free(pending);
    free(line);
}

/* The element of a JSON array starting at s[i]: its end (exclusive), at
 * the ',' or ']' that follows it at depth 0; lines counted on the way.
 * Returns false when the array never ends. */
static bool element_end(const char *s, size_t n, size_t *i, uint64_t *line)
{
    int depth = 0;
    bool in_str = false;
    for (; *i < n; (*i)++) {
        char ch = s[*i];
        if (ch == '\n') (*line)++;
        if (in_str) {
            if (ch == '\\') (*i)++;
            else if (ch == '"') in_str = false;
            continue;
        }
        if (ch == '"') in_str = true;
        else if (ch == '{' || ch == '[') depth++;
        else if (ch == '}' || ch == ']') {
            if (depth == 0) return true; /* the array's own ']' */
            depth--;
        } else if (ch == ',' && depth == 0) {
            return true;
        }
    }
    return false;
}

static void import_array(importer *im, FILE *in, const char *first, size_t flen, progress *p, uint64_t total)
{
    size_t cap = flen + 65536, n = flen;
    char *s = malloc(cap);
    if (!s) {
        im->fatal = BURROW_ENOMEM;
        return;
    }
    memcpy(s, first, flen);
    for (;;) {
        if (n == cap) {
            char *t = realloc(s, cap *= 2);
            if (!t) {
                free(s);
                im->fatal = BURROW_ENOMEM;
                fprintf(stderr, "burrow: out of memory reading %s\n", im->input);
                return;
            }
            s = t;
        }
        size_t r = fread(s + n, 1, cap - n, in);
        if (r == 0) break;
        n += r;
    }
    size_t i = 0;
    uint64_t line = 1;
    while (i < n && is_blank(s[i])) line += s[i++] == '\n';
    i++; /* the '[' */
    for (;;) {
        while (i < n && is_blank(s[i])) line += s[i++] == '\n';
        if (i < n && s[i] == ']') break;
        size_t start = i;
        uint64_t start_line = line;
        if (!element_end(s, n, &i, &line)) {
            fprintf(stderr, "%s:%llu: the array is not closed\n", im->input, (unsigned long long)start_line);
            im->bad++;
            break;
        }
        size_t end = i;
        while (end > start && is_blank(s[end - 1])) end--;
        if (end == start) {
            fprintf(stderr, "%s:%llu: an empty element\n", im->input, (unsigned long long)start_line);
            im->bad++;
            if (im->stop_on_error) break;
        } else if (import_one(im, s + start, end - start, start_line)) {
            break;
        }
        if (total) progress_update(p, i < total ? i : total, total);
        if (s[i] == ']') break;
        i++; /* the ',' */
    }
    free(s);
}

int tool_import(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    importer im = {.batch = DEFAULT_BATCH};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stop-on-error") == 0) {
            im.stop_on_error = true;
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            long b = strtol(argv[++i], NULL, 10);
            if (b < 1 || b > 10000000) {
                fprintf(stderr, "burrow: --batch wants a number from 1 to 10000000\n");
                return 2;
            }
            im.batch = (unsigned)b;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "%s", tool_help("import"));
            return 2;
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            fprintf(stderr, "%s", tool_help("import"));
            return 2;
        }
    }
    if (npos != 3) {
        fprintf(stderr, "%s", tool_help("import"));
        return 2;
    }
    im.coll = pos[1];
    im.input = pos[2];
    FILE *in = strcmp(pos[2], "-") == 0 ? stdin : fopen(pos[2], "rb");
    if (!in) {
        fprintf(stderr, "burrow: cannot read %s: %s\n", pos[2], strerror(errno));
        return 1;
    }
    struct stat sb;
    uint64_t total = fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    if (!(im.db = tool_open(pos[0], 0))) {
        if (in != stdin) fclose(in);
        return 1;
    }
    /* the collection, created when missing */
    burrow_txn *t;
    int rc = burrow_txn_begin(im.db, NULL, 0, &t);
    if (rc == 0) {
        rc = burrow_coll_create(t, im.coll, NULL);
        if (rc == BURROW_EEXIST) rc = 0;
        rc = rc ? (burrow_txn_abort(t), rc) : burrow_txn_commit(t);
    }
    if (rc) {
        tool_error(im.coll, rc);
        burrow_close(im.db);
        if (in != stdin) fclose(in);
        return 1;
    }
    /* sniff the format: the first non-blank byte */
    char first[4096];
    size_t flen = 0;
    int ch;
    while ((ch = fgetc(in)) != EOF) {
        first[flen++] = (char)ch;
        if (!is_blank(ch) || flen == sizeof first) break;
    }
    progress p;
    progress_init(&p, "import", "B");
    if (ch == '[') import_array(&im, in, first, flen, &p, total);
    else import_lines(&im, in, first, flen, &p, total);
    if (!im.fatal) flush_batch(&im);
    else if (im.txn) {
        burrow_txn_abort(im.txn);
        im.txn = NULL;
    }
    progress_done(&p);
    if (in != stdin) fclose(in);
    burrow_buf_free(&im.id);
    rc = burrow_close(im.db);
    fprintf(stderr, "burrow: imported %llu document%s into %s, %llu refused%s\n", (unsigned long long)im.inserted,
            im.inserted == 1 ? "" : "s", im.coll, (unsigned long long)im.bad,
            im.bad && im.stop_on_error ? " (stopped at the first)" : "");
    return im.fatal || im.bad || rc ? 1 : 0;
}

int tool_export(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || argv[1][0] == '-') {
        fprintf(stderr, "%s", tool_help("export"));
        return 2;
    }
    const char *outp = argc == 4 ? argv[3] : "-";
    burrow_db *db = tool_open(argv[1], BURROW_RDONLY | BURROW_NOCREATE);
    if (!db) return 1;
    burrow_txn *txn = NULL;
    burrow_results *res = NULL;
    uint64_t total = 0;
    int rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &txn);
    if (rc == 0 && (rc = burrow_doc_count(txn, argv[2], NULL, &total)) == 0) rc = burrow_find(txn, argv[2], NULL, &res);
    if (rc) {
        tool_error(argv[2], rc);
        if (txn) burrow_txn_abort(txn);
        burrow_close(db);
        return 1;
    }
    FILE *out = strcmp(outp, "-") == 0 ? stdout : fopen(outp, "wb");
    if (!out) {
        fprintf(stderr, "burrow: cannot write %s: %s\n", outp, strerror(errno));
        burrow_results_close(res);
        burrow_txn_abort(txn);
        burrow_close(db);
        return 1;
    }
    progress p;
    progress_init(&p, "export", "docs");
    uint64_t n = 0;
    burrow_val doc;
    progress_update(&p, 0, total);
    while ((rc = burrow_results_next(res, &doc)) == 0) {
        fwrite(doc.data, 1, doc.size, out);
        fputc('\n', out);
        n++;
        progress_update(&p, n < total ? n : total, total);
    }
    progress_done(&p);
    burrow_results_close(res);
    burrow_txn_abort(txn);
    burrow_close(db);
    int werr = fflush(out) != 0 || ferror(out);
    if (out != stdout && fclose(out)) werr = 1;
    if (rc != BURROW_ENOTFOUND) {
        tool_error("export stopped", rc);
        return 1;
    }
    if (werr) {
        fprintf(stderr, "burrow: writing %s failed: %s\n", outp, strerror(errno));
        return 1;
    }
    fprintf(stderr, "burrow: exported %llu document%s from %s\n", (unsigned long long)n, n == 1 ? "" : "s", argv[2]);
    return 0;
}
