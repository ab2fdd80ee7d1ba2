/* traffic/flow_csv.c — writing and reading the normalised flow CSV (see flow_csv.h). libc only. */
#include "flow_csv.h"
#include "report.h"
#include "input.h"
#include "numfmt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------- writing ---------- */

/* Quotes a text field only when it must be (comma, quote, CR, LF, or empty-but-known). */
static int write_text(FILE *f, const char *s)
{
    if (!s) return 0; /* unknown: empty unquoted field */
    if (*s && !strpbrk(s, ",\"\r\n")) return fputs(s, f) < 0 ? -1 : 0;
    if (putc('"', f) == EOF) return -1;
    for (const char *p = s; *p; p++) {
        if (*p == '"' && putc('"', f) == EOF) return -1;
        if (putc(*p, f) == EOF) return -1;
    }
    return putc('"', f) == EOF ? -1 : 0;
}

/* A row is put together in memory with weft's own number formatting (numfmt.h: printf's digits, a few
 * times faster) and written in one call: on captures with many short flows, writing rows with printf
 * cost as much as reading the packets. */
typedef struct rowbuf {
    char b[1024];
    size_t n;
} rowbuf;

static void put_c(rowbuf *r, char c) { r->b[r->n++] = c; }
static void put_u(rowbuf *r, uint64_t v) { r->n += weft_fmt_u64(r->b + r->n, v); }
static void put_g(rowbuf *r, double v) { r->n += weft_fmt_g17(r->b + r->n, v); }
static void put_ip(rowbuf *r, const weft_ip *ip)
{
    if (weft_ip_is_v4(ip)) { /* the common case, without inet_ntop */
        for (int i = 12; i < 16; i++) {
            if (i > 12) put_c(r, '.');
            put_u(r, ip->b[i]);
        }
        return;
    }
    weft_ip_format(ip, r->b + r->n, 64);
    r->n += strlen(r->b + r->n);
}

static void put_dir(rowbuf *r, const weft_flow_dir *d)
{
    double mean = d->packets ? (double)d->bytes / (double)d->packets : 0.0;
    put_c(r, ','), put_u(r, d->packets), put_c(r, ','), put_u(r, d->bytes);
    put_c(r, ','), put_u(r, d->min_size), put_c(r, ','), put_u(r, d->max_size);
    put_c(r, ','), put_g(r, mean), put_c(r, ','), put_g(r, d->mean_iat), put_c(r, ','), put_u(r, d->flags);
    put_c(r, ','), put_g(r, d->first), put_c(r, ','), put_g(r, d->last);
}

int weft_flow_csv_write_header(FILE *f)
{
    static const char *const dir_cols[] = {"packets", "bytes", "min_size", "max_size", "mean_size",
                                           "mean_iat", "flags", "first", "last"};
    if (fputs("src,dst,sport,dport,proto,ip_version,start,duration", f) < 0) return -1;
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < sizeof dir_cols / sizeof dir_cols[0]; i++)
            if (fprintf(f, ",%s_%s", d ? "bwd" : "fwd", dir_cols[i]) < 0) return -1;
    if (fputs(",has_stats,label,detail,category,tunnel,outer_src,outer_dst,vlan\n", f) < 0) return -1;
    return 0;
}

int weft_flow_csv_write_row(FILE *f, const weft_flow *fl)
{
    rowbuf r; /* numbers and addresses take at most ~600 bytes; labels go straight to the stream */
    r.n = 0;
    put_ip(&r, &fl->src), put_c(&r, ','), put_ip(&r, &fl->dst);
    put_c(&r, ','), put_u(&r, fl->sport), put_c(&r, ','), put_u(&r, fl->dport);
    put_c(&r, ','), put_u(&r, fl->proto), put_c(&r, ','), put_u(&r, fl->ip_version);
    put_c(&r, ','), put_g(&r, fl->start), put_c(&r, ','), put_g(&r, fl->duration);
    put_dir(&r, &fl->fwd);
    put_dir(&r, &fl->bwd);
    put_c(&r, ','), put_c(&r, fl->has_stats ? '1' : '0'), put_c(&r, ',');
    if (fwrite(r.b, 1, r.n, f) != r.n) return -1;
    if (write_text(f, fl->label) || putc(',', f) == EOF || write_text(f, fl->detail) || putc(',', f) == EOF ||
        write_text(f, fl->category))
        return -1;
    r.n = 0;
    put_c(&r, ',');
    if (fl->tunnel) {
        const char *tn = weft_tunnel_name(fl->tunnel);
        memcpy(r.b + r.n, tn, strlen(tn));
        r.n += strlen(tn);
        put_c(&r, ','), put_ip(&r, &fl->outer_src), put_c(&r, ','), put_ip(&r, &fl->outer_dst);
    } else {
        put_c(&r, ','), put_c(&r, ',');
    }
    put_c(&r, ',');
    if (fl->vlan) put_u(&r, fl->vlan);
    put_c(&r, '\n');
    return fwrite(r.b, 1, r.n, f) == r.n ? 0 : -1;
}

int weft_flow_csv_write(FILE *f, const weft_flow_table *t)
{
    if (weft_flow_csv_write_header(f)) return -1;
    for (size_t i = 0; i < t->n; i++)
        if (weft_flow_csv_write_row(f, &t->flows[i])) return -1;
    return ferror(f) ? -1 : 0;
}

/* ---------- reading ---------- */

/* Column identifiers. The per-direction ones come in the same order for fwd and bwd. */
enum {
    C_SRC, C_DST, C_SPORT, C_DPORT, C_PROTO, C_IPV, C_START, C_DURATION,
    C_FWD, /* + D_* */
    C_BWD = C_FWD + 9,
    C_HAS_STATS = C_BWD + 9,
    C_LABEL, C_DETAIL, C_CATEGORY,
    C_TUNNEL, C_OUTER_SRC, C_OUTER_DST, C_VLAN, /* optional: absent means none, never warned about */
    C_COUNT
};
enum { D_PACKETS, D_BYTES, D_MIN, D_MAX, D_MEAN, D_IAT, D_FLAGS, D_FIRST, D_LAST };

static const char *const col_names[C_COUNT] = {
    "src", "dst", "sport", "dport", "proto", "ip_version", "start", "duration",
    "fwd_packets", "fwd_bytes", "fwd_min_size", "fwd_max_size", "fwd_mean_size", "fwd_mean_iat", "fwd_flags",
    "fwd_first", "fwd_last",
    "bwd_packets", "bwd_bytes", "bwd_min_size", "bwd_max_size", "bwd_mean_size", "bwd_mean_iat", "bwd_flags",
    "bwd_first", "bwd_last",
    "has_stats", "label", "detail", "category",
    "tunnel", "outer_src", "outer_dst", "vlan",
};

typedef struct field {
    char *s;     /* NUL-terminated, unescaped, in the file buffer */
    bool quoted; /* distinguishes "" (empty text) from an empty field (unknown) */
} field;

/* The file is read a buffer at a time: before each record, refill() makes sure the buffer holds the
 * whole record (or the end of the input), so records are parsed in place exactly as if the file had
 * been read whole, in memory bounded by the longest record. */
typedef struct reader {
    const char *path;
    FILE *in;
    bool eof, read_error, oom;
    bool follow, waiting; /* follow: at the end, wait for more (a file still being written) */
    bool stdin_input;     /* the end of standard input is the end, followed or not */
    char *buf;
    size_t cap;
    size_t len, pos;  /* bytes in buf (buf[len] is always a NUL), next byte to parse */
    size_t line;      /* line of the next record */
    field *fields;
    size_t n_fields, cap_fields;
} reader;

/* Longest record taken whole; a longer one (no valid flow row is near it) is parsed in pieces, whose
 * wrong field counts make them skipped rows. It also bounds what a never-closed quote can hold. */
#define MAX_RECORD ((size_t)1 << 20)

/* Reads more input after the unparsed bytes; false at the end of the input (or on error). */
static bool fill_more(reader *r)
{
    if (r->eof) return false;
    if (r->pos > 0) { /* keep only what is not parsed yet, at the front */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < (1 << 15)) {
        size_t cap = r->cap * 2;
        char *nb = cap > r->cap ? realloc(r->buf, cap) : NULL;
        if (!nb) {
            r->oom = true;
            return false;
        }
        r->buf = nb;
        r->cap = cap;
    }
    size_t got;
    if (r->follow) {
        /* a line at a time: what a writer has flushed is read without waiting for a full buffer */
        got = fgets(r->buf + r->len, (int)(r->cap - r->len - 1 > 1 << 30 ? 1 << 30 : r->cap - r->len - 1), r->in)
                  ? strlen(r->buf + r->len)
                  : 0;
        if (got == 0 && feof(r->in) && !r->stdin_input) {
            clearerr(r->in); /* nothing more yet: look again later */
            r->waiting = true;
            r->buf[r->len] = '\0';
            return false;
        }
    } else {
        got = fread(r->buf + r->len, 1, r->cap - r->len - 1, r->in);
    }
    r->len += got;
    r->buf[r->len] = '\0';
    if (got == 0) {
        r->eof = true;
        if (ferror(r->in)) r->read_error = true;
        return false;
    }
    return true;
}

/* Makes the buffer hold, from pos, the next record whole (blank lines before it skipped): up to its
 * line end outside quotes, with the LF of a CRLF, or up to the end of the input. Returns 1, 0 when
 * memory runs out, or 2 when a followed file has no whole record yet. */
static int refill(reader *r)
{
    r->waiting = false;
    for (;;) { /* blank lines */
        while (r->pos < r->len && (r->buf[r->pos] == '\n' || r->buf[r->pos] == '\r')) {
            if (r->buf[r->pos] == '\n') r->line++;
            r->pos++;
        }
        if (r->pos < r->len) break;
        if (!fill_more(r)) return r->oom ? 0 : r->waiting ? 2 : 1;
    }
    size_t scan = r->pos;
    bool quoted = false;
    for (;;) {
        for (; scan < r->len; scan++) {
            char c = r->buf[scan];
            if (c == '"') quoted = !quoted; /* "" inside quotes flips twice: no change */
            else if (!quoted && (c == '\n' || c == '\r')) break;
        }
        if (scan < r->len) {
            if (r->buf[scan] == '\n' || scan + 1 < r->len) return 1;
            /* a CR at the end of the buffer: its LF, if any, must come with it */
        }
        if (r->len - r->pos >= MAX_RECORD) return 1;
        size_t off = scan - r->pos;
        if (!fill_more(r)) return r->oom ? 0 : r->waiting ? 2 : 1; /* the end of the input ends the record */
        scan = r->pos + off;
    }
}

static int push_field(reader *r, char *s, bool quoted)
{
    if (r->n_fields == r->cap_fields) {
        size_t cap = r->cap_fields ? r->cap_fields * 2 : 64;
        field *nf = realloc(r->fields, cap * sizeof *nf);
        if (!nf) return -1;
        r->fields = nf;
        r->cap_fields = cap;
    }
    r->fields[r->n_fields].s = s;
    r->fields[r->n_fields].quoted = quoted;
    r->n_fields++;
    return 0;
}

/* Splits the next record into r->fields (in place: terminators and unescaping overwrite the buffer).
 * Returns 1 for a record, 0 at the end of the file, -1 out of memory. *bad is set to a reason when the
 * record's quoting is broken (the record is then consumed up to the end of its line and must be skipped).
 * *start_line is the line the record began on; blank lines are skipped. */
static int next_record(reader *r, size_t *start_line, const char **bad)
{
    *bad = NULL;
    for (;;) {
        if (r->pos >= r->len) return 0;
        char c = r->buf[r->pos];
        if (c == '\n') { r->pos++; r->line++; continue; }
        if (c == '\r') { r->pos++; continue; }
        break;
    }
    *start_line = r->line;
    r->n_fields = 0;
    char *buf = r->buf;
    for (;;) {
        size_t p = r->pos;
        bool quoted = false;
        char *start = buf + p;
        if (p < r->len && buf[p] == '"') {
            /* Quoted field: "" is a quote; newlines inside count as lines. */
            quoted = true;
            size_t w = p, q = p + 1;
            start = buf + w;
            for (;;) {
                if (q >= r->len) {
                    *bad = "a quoted field never ends";
                    r->pos = r->len;
                    return 1;
                }
                if (buf[q] == '"') {
                    if (q + 1 < r->len && buf[q + 1] == '"') {
                        buf[w++] = '"';
                        q += 2;
                        continue;
                    }
                    q++;
                    break;
                }
                if (buf[q] == '\n') r->line++;
                buf[w++] = buf[q++];
            }
            p = q;
            if (p < r->len && buf[p] != ',' && buf[p] != '\n' && buf[p] != '\r') {
                *bad = "text after a closing quote";
                while (p < r->len && buf[p] != '\n') p++;
                r->pos = p;
                return 1;
            }
            buf[w] = '\0'; /* w < p: the closing quote at least was consumed */
        } else {
            while (p < r->len && buf[p] != ',' && buf[p] != '\n' && buf[p] != '\r') {
                if (buf[p] == '"') {
                    *bad = "a quote inside an unquoted field";
                    while (p < r->len && buf[p] != '\n') p++;
                    r->pos = p;
                    return 1;
                }
                p++;
            }
        }
        char end = p < r->len ? buf[p] : '\n';
        if (p < r->len) buf[p] = '\0'; /* buf[len] is the file buffer's own terminator */
        if (push_field(r, start, quoted)) return -1;
        if (end == ',') {
            r->pos = p + 1;
            continue;
        }
        if (p < r->len) p++; /* the terminator itself */
        if (end == '\r' && p < r->len && buf[p] == '\n') p++; /* CRLF; a lone CR ends a record too */
        r->line++;
        r->pos = p;
        return 1;
    }
}

static void trim(char **s)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) p[--n] = '\0';
    *s = p;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!isdigit((unsigned char)*s)) return false; /* no sign, no blank, no empty */
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return false;
    *out = v;
    return true;
}

static bool parse_f64(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s)) return false;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Reads one direction's columns; returns NULL or the reason the row is bad (with *backwards set when
 * it is a time running backwards). */
static const char *read_dir(reader *r, const int *col, int base, weft_flow_dir *d, bool *backwards,
                            char *why, size_t why_n)
{
    const char *dname = base == C_FWD ? "fwd" : "bwd";
    uint64_t v;
    double x;
    int c;
#define FIELD(id) (col[(id)] >= 0 ? r->fields[col[(id)]].s : NULL)
    if ((c = base + D_PACKETS, FIELD(c)) && !parse_u64(FIELD(c), UINT64_MAX, &d->packets)) goto bad;
    if ((c = base + D_BYTES, FIELD(c)) && !parse_u64(FIELD(c), UINT64_MAX, &d->bytes)) goto bad;
    if ((c = base + D_MIN, FIELD(c))) {
        if (!parse_u64(FIELD(c), UINT32_MAX, &v)) goto bad;
        d->min_size = (uint32_t)v;
    }
    if ((c = base + D_MAX, FIELD(c))) {
        if (!parse_u64(FIELD(c), UINT32_MAX, &v)) goto bad;
        d->max_size = (uint32_t)v;
    }
    if ((c = base + D_MEAN, FIELD(c)) && !parse_f64(FIELD(c), &x)) goto bad; /* derived: checked, unused */
    if ((c = base + D_IAT, FIELD(c)) && (!parse_f64(FIELD(c), &d->mean_iat) || d->mean_iat < 0)) goto bad;
    if ((c = base + D_FLAGS, FIELD(c))) {
        if (!parse_u64(FIELD(c), 255, &v)) goto bad;
        d->flags = (uint8_t)v;
    }
    if ((c = base + D_FIRST, FIELD(c)) && !parse_f64(FIELD(c), &d->first)) goto bad;
    if ((c = base + D_LAST, FIELD(c)) && !parse_f64(FIELD(c), &d->last)) goto bad;
#undef FIELD
    if (d->min_size > d->max_size) {
        snprintf(why, why_n, "%s_min_size %" PRIu32 " exceeds %s_max_size %" PRIu32, dname, d->min_size, dname,
                 d->max_size);
        return why;
    }
    if (d->last < d->first) {
        *backwards = true;
        snprintf(why, why_n, "%s_last %.17g is before %s_first %.17g", dname, d->last, dname, d->first);
        return why;
    }
    return NULL;
bad:
    snprintf(why, why_n, "%s '%.40s' is not a valid value", col_names[c], r->fields[col[c]].s);
    return why;
}

struct weft_flow_csv_reader {
    reader r;
    weft_read_report *rep, own_rep;
    int col[C_COUNT];
    size_t n_header;
    bool stats_default;
    double prev_start;
    bool warned_order;
};

void weft_flow_csv_follow(weft_flow_csv_reader *cr)
{
    cr->r.follow = true;
    cr->r.eof = false;
}

void weft_flow_csv_close(weft_flow_csv_reader *cr)
{
    if (!cr) return;
    if (cr->r.in) fclose(cr->r.in);
    free(cr->r.fields);
    free(cr->r.buf);
    free(cr);
}

weft_flow_csv_reader *weft_flow_csv_open(const char *path, weft_read_report *rep, char *err, size_t err_n)
{
    weft_flow_csv_reader *cr = calloc(1, sizeof *cr);
    char ebuf[512];
    if (!cr) {
        weft_set_err(err, err_n, "%s: out of memory", path);
        return NULL;
    }
    if (!rep) {
        weft_report_init(&cr->own_rep);
        rep = &cr->own_rep;
    }
    cr->rep = rep;
    cr->prev_start = -INFINITY;
    reader *r = &cr->r;
    r->path = strcmp(path, "-") == 0 ? "standard input" : path;
    r->stdin_input = strcmp(path, "-") == 0;
    r->line = 1;
    r->cap = 1 << 16;
    r->buf = malloc(r->cap);
    if (!r->buf) {
        weft_set_err(err, err_n, "%s: out of memory", path);
        weft_flow_csv_close(cr);
        return NULL;
    }
    r->buf[0] = '\0';
    r->in = weft_input_open(path, NULL, ebuf, sizeof ebuf);
    if (!r->in) {
        weft_set_err(err, err_n, "%s", ebuf);
        weft_flow_csv_close(cr);
        return NULL;
    }
    rep->files++;
    path = r->path;
    /* A UTF-8 byte order mark before the header is not part of the first column's name. */
    fill_more(r);
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;

    size_t line;
    const char *bad;
    if (refill(r) == 0) { weft_set_err(err, err_n, "%s: out of memory", path); goto fail; }
    int got = next_record(r, &line, &bad);
    if (got < 0) { weft_set_err(err, err_n, "%s: out of memory", path); goto fail; }
    if (got == 0) {
        weft_set_err(err, err_n, r->read_error ? "%s: cannot read: %s" : "%s: empty file, no header row", path,
                     r->read_error ? "damaged or unreadable data" : "");
        goto fail;
    }
    if (bad) { weft_set_err(err, err_n, "%s:%zu: header row: %s", path, line, bad); goto fail; }

    int *col = cr->col;
    for (int i = 0; i < C_COUNT; i++) col[i] = -1;
    cr->n_header = r->n_fields;
    for (size_t j = 0; j < cr->n_header; j++) {
        char *name = r->fields[j].s;
        trim(&name);
        for (int i = 0; i < C_COUNT; i++)
            if (strcasecmp(name, col_names[i]) == 0) {
                if (col[i] >= 0) {
                    weft_set_err(err, err_n, "%s:%zu: column '%s' appears twice", path, line, col_names[i]);
                    goto fail;
                }
                col[i] = (int)j;
            }
    }
    static const int required[] = {C_SRC, C_DST, C_START};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (col[required[i]] < 0) {
            weft_set_err(err, err_n, "%s:%zu: not a flow CSV: the header has no '%s' column", path, line,
                    col_names[required[i]]);
            goto fail;
        }
    for (int i = 0; i < C_TUNNEL; i++)
        if (col[i] < 0)
            weft_report_warn(rep, WEFT_CSV_MISSING_COLUMN, path, "line", line,
                             "no '%s' column; its values default to %s", col_names[i],
                             i >= C_LABEL ? "unknown" : "0");
    /* Without any size column a source has no per-direction statistics, whatever has_stats says. */
    cr->stats_default = col[C_FWD + D_MIN] >= 0 || col[C_FWD + D_IAT] >= 0;
    return cr;
fail:
    weft_flow_csv_close(cr);
    return NULL;
}

int weft_flow_csv_next(weft_flow_csv_reader *cr, weft_flow *out, weft_flow_table *t, char *err, size_t err_n)
{
    reader *r = &cr->r;
    weft_read_report *rep = cr->rep;
    const char *path = r->path;
    const int *col = cr->col;
    size_t line;
    const char *bad;
    char why[160];
    for (;;) {
        int fr = refill(r);
        if (fr == 0) { weft_set_err(err, err_n, "%s: out of memory", path); return -1; }
        if (fr == 2) return 2;
        int got = next_record(r, &line, &bad);
        if (got < 0) { weft_set_err(err, err_n, "%s: out of memory", path); return -1; }
        if (got == 0) {
            if (r->read_error)
                weft_report_warn(rep, "file cut short or damaged (rows before it kept)", path, "line", r->line,
                                 "the input could not be read on (damaged compressed data or a read error)");
            r->read_error = false;
            return 0;
        }
        rep->records++;
        if (bad) {
            weft_report_skip(rep, WEFT_CSV_BAD_QUOTE, path, "line", line, "%s", bad);
            continue;
        }
        if (r->n_fields != cr->n_header) {
            weft_report_skip(rep, WEFT_CSV_WRONG_COLUMNS, path, "line", line, "%zu fields where the header has %zu",
                             r->n_fields, cr->n_header);
            continue;
        }
        weft_flow fl;
        memset(&fl, 0, sizeof fl);
        fl.has_stats = cr->stats_default;
        const char *reason = NULL;
        bool backwards = false;
        uint64_t v;
        int c = -1;
#define F(id) r->fields[col[(id)]].s
        if (!weft_ip_parse(F(C_SRC), &fl.src)) c = C_SRC;
        else if (!weft_ip_parse(F(C_DST), &fl.dst)) c = C_DST;
        else if (col[C_SPORT] >= 0 && !(parse_u64(F(C_SPORT), 65535, &v) && ((fl.sport = (uint16_t)v), 1))) c = C_SPORT;
        else if (col[C_DPORT] >= 0 && !(parse_u64(F(C_DPORT), 65535, &v) && ((fl.dport = (uint16_t)v), 1))) c = C_DPORT;
        else if (col[C_PROTO] >= 0 && !(parse_u64(F(C_PROTO), 255, &v) && ((fl.proto = (uint8_t)v), 1))) c = C_PROTO;
        else if (col[C_IPV] >= 0 && !(parse_u64(F(C_IPV), 6, &v) && (v == 4 || v == 6) && ((fl.ip_version = (uint8_t)v), 1)))
            c = C_IPV;
        else if (!parse_f64(F(C_START), &fl.start)) c = C_START;
        else if (col[C_DURATION] >= 0 && !parse_f64(F(C_DURATION), &fl.duration)) c = C_DURATION;
        else if (col[C_HAS_STATS] >= 0 && !(parse_u64(F(C_HAS_STATS), 1, &v) && ((fl.has_stats = v != 0), 1)))
            c = C_HAS_STATS;
        if (c < 0 && col[C_TUNNEL] >= 0 && F(C_TUNNEL)[0]) {
            int tun = weft_tunnel_parse(F(C_TUNNEL));
            if (tun < 0) c = C_TUNNEL;
            else fl.tunnel = (uint8_t)tun;
        }
        if (c < 0 && col[C_OUTER_SRC] >= 0 && F(C_OUTER_SRC)[0] && !weft_ip_parse(F(C_OUTER_SRC), &fl.outer_src))
            c = C_OUTER_SRC;
        if (c < 0 && col[C_OUTER_DST] >= 0 && F(C_OUTER_DST)[0] && !weft_ip_parse(F(C_OUTER_DST), &fl.outer_dst))
            c = C_OUTER_DST;
        if (c < 0 && col[C_VLAN] >= 0 && F(C_VLAN)[0] && !(parse_u64(F(C_VLAN), 4095, &v) && ((fl.vlan = (uint16_t)v), 1)))
            c = C_VLAN;
        if (c >= 0) {
            snprintf(why, sizeof why, "%s '%.46s' is not a valid value", col_names[c], F(c));
            reason = why;
        }
#undef F
        if (!reason && fl.duration < 0) {
            backwards = true;
            snprintf(why, sizeof why, "negative duration %.17g", fl.duration);
            reason = why;
        }
        if (!reason) reason = read_dir(r, col, C_FWD, &fl.fwd, &backwards, why, sizeof why);
        if (!reason) reason = read_dir(r, col, C_BWD, &fl.bwd, &backwards, why, sizeof why);
        if (reason) {
            weft_report_skip(rep, backwards ? WEFT_CSV_BACKWARDS : WEFT_CSV_BAD_FIELD, path, "line", line, "%s",
                             reason);
            continue;
        }
        if (!fl.ip_version) fl.ip_version = weft_ip_is_v4(&fl.src) ? 4 : 6;
        static const int text_cols[3] = {C_LABEL, C_DETAIL, C_CATEGORY};
        const char **text_dst[3] = {&fl.label, &fl.detail, &fl.category};
        for (int k = 0; k < 3; k++) {
            if (col[text_cols[k]] < 0) continue;
            const field *fd = &r->fields[col[text_cols[k]]];
            if (!fd->quoted && !fd->s[0]) continue; /* unknown */
            if (!(*text_dst[k] = weft_flow_table_intern(t, fd->s))) {
                weft_set_err(err, err_n, "%s: out of memory", path);
                return -1;
            }
        }
        if (fl.start < cr->prev_start && !cr->warned_order) {
            weft_report_warn(rep, WEFT_CSV_OUT_OF_ORDER, path, "line", line,
                             "start %.17g is before the previous row's %.17g (rows kept)", fl.start, cr->prev_start);
            cr->warned_order = true;
        }
        cr->prev_start = fl.start;
        *out = fl;
        return 1;
    }
}

int weft_flow_csv_read(const char *path, weft_flow_table *t, weft_read_report *rep, char *err, size_t err_n)
{
    weft_flow_csv_reader *cr = weft_flow_csv_open(path, rep, err, err_n);
    if (!cr) return -1;
    weft_flow fl;
    int got;
    while ((got = weft_flow_csv_next(cr, &fl, t, err, err_n)) == 1)
        if (weft_flow_table_push(t, &fl)) {
            weft_set_err(err, err_n, "%s: out of memory", cr->r.path);
            got = -1;
            break;
        }
    weft_flow_csv_close(cr);
    return got < 0 ? -1 : 0;
}
