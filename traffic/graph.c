/* traffic/graph.c — flows → spatio-temporal graphs (see graph.h for the exact rules). libc only.
 *
 * Work is linear in flows plus (flow, window) pairs wherever it can be: addresses and 5-tuples get dense
 * ids through hash tables (ids are then re-numbered in sorted address order, so nothing depends on hash
 * order), pairs are counting- or radix-sorted by window, and edges are produced already sorted by source node. */
#include "graph.h"
#include "graph_part.h"
#include "radix.h"
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const weft_edge_type_names[WEFT_EDGE_TYPES] = {
    "ip__src__con",       "con__dst__ip",       "con__rev_src__ip",   "ip__rev_dst__con",
    "ip__next__ip",       "con__next_src__con", "con__next_dst__con", "con__repeat__con",
};
const int weft_edge_type_src[WEFT_EDGE_TYPES] = {WEFT_NODE_IP,  WEFT_NODE_CON, WEFT_NODE_CON, WEFT_NODE_IP,
                                                 WEFT_NODE_IP,  WEFT_NODE_CON, WEFT_NODE_CON, WEFT_NODE_CON};
const int weft_edge_type_dst[WEFT_EDGE_TYPES] = {WEFT_NODE_CON, WEFT_NODE_IP,  WEFT_NODE_IP,  WEFT_NODE_CON,
                                                 WEFT_NODE_IP,  WEFT_NODE_CON, WEFT_NODE_CON, WEFT_NODE_CON};
const char *const weft_node_type_names[WEFT_NODE_TYPES] = {"con", "ip"};

/* (flow, window) pairs beyond this are refused: a flow lasting far longer than the window would otherwise
 * exhaust memory one window at a time. */
#define MAX_MEMBERSHIPS ((size_t)1 << 31)
/* Times beyond this many windows from the origin cannot be counted exactly in a double. */
#define MAX_WINDOW_INDEX 1.0e15

void weft_tgraph_params_default(weft_tgraph_params *p)
{
    p->window = 5.0;
    p->stride = 0.0;
    p->origin = NAN;
    p->window_memory = 5;
    p->graph_stride = 0;
    p->flow_memory = 20;
    p->max_flows = 10000;
    p->max_flow_windows = 17280;
    p->max_tail = 1800.0;
}

/* ---------- small growable buffers ---------- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return false;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}
#define GROW(arr, capv, need) grow((void **)&(arr), &(capv), (need), sizeof *(arr))

/* ---------- hashing of addresses and 5-tuples ---------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const uint8_t *b, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        size_t m = n - i < 8 ? n - i : 8;
        memcpy(&w, b + i, m);
        h = mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    }
    return h;
}

/* Open addressing over `keys` (key_size bytes each, owned by the caller); slots hold id + 1. */
typedef struct idmap {
    uint32_t *slots;
    size_t mask;
    uint8_t *keys;
    size_t key_size, n, cap_keys;
} idmap;

static bool idmap_init(idmap *m, size_t key_size, size_t expect)
{
    memset(m, 0, sizeof *m);
    m->key_size = key_size;
    size_t c = 1024;
    while (c < expect * 2) {
        if (c > SIZE_MAX / 4 / sizeof(uint32_t)) return false;
        c *= 2;
    }
    m->slots = calloc(c, sizeof *m->slots);
    m->mask = c - 1;
    return m->slots != NULL;
}

static void idmap_free(idmap *m)
{
    free(m->slots);
    free(m->keys);
}

/* Returns the key's id (new keys get the next id), or UINT32_MAX when out of memory / ids. */
static uint32_t idmap_get(idmap *m, const void *key)
{
    if ((m->n + 1) * 2 > m->mask + 1) { /* keep the load under 1/2 */
        size_t c = (m->mask + 1) * 2;
        uint32_t *s = calloc(c, sizeof *s);
        if (!s) return UINT32_MAX;
        for (size_t i = 0; i <= m->mask; i++) {
            if (!m->slots[i]) continue;
            size_t h = hash_bytes(m->keys + (size_t)(m->slots[i] - 1) * m->key_size, m->key_size) & (c - 1);
            while (s[h]) h = (h + 1) & (c - 1);
            s[h] = m->slots[i];
        }
        free(m->slots);
        m->slots = s;
        m->mask = c - 1;
    }
    size_t h = hash_bytes(key, m->key_size) & m->mask;
    while (m->slots[h]) {
        uint32_t id = m->slots[h] - 1;
        if (memcmp(m->keys + (size_t)id * m->key_size, key, m->key_size) == 0) return id;
        h = (h + 1) & m->mask;
    }
    if (m->n >= UINT32_MAX - 1) return UINT32_MAX;
    if (!grow((void **)&m->keys, &m->cap_keys, (m->n + 1) * m->key_size, 1)) return UINT32_MAX;
    memcpy(m->keys + m->n * m->key_size, key, m->key_size);
    m->slots[h] = (uint32_t)(m->n + 1);
    return (uint32_t)m->n++;
}

typedef struct tuple_key {
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint8_t proto, pad[3];
} tuple_key;

/* ---------- window arithmetic ---------- */

typedef struct wparams {
    double window, stride, origin;
} wparams;

static double wstart(const wparams *w, int64_t k)
{
    return w->origin + (double)k * w->stride;
}

/* The windows of flow [s, e]: k_min..k_max (k_max < k_min when none, possible only with stride > window). */
static void flow_windows(const wparams *w, double s, double e, int64_t *kmin, int64_t *kmax)
{
    int64_t lo = (int64_t)floor((s - w->origin - w->window) / w->stride) + 1;
    int64_t hi = e > s ? (int64_t)ceil((e - w->origin) / w->stride) - 1 : (int64_t)floor((s - w->origin) / w->stride);
    /* The formulas can be off by one where a boundary rounds; settle it with the exact test (a few steps
     * at most: times are checked to be far inside the range where window starts are exact). */
    for (int i = 0; i < 4 && wstart(w, lo - 1) + w->window > s; i++) lo--;
    for (int i = 0; i < 4 && !(wstart(w, lo) + w->window > s); i++) lo++;
    for (int i = 0; i < 4 && (e > s ? wstart(w, hi + 1) < e : wstart(w, hi + 1) <= s); i++) hi++;
    for (int i = 0; i < 4 && hi >= lo && !(e > s ? wstart(w, hi) < e : wstart(w, hi) <= s); i++) hi--;
    *kmin = lo;
    *kmax = hi;
}

/* ---------- the builder ---------- */

typedef struct member {
    int64_t k;
    uint32_t rank; /* position of the flow in start order */
} member;

typedef struct window_info {
    int64_t k;
    size_t first, count; /* range in the sorted members */
    bool dropped;
} window_info;

typedef struct builder {
    const weft_flow_table *t;
    const weft_tgraph_params *p;
    const weft_scaler *sc;
    size_t *order;        /* flow index by rank */
    uint32_t *ip_src, *ip_dst, *tuple; /* per flow: address ids (sorted-address order) and 5-tuple id */
    weft_ip *ips;         /* address by id */
    size_t n_ips;
    member *mem;
    size_t n_mem;
    window_info *win;
    size_t n_win;
    /* per-graph buffers, reused */
    size_t *con_flow; size_t cap_con_flow;
    int *con_slice; size_t cap_con_slice;
    uint32_t *con_pos; size_t cap_con_pos;
    size_t *con_src, *con_dst; size_t cap_con_src, cap_con_dst;
    weft_ip *ip_addr; size_t cap_ip_addr;
    int *ip_slice; size_t cap_ip_slice;
    size_t *ip_next; size_t cap_ip_next;
    size_t *src_start, *dst_start; size_t cap_src_start, cap_dst_start; /* CSR by ip node */
    size_t *src_list, *dst_list; size_t cap_src_list, cap_dst_list;
    size_t *pos_src, *pos_dst; size_t cap_pos_src, cap_pos_dst;
    uint64_t *pairs; size_t cap_pairs;
    uint64_t *tmp64; size_t cap_tmp64;
    float *prefix;        /* per flow: the 30 features that do not depend on the slice (stats, one-hots) */
    float *x_con; size_t cap_x_con;
    float *x_ip; size_t cap_x_ip;
    int64_t *edges[WEFT_EDGE_TYPES]; size_t cap_edges[WEFT_EDGE_TYPES];
    uint32_t *slice_ids; size_t cap_slice_ids;
    uint32_t *stamp;      /* per address id: (graph slice serial) it was last seen in */
    size_t *node_of;      /* per address id: its node in the current slice */
    uint32_t *last_stamp; /* per address id: graph serial of last_node */
    size_t *last_node;
    uint32_t serial, gserial;
    float *pe; size_t n_pe, cap_pe; /* cached encodings of positions 0..n_pe-1 */
    size_t window_flows_buf_cap;
    size_t *window_flows; bool *window_dropped;
} builder;

static void builder_free(builder *b)
{
    free(b->order); free(b->ip_src); free(b->ip_dst); free(b->tuple); free(b->ips);
    free(b->mem); free(b->win);
    free(b->con_flow); free(b->con_slice); free(b->con_pos); free(b->con_src); free(b->con_dst);
    free(b->ip_addr); free(b->ip_slice); free(b->ip_next);
    free(b->src_start); free(b->dst_start); free(b->src_list); free(b->dst_list);
    free(b->pos_src); free(b->pos_dst); free(b->pairs); free(b->tmp64); free(b->prefix); free(b->x_con); free(b->x_ip);
    for (int i = 0; i < WEFT_EDGE_TYPES; i++) free(b->edges[i]);
    free(b->slice_ids); free(b->stamp); free(b->node_of); free(b->last_stamp); free(b->last_node);
    free(b->pe); free(b->window_flows); free(b->window_dropped);
}

static int cmp_ip(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(weft_ip));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Address ids in sorted-address order: hash to provisional ids, sort the distinct addresses, re-map. */
static int assign_ids(builder *b, const bool *valid, char *err, size_t err_n)
{
    const weft_flow_table *t = b->t;
    size_t n = t->n;
    idmap ipm, tpm;
    memset(&ipm, 0, sizeof ipm);
    memset(&tpm, 0, sizeof tpm);
    if (!idmap_init(&ipm, sizeof(weft_ip), 1024) || !idmap_init(&tpm, sizeof(tuple_key), n)) {
        idmap_free(&ipm);
        idmap_free(&tpm);
        weft_set_err(err, err_n, "out of memory");
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        if (!valid[i]) continue;
        const weft_flow *f = &t->flows[i];
        tuple_key k;
        memset(&k, 0, sizeof k);
        memcpy(k.src, f->src.b, 16);
        memcpy(k.dst, f->dst.b, 16);
        k.sport = f->sport;
        k.dport = f->dport;
        k.proto = f->proto;
        uint32_t a = idmap_get(&ipm, &f->src), c = idmap_get(&ipm, &f->dst), d = idmap_get(&tpm, &k);
        if (a == UINT32_MAX || c == UINT32_MAX || d == UINT32_MAX) {
            weft_set_err(err, err_n, "out of memory numbering addresses");
            goto out;
        }
        b->ip_src[i] = a;
        b->ip_dst[i] = c;
        b->tuple[i] = d;
    }
    b->n_ips = ipm.n;
    b->ips = malloc((ipm.n ? ipm.n : 1) * sizeof *b->ips);
    uint32_t *remap = malloc((ipm.n ? ipm.n : 1) * sizeof *remap);
    if (!b->ips || !remap) {
        free(remap);
        weft_set_err(err, err_n, "out of memory");
        goto out;
    }
    if (ipm.n) memcpy(b->ips, ipm.keys, ipm.n * sizeof(weft_ip));
    qsort(b->ips, ipm.n, sizeof *b->ips, cmp_ip);
    for (size_t i = 0; i < ipm.n; i++) {
        /* The provisional id of sorted address i is found again through the map. */
        uint32_t old = idmap_get(&ipm, &b->ips[i]);
        remap[old] = (uint32_t)i;
    }
    for (size_t i = 0; i < n; i++)
        if (valid[i]) {
            b->ip_src[i] = remap[b->ip_src[i]];
            b->ip_dst[i] = remap[b->ip_dst[i]];
        }
    free(remap);
    rc = 0;
out:
    idmap_free(&ipm);
    idmap_free(&tpm);
    return rc;
}

static const float *pe_row(builder *b, size_t pos)
{
    if (pos >= b->n_pe) {
        size_t want = pos + 1 < 1024 ? 1024 : pos + 1;
        if (want > ((size_t)1 << 20)) return NULL; /* computed on the fly past a million positions */
        if (!GROW(b->pe, b->cap_pe, want * WEFT_FEAT_PE_DIM)) return NULL;
        for (size_t i = b->n_pe; i < want; i++) weft_pos_encoding((double)i, WEFT_FEAT_PE_DIM, b->pe + i * WEFT_FEAT_PE_DIM);
        b->n_pe = want;
    }
    return b->pe + pos * WEFT_FEAT_PE_DIM;
}

/* Count of next_* edges out of a list of L nodes with fan-out fm: sum over positions of min(fm, L-1-pos). */
static size_t chain_edges(size_t L, size_t fm)
{
    if (L < 2 || fm == 0) return 0;
    size_t m = L - 1 < fm ? L - 1 : fm;
    /* positions with L-1-pos >= m contribute m each: L - m of them; the last m contribute m-1 ... 0 */
    return (L - m) * m + m * (m - 1) / 2;
}

static int build_one(builder *b, size_t gi, int64_t g0, size_t wlo, size_t whi, weft_tgraph_fn fn, void *user,
                     char *err, size_t err_n)
{
    const weft_tgraph_params *p = b->p;
    int K = p->window_memory;
    size_t fm = (size_t)p->flow_memory;

    /* Node counts. */
    size_t nc = 0;
    for (size_t w = wlo; w < whi; w++)
        if (!b->win[w].dropped) nc += b->win[w].count;
    if (nc >= UINT32_MAX / 2) {
        weft_set_err(err, err_n, "a graph of %zu flow nodes is too large", nc);
        return -1;
    }
    if (!GROW(b->con_flow, b->cap_con_flow, nc + 1) || !GROW(b->con_slice, b->cap_con_slice, nc + 1) ||
        !GROW(b->con_pos, b->cap_con_pos, nc + 1) || !GROW(b->con_src, b->cap_con_src, nc + 1) ||
        !GROW(b->con_dst, b->cap_con_dst, nc + 1) || !GROW(b->pos_src, b->cap_pos_src, nc + 1) ||
        !GROW(b->pos_dst, b->cap_pos_dst, nc + 1) || !GROW(b->src_list, b->cap_src_list, nc + 1) ||
        !GROW(b->dst_list, b->cap_dst_list, nc + 1) || !GROW(b->pairs, b->cap_pairs, nc + 1) ||
        !GROW(b->x_con, b->cap_x_con, (nc + 1) * WEFT_FEAT_CON_DIM) ||
        !GROW(b->ip_addr, b->cap_ip_addr, 2 * nc + 1) || !GROW(b->ip_slice, b->cap_ip_slice, 2 * nc + 1) ||
        !GROW(b->ip_next, b->cap_ip_next, 2 * nc + 1) || !GROW(b->src_start, b->cap_src_start, 2 * nc + 2) ||
        !GROW(b->dst_start, b->cap_dst_start, 2 * nc + 2) || !GROW(b->slice_ids, b->cap_slice_ids, 2 * nc + 1))
        goto oom;
    for (int s = 0; s < K; s++) {
        b->window_flows[s] = 0;
        b->window_dropped[s] = false;
    }

    /* con nodes, and ip nodes slice by slice. */
    size_t c = 0, ni = 0;
    if (++b->gserial == 0) { /* wrapped: clear the stamps once */
        memset(b->last_stamp, 0, b->n_ips * sizeof *b->last_stamp);
        b->gserial = 1;
    }
    for (size_t w = wlo; w < whi; w++) {
        const window_info *wi = &b->win[w];
        int s = (int)(wi->k - g0);
        b->window_flows[s] = wi->count;
        b->window_dropped[s] = wi->dropped;
        if (wi->dropped) continue;
        size_t c0 = c;
        for (size_t m = wi->first; m < wi->first + wi->count; m++, c++) {
            b->con_flow[c] = b->order[b->mem[m].rank];
            b->con_slice[c] = s;
            b->con_pos[c] = (uint32_t)(m - wi->first);
        }
        /* Distinct addresses of the slice, sorted (ids are in address order). */
        if (++b->serial == 0) { /* wrapped: clear the stamps once */
            memset(b->stamp, 0, b->n_ips * sizeof *b->stamp);
            b->serial = 1;
        }
        size_t nid = 0;
        for (size_t x = c0; x < c; x++) {
            size_t f = b->con_flow[x];
            uint32_t ids[2] = {b->ip_src[f], b->ip_dst[f]};
            for (int r = 0; r < 2; r++)
                if (b->stamp[ids[r]] != b->serial) {
                    b->stamp[ids[r]] = b->serial;
                    b->slice_ids[nid++] = ids[r];
                }
        }
        qsort(b->slice_ids, nid, sizeof *b->slice_ids, cmp_u32);
        for (size_t x = 0; x < nid; x++, ni++) {
            uint32_t id = b->slice_ids[x];
            b->node_of[id] = ni;
            b->ip_addr[ni] = b->ips[id];
            b->ip_slice[ni] = s;
            b->ip_next[ni] = SIZE_MAX;
            if (b->last_stamp[id] == b->gserial) b->ip_next[b->last_node[id]] = ni;
            b->last_stamp[id] = b->gserial;
            b->last_node[id] = ni;
        }
        for (size_t x = c0; x < c; x++) {
            size_t f = b->con_flow[x];
            b->con_src[x] = b->node_of[b->ip_src[f]];
            b->con_dst[x] = b->node_of[b->ip_dst[f]];
        }
    }

    /* Flows grouped by source / destination node (counting sort: each group stays in node order). */
    memset(b->src_start, 0, (ni + 1) * sizeof *b->src_start);
    memset(b->dst_start, 0, (ni + 1) * sizeof *b->dst_start);
    for (size_t x = 0; x < nc; x++) {
        b->src_start[b->con_src[x] + 1]++;
        b->dst_start[b->con_dst[x] + 1]++;
    }
    for (size_t i = 0; i < ni; i++) {
        b->src_start[i + 1] += b->src_start[i];
        b->dst_start[i + 1] += b->dst_start[i];
    }
    for (size_t x = 0; x < nc; x++) {
        size_t a = b->con_src[x], d = b->con_dst[x];
        /* src_start[a] runs ahead while filling; pos is relative to the group start, restored below */
        b->pos_src[x] = b->src_start[a];
        b->src_list[b->src_start[a]++] = x;
        b->pos_dst[x] = b->dst_start[d];
        b->dst_list[b->dst_start[d]++] = x;
    }
    for (size_t i = ni; i > 0; i--) {
        b->src_start[i] = b->src_start[i - 1];
        b->dst_start[i] = b->dst_start[i - 1];
    }
    b->src_start[0] = b->dst_start[0] = 0;

    /* con__repeat__con pairs: (tuple, node) sorted, then each slice run joined to the next run. */
    size_t np = 0;
    if (fm > 0) {
        for (size_t x = 0; x < nc; x++) b->pairs[x] = (uint64_t)b->tuple[b->con_flow[x]] << 32 | x;
        if (!GROW(b->tmp64, b->cap_tmp64, nc + 1)) goto oom;
        weft_radix_sort_u64(b->pairs, NULL, nc, b->tmp64, NULL);
    }

    /* Edge counts, then the edges. */
    size_t ne[WEFT_EDGE_TYPES];
    ne[WEFT_EDGE_IP_SRC_CON] = ne[WEFT_EDGE_CON_DST_IP] = ne[WEFT_EDGE_CON_REV_SRC_IP] = ne[WEFT_EDGE_IP_REV_DST_CON] = nc;
    ne[WEFT_EDGE_IP_NEXT_IP] = 0;
    for (size_t i = 0; i < ni; i++) ne[WEFT_EDGE_IP_NEXT_IP] += b->ip_next[i] != SIZE_MAX;
    ne[WEFT_EDGE_CON_NEXT_SRC_CON] = ne[WEFT_EDGE_CON_NEXT_DST_CON] = 0;
    for (size_t i = 0; i < ni; i++) {
        ne[WEFT_EDGE_CON_NEXT_SRC_CON] += chain_edges(b->src_start[i + 1] - b->src_start[i], fm);
        ne[WEFT_EDGE_CON_NEXT_DST_CON] += chain_edges(b->dst_start[i + 1] - b->dst_start[i], fm);
    }
    /* repeat: count while walking runs */
    size_t n_rep = 0;
    if (fm > 0)
        for (size_t x = 0; x < nc;) {
            uint32_t key = (uint32_t)(b->pairs[x] >> 32);
            size_t r0 = x; /* current run [r0, r1) */
            size_t r1 = r0 + 1;
            while (r1 < nc && (uint32_t)(b->pairs[r1] >> 32) == key &&
                   b->con_slice[(uint32_t)b->pairs[r1]] == b->con_slice[(uint32_t)b->pairs[r0]])
                r1++;
            if (r1 < nc && (uint32_t)(b->pairs[r1] >> 32) == key) {
                size_t r2 = r1 + 1;
                while (r2 < nc && (uint32_t)(b->pairs[r2] >> 32) == key &&
                       b->con_slice[(uint32_t)b->pairs[r2]] == b->con_slice[(uint32_t)b->pairs[r1]])
                    r2++;
                size_t m = r2 - r1 < fm ? r2 - r1 : fm;
                n_rep += (r1 - r0) * m;
            }
            x = r1;
        }
    ne[WEFT_EDGE_CON_REPEAT_CON] = n_rep;
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        if (ne[e] > SIZE_MAX / 2) goto oom;
        if (!GROW(b->edges[e], b->cap_edges[e], 2 * ne[e] + 1)) goto oom;
    }
    if (n_rep > 0 && !GROW(b->pairs, b->cap_pairs, nc + n_rep)) goto oom;

    int64_t *E;
    size_t k;
#define PUT(src_, dst_) (E[k] = (int64_t)(src_), E[cnt + k] = (int64_t)(dst_), k++)
    size_t cnt;
    /* spatial */
    E = b->edges[WEFT_EDGE_IP_SRC_CON], cnt = nc, k = 0;
    for (size_t i = 0; i < ni; i++)
        for (size_t q = b->src_start[i]; q < b->src_start[i + 1]; q++) PUT(i, b->src_list[q]);
    E = b->edges[WEFT_EDGE_IP_REV_DST_CON], cnt = nc, k = 0;
    for (size_t i = 0; i < ni; i++)
        for (size_t q = b->dst_start[i]; q < b->dst_start[i + 1]; q++) PUT(i, b->dst_list[q]);
    E = b->edges[WEFT_EDGE_CON_DST_IP], cnt = nc, k = 0;
    for (size_t x = 0; x < nc; x++) PUT(x, b->con_dst[x]);
    E = b->edges[WEFT_EDGE_CON_REV_SRC_IP], cnt = nc, k = 0;
    for (size_t x = 0; x < nc; x++) PUT(x, b->con_src[x]);
    /* temporal */
    E = b->edges[WEFT_EDGE_IP_NEXT_IP], cnt = ne[WEFT_EDGE_IP_NEXT_IP], k = 0;
    for (size_t i = 0; i < ni; i++)
        if (b->ip_next[i] != SIZE_MAX) PUT(i, b->ip_next[i]);
    E = b->edges[WEFT_EDGE_CON_NEXT_SRC_CON], cnt = ne[WEFT_EDGE_CON_NEXT_SRC_CON], k = 0;
    for (size_t x = 0; x < nc; x++) {
        size_t a = b->con_src[x], end = b->src_start[a + 1];
        for (size_t q = b->pos_src[x] + 1; q < end && q <= b->pos_src[x] + fm; q++) PUT(x, b->src_list[q]);
    }
    E = b->edges[WEFT_EDGE_CON_NEXT_DST_CON], cnt = ne[WEFT_EDGE_CON_NEXT_DST_CON], k = 0;
    for (size_t x = 0; x < nc; x++) {
        size_t a = b->con_dst[x], end = b->dst_start[a + 1];
        for (size_t q = b->pos_dst[x] + 1; q < end && q <= b->pos_dst[x] + fm; q++) PUT(x, b->dst_list[q]);
    }
    if (n_rep > 0) {
        /* Pairs (src << 32 | dst) after the keyed nodes in the same buffer, then sorted. */
        uint64_t *out = b->pairs + nc;
        size_t o = 0;
        for (size_t x = 0; x < nc;) {
            uint32_t key = (uint32_t)(b->pairs[x] >> 32);
            size_t r0 = x, r1 = r0 + 1;
            while (r1 < nc && (uint32_t)(b->pairs[r1] >> 32) == key &&
                   b->con_slice[(uint32_t)b->pairs[r1]] == b->con_slice[(uint32_t)b->pairs[r0]])
                r1++;
            if (r1 < nc && (uint32_t)(b->pairs[r1] >> 32) == key) {
                size_t r2 = r1 + 1;
                while (r2 < nc && (uint32_t)(b->pairs[r2] >> 32) == key &&
                       b->con_slice[(uint32_t)b->pairs[r2]] == b->con_slice[(uint32_t)b->pairs[r1]])
                    r2++;
                size_t m = r2 - r1 < fm ? r2 - r1 : fm;
                for (size_t i = r0; i < r1; i++)
                    for (size_t j = r1; j < r1 + m; j++)
                        out[o++] = (uint64_t)(uint32_t)b->pairs[i] << 32 | (uint32_t)b->pairs[j];
            }
            x = r1;
        }
        if (!GROW(b->tmp64, b->cap_tmp64, o + 1)) goto oom;
        weft_radix_sort_u64(out, NULL, o, b->tmp64, NULL);
        E = b->edges[WEFT_EDGE_CON_REPEAT_CON], cnt = o, k = 0;
        for (size_t i = 0; i < o; i++) PUT(out[i] >> 32, (uint32_t)out[i]);
    }
#undef PUT
    np = ni;

    /* Features. */
    for (size_t x = 0; x < nc; x++) {
        float *row = b->x_con + x * WEFT_FEAT_CON_DIM;
        const float *pe = pe_row(b, b->con_pos[x]);
        memcpy(row, b->prefix + b->con_flow[x] * WEFT_FEAT_CON_PE, WEFT_FEAT_CON_PE * sizeof(float));
        if (pe) memcpy(row + WEFT_FEAT_CON_PE, pe, WEFT_FEAT_PE_DIM * sizeof(float));
        else weft_pos_encoding((double)b->con_pos[x], WEFT_FEAT_PE_DIM, row + WEFT_FEAT_CON_PE);
    }
    if (!GROW(b->x_ip, b->cap_x_ip, (np + 1) * WEFT_FEAT_IP_DIM)) goto oom;
    for (size_t i = 0; i < np; i++) {
        float *row = b->x_ip + i * WEFT_FEAT_IP_DIM;
        const float *pe = pe_row(b, (size_t)b->ip_slice[i]);
        row[0] = 1.0f;
        if (pe) memcpy(row + 1, pe, WEFT_FEAT_PE_DIM * sizeof(float));
        else weft_pos_encoding((double)b->ip_slice[i], WEFT_FEAT_PE_DIM, row + 1);
    }

    weft_tgraph g;
    memset(&g, 0, sizeof g);
    g.index = gi;
    g.table = b->t;
    g.first_window = g0;
    g.t0 = wstart(&(wparams){p->window, p->stride, p->origin}, g0);
    g.n_slices = K;
    g.window_flows = b->window_flows;
    g.window_dropped = b->window_dropped;
    g.num_nodes[WEFT_NODE_CON] = nc;
    g.num_nodes[WEFT_NODE_IP] = np;
    g.x_con = b->x_con;
    g.x_ip = b->x_ip;
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        g.num_edges[e] = ne[e];
        g.edge_index[e] = b->edges[e];
    }
    g.con_flow = b->con_flow;
    g.con_slice = b->con_slice;
    g.ip_addr = b->ip_addr;
    g.ip_slice = b->ip_slice;
    return fn(&g, user);
oom:
    weft_set_err(err, err_n, "out of memory building graph %zu", gi);
    return -1;
}

int weft_tgraph_build(const weft_flow_table *t, const weft_tgraph_params *pin, const weft_scaler *sc, weft_tgraph_fn fn,
                     void *user, weft_tgraph_stats *stats, char *err, size_t err_n)
{
    weft_tgraph_stats st_local;
    if (!stats) stats = &st_local;
    memset(stats, 0, sizeof *stats);
    weft_tgraph_part part = {
        .first_window = INT64_MIN, .g_lo = 0, .g_hi = INT64_MAX, .index_base = 0, .first_new = 0, .last = true};
    return weft_tgraph_build_part(t, pin, sc, &part, fn, user, stats, err, err_n);
}

bool weft_tgraph_check_params(weft_tgraph_params *p, char *err, size_t err_n)
{
    if (p->stride == 0) p->stride = p->window;
    if (p->graph_stride == 0) p->graph_stride = p->window_memory;
    if (!(isfinite(p->window) && p->window > 0) || !(isfinite(p->stride) && p->stride > 0)) {
        weft_set_err(err, err_n, "window and stride must be positive numbers of seconds (got %g and %g)", p->window,
                     p->stride);
        return false;
    }
    if (p->window_memory < 1 || p->window_memory > 100000) {
        weft_set_err(err, err_n, "window memory must be between 1 and 100000 slices (got %d)", p->window_memory);
        return false;
    }
    if (p->graph_stride < 1 || p->graph_stride > p->window_memory) {
        weft_set_err(err, err_n, "graph stride must be between 1 and the window memory %d (got %d)", p->window_memory,
                     p->graph_stride);
        return false;
    }
    if (p->flow_memory < 0) {
        weft_set_err(err, err_n, "flow memory must not be negative (got %d)", p->flow_memory);
        return false;
    }
    if (!(p->max_tail >= 0) || !isfinite(p->max_tail)) {
        weft_set_err(err, err_n, "max tail must be a finite number of seconds >= 0 (got %g)", p->max_tail);
        return false;
    }
    if (p->max_flow_windows < 0) {
        weft_set_err(err, err_n, "max flow windows must not be negative (got %lld)", (long long)p->max_flow_windows);
        return false;
    }
    return true;
}

bool weft_tgraph_flow_valid(const weft_tgraph_params *p, const weft_flow *f)
{
    /* Times so far out that window starts near them are not exact doubles are skipped too. */
    return isfinite(f->start) && isfinite(f->duration) && f->duration >= 0 &&
           fabs(f->start) / p->stride <= MAX_WINDOW_INDEX && fabs(f->start + f->duration) / p->stride <= MAX_WINDOW_INDEX;
}

bool weft_tgraph_flow_windows(const weft_tgraph_params *p, const weft_flow *f, int64_t *kmin, int64_t *kmax)
{
    if (!weft_tgraph_flow_valid(p, f)) return false;
    double e = f->start + f->duration;
    if (fabs((f->start - p->origin) / p->stride) > MAX_WINDOW_INDEX || fabs((e - p->origin) / p->stride) > MAX_WINDOW_INDEX)
        return false;
    wparams w = {p->window, p->stride, p->origin};
    flow_windows(&w, f->start, e, kmin, kmax);
    if (*kmax >= *kmin && p->max_flow_windows > 0 && (uint64_t)(*kmax - *kmin) + 1 > (uint64_t)p->max_flow_windows)
        *kmax = *kmin + p->max_flow_windows - 1;
    return true;
}

double weft_tgraph_window_start(const weft_tgraph_params *p, int64_t k)
{
    return p->origin + (double)k * p->stride;
}

int weft_tgraph_build_part(const weft_flow_table *t, const weft_tgraph_params *pin, const weft_scaler *sc,
                           const weft_tgraph_part *part, weft_tgraph_fn fn, void *user, weft_tgraph_stats *stats,
                           char *err, size_t err_n)
{
    weft_tgraph_params p = *pin;
    if (!weft_tgraph_check_params(&p, err, err_n)) return -1;
    if (!sc || !fn) {
        weft_set_err(err, err_n, "no feature scaling or no graph callback given");
        return -1;
    }
    size_t n = t->n;
    stats->flows += n - part->first_new;
    if (n >= UINT32_MAX) {
        weft_set_err(err, err_n, "too many flows (%zu) for one build", n);
        return -1;
    }
    builder b;
    memset(&b, 0, sizeof b);
    b.t = t;
    b.p = &p;
    b.sc = sc;
    int rc = -1;
    bool *valid = malloc(n + 1);
    b.order = malloc((n + 1) * sizeof *b.order);
    b.ip_src = malloc((n + 1) * sizeof *b.ip_src);
    b.ip_dst = malloc((n + 1) * sizeof *b.ip_dst);
    b.tuple = malloc((n + 1) * sizeof *b.tuple);
    b.window_flows = malloc((size_t)p.window_memory * sizeof *b.window_flows);
    b.window_dropped = malloc((size_t)p.window_memory * sizeof *b.window_dropped);
    int64_t *kr = malloc((n + 1) * 2 * sizeof *kr);
    if (!valid || !b.order || !b.ip_src || !b.ip_dst || !b.tuple || !b.window_flows || !b.window_dropped || !kr)
        goto oom;

    /* Valid flows and the origin. */
    double min_start = INFINITY, max_start = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const weft_flow *f = &t->flows[i];
        /* Times so far out that window starts near them are not exact doubles are skipped too. */
        valid[i] = weft_tgraph_flow_valid(&p, f);
        if (valid[i] && f->start < min_start) min_start = f->start;
        if (valid[i] && f->start > max_start) max_start = f->start;
    }
    wparams w = {p.window, p.stride, p.origin};
    if (isnan(w.origin)) w.origin = isfinite(min_start) ? floor(min_start / p.stride) * p.stride : 0.0;
    if (!isfinite(w.origin) || fabs(w.origin) / p.stride > MAX_WINDOW_INDEX) {
        weft_set_err(err, err_n, "the window origin must be a finite time within %g strides of 0", MAX_WINDOW_INDEX);
        goto out;
    }
    p.origin = w.origin;
    size_t n_valid = 0, total = 0;
    int64_t kmin_all = INT64_MAX, kmax_all = INT64_MIN;
    /* The end of the input's time range: the last window a flow may reach, max_tail after the latest
     * start (only where this call ends the axis: earlier calls build only complete graphs, before it). */
    int64_t k_end = INT64_MAX;
    if (part->last && p.max_tail > 0 && isfinite(max_start) &&
        fabs((max_start + p.max_tail - w.origin) / w.stride) <= MAX_WINDOW_INDEX) {
        int64_t lo;
        flow_windows(&w, max_start + p.max_tail, max_start + p.max_tail, &lo, &k_end);
    }
    for (size_t i = 0; i < n; i++) {
        if (!valid[i]) continue;
        const weft_flow *f = &t->flows[i];
        double e = f->start + f->duration;
        if (fabs((f->start - w.origin) / w.stride) > MAX_WINDOW_INDEX ||
            fabs((e - w.origin) / w.stride) > MAX_WINDOW_INDEX) {
            valid[i] = false;
            continue;
        }
        flow_windows(&w, f->start, e, &kr[2 * i], &kr[2 * i + 1]);
        if (kr[2 * i + 1] < kr[2 * i]) continue;
        uint64_t span = (uint64_t)(kr[2 * i + 1] - kr[2 * i]) + 1;
        if (p.max_flow_windows > 0 && span > (uint64_t)p.max_flow_windows) {
            if (i >= part->first_new) {
                stats->flows_clipped++;
                stats->windows_clipped += (size_t)(span - (uint64_t)p.max_flow_windows);
            }
            span = (uint64_t)p.max_flow_windows;
            kr[2 * i + 1] = kr[2 * i] + p.max_flow_windows - 1;
        }
        if (kr[2 * i + 1] > k_end && kr[2 * i] <= k_end) {
            /* counted by the axis's last call whatever first_new says: each flow is in one last call */
            stats->flows_past_end++;
            stats->windows_past_end += (size_t)(kr[2 * i + 1] - k_end);
            kr[2 * i + 1] = k_end;
            span = (uint64_t)(k_end - kr[2 * i]) + 1;
        }
        if (span > MAX_MEMBERSHIPS || total + span > MAX_MEMBERSHIPS) {
            weft_set_err(err, err_n,
                    "flows span more than %zu (flow, window) pairs (flow %zu alone lasts %.17g s); use a longer "
                    "window or stride, or a smaller --max-flow-windows",
                    MAX_MEMBERSHIPS, i, f->duration);
            goto out;
        }
        total += span;
        if (kr[2 * i] < kmin_all) kmin_all = kr[2 * i];
        if (kr[2 * i + 1] > kmax_all) kmax_all = kr[2 * i + 1];
    }
    for (size_t i = 0; i < n; i++) {
        if (valid[i]) b.order[n_valid++] = i;
        else if (i >= part->first_new) stats->flows_skipped++;
    }
    /* Start order (ties: table order) by a stable radix sort of the start times. */
    {
        uint64_t *k1 = malloc((n_valid + 1) * sizeof *k1), *k2 = malloc((n_valid + 1) * sizeof *k2);
        uint32_t *v1 = malloc((n_valid + 1) * sizeof *v1), *v2 = malloc((n_valid + 1) * sizeof *v2);
        if (!k1 || !k2 || !v1 || !v2) {
            free(k1), free(k2), free(v1), free(v2);
            goto oom;
        }
        for (size_t r = 0; r < n_valid; r++) {
            k1[r] = weft_radix_double_key(t->flows[b.order[r]].start);
            v1[r] = (uint32_t)b.order[r];
        }
        weft_radix_sort_u64(k1, v1, n_valid, k2, v2);
        for (size_t r = 0; r < n_valid; r++) b.order[r] = v1[r];
        free(k1), free(k2), free(v1), free(v2);
    }
    /* The slice-independent part of every flow's features, once. */
    if (n > SIZE_MAX / sizeof(float) / WEFT_FEAT_CON_PE) goto oom;
    b.prefix = malloc((n + 1) * WEFT_FEAT_CON_PE * sizeof(float));
    if (!b.prefix) goto oom;
    for (size_t i = 0; i < n; i++) {
        float row[WEFT_FEAT_CON_DIM];
        if (!valid[i]) continue;
        weft_con_features(sc, &t->flows[i], 0, b.pe ? b.pe : (const float[WEFT_FEAT_PE_DIM]){0}, row);
        memcpy(b.prefix + i * WEFT_FEAT_CON_PE, row, WEFT_FEAT_CON_PE * sizeof(float));
    }
    if (assign_ids(&b, valid, err, err_n)) goto out;
    b.stamp = calloc(b.n_ips + 1, sizeof *b.stamp);
    b.node_of = calloc(b.n_ips + 1, sizeof *b.node_of);
    b.last_stamp = calloc(b.n_ips + 1, sizeof *b.last_stamp);
    b.last_node = calloc(b.n_ips + 1, sizeof *b.last_node);
    if (!b.stamp || !b.node_of || !b.last_stamp || !b.last_node) goto oom;

    /* The windows this call owns (counted in the statistics): those from its first graph's first window
     * up to the next call's first graph's first window, so windows shared by overlapping graphs count once. */
    int64_t K = p.window_memory, gs = p.graph_stride;
    int64_t kfirst = part->first_window != INT64_MIN ? part->first_window : kmin_all;
    int64_t own_lo = part->g_lo > 0 ? kfirst + part->g_lo * gs : INT64_MIN;
    int64_t own_hi = part->g_hi < INT64_MAX / (gs + 1) - 1 ? kfirst + part->g_hi * gs : INT64_MAX;
    /* (window, rank) pairs sorted by window then rank: counting sort when the window range is compact. */
    b.mem = malloc((total + 1) * sizeof *b.mem);
    if (!b.mem) goto oom;
    b.n_mem = total;
    uint64_t krange = total ? (uint64_t)(kmax_all - kmin_all) + 1 : 0;
    if (total && krange <= 4 * (uint64_t)total + 1024) {
        size_t *cnt = calloc((size_t)krange + 1, sizeof *cnt);
        if (!cnt) goto oom;
        for (size_t r = 0; r < n_valid; r++) {
            size_t i = b.order[r];
            for (int64_t k = kr[2 * i]; k <= kr[2 * i + 1]; k++) cnt[k - kmin_all + 1]++;
        }
        for (uint64_t k = 0; k < krange; k++) cnt[k + 1] += cnt[k];
        for (size_t r = 0; r < n_valid; r++) {
            size_t i = b.order[r];
            for (int64_t k = kr[2 * i]; k <= kr[2 * i + 1]; k++)
                b.mem[cnt[k - kmin_all]++] = (member){k, (uint32_t)r};
        }
        free(cnt);
    } else if (total) {
        /* Sparse windows (traffic with long gaps): stable radix sort on the window, pushed in rank order. */
        uint64_t *k1 = malloc(total * sizeof *k1), *k2 = malloc(total * sizeof *k2);
        uint32_t *v1 = malloc(total * sizeof *v1), *v2 = malloc(total * sizeof *v2);
        if (!k1 || !k2 || !v1 || !v2) {
            free(k1), free(k2), free(v1), free(v2);
            goto oom;
        }
        size_t m = 0;
        for (size_t r = 0; r < n_valid; r++) {
            size_t i = b.order[r];
            for (int64_t k = kr[2 * i]; k <= kr[2 * i + 1]; k++, m++) {
                k1[m] = (uint64_t)(k - kmin_all);
                v1[m] = (uint32_t)r;
            }
        }
        weft_radix_sort_u64(k1, v1, total, k2, v2);
        for (m = 0; m < total; m++) b.mem[m] = (member){kmin_all + (int64_t)k1[m], v1[m]};
        free(k1), free(k2), free(v1), free(v2);
    }

    /* Windows. */
    size_t cap_win = 0;
    for (size_t m = 0; m < total;) {
        size_t m1 = m + 1;
        while (m1 < total && b.mem[m1].k == b.mem[m].k) m1++;
        if (!GROW(b.win, cap_win, b.n_win + 1)) goto oom;
        window_info *wi = &b.win[b.n_win++];
        wi->k = b.mem[m].k;
        wi->first = m;
        wi->count = m1 - m;
        wi->dropped = p.max_flows && wi->count >= p.max_flows;
        if (wi->k >= own_lo && wi->k < own_hi) {
            stats->windows_dropped += wi->dropped;
            stats->windows++;
            stats->memberships += wi->count;
        }
        m = m1;
    }

    /* Graphs: graph g holds windows kfirst + g*gs ... + K - 1; only those with a kept window are built,
     * and only those in [g_lo, g_hi). */
    int64_t last_g = part->g_lo - 1;
    size_t gi = part->index_base;
    for (size_t wv = 0; wv < b.n_win; wv++) {
        if (b.win[wv].dropped) continue;
        int64_t rel = b.win[wv].k - kfirst;
        if (rel < 0) continue; /* a late flow's window before the first graph */
        int64_t glo = rel - K + 1 <= 0 ? 0 : (rel - K + 1 + gs - 1) / gs, ghi = rel / gs;
        if (glo <= last_g) glo = last_g + 1;
        if (ghi >= part->g_hi) ghi = part->g_hi - 1;
        for (int64_t g = glo; g <= ghi; g++) {
            int64_t g0 = kfirst + g * gs;
            /* windows [g0, g0 + K) in b.win: binary search the first */
            size_t lo = 0, hi = b.n_win;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (b.win[mid].k < g0) lo = mid + 1;
                else hi = mid;
            }
            size_t wend = lo;
            while (wend < b.n_win && b.win[wend].k < g0 + K) wend++;
            int r = build_one(&b, gi++, g0, lo, wend, fn, user, err, err_n);
            stats->graphs++;
            if (r) {
                rc = r;
                goto out;
            }
            last_g = g;
        }
    }
    rc = 0;
    goto out;
oom:
    weft_set_err(err, err_n, "out of memory building graphs from %zu flows", n);
out:
    free(valid);
    free(kr);
    builder_free(&b);
    return rc;
}
