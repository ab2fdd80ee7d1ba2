/*
 * ops/einsum.c — Einsum: sums of products over labelled axes (explicit or implicit output, ellipsis,
 * diagonals), accumulated in double. Half precision is computed in float32 (ops/widen.c).
 */
#include <string.h>

#include "op.h"

/*
 * Labels: letters a-z A-Z are 0..51; the ellipsis's axes are 52 + j (right-aligned across the inputs, a
 * size of 1 broadcasting). Without "->" the output is the ellipsis then the letters used exactly once, in
 * ASCII order. Every output element sums, over all values of the labels missing from the output, the
 * product of the inputs' elements (a label repeated in one input reads its diagonal).
 */
enum { ES_LETTERS = 52, ES_MAX_LABELS = ES_LETTERS + WEFT_MAX_RANK, ES_MAX_IN = 8 };

typedef struct {
    int n_in, rank[ES_MAX_IN], lab[ES_MAX_IN][WEFT_MAX_RANK];
    int out_rank, out_lab[WEFT_MAX_RANK];
    int n_sum, sum_lab[ES_MAX_LABELS];
    int64_t size[ES_MAX_LABELS]; /* -1: not yet seen; -2: unknown (symbolic) */
} es_plan;

static int es_letter(char ch)
{
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
    return -1;
}

/* Parses one term of `len` chars into labels; *ell: ellipsis position (-1 none), *n: letter count. */
static weft_status es_term(const weft_node_info *n, const char *t, size_t len, int *lab, int *nl, int *ell)
{
    *nl = 0;
    *ell = -1;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == ' ') continue;
        if (t[i] == '.') {
            if (*ell >= 0 || i + 2 >= len || t[i + 1] != '.' || t[i + 2] != '.')
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation: malformed ellipsis");
            *ell = *nl;
            i += 2;
            continue;
        }
        int l = es_letter(t[i]);
        if (l < 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation: unexpected character '%c'", t[i]);
        if (*nl >= WEFT_MAX_RANK) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation: too many subscripts");
        lab[(*nl)++] = l;
    }
    return WEFT_OK;
}

/* Builds the plan for inputs of ranks/dims (dims entries -1 when unknown). */
static weft_status es_plan_make(const weft_node_info *n, int n_in, const int *ranks, const int64_t (*dims)[WEFT_MAX_RANK],
                                es_plan *p)
{
    const char *eq = weft_attr_string(n, "equation", NULL);
    if (!eq) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute equation is required");
    if (n_in > ES_MAX_IN) return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "more than %d inputs", ES_MAX_IN);
    memset(p, 0, sizeof *p);
    for (int l = 0; l < ES_MAX_LABELS; l++) p->size[l] = -1;
    p->n_in = n_in;
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    int E = 0, letters[ES_MAX_IN][WEFT_MAX_RANK], nls[ES_MAX_IN], ells[ES_MAX_IN];
    int count[ES_LETTERS] = {0};
    const char *t = eq;
    for (int i = 0; i < n_in; i++) {
        const char *end = memchr(t, ',', lhs_len - (size_t)(t - eq));
        size_t len = end ? (size_t)(end - t) : lhs_len - (size_t)(t - eq);
        if (!end && i != n_in - 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation has fewer terms than the %d inputs", n_in);
        weft_status st = es_term(n, t, len, letters[i], &nls[i], &ells[i]);
        if (st) return st;
        int ne = ranks[i] - nls[i];
        if (ne < 0 || (ells[i] < 0 && ne != 0))
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d has rank %d but its term has %d subscripts", i, ranks[i], nls[i]);
        if (ne > E) E = ne;
        for (int j = 0; j < nls[i]; j++) count[letters[i][j]]++;
        t = end ? end + 1 : t + len;
    }
    if (memchr(t, ',', lhs_len - (size_t)(t - eq))) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "equation has more terms than inputs");
    /* Input labels and sizes. */
    for (int i = 0; i < n_in; i++) {
        int ne = ranks[i] - nls[i], k = 0;
        for (int j = 0; j <= nls[i]; j++) {
            if (j == ells[i])
                for (int e = 0; e < ne; e++) p->lab[i][k++] = ES_LETTERS + E - ne + e;
            if (j < nls[i]) p->lab[i][k++] = letters[i][j];
        }
        p->rank[i] = ranks[i];
        for (int a = 0; a < ranks[i]; a++) {
            int l = p->lab[i][a];
            int64_t d = dims[i][a];
            if (d < 0) { if (p->size[l] == -1) p->size[l] = -2; continue; }
            if (p->size[l] < 0) p->size[l] = d;
            else if (p->size[l] != d) {
                /* Ellipsis axes broadcast: a 1 takes the other size. */
                if (l >= ES_LETTERS && d == 1) continue;
                if (l >= ES_LETTERS && p->size[l] == 1) { p->size[l] = d; continue; }
                return weft_op_error(n, WEFT_ERR_SHAPE, "subscript of input %d axis %d has size %lld, elsewhere %lld", i, a,
                                     (long long)d, (long long)p->size[l]);
            }
        }
    }
    /* Output labels. */
    bool in_out[ES_MAX_LABELS] = {false};
    if (arrow) {
        int ol[WEFT_MAX_RANK], nol, oell;
        weft_status st = es_term(n, arrow + 2, strlen(arrow + 2), ol, &nol, &oell);
        if (st) return st;
        /* Without an ellipsis in the output, the ellipsis's axes are summed. */
        for (int j = 0; j <= nol; j++) {
            if (j == oell)
                for (int e = 0; e < E; e++) p->out_lab[p->out_rank++] = ES_LETTERS + e;
            if (j < nol) {
                if (!count[ol[j]]) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "output subscript '%c' is not an input's", arrow[2 + j]);
                if (in_out[ol[j]]) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "output subscript repeated");
                p->out_lab[p->out_rank++] = ol[j];
                in_out[ol[j]] = true;
            }
            if (p->out_rank > WEFT_MAX_RANK) return weft_op_error(n, WEFT_ERR_SHAPE, "output rank too large");
        }
        for (int e = 0; e < E; e++) if (oell >= 0) in_out[ES_LETTERS + e] = true;
    } else {
        for (int e = 0; e < E; e++) { p->out_lab[p->out_rank++] = ES_LETTERS + e; in_out[ES_LETTERS + e] = true; }
        static const char ascii[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (int c = 0; ascii[c]; c++) {
            int l = es_letter(ascii[c]);
            if (count[l] == 1) {
                if (p->out_rank >= WEFT_MAX_RANK) return weft_op_error(n, WEFT_ERR_SHAPE, "output rank too large");
                p->out_lab[p->out_rank++] = l;
                in_out[l] = true;
            }
        }
    }
    for (int l = 0; l < ES_MAX_LABELS; l++)
        if (p->size[l] != -1 && !in_out[l]) p->sum_lab[p->n_sum++] = l;
    return WEFT_OK;
}

static weft_status einsum_infer(weft_infer_ctx *c)
{
    weft_dtype dt = c->in_dtype[0];
    if (!weft_dtype_is_float(dt))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0: dtype %s is not supported (floats only)", weft_dtype_name(dt));
    int ranks[ES_MAX_IN];
    int64_t dims[ES_MAX_IN][WEFT_MAX_RANK];
    if (c->n_in > ES_MAX_IN) return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "more than %d inputs", ES_MAX_IN);
    c->out_dtype[0] = dt;
    for (int i = 0; i < c->n_in; i++) {
        if (c->in_dtype[i] != dt)
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(dt));
        if (c->in_shape[i].rank < 0) { c->out_shape[0].rank = -1; return WEFT_OK; }
        ranks[i] = c->in_shape[i].rank;
        for (int a = 0; a < ranks[i]; a++) dims[i][a] = weft_dim_known(c->in_shape[i].d[a]) ? c->in_shape[i].d[a].v : -1;
    }
    es_plan p;
    weft_status st = es_plan_make(c->node, c->n_in, ranks, (const int64_t(*)[WEFT_MAX_RANK])dims, &p);
    if (st) return st;
    c->out_shape[0].rank = p.out_rank;
    for (int a = 0; a < p.out_rank; a++) {
        int64_t s = p.size[p.out_lab[a]];
        c->out_shape[0].d[a] = s >= 0 ? weft_dim_num(s) : weft_dim_unknown(c);
    }
    return WEFT_OK;
}

#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        T *y = k->out[0].data;                                                                        \
        int64_t idx[ES_MAX_LABELS] = {0};                                                             \
        for (int64_t o = 0; o < k->out[0].numel; o++) {                                               \
            int64_t rem = o;                                                                          \
            for (int a = p.out_rank - 1; a >= 0; a--) {                                               \
                int64_t s = p.size[p.out_lab[a]];                                                     \
                idx[p.out_lab[a]] = rem % s;                                                          \
                rem /= s;                                                                             \
            }                                                                                         \
            for (int q = 0; q < p.n_sum; q++) idx[p.sum_lab[q]] = 0;                                  \
            double acc = 0;                                                                           \
            for (int64_t t = 0; t < nsum; t++) {                                                      \
                double prod = 1;                                                                      \
                for (int i = 0; i < p.n_in; i++) {                                                    \
                    int64_t off = 0;                                                                  \
                    for (int a = 0; a < p.rank[i]; a++) off += idx[p.lab[i][a]] * str[i][a];          \
                    prod *= (double)((const T *)k->in[i].data)[off];                                  \
                }                                                                                     \
                acc += prod;                                                                          \
                for (int q = p.n_sum - 1; q >= 0; q--) {                                              \
                    if (++idx[p.sum_lab[q]] < p.size[p.sum_lab[q]]) break;                            \
                    idx[p.sum_lab[q]] = 0;                                                            \
                }                                                                                     \
            }                                                                                         \
            y[o] = (T)acc;                                                                            \
        }                                                                                             \
    }
static weft_status einsum_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    int ranks[ES_MAX_IN];
    int64_t dims[ES_MAX_IN][WEFT_MAX_RANK], str[ES_MAX_IN][WEFT_MAX_RANK];
    for (int i = 0; i < k->n_in && i < ES_MAX_IN; i++) {
        ranks[i] = k->in[i].rank;
        memcpy(dims[i], k->in[i].dims, sizeof dims[i]);
    }
    es_plan p;
    weft_status st = es_plan_make(k->node, k->n_in, ranks, (const int64_t(*)[WEFT_MAX_RANK])dims, &p);
    if (st) return st;
    int64_t nsum = 1;
    for (int q = 0; q < p.n_sum; q++) nsum *= p.size[p.sum_lab[q]];
    for (int i = 0; i < p.n_in; i++) {
        weft_strides(dims[i], ranks[i], str[i]);
        /* A broadcast (size 1) ellipsis axis always reads index 0. */
        for (int a = 0; a < ranks[i]; a++) if (dims[i][a] == 1) str[i][a] = 0;
    }
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY
static weft_status einsum_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, einsum_body); }

const weft_op_def weft_ops_einsum[] = {
    {"Einsum", "", 12, 0, 1, -1, 1, 1, 0, einsum_infer, einsum_run},
};
const int weft_ops_einsum_count = sizeof weft_ops_einsum / sizeof weft_ops_einsum[0];
