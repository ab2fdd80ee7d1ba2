/*
 * runtime/linkpred.c — self-supervised link prediction on a graph encoder (the pretraining task of the
 * traffic model, ../shared/seeds): the model around the encoder, and the batches it trains on.
 *
 * The model: for every edge type `a__rel__b` the encoder takes as `edge_index__a__rel__b`, supervision
 * pairs `sup__a__rel__b` [2, S] and labels `label__a__rel__b` [S] (1 an edge, 0 a sampled non-edge)
 * become inputs; the logit of a pair is the dot product of the encoder's embeddings `h_a[src]` and
 * `h_b[dst]`; the loss is binary cross-entropy with logits averaged over every pair of every type,
 * written in its stable form relu(x) - t·x + log(1 + exp(-|x|)) with |x| = relu(x) + relu(-x), from ops
 * that all have gradient rules. Outputs: `loss` and `logits__<type>`.
 *
 * A batch: each edge type's edges are shuffled (seeded); a fraction become supervision edges, the rest
 * stay message edges (the encoder sees only those, so it cannot read an answer off its input), and each
 * supervision edge gets neg_ratio negatives with the same source and a destination drawn uniformly from
 * the destination type's nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/status.h"
#include "../compiler/plan.h"
#include "graph_edit.h"
#include "weft.h"

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* "ip__src__con" → src "ip", dst "con" (the first and last parts). */
static bool split_type(const char *type, char *src, size_t ns, char *dst, size_t nd)
{
    const char *a = strstr(type, "__");
    const char *b = NULL;
    for (const char *p = type; (p = strstr(p, "__")); p += 2) b = p;
    if (!a || !b || a == b || (size_t)(a - type) >= ns || strlen(b + 2) >= nd || !a[2]) return false;
    memcpy(src, type, (size_t)(a - type));
    src[a - type] = 0;
    strcpy(dst, b + 2);
    return src[0] && dst[0];
}

/* --- building the model -------------------------------------------------------------------------- */

typedef struct builder {
    weft_gedit e;
    int opset; /* the encoder's default-domain opset, which the decoder's ops use */
} builder;

static int op(builder *b, const char *type, const int *in, int n_in, const char *out)
{
    return weft_gedit_op(&b->e, type, "", b->opset, in, n_in, out);
}

static void attr_int(builder *b, int v, const char *name, int64_t i) { weft_gedit_attr_int(&b->e, v, name, i); }

static int constant(builder *b, weft_dtype dt, int rank, int64_t n, const void *data)
{
    return weft_gedit_constant(&b->e, NULL, dt, rank, &n, data);
}

static int input(builder *b, const char *name, weft_dtype dt, int rank, const weft_dim *dims)
{
    return weft_gedit_input(&b->e, name, dt, rank, dims);
}

static int output_of(const weft_graph *g, const char *name)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->values[g->outputs[i]].name && strcmp(g->values[g->outputs[i]].name, name) == 0) return g->outputs[i];
    return -1;
}

weft_status weft_linkpred_model(const weft_model *enc, weft_model **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_linkpred_model: out is NULL");
    *out = NULL;
    if (!enc || !enc->graph) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_linkpred_model: encoder is NULL");
    weft_model *m = NULL;
    weft_status st1 = weft_gedit_model_copy(enc, 0, &m);
    if (st1) return st1;
    builder b = {.e = {.g = m->graph, .prefix = "linkpred"}, .opset = (int)weft_model_opset(enc, "")};
    if (!b.e.st && b.opset < 13)
        b.e.st = weft_error(WEFT_ERR_UNSUPPORTED, "weft_linkpred_model: the encoder's opset %d is older than 13", b.opset);
    int n_inputs0 = b.e.g ? b.e.g->n_inputs : 0;
    int losses[64], n_types = 0, logits[64];
    int64_t zero = 0, one_i = 1, axis1 = 1;
    float one_f = 1.0f;
    int c0 = -1, c1 = -1, cax = -1, cone = -1;
    for (int k = 0; !b.e.st && k < n_inputs0; k++) {
        const char *iname = b.e.g->values[b.e.g->inputs[k]].name;
        if (!iname || strncmp(iname, "edge_index__", 12) != 0) continue;
        const char *type = iname + 12;
        char src[64], dst[64], name[192];
        if (!split_type(type, src, sizeof src, dst, sizeof dst)) {
            b.e.st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_linkpred_model: input '%s': not a type 'a__rel__b'", iname);
            break;
        }
        if (n_types == 64) {
            b.e.st = weft_error(WEFT_ERR_UNSUPPORTED, "weft_linkpred_model: more than 64 edge types");
            break;
        }
        char hs_name[80], hd_name[80];
        snprintf(hs_name, sizeof hs_name, "h_%s", src);
        snprintf(hd_name, sizeof hd_name, "h_%s", dst);
        int hs = output_of(b.e.g, hs_name), hd = output_of(b.e.g, hd_name);
        if (hs < 0 || hd < 0) {
            b.e.st = weft_error(WEFT_ERR_INVALID_ARGUMENT,
                              "weft_linkpred_model: edge type '%s' needs the encoder output '%s' (the embeddings of "
                              "its %s nodes)", type, hs < 0 ? hs_name : hd_name, hs < 0 ? src : dst);
            break;
        }
        if (c0 < 0) {
            c0 = constant(&b, WEFT_INT64, 0, 1, &zero);
            c1 = constant(&b, WEFT_INT64, 0, 1, &one_i);
            cax = constant(&b, WEFT_INT64, 1, 1, &axis1);
            cone = constant(&b, WEFT_FLOAT32, 0, 1, &one_f);
        }
        snprintf(name, sizeof name, "num_sup__%s", type);
        int32_t sym = weft_sym_intern(&m->syms, name);
        if (sym < 0) {
            b.e.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            break;
        }
        weft_dim dsup[2] = {weft_dim_num(2), {0, sym}}, dlab[1] = {{0, sym}};
        snprintf(name, sizeof name, "sup__%s", type);
        int sup = input(&b, name, WEFT_INT64, 2, dsup);
        snprintf(name, sizeof name, "label__%s", type);
        int lab = input(&b, name, WEFT_FLOAT32, 1, dlab);
        int si = op(&b, "Gather", (int[]){sup, c0}, 2, NULL);
        int di = op(&b, "Gather", (int[]){sup, c1}, 2, NULL);
        int es = op(&b, "Gather", (int[]){hs, si}, 2, NULL);
        int ed = op(&b, "Gather", (int[]){hd, di}, 2, NULL);
        int pr = op(&b, "Mul", (int[]){es, ed}, 2, NULL);
        snprintf(name, sizeof name, "logits__%s", type);
        int x = op(&b, "ReduceSum", (int[]){pr, cax}, 2, name);
        attr_int(&b, x, "keepdims", 0);
        /* relu(x) - t·x + log(1 + exp(-(relu(x) + relu(-x)))) */
        int r = op(&b, "Relu", &x, 1, NULL);
        int nx = op(&b, "Neg", &x, 1, NULL);
        int rn = op(&b, "Relu", &nx, 1, NULL);
        int ax = op(&b, "Add", (int[]){r, rn}, 2, NULL);
        int nax = op(&b, "Neg", &ax, 1, NULL);
        int ex = op(&b, "Exp", &nax, 1, NULL);
        int lp = op(&b, "Add", (int[]){cone, ex}, 2, NULL);
        int lg = op(&b, "Log", &lp, 1, NULL);
        int tx = op(&b, "Mul", (int[]){lab, x}, 2, NULL);
        int d = op(&b, "Sub", (int[]){r, tx}, 2, NULL);
        losses[n_types] = op(&b, "Add", (int[]){d, lg}, 2, NULL);
        logits[n_types++] = x;
    }
    if (!b.e.st && n_types == 0)
        b.e.st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_linkpred_model: the encoder has no 'edge_index__<type>' input");
    if (!b.e.st) {
        int cat = op(&b, "Concat", losses, n_types, NULL);
        attr_int(&b, cat, "axis", 0);
        int loss = op(&b, "ReduceMean", &cat, 1, "loss");
        attr_int(&b, loss, "keepdims", 0);
        /* outputs: the loss and the logits (the embeddings need not be kept) */
        int outs[65];
        outs[0] = loss;
        for (int t = 0; t < n_types; t++) outs[1 + t] = logits[t];
        weft_gedit_set_outputs(&b.e, outs, 1 + n_types);
    }
    if (b.e.st) {
        weft_model_free(m);
        return b.e.st;
    }
    *out = m;
    return WEFT_OK;
}

/* --- batches ------------------------------------------------------------------------------------- */

static const weft_tensor *find(const weft_tensor *in, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (in[i].name && strcmp(in[i].name, name) == 0) return &in[i];
    return NULL;
}

void weft_linkpred_batch_free(weft_linkpred_batch *bt)
{
    if (!bt) return;
    for (size_t i = 0; i < bt->n; i++) {
        if (bt->owned[i]) free(bt->t[i].data);
        free(bt->names[i]);
    }
    free(bt->t);
    free(bt->owned);
    free(bt->names);
    memset(bt, 0, sizeof *bt);
}

static weft_status push(weft_linkpred_batch *bt, const weft_tensor *t, const char *name, bool owned)
{
    weft_tensor *a = realloc(bt->t, (bt->n + 1) * sizeof *a);
    if (a) bt->t = a;
    bool *o = realloc(bt->owned, (bt->n + 1) * sizeof *o);
    if (o) bt->owned = o;
    char **nm = realloc(bt->names, (bt->n + 1) * sizeof *nm);
    if (nm) bt->names = nm;
    char *copy = name ? dupstr(name) : NULL;
    if (!a || !o || !nm || (name && !copy)) {
        free(copy);
        if (owned) free(t->data);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    bt->t[bt->n] = *t;
    bt->names[bt->n] = copy;
    if (copy) bt->t[bt->n].name = copy;
    bt->owned[bt->n] = owned;
    bt->n++;
    return WEFT_OK;
}

weft_status weft_linkpred_make_batch(const weft_tensor *in, size_t n_in, const weft_linkpred_options *o,
                                     weft_linkpred_batch *bt)
{
    memset(bt, 0, sizeof *bt);
    if (!o || !(o->sup_fraction > 0 && o->sup_fraction < 1) || o->neg_ratio < 0 || o->neg_ratio > 1000)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT,
                          "weft_linkpred_make_batch: the supervision fraction must be in (0, 1) and the negative ratio "
                          "in 0 .. 1000");
    uint64_t rs = o->seed;
    weft_status st = WEFT_OK;
    for (size_t k = 0; k < n_in && !st; k++) {
        const weft_tensor *t = &in[k];
        if (!t->name || strncmp(t->name, "edge_index__", 12) != 0) {
            st = push(bt, t, NULL, false); /* features and anything else as they are */
            continue;
        }
        const char *type = t->name + 12;
        char src[64], dst[64], name[192];
        if (!split_type(type, src, sizeof src, dst, sizeof dst) || t->dtype != WEFT_INT64 || t->rank != 2 || t->dims[0] != 2) {
            st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_linkpred_make_batch: '%s' is not an int64 [2, E] edge index "
                            "of a type 'a__rel__b'", t->name);
            break;
        }
        snprintf(name, sizeof name, "x_%s", dst);
        const weft_tensor *xd = find(in, n_in, name);
        if (!xd || xd->rank < 1) {
            st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_linkpred_make_batch: edge type '%s' needs '%s' (its "
                            "destination nodes)", type, name);
            break;
        }
        int64_t n_dst = xd->dims[0], E = t->dims[1];
        const int64_t *ei = t->data;
        /* shuffle the edge order (Fisher-Yates), then the first S supervise and the rest carry messages */
        int64_t *perm = malloc((size_t)(E + 1) * sizeof *perm);
        if (!perm) {
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            break;
        }
        for (int64_t i = 0; i < E; i++) perm[i] = i;
        for (int64_t i = E - 1; i > 0; i--) {
            int64_t j = (int64_t)(weft_splitmix64(&rs) % (uint64_t)(i + 1));
            int64_t x = perm[i];
            perm[i] = perm[j], perm[j] = x;
        }
        int64_t S = (int64_t)((double)E * o->sup_fraction + 0.5);
        if (E >= 2 && S == 0) S = 1;
        if (S >= E && E >= 2) S = E - 1; /* leave the encoder at least one message edge */
        if (E < 2) S = 0;
        int64_t M = E - S, P = S * (1 + o->neg_ratio);
        int64_t *msg = malloc((size_t)(2 * M + 1) * sizeof *msg), *sup = malloc((size_t)(2 * P + 1) * sizeof *sup);
        float *lab = malloc((size_t)(P + 1) * sizeof *lab);
        if (!msg || !sup || !lab) {
            free(perm), free(msg), free(sup), free(lab);
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            break;
        }
        for (int64_t i = 0; i < M; i++) {
            msg[i] = ei[perm[S + i]];
            msg[M + i] = ei[E + perm[S + i]];
        }
        int64_t w = 0;
        for (int64_t i = 0; i < S; i++) {
            int64_t e = perm[i];
            sup[w] = ei[e], sup[P + w] = ei[E + e], lab[w++] = 1.0f;
            for (int r = 0; r < o->neg_ratio; r++) {
                sup[w] = ei[e];
                sup[P + w] = n_dst > 0 ? (int64_t)(weft_splitmix64(&rs) % (uint64_t)n_dst) : 0;
                lab[w++] = 0.0f;
            }
        }
        free(perm);
        weft_tensor tm = {.dtype = WEFT_INT64, .rank = 2, .dims = {2, M}, .data = msg, .nbytes = (size_t)(2 * M) * 8};
        weft_tensor ts = {.dtype = WEFT_INT64, .rank = 2, .dims = {2, P}, .data = sup, .nbytes = (size_t)(2 * P) * 8};
        weft_tensor tl = {.dtype = WEFT_FLOAT32, .rank = 1, .dims = {P}, .data = lab, .nbytes = (size_t)P * 4};
        st = push(bt, &tm, t->name, true);
        snprintf(name, sizeof name, "sup__%s", type);
        if (!st) st = push(bt, &ts, name, true);
        else free(sup);
        snprintf(name, sizeof name, "label__%s", type);
        if (!st) st = push(bt, &tl, name, true);
        else free(lab);
    }
    if (st) weft_linkpred_batch_free(bt);
    return st;
}

double weft_auc(const float *scores, const float *labels, size_t n)
{
    /* the probability that a positive outscores a negative, ties counting half: ranks of the sorted scores */
    size_t *idx = malloc((n + 1) * sizeof *idx);
    if (!idx) return -1;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    /* insertion into a heap would do; n is a batch's pairs, so a simple merge sort by score */
    size_t *tmp = malloc((n + 1) * sizeof *tmp);
    if (!tmp) {
        free(idx);
        return -1;
    }
    for (size_t width = 1; width < n; width *= 2)
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, c = mid, k = lo;
            while (a < mid && c < hi) tmp[k++] = scores[idx[a]] <= scores[idx[c]] ? idx[a++] : idx[c++];
            while (a < mid) tmp[k++] = idx[a++];
            while (c < hi) tmp[k++] = idx[c++];
            memcpy(idx + lo, tmp + lo, (hi - lo) * sizeof *idx);
        }
    double rank_sum = 0, pos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && scores[idx[j]] == scores[idx[i]]) j++;
        double avg = (double)(i + j + 1) / 2.0; /* 1-based average rank of the tie group */
        for (size_t k = i; k < j; k++)
            if (labels[idx[k]] > 0.5f) rank_sum += avg, pos++;
        i = j;
    }
    free(idx);
    free(tmp);
    double neg = (double)n - pos;
    if (pos == 0 || neg == 0) return -1;
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}
