/*
 * compiler/pass_report.c — what the passes did, in numbers that do not depend on the sizes bound later:
 * node counts and bytes of intermediates as sums of coefficient × product of symbols
 * ("512·num_edges + 128·num_nodes").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static weft_status count_one(weft_graph *g, void *user)
{
    *(int *)user += g->n_nodes;
    return WEFT_OK;
}

int weft_graph_count_nodes(const weft_graph *g)
{
    int n = 0;
    weft_graph_walk((weft_graph *)g, count_one, &n);
    return n;
}

static int cmp_sym(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void add_term(weft_bytes_expr *e, double coef, const int32_t *syms, int n_syms)
{
    for (int i = 0; i < e->n; i++) {
        if (e->t[i].n_syms != n_syms || memcmp(e->t[i].syms, syms, (size_t)n_syms * sizeof *syms)) continue;
        e->t[i].coef += coef;
        return;
    }
    if (e->n == WEFT_BYTES_TERMS) { e->truncated = true; return; }
    e->t[e->n].coef = coef;
    e->t[e->n].n_syms = n_syms;
    memcpy(e->t[e->n].syms, syms, (size_t)n_syms * sizeof *syms);
    e->n++;
}

void weft_bytes_add(weft_bytes_expr *e, weft_dtype dt, const weft_shape *s, double sign)
{
    size_t es = weft_dtype_size(dt);
    if (!es || s->rank < 0) return;
    double coef = sign * (double)es;
    int32_t syms[WEFT_MAX_RANK];
    int n = 0;
    for (int d = 0; d < s->rank; d++) {
        if (weft_dim_known(s->d[d])) coef *= (double)s->d[d].v;
        else syms[n++] = s->d[d].sym;
    }
    if (coef == 0) return;
    qsort(syms, (size_t)n, sizeof *syms, cmp_sym);
    add_term(e, coef, syms, n);
}

void weft_bytes_of_intermediates(const weft_graph *g, weft_bytes_expr *out)
{
    memset(out, 0, sizeof *out);
    for (int v = 0; v < g->n_values; v++) {
        const weft_value *val = &g->values[v];
        if (val->producer < 0 || (val->flags & (WEFT_VALUE_CONST | WEFT_VALUE_INPUT | WEFT_VALUE_OUTER))) continue;
        weft_bytes_add(out, val->dtype, &val->shape, 1.0);
    }
}

void weft_bytes_sub(const weft_bytes_expr *a, const weft_bytes_expr *b, weft_bytes_expr *out)
{
    weft_bytes_expr r = *a;
    for (int i = 0; i < b->n; i++) add_term(&r, -b->t[i].coef, b->t[i].syms, b->t[i].n_syms);
    r.truncated |= b->truncated;
    *out = r;
}

static void fmt_bytes(double b, char *buf, size_t n)
{
    double a = b < 0 ? -b : b;
    if (a >= 1 << 30) snprintf(buf, n, "%.1f GiB", b / (1 << 30));
    else if (a >= 1 << 20) snprintf(buf, n, "%.1f MiB", b / (1 << 20));
    else if (a >= 1 << 10) snprintf(buf, n, "%.1f KiB", b / (1 << 10));
    else snprintf(buf, n, "%.0f B", b);
}

void weft_bytes_format(const weft_bytes_expr *e, const weft_symtab *syms, char *buf, size_t n)
{
    size_t len = 0;
    double constant = 0;
    buf[0] = '\0';
    for (int i = 0; i < e->n && len < n; i++) {
        if (e->t[i].coef == 0) continue;
        if (!e->t[i].n_syms) { constant += e->t[i].coef; continue; }
        double c = e->t[i].coef;
        len += (size_t)snprintf(buf + len, n - len, "%s%.0f", len ? (c < 0 ? " - " : " + ") : (c < 0 ? "-" : ""), c < 0 ? -c : c);
        for (int k = 0; k < e->t[i].n_syms && len < n; k++)
            len += (size_t)snprintf(buf + len, n - len, "·%s", weft_sym_name(syms, e->t[i].syms[k]));
    }
    if (constant != 0 || !len) {
        char b[32];
        fmt_bytes(constant < 0 ? -constant : constant, b, sizeof b);
        if (len < n) snprintf(buf + len, n - len, "%s%s", len ? (constant < 0 ? " - " : " + ") : (constant < 0 ? "-" : ""), b);
    }
    if (e->truncated && strlen(buf) + 8 < n) strcat(buf, " + ...");
}
