/*
 * ops/cpu/csr.c — the CSR index of an edge list (ai.weft CSR): a stable counting sort, O(N + E).
 *
 * One thread: count per segment, prefix sums, then place each edge at its segment's cursor in edge
 * order. Several threads: thread t counts its own contiguous range of edges into its own row of a
 * [threads, N] histogram; the prefix sums then give thread t, for every segment, the position after
 * all edges of that segment owned by threads before t; each thread places its edges in edge order from
 * there. Edges of a segment therefore keep their original order whatever the thread count, and no
 * position is written twice (no atomics).
 *
 * Every index is checked before anything is written (this is where CsrReduce & co. get indices they
 * may trust); the first bad position is reported, index before src_index.
 */
#include <stdlib.h>
#include <string.h>

#include "kern.h"

int weft_cpu_csr_threads(const weft_kernel_ctx *k, int64_t E, int64_t N)
{
    /* Each thread zeroes and scans N counters: that only pays when edges outnumber segments. */
    if (E < 2 * N) return 1;
    int nt = weft_cpu_threads_for(k, E);
    return nt > 64 ? 64 : nt;
}

int64_t weft_cpu_csr_hist_len(int64_t N, int threads) { return (N ? N : 1) * (threads > 1 ? threads : 1); }

/* Value i of the index wrapped into [0, N) (already checked). */
static inline int64_t seg_of(const weft_cpu_csr_job *j, int64_t i)
{
    int64_t v = weft_cpu_ld(j->index, j->index_wide, i);
    return v < 0 ? v + j->N : v;
}

static inline int64_t col_of(const weft_cpu_csr_job *j, int64_t i)
{
    int64_t v = weft_cpu_ld(j->src, j->src_wide, i);
    return v < 0 ? v + j->M : v;
}

/* --- one thread ---------------------------------------------------------------------------------- */

static void build_serial(weft_cpu_csr_job *j)
{
    int64_t N = j->N, E = j->E, *cur = j->hist, *off = j->offsets;
    memset(cur, 0, (size_t)N * sizeof *cur);
    for (int64_t i = 0; i < E; i++) cur[seg_of(j, i)]++;
    int64_t s = 0;
    for (int64_t n = 0; n < N; n++) {
        off[n] = s;
        int64_t c = cur[n];
        cur[n] = s;
        s += c;
    }
    off[N] = s;
    for (int64_t i = 0; i < E; i++) {
        int64_t p = cur[seg_of(j, i)]++;
        j->perm[p] = i;
        if (j->col) j->col[p] = col_of(j, i);
    }
}

/* --- several threads ----------------------------------------------------------------------------- */

typedef struct {
    weft_cpu_csr_job *j;
    int nt;              /* parts of the edge list: fixed before the first region */
    int64_t part_sum[64];
} par_job;

/* Thread t counts edges of part t into hist row t. */
static void count_task(void *ctx, int t, int nt)
{
    par_job *p = ctx;
    weft_cpu_csr_job *j = p->j;
    for (int part = t; part < p->nt; part += nt) {
        int64_t b, e, *h = j->hist + (int64_t)part * j->N;
        weft_cpu_part(j->E, part, p->nt, &b, &e);
        memset(h, 0, (size_t)j->N * sizeof *h);
        for (int64_t i = b; i < e; i++) h[seg_of(j, i)]++;
    }
}

/* For the segments of part t: each hist column becomes the exclusive prefix over parts (positions
 * relative to the segment's start), and the segment's size goes to offsets[n + 1]. */
static void column_task(void *ctx, int t, int nt)
{
    par_job *p = ctx;
    weft_cpu_csr_job *j = p->j;
    for (int part = t; part < p->nt; part += nt) {
        int64_t b, e, sum = 0;
        weft_cpu_part(j->N, part, p->nt, &b, &e);
        for (int64_t n = b; n < e; n++) {
            int64_t s = 0;
            for (int q = 0; q < p->nt; q++) {
                int64_t *h = j->hist + (int64_t)q * j->N + n;
                int64_t c = *h;
                *h = s;
                s += c;
            }
            j->offsets[n + 1] = s;
            sum += s;
        }
        p->part_sum[part] = sum;
    }
}

/* Offsets of the segments of part t from the part's base (part_sum now holds exclusive prefixes), and
 * every hist entry made absolute. */
static void offsets_task(void *ctx, int t, int nt)
{
    par_job *p = ctx;
    weft_cpu_csr_job *j = p->j;
    for (int part = t; part < p->nt; part += nt) {
        int64_t b, e, s = p->part_sum[part];
        weft_cpu_part(j->N, part, p->nt, &b, &e);
        for (int64_t n = b; n < e; n++) {
            int64_t c = j->offsets[n + 1];
            j->offsets[n] = s;
            for (int q = 0; q < p->nt; q++) j->hist[(int64_t)q * j->N + n] += s;
            s += c;
        }
    }
}

/* Thread t places the edges of part t, in edge order, at its cursors. */
static void place_task(void *ctx, int t, int nt)
{
    par_job *p = ctx;
    weft_cpu_csr_job *j = p->j;
    for (int part = t; part < p->nt; part += nt) {
        int64_t b, e, *cur = j->hist + (int64_t)part * j->N;
        weft_cpu_part(j->E, part, p->nt, &b, &e);
        if (j->col) {
            for (int64_t i = b; i < e; i++) {
                int64_t q = cur[seg_of(j, i)]++;
                j->perm[q] = i;
                j->col[q] = col_of(j, i);
            }
        } else {
            for (int64_t i = b; i < e; i++) j->perm[cur[seg_of(j, i)]++] = i;
        }
    }
}

static void build_parallel(weft_cpu_csr_job *j)
{
    /* Work is split into nt parts up front; a smaller team (thread limits) takes several parts each,
     * so the result never depends on how many threads actually ran. */
    par_job p = {j, j->threads, {0}};
    weft_cpu_parallel(p.nt, count_task, &p);
    weft_cpu_parallel(p.nt, column_task, &p);
    int64_t s = 0;
    for (int q = 0; q < p.nt; q++) {
        int64_t c = p.part_sum[q];
        p.part_sum[q] = s;
        s += c;
    }
    j->offsets[j->N] = s;
    weft_cpu_parallel(p.nt, offsets_task, &p);
    weft_cpu_parallel(p.nt, place_task, &p);
}

int weft_cpu_csr_build(weft_cpu_csr_job *j, int64_t *bad_pos, bool *bad_src)
{
    int nt = j->threads;
    if (nt > 64) nt = j->threads = 64;
    int64_t bad = weft_cpu_first_bad(j->index, j->index_wide, j->E, j->wrap ? -j->N : 0, j->N, nt);
    if (bad >= 0) {
        *bad_pos = bad;
        *bad_src = false;
        return -1;
    }
    if (j->src) {
        bad = weft_cpu_first_bad(j->src, j->src_wide, j->E, j->src_wrap ? -j->M : 0, j->M, nt);
        if (bad >= 0) {
            *bad_pos = bad;
            *bad_src = true;
            return -1;
        }
    }
    if (nt <= 1 || j->N == 0) {
        if (j->N == 0) { /* no segment, hence (indices checked) no edge */
            j->offsets[0] = 0;
            return 0;
        }
        build_serial(j);
    } else {
        build_parallel(j);
    }
    return 0;
}

/* --- structure checks of a CSR index read by CsrReduce & co. ------------------------------------- */

int64_t weft_cpu_perm_seen_len(int64_t E) { return E / 64 + 1; }

typedef struct {
    const int64_t *off, *perm, *col;
    int64_t N, E, M;
    uint64_t *seen;
    int nt;
    int bad[256];
} valid_job;

static void valid_task(void *ctx, int t, int nt)
{
    valid_job *v = ctx;
    for (int part = t; part < v->nt; part += nt) {
        int64_t b, e;
        int bad = 0;
        /* offsets n in [b, e) against n - 1 */
        weft_cpu_part(v->N + 1, part, v->nt, &b, &e);
        for (int64_t n = b > 0 ? b : 1; n < e && !bad; n++) bad = v->off[n] < v->off[n - 1];
        weft_cpu_part(v->E, part, v->nt, &b, &e);
        if (v->col)
            for (int64_t j = b; j < e && !bad; j++) bad = v->col[j] < 0 || v->col[j] >= v->M;
        if (v->perm)
            for (int64_t j = b; j < e && !bad; j++) {
                int64_t q = v->perm[j];
                if (q < 0 || q >= v->E) {
                    bad = 1;
                    break;
                }
                /* a repeated edge: its bit is already set (whichever thread set it first) */
                uint64_t bit = (uint64_t)1 << (q & 63);
                bad = (__atomic_fetch_or(&v->seen[q >> 6], bit, __ATOMIC_RELAXED) & bit) != 0;
            }
        v->bad[part] = bad;
    }
}

bool weft_cpu_csr_valid(const weft_kernel_ctx *k, int io, int64_t E, int ip, int ic, int64_t M, uint64_t *seen, int nt)
{
    const weft_tview *o = &k->in[io];
    if (o->dtype != WEFT_INT64 || o->rank != 1 || o->numel < 1) return false;
    const int64_t *off = o->data;
    int64_t N = o->numel - 1;
    if (off[0] != 0 || off[N] != E) return false;
    valid_job v = {off, NULL, NULL, N, E, M, seen, nt > 256 ? 256 : nt, {0}};
    if (ip >= 0) {
        const weft_tview *p = &k->in[ip];
        if (p->dtype != WEFT_INT64 || p->rank != 1 || p->numel != E) return false;
        v.perm = p->data;
        memset(seen, 0, (size_t)weft_cpu_perm_seen_len(E) * sizeof *seen);
    }
    if (ic >= 0) {
        const weft_tview *c = &k->in[ic];
        if (c->dtype != WEFT_INT64 || c->rank != 1 || c->numel != E) return false;
        v.col = c->data;
    }
    if (v.nt < 1 || N + E < WEFT_CPU_GRAIN) v.nt = 1;
    weft_cpu_parallel(v.nt, valid_task, &v);
    for (int t = 0; t < v.nt; t++)
        if (v.bad[t]) return false;
    return true;
}

/* --- the ai.weft CSR op -------------------------------------------------------------------------- */

static bool csr_supports(const weft_step_desc *s)
{
    if (!weft_cpu_is_op(s, "ai.weft", "CSR") || s->n_in < 2 || s->n_out < 2) return false;
    if (!weft_cpu_index(s->in_dtype[0])) return false;
    if (s->n_in > 2 && s->in_dtype[2] != WEFT_UNDEFINED && !weft_cpu_index(s->in_dtype[2])) return false;
    return true;
}

static weft_status csr_prepare(const weft_step_desc *s, void **prepared)
{
    weft_cpu_prep *p;
    weft_status st = weft_cpu_prep_new(s, &p);
    if (st) return st;
    p->kind = (int)weft_attr_int(s->node, "wrap", 0) != 0;
    p->flags = (int)weft_attr_int(s->node, "src_wrap", 1) != 0;
    *prepared = p;
    return WEFT_OK;
}

static weft_status csr_run(const void *prepared, weft_kernel_ctx *k)
{
    const weft_cpu_prep *p = prepared;
    const weft_tview *idx = &k->in[0];
    bool has_src = weft_kin_present(k, 2), has_col = k->n_out > 2 && k->out[2].dtype != WEFT_UNDEFINED;
    int64_t E = idx->numel, N = -1, M = 0;
    if (k->in[1].numel == 1) N = weft_load_i64(k->in[1].dtype, k->in[1].data, 0);
    /* anything the reference would refuse before or besides a bad index value: it says what */
    if (!weft_cpu_index(idx->dtype) || N < 0 || k->out[0].numel != N + 1 || k->out[1].numel != E ||
        (has_col && !has_src))
        return p->def->run(k);
    if (has_src) {
        const weft_tview *s = &k->in[2];
        if (!weft_cpu_index(s->dtype) || s->numel != E || !weft_kin_present(k, 3) || k->in[3].numel != 1 ||
            (M = weft_load_i64(k->in[3].dtype, k->in[3].data, 0)) < 0)
            return p->def->run(k);
    }
    int nt = weft_cpu_csr_threads(k, E, N);
    int64_t *hist = k->scratch(k->user, (size_t)weft_cpu_csr_hist_len(N, nt) * sizeof(int64_t));
    if (!hist) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    weft_cpu_csr_job j = {
        .index = idx->data, .index_wide = idx->dtype == WEFT_INT64, .wrap = p->kind, .E = E, .N = N,
        .src = has_src ? k->in[2].data : NULL, .src_wide = has_src && k->in[2].dtype == WEFT_INT64,
        .src_wrap = p->flags, .M = M, .offsets = k->out[0].data, .perm = k->out[1].data,
        .col = has_col ? k->out[2].data : NULL, .hist = hist, .threads = nt,
    };
    int64_t bad = 0;
    bool bad_src = false;
    if (weft_cpu_csr_build(&j, &bad, &bad_src)) {
        const char *name = bad_src ? "src_index" : "index";
        int64_t v = bad_src ? weft_cpu_ld(j.src, j.src_wide, bad) : weft_cpu_ld(j.index, j.index_wide, bad);
        int64_t n = bad_src ? M : N;
        bool wrap = bad_src ? j.src_wrap : j.wrap;
        return weft_op_error(k->node, WEFT_ERR_INDEX, "input %d (%s): %s[%lld] = %lld is out of range [%lld, %lld)",
                             bad_src ? 2 : 0, name, name, (long long)bad, (long long)v, (long long)(wrap ? -n : 0),
                             (long long)n);
    }
    return WEFT_OK;
}

const weft_cpu_op weft_cpu_op_csr = {"ai.weft", "CSR", csr_supports, csr_prepare, csr_run, weft_cpu_prep_free};
