/*
 * tests/unit/test_cuda_index.c — the cuda backend's index ops (ops/cuda/index.cu) against `ref`:
 * GatherElements, GatherND (batch_dims 0 and more), ScatterElements (and its opset 9 name Scatter) and
 * ScatterND under every reduction (none, add, mul, max, min).
 *
 * Every case is one node between graph inputs and its output, compared by wt_cuda_compare (cuda_check.h)
 * on random inputs from fixed seeds, the cuda session run twice (the second run replays the captured
 * graph). Shapes: ranks 1 to 5, every axis (given as positive and as negative), batch_dims from 0 to
 * rank - 1, dims of 1 (merged or dropped by the kernels' index walk), zero-size data, empty indices, and
 * indices much longer than the axis they index, so that scatters meet many duplicate targets. Indices are
 * int32 and int64 and take negative values (counted from the end). Data are float32 (with NaN, infinities
 * and signed zeros among them, which max / min treat as the reference's comparisons do), and int32 /
 * int64 / bool tensors whose first dim is a symbol (sized by the graph: those go to the device; integers
 * wide enough for add / mul to wrap around).
 *
 * Scatters must give the reference's bits: the last update wins under 'none', add / mul fold each
 * target's updates in index order. Everything compares exactly (rtol = atol = 0; NaN equals NaN).
 *
 * An index out of range must fail the run with WEFT_ERR_INDEX and a message naming the node, for each
 * op, both index dtypes, too large and too small, and an axis of size zero.
 *
 * Without a GPU every case still compiles for cuda and must land there (placement only); the `supports`
 * suite checks which steps the backend takes and declines.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/ir.h"
#include "ops/backend.h"
#include "tests/unit/cuda_check.h"
#include "tests/unit/ir_build.h"

#define F32 WEFT_FLOAT32
#define I32 WEFT_INT32
#define I64 WEFT_INT64
#define BOOL WEFT_BOOL
#define MAXR 5 /* ranks tested */

static unsigned fill_seed = 20260301u;

/* A dim: mostly small, often 1, sometimes (when allowed) 0. */
static int64_t index_dim(bool zero)
{
    int64_t r = wt_rnd_int(12);
    if (zero && r == 0 && wt_rnd_int(2)) return 0;
    if (r < 3) return 1;
    return 2 + wt_rnd_int(4);
}

static const char *const REDS[5] = {"none", "add", "mul", "max", "min"};
static const weft_dtype DTS[4] = {F32, I32, I64, BOOL};

/* --- one index node ------------------------------------------------------------------------------- */

typedef struct icase {
    const char *op;
    int opset;
    weft_dtype dt, it;              /* data (and updates), indices */
    int dr, ir, ur;                 /* ranks of data, indices, updates (scatters) */
    int64_t dd[WEFT_MAX_RANK], id[WEFT_MAX_RANK], ud[WEFT_MAX_RANK];
    bool has_axis, has_batch;
    int64_t axis, batch_dims;
    const char *reduction;          /* NULL: the attribute is absent */
    bool sym0;                      /* data's first dim is a symbol, as a graph's sizes are */
    char label[256];
} icase;

static bool is_scatter(const icase *c) { return strncmp(c->op, "Scatter", 7) == 0; }
static const char *out_name(const icase *c) { return is_scatter(c) ? "scattered" : "picked"; }

static void build_index(weft_graph *g, void *user)
{
    const icase *c = user;
    int in[3];
    in[0] = irb_input(g, "data", c->dt, c->dr, c->dd);
    if (c->sym0) g->values[in[0]].shape.d[0] = (weft_dim){0, weft_sym_intern(g->syms, "n")};
    in[1] = irb_input(g, "idx", c->it, c->ir, c->id);
    if (is_scatter(c)) in[2] = irb_input(g, "upd", c->dt, c->ur, c->ud);
    int y = irb_node(g, c->op, "", c->opset, in, is_scatter(c) ? 3 : 2, out_name(c), 1);
    if (c->has_axis) irb_attr_i(g, y, "axis", c->axis);
    if (c->has_batch) irb_attr_i(g, y, "batch_dims", c->batch_dims);
    if (c->reduction) irb_attr_s(g, y, "reduction", c->reduction);
    irb_output(g, y);
}

static int64_t numel(int r, const int64_t *d)
{
    int64_t n = 1;
    for (int i = 0; i < r; i++) n *= d[i];
    return n;
}

/* Data of dtype dt: floats in [-4, 4) with NaN, infinities and signed zeros sprinkled in when `special`;
 * int32 / int64 either small or over the whole range (add / mul wrap around); bools 0 or 1. */
static void *fill_data(weft_dtype dt, int64_t n, bool special)
{
    const size_t es = weft_dtype_size(dt);
    void *p = calloc((size_t)(n > 0 ? n : 1), es);
    CU_ASSERT_FATAL(p != NULL);
    if (dt == F32) {
        float *x = p;
        wt_fill_uniform(x, n, -4, 4, &fill_seed);
        for (int64_t i = 0; special && i < n; i++) {
            switch (wt_rnd_int(24)) {
            case 0: x[i] = NAN; break;
            case 1: x[i] = 0.0f; break;
            case 2: x[i] = -0.0f; break;
            case 3: x[i] = wt_rnd_int(2) ? INFINITY : -INFINITY; break;
            default: break;
            }
        }
    } else if (dt == BOOL) {
        for (int64_t i = 0; i < n; i++) ((uint8_t *)p)[i] = (uint8_t)(wt_rnd() & 1);
    } else {
        for (int64_t i = 0; i < n; i++) {
            const int64_t v = special ? (int64_t)wt_rnd() : wt_rnd_int(21) - 10;
            if (dt == I32) ((int32_t *)p)[i] = (int32_t)v;
            else ((int64_t *)p)[i] = v;
        }
    }
    return p;
}

typedef struct inputs {
    weft_tensor t[3];
    int n;
} inputs;

static void add(inputs *in, const char *name, weft_dtype dt, int rank, const int64_t *dims, void *data)
{
    weft_tensor *t = &in->t[in->n++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dt;
    t->rank = rank;
    memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->nbytes = (size_t)numel(rank, dims) * weft_dtype_size(dt);
    t->data = data;
}

static void free_inputs(inputs *in)
{
    for (int i = 0; i < in->n; i++) free(in->t[i].data);
    in->n = 0;
}

/* Index values v[i] in [-n, n) for the axis size bound(i) gives (0 where the axis is empty). */
static long long *rand_indices(int64_t m, const int64_t *bounds, int nb)
{
    long long *v = malloc((size_t)(m > 0 ? m : 1) * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    for (int64_t i = 0; i < m; i++) {
        const int64_t n = bounds[i % nb];
        v[i] = n > 0 ? wt_rnd_int(2 * n) - n : 0;
    }
    return v;
}

static void *index_data(weft_dtype it, const long long *v, int64_t m)
{
    void *p = calloc((size_t)(m > 0 ? m : 1), weft_dtype_size(it));
    CU_ASSERT_FATAL(p != NULL);
    for (int64_t i = 0; i < m; i++) {
        if (it == I32) ((int32_t *)p)[i] = (int32_t)v[i];
        else ((int64_t *)p)[i] = v[i];
    }
    return p;
}

static int failures;

static void describe(const icase *c, const char *what)
{
    fprintf(stderr, "  failing case (%s): %s\n", what, c->label);
    failures++;
}

/* The case's inputs: data, indices v (m values), and updates for scatters. */
static void make_inputs(const icase *c, const long long *v, bool special, inputs *in)
{
    in->n = 0;
    add(in, "data", c->dt, c->dr, c->dd, fill_data(c->dt, numel(c->dr, c->dd), special));
    add(in, "idx", c->it, c->ir, c->id, index_data(c->it, v, numel(c->ir, c->id)));
    if (is_scatter(c)) add(in, "upd", c->dt, c->ur, c->ud, fill_data(c->dt, numel(c->ur, c->ud), special));
}

static void check(const icase *c, const long long *v, bool special)
{
    inputs in;
    make_inputs(c, v, special, &in);
    wt_cuda_case k = {build_index, (void *)c, in.t, in.n, 0, 0, 0, 1, 2};
    int r = wt_cuda_compare(&k);
    CU_ASSERT_EQUAL(r, 0);
    if (r) describe(c, "compare");
    free_inputs(&in);
}

static void check_error(const icase *c, const long long *v)
{
    inputs in;
    make_inputs(c, v, false, &in);
    char who[96];
    snprintf(who, sizeof who, "node '%s' (%s)", out_name(c), c->op);
    wt_cuda_case k = {build_index, (void *)c, in.t, in.n, 0, 0, 0, 1, 2};
    int r = wt_cuda_expect_error(&k, WEFT_ERR_INDEX, who);
    CU_ASSERT_EQUAL(r, 0);
    if (r) describe(c, "expected an index error");
    free_inputs(&in);
}

static void dims_str(char *s, size_t cap, int r, const int64_t *d)
{
    size_t n = (size_t)snprintf(s, cap, "[");
    for (int i = 0; i < r && n < cap; i++) n += (size_t)snprintf(s + n, cap - n, "%s%lld", i ? "," : "", (long long)d[i]);
    if (n < cap) snprintf(s + n, cap - n, "]");
}

static void label(icase *c)
{
    char a[64], b[64], u[64] = "";
    dims_str(a, sizeof a, c->dr, c->dd);
    dims_str(b, sizeof b, c->ir, c->id);
    if (is_scatter(c)) dims_str(u, sizeof u, c->ur, c->ud);
    snprintf(c->label, sizeof c->label, "%s %s%s data %s indices %s %s%s%s axis %lld batch_dims %lld reduction %s", c->op,
             weft_dtype_name(c->dt), c->sym0 ? " (first dim a symbol)" : "", a, b, weft_dtype_name(c->it), u[0] ? " updates " : "", u,
             (long long)c->axis, (long long)c->batch_dims, c->reduction ? c->reduction : "-");
}

/* --- GatherElements / ScatterElements: indices of data's rank, no larger off the axis ---------------- */

/* A random elements case: `dup` makes the axis small and the indices long along it. */
static icase elements_case(const char *op, int opset, weft_dtype dt, int t, bool dup)
{
    icase c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.opset = opset;
    c.dt = dt;
    c.it = t % 2 ? I32 : I64;
    c.sym0 = dt != F32;
    c.dr = c.ir = 1 + (int)wt_rnd_int(MAXR);
    for (int a = 0; a < c.dr; a++) c.dd[a] = index_dim(t % 9 == 0);
    const int axis = (int)wt_rnd_int(c.dr);
    if (dup) c.dd[axis] = 1 + wt_rnd_int(3);
    if (c.sym0 && c.dd[0] == 0) c.dd[0] = 2; /* a symbol-sized tensor is not empty along it */
    for (int a = 0; a < c.dr; a++) {
        if (a == axis) c.id[a] = t % 13 == 0 ? 0 : 1 + wt_rnd_int(dup ? 40 : 7);
        else c.id[a] = t % 5 == 0 || c.dd[a] == 0 ? c.dd[a] : 1 + wt_rnd_int(c.dd[a]); /* whole rows, or fewer */
    }
    c.has_axis = true;
    c.axis = t % 3 == 0 ? axis - c.dr : axis;
    c.ur = c.ir;
    memcpy(c.ud, c.id, sizeof c.id);
    return c;
}

static int norm_axis(const icase *c) { return (int)(c->axis < 0 ? c->axis + c->dr : c->axis); }

static void test_gather_elements(void)
{
    for (int t = 0; t < 160; t++) {
        icase c = elements_case("GatherElements", 13, DTS[t % 4], t, t % 4 == 1);
        label(&c);
        const int64_t n = c.dd[norm_axis(&c)];
        long long *v = rand_indices(numel(c.ir, c.id), &n, 1);
        if (n == 0 && numel(c.ir, c.id) > 0) check_error(&c, v); /* every index is out of range of an empty axis */
        else check(&c, v, true);
        free(v);
    }
}

static void test_scatter_elements(void)
{
    for (int t = 0; t < 200; t++) {
        const int red = t % 5;
        weft_dtype dt = DTS[(t / 5) % 4];
        if (dt == BOOL && red) dt = F32; /* reductions on bool are refused by the op */
        const bool scatter9 = red == 0 && t % 15 == 0;
        icase c = elements_case(scatter9 ? "Scatter" : "ScatterElements", scatter9 ? 9 : 18, dt, t, t % 3 != 2);
        if (!scatter9 && (red || t % 2)) c.reduction = REDS[red];
        label(&c);
        const int64_t n = c.dd[norm_axis(&c)];
        long long *v = rand_indices(numel(c.ir, c.id), &n, 1);
        if (n == 0 && numel(c.ir, c.id) > 0) check_error(&c, v);
        else check(&c, v, t % 4 != 3);
        free(v);
    }
}

/* --- GatherND / ScatterND: tuples of m indices ------------------------------------------------------- */

static void test_gather_nd(void)
{
    for (int t = 0; t < 160; t++) {
        icase c;
        memset(&c, 0, sizeof c);
        c.op = "GatherND";
        c.opset = 13;
        c.dt = DTS[t % 4];
        c.it = (t / 4) % 2 ? I32 : I64;
        c.sym0 = c.dt != F32;
        c.dr = 1 + (int)wt_rnd_int(MAXR);
        const int b = (int)wt_rnd_int(c.dr), m = 1 + (int)wt_rnd_int(c.dr - b), mid = (int)wt_rnd_int(3);
        for (int a = 0; a < c.dr; a++) c.dd[a] = index_dim(t % 11 == 0);
        if (c.sym0 && c.dd[0] == 0) c.dd[0] = 2;
        c.ir = b + mid + 1;
        for (int a = 0; a < b; a++) c.id[a] = c.dd[a];
        for (int a = b; a < b + mid; a++) c.id[a] = t % 17 == 0 ? 0 : 1 + wt_rnd_int(5);
        c.id[c.ir - 1] = m;
        c.has_batch = b > 0 || t % 2;
        c.batch_dims = b;
        label(&c);
        const int64_t tot = numel(c.ir, c.id);
        long long *v = rand_indices(tot, c.dd + b, m);
        bool empty_axis = false;
        for (int j = 0; j < m; j++) empty_axis |= c.dd[b + j] == 0;
        if (empty_axis && tot > 0) check_error(&c, v);
        else check(&c, v, true);
        free(v);
    }
}

static void test_scatter_nd(void)
{
    for (int t = 0; t < 200; t++) {
        icase c;
        memset(&c, 0, sizeof c);
        c.op = "ScatterND";
        c.opset = 18;
        const int red = t % 5;
        c.dt = DTS[(t / 5) % 4];
        if (c.dt == BOOL && red) c.dt = I64;
        c.it = (t / 2) % 2 ? I32 : I64;
        c.sym0 = c.dt != F32;
        c.dr = 1 + (int)wt_rnd_int(MAXR);
        const int m = 1 + (int)wt_rnd_int(c.dr), lead = (int)wt_rnd_int(3);
        const bool dup = t % 3 != 2;
        for (int a = 0; a < c.dr; a++) c.dd[a] = a < m && dup ? 1 + wt_rnd_int(2) : index_dim(t % 11 == 0);
        if (c.sym0 && c.dd[0] == 0) c.dd[0] = 2;
        c.ir = lead + 1;
        for (int a = 0; a < lead; a++) c.id[a] = t % 17 == 0 ? 0 : 1 + wt_rnd_int(dup ? 12 : 4);
        c.id[lead] = m;
        c.ur = lead + c.dr - m;
        for (int a = 0; a < lead; a++) c.ud[a] = c.id[a];
        for (int a = m; a < c.dr; a++) c.ud[lead + a - m] = c.dd[a];
        if (red || t % 2) c.reduction = REDS[red];
        label(&c);
        const int64_t tot = numel(c.ir, c.id);
        long long *v = rand_indices(tot, c.dd, m);
        bool empty_axis = false;
        for (int j = 0; j < m; j++) empty_axis |= c.dd[j] == 0;
        if (empty_axis && tot > 0) check_error(&c, v);
        else check(&c, v, t % 4 != 3);
        free(v);
    }
}

/* --- fixed cases ----------------------------------------------------------------------------------- */

/* Many updates into few targets (a hub of thousands), every reduction; products near 1 stay finite. */
static void test_scatter_hubs(void)
{
    for (int red = 0; red < 5; red++)
        for (int nd = 0; nd < 2; nd++) {
            icase c;
            memset(&c, 0, sizeof c);
            c.op = nd ? "ScatterND" : "ScatterElements";
            c.opset = 18;
            c.dt = F32;
            c.it = red % 2 ? I32 : I64;
            c.reduction = REDS[red];
            c.dr = 2;
            c.dd[0] = 7;
            c.dd[1] = 5;
            if (nd) { /* 5000 rows scattered into 7 */
                c.ir = 2;
                c.id[0] = 5000;
                c.id[1] = 1;
                c.ur = 2;
                c.ud[0] = 5000;
                c.ud[1] = 5;
            } else { /* 3000 values per column into 7 rows */
                c.has_axis = true;
                c.ir = c.ur = 2;
                c.id[0] = c.ud[0] = 3000;
                c.id[1] = c.ud[1] = 5;
            }
            label(&c);
            const int64_t tot = numel(c.ir, c.id), n = 7;
            long long *v = rand_indices(tot, &n, 1);
            for (int64_t i = 0; i < tot; i++)
                if (wt_rnd_int(10) < 8) v[i] = 3; /* most into one row */
            inputs in;
            make_inputs(&c, v, false, &in);
            if (red == 2) { /* products of values near 1 */
                float *u = in.t[2].data;
                for (int64_t i = 0; i < numel(c.ur, c.ud); i++) u[i] = 1.0f + (float)(wt_rnd_int(2001) - 1000) * 1e-5f;
            }
            wt_cuda_case k = {build_index, &c, in.t, in.n, 0, 0, 0, 1, 2};
            int r = wt_cuda_compare(&k);
            CU_ASSERT_EQUAL(r, 0);
            if (r) describe(&c, "hub");
            free_inputs(&in);
            free(v);
        }
}

/* Large int64 data of known size (the rows of an edge index): on the device without a symbol. */
static void test_known_large(void)
{
    icase c;
    memset(&c, 0, sizeof c);
    c.op = "GatherElements";
    c.opset = 13;
    c.dt = I64;
    c.it = I64;
    c.dr = c.ir = 2;
    c.dd[0] = 2;
    c.dd[1] = 5000;
    c.id[0] = 2;
    c.id[1] = 7000;
    c.has_axis = true;
    c.axis = 1;
    label(&c);
    const int64_t n = 5000;
    long long *v = rand_indices(numel(c.ir, c.id), &n, 1);
    check(&c, v, true);
    free(v);
}

/* One index out of range (too large or too small) in each op, both index dtypes. */
static void test_errors(void)
{
    for (int op = 0; op < 4; op++)
        for (int k = 0; k < 4; k++) {
            icase c;
            memset(&c, 0, sizeof c);
            c.it = k % 2 ? I32 : I64;
            c.dt = F32;
            c.dr = 3;
            c.dd[0] = 6;
            c.dd[1] = 4;
            c.dd[2] = 5;
            int64_t bounds[3] = {6, 4, 5};
            int nb = 1;
            switch (op) {
            case 0:
                c.op = "GatherElements";
                c.opset = 13;
                c.has_axis = true;
                c.axis = 1;
                c.ir = 3;
                c.id[0] = 6;
                c.id[1] = 9;
                c.id[2] = 5;
                bounds[0] = 4;
                break;
            case 1:
                c.op = "GatherND";
                c.opset = 13;
                c.has_batch = k >= 2;
                c.batch_dims = k >= 2 ? 1 : 0;
                c.ir = 3;
                c.id[0] = 6;
                c.id[1] = 11;
                c.id[2] = 2;
                bounds[0] = k >= 2 ? 4 : 6;
                bounds[1] = k >= 2 ? 5 : 4;
                nb = 2;
                break;
            case 2:
                c.op = "ScatterElements";
                c.opset = 18;
                c.has_axis = true;
                c.axis = -1;
                c.reduction = "add";
                c.ir = c.ur = 3;
                c.id[0] = c.ud[0] = 6;
                c.id[1] = c.ud[1] = 4;
                c.id[2] = c.ud[2] = 12;
                bounds[0] = 5;
                break;
            default:
                c.op = "ScatterND";
                c.opset = 18;
                c.reduction = k >= 2 ? "max" : NULL;
                c.ir = 2;
                c.id[0] = 30;
                c.id[1] = 2;
                c.ur = 2;
                c.ud[0] = 30;
                c.ud[1] = 5;
                nb = 2;
                break;
            }
            label(&c);
            const int64_t tot = numel(c.ir, c.id);
            long long *v = rand_indices(tot, bounds, nb);
            const int64_t at = tot / 2 - (tot / 2) % nb + (k % nb); /* an index of tuple position k % nb */
            const int64_t n = bounds[at % nb];
            v[at] = k < 2 ? n : -n - 1;
            check_error(&c, v);
            free(v);
        }
}

/* --- which steps the backend takes (no GPU needed) ----------------------------------------------------- */

typedef struct desc_case {
    weft_node_info node;
    weft_attr attrs[2];
    weft_dtype idt[3], odt[1];
    weft_shape ish[3], osh[1];
    const void *cdata[3];
    weft_step_desc d;
} desc_case;

/* A shape of rank r, dims 8, 4, 4, ...; the first a symbol when sym0. */
static weft_shape shape(int r, bool sym0)
{
    weft_shape s;
    memset(&s, 0, sizeof s);
    s.rank = r;
    for (int i = 0; i < r; i++) s.d[i] = weft_dim_num(i ? 4 : 8);
    if (sym0 && r > 0) s.d[0] = (weft_dim){0, 1};
    return s;
}

/* Whether the cuda backend takes op on data of dtype dt (rank 2, first dim a symbol when sym0), indices
 * of dtype it; `attr` an int attribute (sval NULL) or a string one. */
static bool takes(const char *op, int opset, weft_dtype dt, weft_dtype it, bool sym0, const char *attr, const char *sval,
                  int64_t ival)
{
    const weft_backend *be = weft_backend_find("cuda");
    desc_case c;
    memset(&c, 0, sizeof c);
    int n_attrs = 0;
    if (attr) {
        c.attrs[0] = sval ? (weft_attr){.name = (char *)attr, .type = WEFT_ATTR_STRING, .s = (char *)sval, .s_len = strlen(sval)}
                          : (weft_attr){.name = (char *)attr, .type = WEFT_ATTR_INT, .i = ival};
        n_attrs = 1;
    }
    const bool scat = strncmp(op, "Scatter", 7) == 0;
    const int n_in = scat ? 3 : 2;
    c.node = (weft_node_info){"step", op, "", opset, n_attrs, c.attrs};
    c.idt[0] = dt;
    c.idt[1] = it;
    c.idt[2] = dt;
    c.ish[0] = shape(2, sym0);
    c.ish[1] = shape(2, false);
    if (!strcmp(op, "GatherND") || !strcmp(op, "ScatterND")) c.ish[1].d[1] = weft_dim_num(1);
    c.ish[2] = shape(2, false);
    c.odt[0] = dt;
    c.osh[0] = shape(2, sym0 && scat);
    c.d = (weft_step_desc){weft_op_find("", op, opset), &c.node, n_in, 1, c.idt, c.ish, c.cdata, c.odt, c.osh};
    CU_ASSERT_FATAL(c.d.def != NULL);
    return be->supports(&c.d);
}

static void test_supports(void)
{
    if (!weft_backend_find("cuda")) return;
    static const char *const ops[5] = {"GatherElements", "GatherND", "ScatterElements", "ScatterND", "Scatter"};
    static const int opsets[5] = {13, 13, 18, 18, 9};
    for (int o = 0; o < 5; o++) {
        /* float32 always; int32 / int64 / bool sized by the graph; not when small and of known size */
        CU_ASSERT(takes(ops[o], opsets[o], F32, I64, false, NULL, NULL, 0));
        CU_ASSERT(takes(ops[o], opsets[o], F32, I32, false, NULL, NULL, 0));
        for (int d = 1; d < 4; d++) {
            CU_ASSERT(takes(ops[o], opsets[o], DTS[d], I64, true, NULL, NULL, 0));
            CU_ASSERT(!takes(ops[o], opsets[o], DTS[d], I64, false, NULL, NULL, 0));
        }
        CU_ASSERT(!takes(ops[o], opsets[o], WEFT_FLOAT64, I64, true, NULL, NULL, 0));
        CU_ASSERT(!takes(ops[o], opsets[o], WEFT_FLOAT16, I64, true, NULL, NULL, 0));
    }
    for (int r = 0; r < 5; r++) {
        CU_ASSERT(takes("ScatterElements", 18, F32, I64, false, "reduction", REDS[r], 0));
        CU_ASSERT(takes("ScatterND", 18, I32, I32, true, "reduction", REDS[r], 0));
        CU_ASSERT(takes("ScatterND", 18, I64, I64, true, "reduction", REDS[r], 0));
        /* bool only moves */
        CU_ASSERT(takes("ScatterND", 18, BOOL, I64, true, "reduction", REDS[r], 0) == (r == 0));
    }
    CU_ASSERT(!takes("ScatterElements", 18, F32, I64, false, "reduction", "median", 0));
    CU_ASSERT(takes("GatherElements", 13, F32, I64, false, "axis", NULL, -2));
    CU_ASSERT(!takes("GatherElements", 13, F32, I64, false, "axis", NULL, 2));
    CU_ASSERT(takes("GatherND", 13, F32, I64, false, "batch_dims", NULL, 1));
    CU_ASSERT(!takes("GatherND", 13, F32, I64, false, "batch_dims", NULL, 2));
    CU_ASSERT(!takes("GatherND", 13, F32, I64, false, "batch_dims", NULL, -1));
}

int main(void)
{
    wt_rnd_seed(0x2545F4914F6CDD1Dull);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    bool skip = wt_cuda_skip("cuda index");
    if (skip) {
        CU_cleanup_registry();
        return 0;
    }
    CU_pSuite s = CU_add_suite("cuda index: supports", NULL, NULL);
    CU_add_test(s, "float32, and int32 / int64 / bool data sized by the graph", test_supports);
    s = CU_add_suite("cuda index", NULL, NULL);
    CU_add_test(s, "GatherElements", test_gather_elements);
    CU_add_test(s, "GatherND", test_gather_nd);
    CU_add_test(s, "ScatterElements and Scatter, every reduction", test_scatter_elements);
    CU_add_test(s, "ScatterND, every reduction", test_scatter_nd);
    CU_add_test(s, "scatters into hubs", test_scatter_hubs);
    CU_add_test(s, "int64 data of known large size", test_known_large);
    CU_add_test(s, "indices out of range", test_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    if (failures) fprintf(stderr, "%d failing cases\n", failures);
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
