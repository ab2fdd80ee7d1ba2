/* traffic/features.c — flow statistics, quantile scaling, positional encodings (see features.h). */
#include "features.h"
#include "radix.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const weft_feat_stat_names[WEFT_FEAT_NSTATS] = {
    "duration",
    "bi_packets", "bi_bytes", "bi_min_size", "bi_max_size", "bi_mean_size", "bi_mean_iat",
    "fwd_packets", "fwd_bytes", "fwd_min_size", "fwd_max_size", "fwd_mean_size", "fwd_mean_iat",
    "bwd_packets", "bwd_bytes", "bwd_min_size", "bwd_max_size", "bwd_mean_size", "bwd_mean_iat",
    "bi_flags", "fwd_flags", "bwd_flags",
    "byte_rate", "packet_rate",
};

static void dir_stats(const weft_flow_dir *d, double *o)
{
    o[0] = (double)d->packets;
    o[1] = (double)d->bytes;
    o[2] = d->packets ? d->min_size : 0;
    o[3] = d->packets ? d->max_size : 0;
    o[4] = d->packets ? (double)d->bytes / (double)d->packets : 0;
    o[5] = d->mean_iat;
}

void weft_flow_stats(const weft_flow *f, double o[WEFT_FEAT_NSTATS])
{
    const weft_flow_dir *a = &f->fwd, *b = &f->bwd;
    o[0] = f->duration;
    /* Sums in double: packet and byte counts are far below 2^53 in any real flow. */
    double pk = (double)a->packets + (double)b->packets;
    double by = (double)a->bytes + (double)b->bytes;
    o[1] = pk;
    o[2] = by;
    double mn = 0, mx = 0;
    if (a->packets && b->packets) {
        mn = a->min_size < b->min_size ? a->min_size : b->min_size;
        mx = a->max_size > b->max_size ? a->max_size : b->max_size;
    } else if (a->packets) {
        mn = a->min_size, mx = a->max_size;
    } else if (b->packets) {
        mn = b->min_size, mx = b->max_size;
    }
    o[3] = mn;
    o[4] = mx;
    o[5] = pk > 0 ? by / pk : 0;
    o[6] = pk >= 2 ? f->duration / (pk - 1) : 0;
    dir_stats(a, o + 7);
    dir_stats(b, o + 13);
    o[19] = (double)(a->flags | b->flags);
    o[20] = (double)a->flags;
    o[21] = (double)b->flags;
    o[22] = f->duration > 0 ? by / f->duration : 0;
    o[23] = f->duration > 0 ? pk / f->duration : 0;
}

double weft_quantile_sorted(const double *x, size_t n, double q)
{
    if (n == 1 || q <= 0) return x[0];
    if (q >= 1) return x[n - 1];
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i >= n - 1) return x[n - 1];
    double frac = pos - (double)i;
    return frac == 0 ? x[i] : x[i] + frac * (x[i + 1] - x[i]);
}

int weft_scaler_fit(weft_scaler *s, const weft_flow *flows, size_t n, double q_lo, double q_hi, char *err,
                    size_t err_n)
{
    if (n == 0) {
        weft_set_err(err, err_n, "cannot fit feature scaling on zero flows");
        return -1;
    }
    if (!(q_lo >= 0 && q_hi <= 1 && q_lo <= q_hi)) {
        weft_set_err(err, err_n, "scaling quantiles must satisfy 0 <= low <= high <= 1 (got %g and %g)", q_lo, q_hi);
        return -1;
    }
    if (n > SIZE_MAX / sizeof(double) / WEFT_FEAT_NSTATS) {
        weft_set_err(err, err_n, "too many flows to fit feature scaling");
        return -1;
    }
    /* Column-major copy so each column sorts on its own (a linear radix sort of order-preserving keys). */
    double *col = malloc(n * WEFT_FEAT_NSTATS * sizeof *col);
    uint64_t *k1 = malloc(n * sizeof *k1), *k2 = malloc(n * sizeof *k2);
    if (!col || !k1 || !k2) {
        free(col), free(k1), free(k2);
        weft_set_err(err, err_n, "out of memory fitting feature scaling on %zu flows", n);
        return -1;
    }
    double st[WEFT_FEAT_NSTATS];
    for (size_t i = 0; i < n; i++) {
        weft_flow_stats(&flows[i], st);
        for (int c = 0; c < WEFT_FEAT_NSTATS; c++) col[(size_t)c * n + i] = st[c];
    }
    s->q_lo = q_lo;
    s->q_hi = q_hi;
    for (int c = 0; c < WEFT_FEAT_NSTATS; c++) {
        double *x = col + (size_t)c * n;
        for (size_t i = 0; i < n; i++) k1[i] = weft_radix_double_key(x[i]);
        weft_radix_sort_u64(k1, NULL, n, k2, NULL);
        for (size_t i = 0; i < n; i++) x[i] = weft_radix_key_double(k1[i]);
        s->lo[c] = weft_quantile_sorted(x, n, q_lo);
        s->hi[c] = weft_quantile_sorted(x, n, q_hi);
    }
    free(col), free(k1), free(k2);
    return 0;
}

float weft_scaler_apply(const weft_scaler *s, int c, double v)
{
    double lo = s->lo[c], hi = s->hi[c];
    if (!(v > lo)) return 0.0f; /* also NaN: the lowest bucket rather than a NaN feature */
    if (v >= hi) return 1.0f;
    return (float)((v - lo) / (hi - lo));
}

static void scaler_write(const weft_scaler *s, FILE *f)
{
    fprintf(f, "weft-scaler 1\nquantiles %.17g %.17g\n", s->q_lo, s->q_hi);
    for (int c = 0; c < WEFT_FEAT_NSTATS; c++)
        fprintf(f, "%s %.17g %.17g\n", weft_feat_stat_names[c], s->lo[c], s->hi[c]);
}

int weft_scaler_save(const weft_scaler *s, const char *path, char *err, size_t err_n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        weft_set_err(err, err_n, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    scaler_write(s, f);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        weft_set_err(err, err_n, "%s: write failed", path);
        return -1;
    }
    return 0;
}

char *weft_scaler_to_text(const weft_scaler *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    scaler_write(s, f);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Reads one line into buf; returns false at end of file or when the line does not fit. */
static bool get_line(FILE *f, char *buf, size_t n, bool *too_long)
{
    *too_long = false;
    if (!fgets(buf, (int)n, f)) return false;
    size_t len = strlen(buf);
    if (len && buf[len - 1] == '\n') buf[--len] = '\0';
    else if (!feof(f)) {
        *too_long = true;
        return false;
    }
    if (len && buf[len - 1] == '\r') buf[--len] = '\0';
    return true;
}

static bool parse_num(const char *s, double *v)
{
    char *end;
    if (!*s) return false;
    errno = 0;
    *v = strtod(s, &end);
    return *end == '\0' && isfinite(*v);
}

/* Reads a scaler from f; `path` names it in messages. Closes f. */
static int scaler_read(weft_scaler *out, FILE *f, const char *path, char *err, size_t err_n)
{
    weft_scaler s;
    char line[512], a[64], b[64], c[64], extra[2];
    bool too_long;
    int rc = -1, ln = 1;
    if (!get_line(f, line, sizeof line, &too_long) || strcmp(line, "weft-scaler 1") != 0) {
        weft_set_err(err, err_n, "%s:1: not a weft scaler file (expected the line 'weft-scaler 1')", path);
        goto out;
    }
    ln = 2;
    if (!get_line(f, line, sizeof line, &too_long) || sscanf(line, "quantiles %63s %63s %1s", a, b, extra) != 2 ||
        !parse_num(a, &s.q_lo) || !parse_num(b, &s.q_hi) || !(s.q_lo >= 0 && s.q_lo <= s.q_hi && s.q_hi <= 1)) {
        weft_set_err(err, err_n, "%s:2: expected 'quantiles LOW HIGH' with 0 <= LOW <= HIGH <= 1", path);
        goto out;
    }
    for (int k = 0; k < WEFT_FEAT_NSTATS; k++) {
        ln = 3 + k;
        if (!get_line(f, line, sizeof line, &too_long)) {
            weft_set_err(err, err_n, "%s:%d: %s; expected the bounds of '%s'", path, ln,
                    too_long ? "line too long" : "file ends early", weft_feat_stat_names[k]);
            goto out;
        }
        if (sscanf(line, "%63s %63s %63s %1s", a, b, c, extra) != 3 || strcmp(a, weft_feat_stat_names[k]) != 0) {
            weft_set_err(err, err_n, "%s:%d: expected '%s LOW HIGH'", path, ln, weft_feat_stat_names[k]);
            goto out;
        }
        if (!parse_num(b, &s.lo[k]) || !parse_num(c, &s.hi[k]) || s.lo[k] > s.hi[k]) {
            weft_set_err(err, err_n, "%s:%d: bounds of '%s' must be finite numbers with LOW <= HIGH", path, ln,
                    weft_feat_stat_names[k]);
            goto out;
        }
    }
    while (get_line(f, line, sizeof line, &too_long)) {
        ln++;
        if (line[strspn(line, " \t")] != '\0') {
            weft_set_err(err, err_n, "%s:%d: unexpected text after the last statistic", path, ln);
            goto out;
        }
    }
    if (too_long) {
        weft_set_err(err, err_n, "%s:%d: line too long", path, ln + 1);
        goto out;
    }
    *out = s;
    rc = 0;
out:
    fclose(f);
    return rc;
}

int weft_scaler_load(weft_scaler *out, const char *path, char *err, size_t err_n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        weft_set_err(err, err_n, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    return scaler_read(out, f, path, err, err_n);
}

int weft_scaler_from_text(weft_scaler *out, const char *text, const char *what, char *err, size_t err_n)
{
    size_t n = strlen(text);
    FILE *f = n ? fmemopen((void *)text, n, "r") : NULL;
    if (!f) {
        weft_set_err(err, err_n, "%s:1: not a weft scaler (expected the line 'weft-scaler 1')", what);
        return -1;
    }
    return scaler_read(out, f, what, err, err_n);
}

void weft_pos_encoding(double p, int d, float *out)
{
    for (int i = 0; 2 * i < d; i++) {
        double w = p / pow(10000.0, (double)(2 * i) / (double)d);
        out[2 * i] = (float)sin(w);
        if (2 * i + 1 < d) out[2 * i + 1] = (float)cos(w);
    }
}

void weft_con_features(const weft_scaler *s, const weft_flow *f, size_t pos, const float *pe, float *out)
{
    double st[WEFT_FEAT_NSTATS];
    weft_flow_stats(f, st);
    for (int c = 0; c < WEFT_FEAT_NSTATS; c++) out[c] = weft_scaler_apply(s, c, st[c]);
    float *p = out + WEFT_FEAT_PROTO;
    p[0] = p[1] = p[2] = p[3] = 0.0f;
    if (f->proto == 6) p[0] = 1.0f;
    else if (f->proto == 17) p[1] = 1.0f;
    else if (f->proto == 1 || f->proto == 58) p[2] = 1.0f;
    else p[3] = 1.0f;
    out[WEFT_FEAT_IPVER] = f->ip_version == 6 ? 0.0f : 1.0f;
    out[WEFT_FEAT_IPVER + 1] = f->ip_version == 6 ? 1.0f : 0.0f;
    if (pe) memcpy(out + WEFT_FEAT_CON_PE, pe, WEFT_FEAT_PE_DIM * sizeof(float));
    else weft_pos_encoding((double)pos, WEFT_FEAT_PE_DIM, out + WEFT_FEAT_CON_PE);
}

void weft_ip_features(size_t slice, float *out)
{
    out[0] = 1.0f;
    weft_pos_encoding((double)slice, WEFT_FEAT_PE_DIM, out + 1);
}
