/*
 * tests/unit/test_cuda_reduce.c — the cuda backend's reductions (ops/cuda/reduce.cu) against `ref`, one
 * small graph at a time (cuda_check.h): ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
 * ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare in both opset forms (axes as an
 * attribute; axes as an int64 or int32 constant input, 1-D or a scalar), on random ranks 0 to 5 and axis
 * sets (one run of axes and not, negative, unordered, empty, every axis), keepdims 0 / 1,
 * noop_with_empty_axes, zero-size dims (empty outputs and empty reductions), NaN / inf / -0 inputs,
 * rows long enough to be split, columns split, reductions of everything; and ArgMax / ArgMin with
 * select_last_index on ties and NaNs. Every case runs twice on the device, the second time replaying the
 * captured graph.
 *
 * Tolerances (atol + rtol * |ref|):
 *   - ReduceMax, ReduceMin, ArgMax, ArgMin: exact (they select an element, as the reference does);
 *   - the others: rtol 1e-6, atol 1e-6. They accumulate in double, as the reference, in another fixed
 *     order, and round once: float results equal the reference's or differ in the last bit; atol covers
 *     results near zero after cancellation (a sum's error in double is ~1e-16 of the sum of magnitudes).
 * Inputs are random with fixed seeds. Which steps the backend takes is checked without a GPU (the
 * `supports` suite, whenever the build has the backend); the numerical suites skip without a device.
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
#define RTOL 1e-6
#define ATOL 1e-6

static unsigned fill_seed = 20251203u;

static const char *const OPS[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                  "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
enum { N_OPS = sizeof OPS / sizeof OPS[0] };

/* The first opset where axes is an input. */
static int axes_opset(const char *op) { return strcmp(op, "ReduceSum") == 0 ? 13 : 18; }

static bool selects(const char *op)
{
    return !strcmp(op, "ReduceMax") || !strcmp(op, "ReduceMin") || !strcmp(op, "ArgMax") || !strcmp(op, "ArgMin");
}

/* --- one node ------------------------------------------------------------------------------------- */

enum { AX_NONE, AX_ATTR, AX_I64, AX_I32, AX_SCALAR };
enum { D_UNIFORM, D_SPECIAL, D_TIES, D_NEGINF, D_INF };

typedef struct {
    const char *op;
    int opset;
    int rank;
    int64_t dims[WEFT_MAX_RANK];
    int axes_form;  /* AX_*: none, attribute, int64 / int32 constant input, int64 scalar constant */
    int n_axes;
    int64_t axes[WEFT_MAX_RANK];
    int keepdims, noop; /* -1: attribute absent */
    int axis, last;     /* ArgMax / ArgMin; last -1: absent */
    int data;           /* D_* */
} red_case;

static void build_red(weft_graph *g, void *user)
{
    const red_case *c = user;
    int in[2], n_in = 1;
    in[0] = irb_input(g, "x", F32, c->rank, c->dims);
    if (c->axes_form >= AX_I64) {
        int32_t a32[WEFT_MAX_RANK];
        for (int i = 0; i < c->n_axes; i++) a32[i] = (int32_t)c->axes[i];
        const int64_t n = c->n_axes;
        if (c->axes_form == AX_I32) in[1] = irb_constant(g, "axes", WEFT_INT32, 1, &n, a32);
        else in[1] = irb_constant(g, "axes", WEFT_INT64, c->axes_form == AX_SCALAR ? 0 : 1, &n, c->axes);
        n_in = 2;
    }
    int y = irb_node(g, c->op, "", c->opset, in, n_in, "y", 1);
    if (c->axes_form == AX_ATTR) irb_attr_ints(g, y, "axes", c->n_axes, c->axes);
    if (c->keepdims >= 0) irb_attr_i(g, y, "keepdims", c->keepdims);
    if (c->noop >= 0) irb_attr_i(g, y, "noop_with_empty_axes", c->noop);
    if (!strncmp(c->op, "Arg", 3)) {
        irb_attr_i(g, y, "axis", c->axis);
        if (c->last >= 0) irb_attr_i(g, y, "select_last_index", c->last);
    }
    irb_output(g, y);
}

static int64_t numel_of(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    return n;
}

/* Values in the op's range: products near 1 (no overflow), sums of logs of positive terms, wide
 * exponents; and the special forms (NaN with payloads, +-inf, -0; ties; mostly -inf; some inf). */
static void fill_x(float *x, int64_t n, const red_case *c)
{
    float lo = -1, hi = 1;
    if (!strcmp(c->op, "ReduceProd")) lo = 0.5f, hi = 2;
    else if (!strcmp(c->op, "ReduceLogSum")) lo = 0, hi = 1;
    else if (!strcmp(c->op, "ReduceLogSumExp")) lo = -20, hi = 20;
    wt_fill_uniform(x, n, lo, hi, &fill_seed);
    static const float ties[6] = {-1.0f, 0.0f, -0.0f, 1.0f, 2.0f, -2.0f};
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = wt_rnd_int(40);
        switch (c->data) {
        case D_SPECIAL:
            if (r == 0) x[i] = NAN;
            else if (r == 1) x[i] = -NAN;
            else if (r == 2) x[i] = INFINITY;
            else if (r == 3) x[i] = -INFINITY;
            else if (r == 4) x[i] = -0.0f;
            else if (r == 5) x[i] = 0.0f;
            break;
        case D_TIES: x[i] = ties[r % 6]; break;
        case D_NEGINF: if (r % 8) x[i] = -INFINITY; break;
        case D_INF: if (r < 2) x[i] = r ? -INFINITY : INFINITY; break;
        default: break;
        }
    }
}

static void describe(const char *what, const red_case *c)
{
    fprintf(stderr, "  failing case (%s): %s opset %d, [", what, c->op, c->opset);
    for (int d = 0; d < c->rank; d++) fprintf(stderr, "%s%lld", d ? "," : "", (long long)c->dims[d]);
    fprintf(stderr, "] axes form %d (", c->axes_form);
    for (int i = 0; i < c->n_axes; i++) fprintf(stderr, "%s%lld", i ? "," : "", (long long)c->axes[i]);
    fprintf(stderr, ") keepdims %d noop %d axis %d last %d data %d\n", c->keepdims, c->noop, c->axis, c->last, c->data);
}

static int failures;

static void check(const char *what, const red_case *c)
{
    const int64_t n = numel_of(c->rank, c->dims);
    weft_tensor in = {.name = "x", .dtype = F32, .rank = c->rank, .nbytes = (size_t)n * sizeof(float)};
    memcpy(in.dims, c->dims, sizeof(int64_t) * (size_t)c->rank);
    in.data = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    CU_ASSERT_FATAL(in.data != NULL);
    fill_x(in.data, n, c);
    const bool exact = selects(c->op);
    wt_cuda_case wc = {.build = build_red, .user = (void *)c, .in = &in, .n_in = 1, .rtol = exact ? 0 : RTOL,
                       .atol = exact ? 0 : ATOL, .opt_level = 0, .min_cuda_steps = 1, .runs = 2};
    int r = wt_cuda_compare(&wc);
    free(in.data);
    CU_ASSERT(r == 0);
    if (r) {
        describe(what, c);
        failures++;
    }
}

/* A case reducing the axes in mask (as written: some negative, in random order), in the op's form for
 * `opset` (an attribute before the input form, else a constant input of a random kind). */
static red_case make(const char *op, int opset, int rank, const int64_t *dims, const bool *mask)
{
    red_case c = {.op = op, .opset = opset, .rank = rank, .keepdims = -1, .noop = -1, .last = -1};
    memcpy(c.dims, dims, sizeof(int64_t) * (size_t)rank);
    for (int d = 0; d < rank; d++)
        if (mask[d]) c.axes[c.n_axes++] = wt_rnd_int(2) ? d : d - rank;
    for (int i = c.n_axes - 1; i > 0; i--) {
        const int j = (int)wt_rnd_int(i + 1);
        const int64_t t = c.axes[i];
        c.axes[i] = c.axes[j];
        c.axes[j] = t;
    }
    if (opset < axes_opset(op)) {
        c.axes_form = c.n_axes == 0 && wt_rnd_int(2) ? AX_NONE : AX_ATTR;
    } else {
        const int64_t r = wt_rnd_int(10);
        c.axes_form = c.n_axes == 0 && r < 3 ? AX_NONE : r < 7 ? AX_I64 : AX_I32;
        if (c.n_axes == 1 && wt_rnd_int(4) == 0) c.axes_form = AX_SCALAR;
    }
    return c;
}

/* --- the suites ----------------------------------------------------------------------------------- */

static void test_random(void)
{
    for (int o = 0; o < N_OPS; o++) {
        const char *op = OPS[o];
        const int since = axes_opset(op);
        for (int t = 0; t < 40; t++) {
            const int opsets[4] = {since == 13 ? 11 : 13, since, 20, 18};
            const int opset = opsets[wt_rnd_int(4)];
            const int rank = (int)wt_rnd_int(6);
            int64_t dims[WEFT_MAX_RANK];
            for (int d = 0; d < rank; d++) dims[d] = wt_rnd_dim(t % 5 == 0);
            bool mask[WEFT_MAX_RANK] = {false};
            const int64_t mode = wt_rnd_int(8);
            for (int d = 0; d < rank; d++) mask[d] = mode == 1 || (mode > 1 && wt_rnd_int(2));
            red_case c = make(op, opset, rank, dims, mask); /* mode 0: no axes (every axis, or noop) */
            if (wt_rnd_int(3) == 0) c.keepdims = (int)wt_rnd_int(2);
            if (opset >= since && wt_rnd_int(2)) c.noop = (int)wt_rnd_int(2);
            const int64_t dm = wt_rnd_int(10);
            c.data = dm < 2 ? D_SPECIAL : dm == 2 && selects(op) ? D_TIES : D_UNIFORM;
            if (!strcmp(op, "ReduceLogSumExp") && dm == 3) c.data = D_NEGINF;
            if (!strcmp(op, "ReduceLogSumExp") && dm == 4) c.data = D_INF;
            check("random", &c);
        }
    }
}

/* Shapes that pick each of the kernels: rows (lanes of a warp, a block, split), columns (whole, split),
 * a middle axis, axis sets that are not one run (a team per output, a thread per output), everything,
 * size-1 axes among the reduced ones, zero-size inputs. */
static void test_shapes(void)
{
    static const struct { int rank; int64_t dims[5]; int n; int64_t axes[5]; } shapes[] = {
        {2, {37, 1029}, 1, {1}},          {2, {37, 1028}, 1, {-1}},          {2, {1029, 37}, 1, {0}},
        {3, {5, 7, 9}, 1, {1}},           {3, {5, 7, 9}, 2, {0, 2}},         {4, {3, 4, 5, 6}, 2, {0, 2}},
        {4, {3, 4, 5, 6}, 2, {1, 3}},     {5, {2, 3, 2, 3, 2}, 3, {0, 2, 4}}, {3, {1, 7, 1}, 2, {0, 2}},
        {3, {4, 1, 6}, 1, {1}},           {3, {8, 1, 8}, 2, {0, 1}},         {1, {1}, 1, {0}},
        {0, {0}, 0, {0}},                 {2, {3, 5000}, 1, {1}},            {2, {2, 70001}, 1, {1}},
        {2, {3, 40000}, 1, {-1}},         {1, {300007}, 0, {0}},             {3, {61, 70, 71}, 0, {0}},
        {2, {300, 2100}, 1, {1}},         {2, {20000, 3}, 1, {0}},           {2, {3000, 130}, 1, {0}},
        {2, {200000, 4}, 1, {0}},         {3, {64, 30, 200}, 2, {0, 2}},
        {3, {4, 5000, 3}, 1, {1}},        {3, {40, 300, 40}, 2, {0, 2}},     {4, {6, 8, 5, 600}, 2, {0, 2}},
        {2, {0, 5}, 1, {1}},              {2, {5, 0}, 1, {1}},               {2, {5, 0}, 1, {0}},
        {3, {2, 0, 3}, 2, {0, 2}},        {2, {0, 0}, 0, {0}},
    };
    for (int o = 0; o < N_OPS; o++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int data = D_UNIFORM; data <= D_SPECIAL; data++) {
                red_case c = {.op = OPS[o], .opset = 18, .rank = shapes[s].rank, .axes_form = AX_I64,
                              .n_axes = shapes[s].n, .keepdims = (int)(s & 1), .noop = -1, .last = -1, .data = data};
                memcpy(c.dims, shapes[s].dims, sizeof shapes[s].dims);
                memcpy(c.axes, shapes[s].axes, sizeof shapes[s].axes);
                if (c.n_axes == 0) c.axes_form = AX_NONE; /* every axis */
                check("shapes", &c);
            }
    /* selections over many equal values, -inf everywhere, infinities among finite values */
    red_case c = {.op = "ReduceMax", .opset = 18, .rank = 1, .dims = {100003}, .keepdims = -1, .noop = -1, .last = -1,
                  .data = D_TIES};
    check("ties", &c);
    c.op = "ReduceMin";
    c.rank = 2;
    c.dims[0] = 20000;
    c.dims[1] = 3;
    c.axes_form = AX_I64;
    c.n_axes = 1;
    check("ties, columns", &c);
    c.op = "ReduceLogSumExp";
    c.data = D_INF;
    check("infinities, columns", &c);
    c.rank = 1;
    c.dims[0] = 100003;
    c.axes_form = AX_NONE;
    c.n_axes = 0;
    c.data = D_NEGINF;
    check("-inf, everything", &c);
}

/* Empty axes with noop_with_empty_axes: the input (Sum, Mean, Max, Min, Prod, LogSumExp) or each element
 * mapped (L1, L2, SumSquare, LogSum); and an empty axes input without it: every axis. */
static void test_noop(void)
{
    static const struct { int rank; int64_t dims[3]; } shapes[] = {{0, {0}}, {1, {7}}, {3, {4, 5, 6}}, {2, {0, 3}}};
    for (int o = 0; o < N_OPS; o++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int form = 0; form < 3; form++) {
                red_case c = {.op = OPS[o], .opset = 18, .rank = shapes[s].rank, .keepdims = -1, .noop = form < 2,
                              .last = -1, .data = s == 1 ? D_SPECIAL : D_UNIFORM};
                memcpy(c.dims, shapes[s].dims, sizeof shapes[s].dims);
                c.axes_form = form == 0 ? AX_NONE : AX_I64; /* no axes input, or one of length 0 */
                check("noop_with_empty_axes", &c);
            }
}

static void test_arg(void)
{
    static const char *const ops[2] = {"ArgMax", "ArgMin"};
    for (int o = 0; o < 2; o++) {
        for (int t = 0; t < 60; t++) {
            red_case c = {.op = ops[o], .opset = 13, .rank = 1 + (int)wt_rnd_int(5), .keepdims = -1, .noop = -1};
            for (int d = 0; d < c.rank; d++) c.dims[d] = wt_rnd_dim(false);
            c.axis = (int)wt_rnd_int(c.rank) - (wt_rnd_int(2) ? c.rank : 0);
            c.keepdims = wt_rnd_int(3) ? -1 : (int)wt_rnd_int(2);
            c.last = wt_rnd_int(3) ? -1 : (int)wt_rnd_int(2);
            const int64_t dm = wt_rnd_int(4);
            c.data = dm == 0 ? D_SPECIAL : dm == 1 ? D_TIES : D_UNIFORM;
            check("ArgMax / ArgMin, random", &c);
        }
        static const struct { int rank; int64_t dims[3]; int axis; } big[] = {
            {2, {3, 70001}, 1}, {2, {20000, 3}, 0}, {3, {4, 5000, 3}, 1}, {1, {300007}, 0}, {2, {5, 0}, 0}, {2, {0, 5}, 1},
        };
        for (size_t s = 0; s < sizeof big / sizeof big[0]; s++)
            for (int last = 0; last < 2; last++)
                for (int data = D_UNIFORM; data <= D_TIES; data++) {
                    red_case c = {.op = ops[o], .opset = 13, .rank = big[s].rank, .axis = big[s].axis, .keepdims = -1,
                                  .noop = -1, .last = last, .data = data};
                    memcpy(c.dims, big[s].dims, sizeof big[s].dims);
                    check("ArgMax / ArgMin, long", &c);
                }
    }
}

/* --- which steps the backend takes (no GPU needed) ------------------------------------------------- */

typedef struct {
    weft_node_info node;
    weft_attr attrs[2];
    weft_dtype idt[2], odt[1];
    weft_shape ish[2], osh[1];
    const void *cdata[2];
    weft_step_desc d;
} desc_case;

/* Whether cuda takes op on a [8, 4, 6] input of dtype dt. axes_in: 0 none, 1 a constant int64 input,
 * 2 an input known only at run time; attr_axes: axes as an attribute (n_axes of them). */
static bool takes(const char *op, int opset, weft_dtype dt, int axes_in, bool attr_axes, int n_axes,
                  const int64_t *axes, const char *flag, int64_t flag_v)
{
    const weft_backend *be = weft_backend_find("cuda");
    desc_case c;
    memset(&c, 0, sizeof c);
    int na = 0;
    if (attr_axes) c.attrs[na++] = (weft_attr){.name = (char *)"axes", .type = WEFT_ATTR_INTS, .n = n_axes, .ints = (int64_t *)axes};
    if (flag) c.attrs[na++] = (weft_attr){.name = (char *)flag, .type = WEFT_ATTR_INT, .i = flag_v};
    c.node = (weft_node_info){"step", op, "", opset, na, c.attrs};
    const int n_in = axes_in ? 2 : 1;
    c.idt[0] = dt;
    c.ish[0] = (weft_shape){.rank = 3, .d = {weft_dim_num(8), weft_dim_num(4), weft_dim_num(6)}};
    if (axes_in) {
        c.idt[1] = WEFT_INT64;
        c.ish[1] = (weft_shape){.rank = 1, .d = {weft_dim_num(n_axes)}};
        c.cdata[1] = axes_in == 1 ? axes : NULL;
    }
    const bool arg = !strncmp(op, "Arg", 3);
    c.odt[0] = arg ? WEFT_INT64 : dt;
    c.osh[0] = (weft_shape){.rank = 1, .d = {weft_dim_num(8)}};
    c.d = (weft_step_desc){weft_op_find("", op, opset), &c.node, n_in, 1, c.idt, c.ish, c.cdata, c.odt, c.osh};
    CU_ASSERT_FATAL(c.d.def != NULL);
    return be->supports(&c.d);
}

static void test_supports(void)
{
    if (!weft_backend_find("cuda")) return;
    static const int64_t ax[2] = {1, -1}, dup[2] = {1, -2}, out[1] = {3};
    for (int o = 0; o < N_OPS; o++) {
        const char *op = OPS[o];
        const int since = axes_opset(op);
        CU_ASSERT(takes(op, since - 1, F32, 0, true, 2, ax, NULL, 0));           /* attribute */
        CU_ASSERT(takes(op, since - 1, F32, 0, false, 0, NULL, NULL, 0));        /* every axis */
        CU_ASSERT(takes(op, since, F32, 1, false, 2, ax, NULL, 0));              /* constant input */
        CU_ASSERT(takes(op, since, F32, 1, false, 0, ax, "noop_with_empty_axes", 1));
        CU_ASSERT(takes(op, since, F32, 0, false, 0, NULL, "keepdims", 0));
        CU_ASSERT(!takes(op, since, F32, 2, false, 2, ax, NULL, 0));             /* axes known at run time */
        CU_ASSERT(!takes(op, since, WEFT_FLOAT64, 1, false, 2, ax, NULL, 0));    /* float32 only */
        CU_ASSERT(!takes(op, since, WEFT_INT32, 1, false, 2, ax, NULL, 0));
        CU_ASSERT(!takes(op, since, F32, 1, false, 2, dup, NULL, 0));            /* the reference reports these */
        CU_ASSERT(!takes(op, since, F32, 1, false, 1, out, NULL, 0));
        CU_ASSERT(!takes(op, since, F32, 0, true, 2, ax, NULL, 0));
        CU_ASSERT(!takes(op, since - 1, F32, 1, false, 2, ax, NULL, 0));
        CU_ASSERT(!takes(op, since, F32, 1, false, 2, ax, "keepdims", 2));
    }
    CU_ASSERT(takes("ArgMax", 13, F32, 0, false, 0, NULL, "select_last_index", 1));
    CU_ASSERT(takes("ArgMin", 13, F32, 0, false, 0, NULL, "axis", -1));
    CU_ASSERT(!takes("ArgMax", 13, F32, 0, false, 0, NULL, "axis", 3));
    CU_ASSERT(!takes("ArgMin", 13, WEFT_FLOAT64, 0, false, 0, NULL, NULL, 0));
}

int main(void)
{
    wt_rnd_seed(0x2545F4914F6CDD1Dull);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    const bool skip = wt_cuda_skip("test_cuda_reduce");
    if (skip && !weft_backend_find("cuda")) {
        CU_cleanup_registry();
        return 0;
    }
    CU_pSuite s = CU_add_suite("cuda reduce: supports", NULL, NULL);
    CU_add_test(s, "Reduce* forms, ArgMax / ArgMin", test_supports);
    if (!skip) {
        s = CU_add_suite("cuda reduce", NULL, NULL);
        CU_add_test(s, "random shapes, axes and opset forms", test_random);
        CU_add_test(s, "each kernel: rows, columns, split, any axes, everything, empty", test_shapes);
        CU_add_test(s, "noop_with_empty_axes", test_noop);
        CU_add_test(s, "ArgMax and ArgMin", test_arg);
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    if (failures) fprintf(stderr, "test_cuda_reduce: %d cases differ from ref\n", failures);
    return fails ? 1 : 0;
}
