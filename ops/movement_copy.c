/*
 * ops/movement_copy.c — data-movement ops that copy through an index map: Transpose, Concat, Split,
 * Slice, Tile, Expand, Pad, DepthToSpace, SpaceToDepth, Compress. Listed in the family table of
 * ops/movement.c.
 *
 * Most of them are one strided copy (weft_movement_copy_strided): the output is walked in row-major
 * order and each axis steps the source by a stride that may be 0 (broadcast), negative (Slice with a
 * negative step) or permuted (Transpose, DepthToSpace).
 */
#include <string.h>

#include "movement.h"

static weft_status need_data_dtype(weft_infer_ctx *c, int i)
{
    if (weft_dtype_size(c->in_dtype[i]) == 0)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported", i,
                             weft_dtype_name(c->in_dtype[i]));
    if (c->in_shape[i].rank > WEFT_MAX_RANK)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d has rank %d, above weft's limit %d", i,
                             c->in_shape[i].rank, WEFT_MAX_RANK);
    return WEFT_OK;
}

/* Every dim of output 0 a fresh symbol (rank kept): when values that decide the shape are unknown. */
static void unknown_dims(weft_infer_ctx *c, int rank)
{
    c->out_shape[0].rank = rank;
    for (int i = 0; i < rank; i++) c->out_shape[0].d[i] = weft_dim_unknown(c);
}

static int64_t prod(const int64_t *d, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= d[i];
    return p;
}

/* --- Transpose ----------------------------------------------------------------------------------- */

/* The permutation: attribute `perm` (checked), or the reversal of the axes. */
static weft_status transpose_perm(const weft_node_info *n, int rank, int *perm)
{
    const int64_t *p;
    int np = weft_attr_ints(n, "perm", &p);
    if (np < 0) {
        for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
        return WEFT_OK;
    }
    if (np != rank)
        return weft_op_error(n, WEFT_ERR_SHAPE, "perm has %d entries for a rank-%d input", np, rank);
    bool seen[WEFT_MAX_RANK] = {false};
    for (int i = 0; i < np; i++) {
        if (p[i] < 0 || p[i] >= rank || seen[p[i]])
            return weft_op_error(n, WEFT_ERR_SHAPE, "perm is not a permutation of 0..%d (entry %d is %lld)",
                                 rank - 1, i, (long long)p[i]);
        seen[p[i]] = true;
        perm[i] = (int)p[i];
    }
    return WEFT_OK;
}

weft_status weft_movement_infer_transpose(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    const weft_shape *in = &c->in_shape[0];
    if (in->rank < 0) {
        const int64_t *p;
        int np = weft_attr_ints(c->node, "perm", &p);
        if (np >= 0 && np <= WEFT_MAX_RANK) unknown_dims(c, np);
        else c->out_shape[0].rank = -1;
        return WEFT_OK;
    }
    int perm[WEFT_MAX_RANK];
    if ((st = transpose_perm(c->node, in->rank, perm))) return st;
    c->out_shape[0].rank = in->rank;
    for (int i = 0; i < in->rank; i++) c->out_shape[0].d[i] = in->d[perm[i]];
    return WEFT_OK;
}

weft_status weft_movement_run_transpose(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int perm[WEFT_MAX_RANK];
    weft_status st = transpose_perm(k->node, x->rank, perm);
    if (st) return st;
    int64_t s[WEFT_MAX_RANK], ps[WEFT_MAX_RANK];
    weft_strides(x->dims, x->rank, s);
    for (int i = 0; i < x->rank; i++) ps[i] = s[perm[i]];
    weft_movement_copy_strided(k->out[0].data, x->data, weft_dtype_size(x->dtype), x->rank, k->out[0].dims, ps, 0);
    return WEFT_OK;
}

/* --- Concat -------------------------------------------------------------------------------------- */

weft_status weft_movement_infer_concat(weft_infer_ctx *c)
{
    weft_status st;
    int rank = -1;
    for (int i = 0; i < c->n_in; i++) {
        if (!weft_in_present(c, i)) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "input %d is missing", i);
        if ((st = need_data_dtype(c, i))) return st;
        if (c->in_dtype[i] != c->in_dtype[0])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d has dtype %s, input 0 has %s", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
        int r = c->in_shape[i].rank;
        if (r < 0) continue;
        if (rank >= 0 && r != rank)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d has rank %d, others have rank %d", i, r, rank);
        rank = r;
    }
    c->out_dtype[0] = c->in_dtype[0];
    const weft_attr *aa = weft_attr_find(c->node, "axis");
    if (!aa || aa->type != WEFT_ATTR_INT)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "attribute 'axis' (int) is required");
    if (rank < 0) {
        c->out_shape[0].rank = -1;
        return WEFT_OK;
    }
    if (rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "cannot concatenate scalars");
    int axis;
    if ((st = weft_axis(c->node, aa->i, rank, false, &axis))) return st;
    weft_shape *s = &c->out_shape[0];
    s->rank = rank;
    for (int a = 0; a < rank; a++) {
        if (a == axis) {
            /* Sum along the axis: a number when all are known; one symbol plus zeros stays that symbol. */
            int64_t sum = 0;
            int nsym = 0;
            weft_dim sym = {0, -1};
            for (int i = 0; i < c->n_in; i++) {
                if (c->in_shape[i].rank < 0) { nsym += 2; continue; }
                weft_dim d = c->in_shape[i].d[a];
                if (!weft_dim_known(d)) { nsym++; sym = d; continue; }
                if (__builtin_add_overflow(sum, d.v, &sum))
                    return weft_op_error(c->node, WEFT_ERR_SHAPE, "the concatenated axis overflows int64");
            }
            s->d[a] = nsym == 0 ? weft_dim_num(sum) : (nsym == 1 && sum == 0) ? sym : weft_dim_unknown(c);
            continue;
        }
        /* Other axes must agree; a known size wins over symbols (binding checks those later). */
        weft_dim res = {0, -2};
        for (int i = 0; i < c->n_in; i++) {
            if (c->in_shape[i].rank < 0) continue;
            weft_dim d = c->in_shape[i].d[a];
            if (res.sym == -2 || (!weft_dim_known(res) && weft_dim_known(d))) {
                res = d;
            } else if (weft_dim_known(res) && weft_dim_known(d) && res.v != d.v) {
                return weft_op_error(c->node, WEFT_ERR_SHAPE,
                                     "input %d has size %lld on axis %d, an earlier input has %lld", i,
                                     (long long)d.v, a, (long long)res.v);
            }
        }
        s->d[a] = res;
    }
    return WEFT_OK;
}

weft_status weft_movement_run_concat(weft_kernel_ctx *k)
{
    weft_tview *o = &k->out[0];
    int axis;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", 0), o->rank, false, &axis);
    if (st) return st;
    size_t esz = weft_dtype_size(o->dtype);
    int64_t outer = prod(o->dims, 0, axis), inner = prod(o->dims, axis + 1, o->rank);
    char *dst = o->data;
    for (int64_t r = 0; r < outer; r++)
        for (int i = 0; i < k->n_in; i++) {
            size_t chunk = (size_t)(k->in[i].dims[axis] * inner) * esz;
            if (chunk) memcpy(dst, (const char *)k->in[i].data + (size_t)r * chunk, chunk);
            dst += chunk;
        }
    return WEFT_OK;
}

/* --- Split --------------------------------------------------------------------------------------- */

/* Outputs whose sizes infer works out on the stack (8 KiB); more is refused rather than allocated. */
#define SPLIT_MAX_OUT 1024

/* Sizes of the n_out parts of an axis of size `dim`: from `split` (n >= 0 values) or num_outputs /
 * the output count (ceil-sized parts, the last one smaller, from opset 18; equal parts before). */
static weft_status split_sizes(const weft_node_info *node, int64_t dim, const int64_t *split, int n, int n_out,
                               int64_t *sizes)
{
    if (n >= 0) {
        if (n != n_out)
            return weft_op_error(node, WEFT_ERR_SHAPE, "split has %d entries for %d outputs", n, n_out);
        int64_t sum = 0;
        for (int i = 0; i < n; i++) {
            if (split[i] < 0)
                return weft_op_error(node, WEFT_ERR_SHAPE, "split entry %d is negative (%lld)", i, (long long)split[i]);
            if (__builtin_add_overflow(sum, split[i], &sum))
                return weft_op_error(node, WEFT_ERR_SHAPE, "split entries overflow int64");
            sizes[i] = split[i];
        }
        if (dim >= 0 && sum != dim)
            return weft_op_error(node, WEFT_ERR_SHAPE, "split entries sum to %lld, the axis has size %lld",
                                 (long long)sum, (long long)dim);
        return WEFT_OK;
    }
    const weft_attr *na = node->opset >= 18 ? weft_attr_find(node, "num_outputs") : NULL;
    if (na) {
        if (na->type != WEFT_ATTR_INT || na->i != n_out)
            return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "num_outputs is %lld but the node has %d outputs",
                                 (long long)na->i, n_out);
        if (n_out < 1) return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "num_outputs must be positive");
        /* Parts of ceil(dim / n); the last one takes what is left (possibly fewer, even none). */
        int64_t chunk = dim / n_out + (dim % n_out != 0);
        for (int i = 0; i < n_out - 1; i++) sizes[i] = chunk;
        sizes[n_out - 1] = dim - chunk * (n_out - 1);
        if (sizes[n_out - 1] < 0)
            return weft_op_error(node, WEFT_ERR_SHAPE, "cannot split an axis of size %lld into %d parts",
                                 (long long)dim, n_out);
        return WEFT_OK;
    }
    if (dim % n_out != 0)
        return weft_op_error(node, WEFT_ERR_SHAPE, "an axis of size %lld does not split into %d equal parts",
                             (long long)dim, n_out);
    for (int i = 0; i < n_out; i++) sizes[i] = dim / n_out;
    return WEFT_OK;
}

weft_status weft_movement_infer_split(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st) return st;
    const weft_shape *in = &c->in_shape[0];
    for (int i = 0; i < c->n_out; i++) c->out_dtype[i] = c->in_dtype[0];
    if (c->n_out < 1) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "no outputs");
    /* The split sizes, when given and known. */
    int64_t *split = NULL, sbuf[SPLIT_MAX_OUT];
    int n = -1;
    bool split_unknown = false;
    if (c->node->opset < 13) {
        const int64_t *a;
        n = weft_attr_ints(c->node, "split", &a);
        split = (int64_t *)a;
    } else if (weft_in_present(c, 1)) {
        n = weft_movement_infer_ints(c, 1, sbuf, SPLIT_MAX_OUT);
        if (n == -2) return WEFT_ERR_SHAPE;
        split_unknown = n == -1;
        split = sbuf;
    }
    if (in->rank < 0) {
        for (int i = 0; i < c->n_out; i++) c->out_shape[i].rank = -1;
        return WEFT_OK;
    }
    int axis;
    if ((st = weft_axis(c->node, weft_attr_int(c->node, "axis", 0), in->rank, false, &axis))) return st;
    weft_dim d = in->d[axis];
    int64_t sizes[SPLIT_MAX_OUT];
    bool sizes_known = false;
    if (!split_unknown && (n >= 0 || weft_dim_known(d))) {
        if (c->n_out > SPLIT_MAX_OUT)
            return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "more than %d outputs", SPLIT_MAX_OUT);
        if ((st = split_sizes(c->node, weft_dim_known(d) ? d.v : -1, split, n, c->n_out, sizes))) return st;
        sizes_known = true;
    }
    for (int i = 0; i < c->n_out; i++) {
        c->out_shape[i] = *in;
        c->out_shape[i].d[axis] = sizes_known ? weft_dim_num(sizes[i]) : c->n_out == 1 ? d : weft_dim_unknown(c);
    }
    return WEFT_OK;
}

weft_status weft_movement_run_split(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int axis;
    weft_status st = weft_axis(k->node, weft_attr_int(k->node, "axis", 0), x->rank, false, &axis);
    if (st) return st;
    /* The output shapes came from infer, which already checked the split; re-check they tile the axis. */
    int64_t sum = 0;
    for (int i = 0; i < k->n_out; i++) sum += k->out[i].dims[axis];
    if (sum != x->dims[axis])
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output sizes do not add up to the split axis");
    size_t esz = weft_dtype_size(x->dtype);
    int64_t outer = prod(x->dims, 0, axis), inner = prod(x->dims, axis + 1, x->rank);
    const char *src = x->data;
    for (int64_t r = 0; r < outer; r++)
        for (int i = 0; i < k->n_out; i++) {
            size_t chunk = (size_t)(k->out[i].dims[axis] * inner) * esz;
            if (chunk) memcpy((char *)k->out[i].data + (size_t)r * chunk, src, chunk);
            src += chunk;
        }
    return WEFT_OK;
}

/* --- Slice --------------------------------------------------------------------------------------- */

typedef struct {
    bool on[WEFT_MAX_RANK];
    int64_t start[WEFT_MAX_RANK], end[WEFT_MAX_RANK], step[WEFT_MAX_RANK];
} slice_spec;

/* Per-axis start/end/step from the raw lists (na / nsp < 0: default axes 0.. / steps 1). */
static weft_status slice_spec_build(const weft_node_info *node, int rank, const int64_t *st, int ns,
                                    const int64_t *en, int ne, const int64_t *ax, int na, const int64_t *sp,
                                    int nsp, slice_spec *o)
{
    if (ns != ne) return weft_op_error(node, WEFT_ERR_SHAPE, "starts has %d entries, ends has %d", ns, ne);
    if ((na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return weft_op_error(node, WEFT_ERR_SHAPE, "starts, ends, axes and steps must have the same length");
    if (ns > rank) return weft_op_error(node, WEFT_ERR_SHAPE, "%d axes sliced on a rank-%d input", ns, rank);
    for (int i = 0; i < rank; i++) o->on[i] = false;
    for (int i = 0; i < ns; i++) {
        int a = i;
        if (na >= 0) {
            weft_status s = weft_axis(node, ax[i], rank, false, &a);
            if (s) return s;
        }
        if (o->on[a]) return weft_op_error(node, WEFT_ERR_SHAPE, "axis %d is sliced twice", a);
        int64_t step = nsp >= 0 ? sp[i] : 1;
        if (step == 0) return weft_op_error(node, WEFT_ERR_SHAPE, "step for axis %d is 0", a);
        o->on[a] = true;
        o->start[a] = st[i];
        o->end[a] = en[i];
        o->step[a] = step;
    }
    return WEFT_OK;
}

/* The spec's clamping: negatives count from the back; then clamp to [0, d] (step > 0) or to
 * [0, d-1] for start and [-1, d-1] for end (step < 0). Gives the first index and the count. */
static void slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first, int64_t *count)
{
    if (start < 0) start += d; /* d >= 0 and start < 0: no overflow */
    if (end < 0) end += d;
    if (step > 0) {
        start = start < 0 ? 0 : start > d ? d : start;
        end = end < 0 ? 0 : end > d ? d : end;
        /* end - start fits: both in [0, d]. (x + step - 1) is bounded by using unsigned arithmetic. */
        *count = end > start ? (int64_t)(((uint64_t)(end - start) + (uint64_t)step - 1) / (uint64_t)step) : 0;
    } else {
        start = start < 0 ? 0 : start > d - 1 ? d - 1 : start;
        end = end < -1 ? -1 : end > d - 1 ? d - 1 : end;
        uint64_t ns = (uint64_t)0 - (uint64_t)step; /* |step|, also for INT64_MIN */
        *count = start > end ? (int64_t)(((uint64_t)(start - end) + ns - 1) / ns) : 0;
    }
    *first = *count ? start : 0;
}

/* Gathers the slice lists: attributes before opset 10, inputs 1..4 from 10. Returns 1 when all are
 * known (and builds *o), 0 when some value is unknown (compile time), or an error status as -1. */
static int slice_gather_infer(weft_infer_ctx *c, int rank, slice_spec *o, weft_status *err)
{
    int64_t st[WEFT_MAX_RANK], en[WEFT_MAX_RANK], ax[WEFT_MAX_RANK], sp[WEFT_MAX_RANK];
    int ns, ne, na = -1, nsp = -1;
    if (c->node->opset < 10) {
        const int64_t *a, *b, *x;
        ns = weft_attr_ints(c->node, "starts", &a);
        ne = weft_attr_ints(c->node, "ends", &b);
        na = weft_attr_ints(c->node, "axes", &x);
        if (ns < 0 || ne < 0) {
            *err = weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "attributes 'starts' and 'ends' are required");
            return -1;
        }
        if (ns > WEFT_MAX_RANK || ne > WEFT_MAX_RANK || na > WEFT_MAX_RANK) {
            *err = weft_op_error(c->node, WEFT_ERR_SHAPE, "too many slice entries");
            return -1;
        }
        memcpy(st, a, sizeof *st * (size_t)ns);
        memcpy(en, b, sizeof *en * (size_t)ne);
        if (na > 0) memcpy(ax, x, sizeof *ax * (size_t)na);
    } else {
        int *cnt[4] = {&ns, &ne, &na, &nsp};
        int64_t *buf[4] = {st, en, ax, sp};
        bool unknown = false;
        for (int i = 0; i < 4; i++) {
            if (!weft_in_present(c, i + 1)) {
                if (i < 2) {
                    *err = weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "input %d (%s) is required", i + 1,
                                         i ? "ends" : "starts");
                    return -1;
                }
                continue;
            }
            int n = weft_movement_infer_ints(c, i + 1, buf[i], WEFT_MAX_RANK);
            if (n == -2) {
                *err = WEFT_ERR_SHAPE;
                return -1;
            }
            if (n == -1) unknown = true;
            *cnt[i] = n;
        }
        if (unknown) return 0;
    }
    *err = slice_spec_build(c->node, rank, st, ns, en, ne, ax, na, sp, nsp, o);
    return *err ? -1 : 1;
}

weft_status weft_movement_infer_slice(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    const weft_shape *in = &c->in_shape[0];
    if (in->rank < 0) {
        c->out_shape[0].rank = -1;
        return WEFT_OK;
    }
    slice_spec sp;
    int got = slice_gather_infer(c, in->rank, &sp, &st);
    if (got < 0) return st;
    if (got == 0) {
        unknown_dims(c, in->rank);
        return WEFT_OK;
    }
    weft_shape *s = &c->out_shape[0];
    *s = *in;
    for (int a = 0; a < in->rank; a++) {
        if (!sp.on[a]) continue;
        if (weft_dim_known(in->d[a])) {
            int64_t first, count;
            slice_axis(in->d[a].v, sp.start[a], sp.end[a], sp.step[a], &first, &count);
            s->d[a] = weft_dim_num(count);
        } else if (sp.step[a] == 1 && sp.start[a] == 0 && sp.end[a] == INT64_MAX) {
            /* The whole axis, whatever its size. */
        } else {
            s->d[a] = weft_dim_unknown(c);
        }
    }
    return WEFT_OK;
}

weft_status weft_movement_slice_view(const weft_kernel_ctx *k, int64_t *off_out, int64_t *ss)
{
    const weft_tview *x = &k->in[0];
    slice_spec sp;
    weft_status st;
    if (k->node->opset < 10) {
        const int64_t *a, *b, *ax;
        int ns = weft_attr_ints(k->node, "starts", &a), ne = weft_attr_ints(k->node, "ends", &b);
        int na = weft_attr_ints(k->node, "axes", &ax);
        if (ns < 0 || ne < 0)
            return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "attributes 'starts' and 'ends' are required");
        st = slice_spec_build(k->node, x->rank, a, ns, b, ne, ax, na, NULL, -1, &sp);
    } else {
        int64_t v[4][WEFT_MAX_RANK];
        int n[4] = {-1, -1, -1, -1};
        for (int i = 0; i < 4; i++)
            if (weft_kin_present(k, i + 1) && (st = weft_movement_kernel_ints(k, i + 1, v[i], WEFT_MAX_RANK, &n[i])))
                return st;
        st = slice_spec_build(k->node, x->rank, v[0], n[0], v[1], n[1], v[2], n[2], v[3], n[3], &sp);
    }
    if (st) return st;
    int64_t s[WEFT_MAX_RANK], off = 0;
    weft_strides(x->dims, x->rank, s);
    for (int a = 0; a < x->rank; a++) {
        int64_t first = 0, count = x->dims[a], step = 1;
        if (sp.on[a]) {
            step = sp.step[a];
            slice_axis(x->dims[a], sp.start[a], sp.end[a], step, &first, &count);
        }
        if (count != k->out[0].dims[a])
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output size on axis %d disagrees with the slice", a);
        /* A step beyond the axis is only ever taken once (count <= 1), so cap it to keep products small. */
        if (count <= 1) step = 1;
        off += first * s[a];
        ss[a] = step * s[a];
    }
    *off_out = off;
    return WEFT_OK;
}

weft_status weft_movement_run_slice(weft_kernel_ctx *k)
{
    int64_t off, ss[WEFT_MAX_RANK];
    weft_status st = weft_movement_slice_view(k, &off, ss);
    if (st) return st;
    if (k->out[0].numel)
        weft_movement_copy_strided(k->out[0].data, k->in[0].data, weft_dtype_size(k->in[0].dtype), k->in[0].rank,
                                   k->out[0].dims, ss, off);
    return WEFT_OK;
}

/* --- Tile ---------------------------------------------------------------------------------------- */

static weft_status tile_check_repeats_input(weft_infer_ctx *c)
{
    if (c->in_dtype[1] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'repeats' must be int64, got %s",
                             weft_dtype_name(c->in_dtype[1]));
    if (c->in_shape[1].rank >= 0 && c->in_shape[1].rank != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'repeats' must be 1-D, got rank %d", c->in_shape[1].rank);
    return WEFT_OK;
}

weft_status weft_movement_infer_tile(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st || (st = tile_check_repeats_input(c))) return st;
    c->out_dtype[0] = c->in_dtype[0];
    const weft_shape *in = &c->in_shape[0];
    if (in->rank < 0) {
        c->out_shape[0].rank = -1;
        return WEFT_OK;
    }
    int64_t rep[WEFT_MAX_RANK];
    int n = weft_movement_infer_ints(c, 1, rep, WEFT_MAX_RANK);
    if (n == -2) return WEFT_ERR_SHAPE;
    if (n == -1) {
        unknown_dims(c, in->rank);
        return WEFT_OK;
    }
    if (n != in->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "repeats has %d entries for a rank-%d input", n, in->rank);
    weft_shape *s = &c->out_shape[0];
    s->rank = in->rank;
    for (int a = 0; a < n; a++) {
        if (rep[a] < 0)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "repeats[%d] is negative (%lld)", a, (long long)rep[a]);
        if (!weft_movement_dim_mul(c, in->d[a], rep[a], &s->d[a])) return WEFT_ERR_SHAPE;
    }
    if (weft_shape_numel(s) == -2) return weft_op_error(c->node, WEFT_ERR_SHAPE, "output element count overflows int64");
    return weft_movement_check_bytes(c, 0);
}

weft_status weft_movement_run_tile(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    /* View the output as [rep0, d0, rep1, d1, ...]: the repeat axes read with stride 0. */
    int64_t s[WEFT_MAX_RANK], vd[WEFT_MOVEMENT_MAX_AXES], vs[WEFT_MOVEMENT_MAX_AXES];
    weft_strides(x->dims, x->rank, s);
    for (int a = 0; a < x->rank; a++) {
        if (x->dims[a] == 0 ? k->out[0].dims[a] != 0 : k->out[0].dims[a] % x->dims[a] != 0)
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output size on axis %d is not a multiple", a);
        vd[2 * a] = x->dims[a] ? k->out[0].dims[a] / x->dims[a] : 0;
        vs[2 * a] = 0;
        vd[2 * a + 1] = x->dims[a];
        vs[2 * a + 1] = s[a];
    }
    if (k->out[0].numel)
        weft_movement_copy_strided(k->out[0].data, x->data, weft_dtype_size(x->dtype), 2 * x->rank, vd, vs, 0);
    return WEFT_OK;
}

/* --- Expand -------------------------------------------------------------------------------------- */

weft_status weft_movement_infer_expand(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    if (c->in_dtype[1] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'shape' must be int64, got %s",
                             weft_dtype_name(c->in_dtype[1]));
    const weft_shape *ss = &c->in_shape[1];
    if (ss->rank >= 0 && ss->rank != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'shape' must be 1-D, got rank %d", ss->rank);
    int64_t v[WEFT_MAX_RANK];
    int n = weft_movement_infer_ints(c, 1, v, WEFT_MAX_RANK);
    if (n == -2) return WEFT_ERR_SHAPE;
    const weft_shape *in = &c->in_shape[0];
    if (n == -1) {
        if (in->rank >= 0 && ss->rank == 1 && weft_dim_known(ss->d[0]) && ss->d[0].v <= WEFT_MAX_RANK)
            unknown_dims(c, in->rank > ss->d[0].v ? in->rank : (int)ss->d[0].v);
        else
            c->out_shape[0].rank = -1;
        return WEFT_OK;
    }
    weft_shape target;
    target.rank = n;
    for (int i = 0; i < n; i++) {
        if (v[i] < 0)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "shape value %lld at position %d is negative",
                                 (long long)v[i], i);
        target.d[i] = weft_dim_num(v[i]);
    }
    const weft_shape *both[2] = {in, &target};
    if ((st = weft_infer_broadcast(c, both, 2, &c->out_shape[0]))) return st;
    if (weft_shape_numel(&c->out_shape[0]) == -2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "output element count overflows int64");
    return weft_movement_check_bytes(c, 0);
}

weft_status weft_movement_run_expand(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    weft_tview *o = &k->out[0];
    if (x->rank > o->rank) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output rank below input rank");
    for (int i = 0; i < x->rank; i++) {
        int64_t d = x->dims[i], od = o->dims[i + o->rank - x->rank];
        if (d != od && d != 1)
            return weft_op_error(k->node, WEFT_ERR_INTERNAL, "input axis %d (%lld) does not broadcast to %lld", i,
                                 (long long)d, (long long)od);
    }
    int64_t bs[WEFT_MAX_RANK];
    weft_broadcast_strides(x->dims, x->rank, o->dims, o->rank, bs);
    if (o->numel) weft_movement_copy_strided(o->data, x->data, weft_dtype_size(x->dtype), o->rank, o->dims, bs, 0);
    return WEFT_OK;
}

/* --- Pad ----------------------------------------------------------------------------------------- */

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

static weft_status pad_mode_of(const weft_node_info *n, pad_mode *m)
{
    const char *s = weft_attr_string(n, "mode", "constant");
    if (strcmp(s, "constant") == 0) *m = PAD_CONSTANT;
    else if (strcmp(s, "reflect") == 0) *m = PAD_REFLECT;
    else if (strcmp(s, "edge") == 0) *m = PAD_EDGE;
    else if (strcmp(s, "wrap") == 0) *m = PAD_WRAP;
    else return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "unknown mode '%s'", s);
    return WEFT_OK;
}

/* Per-axis begin/end pads from the pads list (2 * naxes entries) and the axes it covers. */
static weft_status pad_spec(const weft_node_info *node, int rank, const int64_t *pads, int np, const int64_t *axes,
                            int na, int64_t *pb, int64_t *pe)
{
    int n = na >= 0 ? na : rank;
    if (np != 2 * n)
        return weft_op_error(node, WEFT_ERR_SHAPE, "pads has %d entries, expected %d (2 per padded axis)", np, 2 * n);
    bool seen[WEFT_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) pb[i] = pe[i] = 0;
    for (int i = 0; i < n; i++) {
        int a = i;
        if (na >= 0) {
            weft_status st = weft_axis(node, axes[i], rank, false, &a);
            if (st) return st;
            if (seen[a]) return weft_op_error(node, WEFT_ERR_SHAPE, "axis %d is padded twice", a);
        }
        seen[a] = true;
        pb[a] = pads[i];
        pe[a] = pads[n + i];
    }
    return WEFT_OK;
}

/* Output size of one axis: d + begin + end, checked. Non-constant modes need a non-empty window. */
static weft_status pad_axis_size(const weft_node_info *node, pad_mode m, int a, int64_t d, int64_t b, int64_t e,
                                 int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(d, b, &r) || __builtin_add_overflow(r, e, &r))
        return weft_op_error(node, WEFT_ERR_SHAPE, "padded size of axis %d overflows int64", a);
    if (r < 0)
        return weft_op_error(node, WEFT_ERR_SHAPE, "pads %lld and %lld remove more than the %lld elements of axis %d",
                             (long long)b, (long long)e, (long long)d, a);
    int64_t w = d - (b < 0 ? -b : 0) - (e < 0 ? -e : 0);
    if (m != PAD_CONSTANT && w <= 0 && (b > 0 || e > 0))
        return weft_op_error(node, WEFT_ERR_SHAPE, "cannot pad axis %d with no elements left in this mode", a);
    *out = r;
    return WEFT_OK;
}

/* Gathers pads/axes (attribute before opset 11, inputs after). 1: known, 0: unknown, -1: error. */
static int pad_gather_infer(weft_infer_ctx *c, int rank, int64_t *pb, int64_t *pe, weft_status *err)
{
    int64_t pads[2 * WEFT_MAX_RANK], axes[WEFT_MAX_RANK];
    int np, na = -1;
    if (c->node->opset < 11) {
        const int64_t *p;
        np = weft_attr_ints(c->node, "pads", &p);
        if (np < 0 || np > 2 * WEFT_MAX_RANK) {
            *err = weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "attribute 'pads' is missing or too long");
            return -1;
        }
        memcpy(pads, p, sizeof *pads * (size_t)np);
    } else {
        if (c->in_dtype[1] != WEFT_INT64) {
            *err = weft_op_error(c->node, WEFT_ERR_TYPE, "input 'pads' must be int64, got %s",
                                 weft_dtype_name(c->in_dtype[1]));
            return -1;
        }
        np = weft_movement_infer_ints(c, 1, pads, 2 * WEFT_MAX_RANK);
        if (weft_in_present(c, 3)) {
            na = weft_movement_infer_ints(c, 3, axes, WEFT_MAX_RANK);
            if (na == -1) return 0;
        }
        if (np == -2 || na == -2) {
            *err = WEFT_ERR_SHAPE;
            return -1;
        }
        if (np == -1) return 0;
    }
    *err = pad_spec(c->node, rank, pads, np, axes, na, pb, pe);
    return *err ? -1 : 1;
}

weft_status weft_movement_infer_pad(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    pad_mode m;
    if ((st = pad_mode_of(c->node, &m))) return st;
    if (c->node->opset >= 11 && weft_in_present(c, 2)) {
        if (c->in_dtype[2] != c->in_dtype[0])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "constant_value has dtype %s, data has %s",
                                 weft_dtype_name(c->in_dtype[2]), weft_dtype_name(c->in_dtype[0]));
        int64_t n = weft_shape_numel(&c->in_shape[2]);
        if (n > 1) return weft_op_error(c->node, WEFT_ERR_SHAPE, "constant_value must hold one element");
    }
    const weft_shape *in = &c->in_shape[0];
    if (in->rank < 0) {
        c->out_shape[0].rank = -1;
        return WEFT_OK;
    }
    int64_t pb[WEFT_MAX_RANK], pe[WEFT_MAX_RANK];
    int got = pad_gather_infer(c, in->rank, pb, pe, &st);
    if (got < 0) return st;
    if (got == 0) {
        unknown_dims(c, in->rank);
        return WEFT_OK;
    }
    weft_shape *s = &c->out_shape[0];
    s->rank = in->rank;
    for (int a = 0; a < in->rank; a++) {
        if (!weft_dim_known(in->d[a])) {
            s->d[a] = pb[a] == 0 && pe[a] == 0 ? in->d[a] : weft_dim_unknown(c);
            continue;
        }
        int64_t r;
        if ((st = pad_axis_size(c->node, m, a, in->d[a].v, pb[a], pe[a], &r))) return st;
        s->d[a] = weft_dim_num(r);
    }
    if (weft_shape_numel(s) == -2) return weft_op_error(c->node, WEFT_ERR_SHAPE, "output element count overflows int64");
    return weft_movement_check_bytes(c, 0);
}

/* Source index of output position i on an axis: crop by the negative pads first, then pad the window
 * [lo, lo + w) by the positive ones. -1 means "the constant". */
static int64_t pad_map(pad_mode m, int64_t i, int64_t lo, int64_t w, int64_t before)
{
    int64_t j = i - before;
    if (j >= 0 && j < w) return lo + j;
    switch (m) {
    case PAD_CONSTANT: return -1;
    case PAD_EDGE: return lo + (j < 0 ? 0 : w - 1);
    case PAD_WRAP: j %= w; return lo + (j < 0 ? j + w : j);
    case PAD_REFLECT:
        if (w == 1) return lo;
        {
            /* Reflection without repeating the edge has period 2(w-1). */
            int64_t p = 2 * (w - 1);
            j %= p;
            if (j < 0) j += p;
            return lo + (j >= w ? p - j : j);
        }
    }
    return -1;
}

weft_status weft_movement_run_pad(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    weft_tview *o = &k->out[0];
    pad_mode m;
    weft_status st = pad_mode_of(k->node, &m);
    if (st) return st;
    int64_t pb[WEFT_MAX_RANK], pe[WEFT_MAX_RANK];
    size_t esz = weft_dtype_size(x->dtype);
    unsigned char fill[16] = {0};
    if (k->node->opset < 11) {
        const int64_t *p;
        int np = weft_attr_ints(k->node, "pads", &p);
        if (np < 0) return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "attribute 'pads' is required");
        if ((st = pad_spec(k->node, x->rank, p, np, NULL, -1, pb, pe))) return st;
        weft_store_f64(x->dtype, fill, 0, weft_attr_float(k->node, "value", 0.0f));
    } else {
        int64_t pads[2 * WEFT_MAX_RANK], axes[WEFT_MAX_RANK];
        int np, na = -1;
        if ((st = weft_movement_kernel_ints(k, 1, pads, 2 * WEFT_MAX_RANK, &np))) return st;
        if (weft_kin_present(k, 3) && (st = weft_movement_kernel_ints(k, 3, axes, WEFT_MAX_RANK, &na))) return st;
        if ((st = pad_spec(k->node, x->rank, pads, np, axes, na, pb, pe))) return st;
        if (weft_kin_present(k, 2) && k->in[2].numel >= 1) {
            if (k->in[2].dtype != x->dtype)
                return weft_op_error(k->node, WEFT_ERR_TYPE, "constant_value dtype differs from data");
            memcpy(fill, k->in[2].data, esz);
        }
    }
    /* One index map per axis, in scratch: map[a][i] = source index or -1. */
    int64_t total = 0, lo[WEFT_MAX_RANK], w[WEFT_MAX_RANK], *map[WEFT_MAX_RANK];
    for (int a = 0; a < x->rank; a++) {
        int64_t r;
        if ((st = pad_axis_size(k->node, m, a, x->dims[a], pb[a], pe[a], &r))) return st;
        if (r != o->dims[a]) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output size mismatch on axis %d", a);
        total += r;
    }
    if (o->numel == 0) return WEFT_OK;
    int64_t *buf = k->scratch(k->user, (size_t)(total ? total : 1) * sizeof(int64_t));
    if (!buf) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory for the index maps");
    int64_t used = 0;
    for (int a = 0; a < x->rank; a++) {
        lo[a] = pb[a] < 0 ? -pb[a] : 0;
        w[a] = x->dims[a] - lo[a] - (pe[a] < 0 ? -pe[a] : 0);
        map[a] = buf + used;
        for (int64_t i = 0; i < o->dims[a]; i++)
            map[a][i] = pad_map(m, i, lo[a], w[a], pb[a] > 0 ? pb[a] : 0);
        used += o->dims[a];
    }
    int64_t s[WEFT_MAX_RANK];
    weft_strides(x->dims, x->rank, s);
    const char *src = x->data;
    char *dst = o->data;
    if (x->rank == 0) {
        memcpy(dst, src, esz);
        return WEFT_OK;
    }
    int r = x->rank;
    int64_t idx[WEFT_MAX_RANK] = {0}, inner = o->dims[r - 1];
    for (int64_t e = 0; e < o->numel; e += inner) {
        /* Base offset of this row from the outer axes; -1 anywhere makes the whole row constant. */
        int64_t base = 0;
        bool constant_row = false;
        for (int a = 0; a < r - 1; a++) {
            int64_t j = map[a][idx[a]];
            if (j < 0) { constant_row = true; break; }
            base += j * s[a];
        }
        for (int64_t i = 0; i < inner; i++) {
            int64_t j = constant_row ? -1 : map[r - 1][i];
            memcpy(dst + (e + i) * (int64_t)esz, j < 0 ? (const char *)fill : src + (base + j) * (int64_t)esz, esz);
        }
        for (int a = r - 2; a >= 0; a--) {
            if (++idx[a] < o->dims[a]) break;
            idx[a] = 0;
        }
    }
    return WEFT_OK;
}

/* --- DepthToSpace, SpaceToDepth ------------------------------------------------------------------ */

static weft_status block_size(const weft_node_info *n, int64_t *b)
{
    const weft_attr *a = weft_attr_find(n, "blocksize");
    if (!a || a->type != WEFT_ATTR_INT || a->i <= 0 || a->i > (1 << 20))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'blocksize' must be a positive int");
    *b = a->i;
    return WEFT_OK;
}

static weft_status dts_crd(const weft_node_info *n, bool *crd)
{
    const char *m = n->opset >= 11 ? weft_attr_string(n, "mode", "DCR") : "DCR";
    if (strcmp(m, "DCR") && strcmp(m, "CRD"))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "mode must be DCR or CRD, got '%s'", m);
    *crd = strcmp(m, "CRD") == 0;
    return WEFT_OK;
}

static weft_status rank4(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st) return st;
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank != 4)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must be 4-D [N,C,H,W], got rank %d", c->in_shape[0].rank);
    c->out_dtype[0] = c->in_dtype[0];
    return WEFT_OK;
}

weft_status weft_movement_infer_depth_to_space(weft_infer_ctx *c)
{
    int64_t b = 1;
    bool crd;
    weft_status st = rank4(c);
    if (st || (st = block_size(c->node, &b)) || (st = dts_crd(c->node, &crd))) return st;
    const weft_shape *in = &c->in_shape[0];
    weft_shape *s = &c->out_shape[0];
    if (in->rank < 0) {
        unknown_dims(c, 4);
        return WEFT_OK;
    }
    s->rank = 4;
    s->d[0] = in->d[0];
    if (weft_dim_known(in->d[1])) {
        if (in->d[1].v % (b * b))
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "channels (%lld) not divisible by blocksize^2 (%lld)",
                                 (long long)in->d[1].v, (long long)(b * b));
        s->d[1] = weft_dim_num(in->d[1].v / (b * b));
    } else {
        s->d[1] = weft_dim_unknown(c);
    }
    if (!weft_movement_dim_mul(c, in->d[2], b, &s->d[2]) || !weft_movement_dim_mul(c, in->d[3], b, &s->d[3]))
        return WEFT_ERR_SHAPE;
    return WEFT_OK;
}

weft_status weft_movement_run_depth_to_space(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int64_t b = 1;
    bool crd = false;
    weft_status st;
    if ((st = block_size(k->node, &b)) || (st = dts_crd(k->node, &crd))) return st;
    int64_t N = x->dims[0], C = x->dims[1] / (b * b), H = x->dims[2], W = x->dims[3];
    /* The input as 6-D; the output walked as [N, C', H, b, W, b] (row-major = the output layout). */
    int64_t v[6], vs[6], od[6] = {N, C, H, b, W, b}, os[6];
    if (crd) { v[0] = N; v[1] = C; v[2] = b; v[3] = b; v[4] = H; v[5] = W; }
    else { v[0] = N; v[1] = b; v[2] = b; v[3] = C; v[4] = H; v[5] = W; }
    weft_strides(v, 6, vs);
    /* Which input axis each output axis reads. CRD: (0,1,4,2,5,3); DCR: (0,3,4,1,5,2). */
    static const int pc[6] = {0, 1, 4, 2, 5, 3}, pd[6] = {0, 3, 4, 1, 5, 2};
    for (int i = 0; i < 6; i++) os[i] = vs[crd ? pc[i] : pd[i]];
    weft_movement_copy_strided(k->out[0].data, x->data, weft_dtype_size(x->dtype), 6, od, os, 0);
    return WEFT_OK;
}

weft_status weft_movement_infer_space_to_depth(weft_infer_ctx *c)
{
    int64_t b = 1;
    weft_status st = rank4(c);
    if (st || (st = block_size(c->node, &b))) return st;
    const weft_shape *in = &c->in_shape[0];
    weft_shape *s = &c->out_shape[0];
    if (in->rank < 0) {
        unknown_dims(c, 4);
        return WEFT_OK;
    }
    s->rank = 4;
    s->d[0] = in->d[0];
    if (!weft_movement_dim_mul(c, in->d[1], b * b, &s->d[1])) return WEFT_ERR_SHAPE;
    for (int a = 2; a < 4; a++) {
        if (!weft_dim_known(in->d[a])) {
            s->d[a] = weft_dim_unknown(c);
        } else if (in->d[a].v % b) {
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "axis %d (%lld) not divisible by blocksize %lld", a,
                                 (long long)in->d[a].v, (long long)b);
        } else {
            s->d[a] = weft_dim_num(in->d[a].v / b);
        }
    }
    return WEFT_OK;
}

weft_status weft_movement_run_space_to_depth(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int64_t b = 1;
    weft_status st = block_size(k->node, &b);
    if (st) return st;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2] / b, W = x->dims[3] / b;
    /* Input as [N, C, H', b, W', b]; output walked as [N, b, b, C, H', W'] = transpose (0,3,5,1,2,4). */
    int64_t v[6] = {N, C, H, b, W, b}, vs[6], od[6] = {N, b, b, C, H, W}, os[6];
    static const int p[6] = {0, 3, 5, 1, 2, 4};
    weft_strides(v, 6, vs);
    for (int i = 0; i < 6; i++) os[i] = vs[p[i]];
    weft_movement_copy_strided(k->out[0].data, x->data, weft_dtype_size(x->dtype), 6, od, os, 0);
    return WEFT_OK;
}

/* --- Compress ------------------------------------------------------------------------------------ */

/* The kept count along an axis of size d (condition longer than the axis is refused). */
static weft_status compress_count(const weft_node_info *n, const uint8_t *cond, int64_t len, int64_t d, int64_t *count)
{
    if (len > d)
        return weft_op_error(n, WEFT_ERR_SHAPE, "condition has %lld entries, the axis only %lld", (long long)len,
                             (long long)d);
    int64_t cnt = 0;
    for (int64_t i = 0; i < len; i++) cnt += cond[i] != 0;
    *count = cnt;
    return WEFT_OK;
}

weft_status weft_movement_infer_compress(weft_infer_ctx *c)
{
    weft_status st = need_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    if (c->in_dtype[1] != WEFT_BOOL)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'condition' must be bool, got %s",
                             weft_dtype_name(c->in_dtype[1]));
    if (c->in_shape[1].rank >= 0 && c->in_shape[1].rank != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'condition' must be 1-D, got rank %d",
                             c->in_shape[1].rank);
    const weft_shape *in = &c->in_shape[0];
    weft_shape *s = &c->out_shape[0];
    const weft_attr *aa = weft_attr_find(c->node, "axis");
    weft_dim d;
    int axis = 0;
    if (aa && aa->type != WEFT_ATTR_INT)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "attribute 'axis' must be an int");
    if (aa) {
        if (in->rank < 0) {
            s->rank = -1;
            return WEFT_OK;
        }
        if ((st = weft_axis(c->node, aa->i, in->rank, false, &axis))) return st;
        *s = *in;
        d = in->d[axis];
    } else {
        /* No axis: the input is flattened first. */
        s->rank = 1;
        int64_t n = weft_shape_numel(in);
        if (n == -2) return weft_op_error(c->node, WEFT_ERR_SHAPE, "element count overflows int64");
        d = n >= 0 ? weft_dim_num(n) : weft_dim_unknown(c);
    }
    int64_t clen = weft_shape_numel(&c->in_shape[1]);
    if ((!c->in_data[1] && clen != 0) || clen < 0 || !weft_dim_known(d)) {
        s->d[axis] = weft_dim_unknown(c);
        return WEFT_OK;
    }
    int64_t cnt = 0;
    if ((st = compress_count(c->node, c->in_data[1], clen, d.v, &cnt))) return st;
    s->d[axis] = weft_dim_num(cnt);
    return WEFT_OK;
}

weft_status weft_movement_run_compress(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0], *cv = &k->in[1];
    const uint8_t *cond = cv->data;
    const weft_attr *aa = weft_attr_find(k->node, "axis");
    int64_t outer = 1, d = x->numel, inner = 1;
    if (aa) {
        int axis;
        weft_status st = weft_axis(k->node, aa->i, x->rank, false, &axis);
        if (st) return st;
        outer = prod(x->dims, 0, axis);
        d = x->dims[axis];
        inner = prod(x->dims, axis + 1, x->rank);
    }
    int64_t cnt = 0;
    weft_status st = compress_count(k->node, cond, cv->numel, d, &cnt);
    if (st) return st;
    if (cnt * outer * inner != k->out[0].numel)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output size disagrees with the condition");
    size_t row = (size_t)inner * weft_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = k->out[0].data;
    for (int64_t r = 0; r < outer; r++)
        for (int64_t i = 0; i < cv->numel; i++)
            if (cond[i]) {
                memcpy(dst, src + (size_t)(r * d + i) * row, row);
                dst += row;
            }
    return WEFT_OK;
}
