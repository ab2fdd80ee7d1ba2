/*
 * ops/weft_dense.c — the dense operators the compiler generates (schemas/ai.weft.md, "Operators the
 * compiler generates"): FusedMatMul, L2Normalize, FusedElementwise. Reference kernels: plain loops whose
 * arithmetic is spelled out by the spec, so that the fused form of a chain equals the chain of ONNX ops
 * it replaces (bit for bit where the spec says so) and fast kernels have one oracle to agree with.
 *
 * The element formulas (activations, FusedElementwise's opcodes) live in ops/weft_fused.h, shared with
 * the fast kernels.
 */
#include <math.h>
#include <string.h>

#include "op.h"
#include "weft_fused.h"

#define DOMAIN "ai.weft"

static bool float_type(weft_dtype t) { return t == WEFT_FLOAT32 || t == WEFT_FLOAT64; }
static bool known_ne(weft_dim a, weft_dim b) { return weft_dim_known(a) && weft_dim_known(b) && a.v != b.v; }

/* x / max(||x||_2, eps) over F elements, as the exported chain ReduceL2 -> Clip(min = eps) -> Div
 * computes it: the sum of squares in double, its root rounded to T, the clamp in T (NaN stays), one
 * division per element in T. x and y may be the same row. */
#define L2_ROW(T, x, y, F, eps)                                                                    \
    {                                                                                              \
        double ss_ = 0;                                                                            \
        for (int64_t f_ = 0; f_ < (F); f_++) { double v_ = (double)(x)[f_]; ss_ += v_ * v_; }      \
        const T nrm_ = (T)sqrt(ss_), e_ = (T)(eps);                                                \
        const T d_ = nrm_ < e_ ? e_ : nrm_;                                                        \
        for (int64_t f_ = 0; f_ < (F); f_++) (y)[f_] = (x)[f_] / d_;                               \
    }

/* --- activations (FusedMatMul) ------------------------------------------------------------------- */

int weft_fused_activation(const weft_node_info *node, double *alpha)
{
    const char *s = weft_attr_string(node, "activation", "");
    *alpha = 0;
    /* the ONNX ops' float attribute defaults, read the way ops/unary.c reads them */
    if (!strcmp(s, "")) return WEFT_FUSED_IDENTITY;
    if (!strcmp(s, "relu")) return WEFT_FUSED_RELU;
    if (!strcmp(s, "sigmoid")) return WEFT_FUSED_SIGMOID;
    if (!strcmp(s, "tanh")) return WEFT_FUSED_TANH;
    if (!strcmp(s, "leaky_relu")) { *alpha = weft_attr_float(node, "alpha", 0.01f); return WEFT_FUSED_LEAKY_RELU; }
    if (!strcmp(s, "elu")) { *alpha = weft_attr_float(node, "alpha", 1.0f); return WEFT_FUSED_ELU; }
    if (!strcmp(s, "gelu")) return WEFT_FUSED_GELU;                      /* alpha 0: the erf form */
    if (!strcmp(s, "gelu_tanh")) { *alpha = 1; return WEFT_FUSED_GELU; } /* alpha 1: the tanh form */
    return -2;
}

/* --- FusedMatMul --------------------------------------------------------------------------------- */

/* Whether term i's W is stored [M, K] (attribute transpose; checked by fmm_attrs). */
static bool fmm_transposed(const weft_node_info *n, int i)
{
    const weft_attr *tr = weft_attr_find(n, "transpose");
    return tr && tr->type == WEFT_ATTR_INTS && i < tr->n && tr->ints[i] == 1;
}

/* Reads and checks the attributes; *terms is the number of (X, W) pairs. */
static weft_status fmm_attrs(const weft_node_info *n, int n_in, int *terms, int *act, double *alpha, bool *normalize)
{
    const weft_attr *t = weft_attr_find(n, "terms");
    if (!t || t->type != WEFT_ATTR_INT || t->i < 1)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute terms (int >= 1) is required");
    if (t->i > n_in / 2 || n_in > 2 * t->i + 2)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "terms = %lld needs %lld to %lld inputs, the node has %d",
                             (long long)t->i, (long long)(2 * t->i), (long long)(2 * t->i + 2), n_in);
    *terms = (int)t->i;
    const weft_attr *tr = weft_attr_find(n, "transpose");
    if (tr) {
        bool ok = tr->type == WEFT_ATTR_INTS && tr->n == t->i;
        for (int i = 0; ok && i < tr->n; i++) ok = tr->ints[i] == 0 || tr->ints[i] == 1;
        if (!ok) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute transpose must be %lld ints, each 0 or 1", (long long)t->i);
    }
    int64_t nz = weft_attr_int(n, "normalize", 0);
    if (nz != 0 && nz != 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute normalize must be 0 or 1");
    *normalize = nz != 0;
    *act = weft_fused_activation(n, alpha);
    if (*act == -2)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL,
                             "activation must be \"\", relu, leaky_relu, elu, sigmoid, tanh, gelu or gelu_tanh, got '%s'",
                             weft_attr_string(n, "activation", ""));
    return WEFT_OK;
}

static weft_status fmm_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    int terms, act;
    double alpha;
    bool normalize;
    weft_status st = fmm_attrs(n, c->n_in, &terms, &act, &alpha, &normalize);
    if (st) return st;
    weft_dtype t = c->in_dtype[0];
    if (!float_type(t))
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input 0 (X_0): dtype %s is not supported (float32, float64)",
                             weft_dtype_name(t));
    for (int i = 0; i < c->n_in; i++) {
        if (!weft_in_present(c, i)) {
            if (i < 2 * terms)
                return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input %d (%c_%d) is required", i, i % 2 ? 'W' : 'X', i / 2);
            continue;
        }
        if (c->in_dtype[i] != t)
            return weft_op_error(n, WEFT_ERR_TYPE, "input %d has dtype %s, X_0 has %s", i, weft_dtype_name(c->in_dtype[i]),
                                 weft_dtype_name(t));
    }
    const weft_shape *x0 = &c->in_shape[0];
    /* M: a number if some W says so, else W_0's symbol */
    weft_dim M = {0, -2};
    for (int i = 0; i < terms; i++) {
        const weft_shape *x = &c->in_shape[2 * i], *w = &c->in_shape[2 * i + 1];
        int kd = fmm_transposed(n, i), md = !kd; /* W's K and M dims */
        if (x->rank == 0) return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (X_%d) must have rank >= 1", 2 * i, i);
        if (w->rank >= 0 && w->rank != 2)
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (W_%d) must be 2-D [%s], got rank %d", 2 * i + 1, i,
                                 kd ? "M, K" : "K, M", w->rank);
        if (x->rank > 0 && w->rank == 2 && known_ne(x->d[x->rank - 1], w->d[kd]))
            return weft_op_error(n, WEFT_ERR_SHAPE, "term %d: X_%d has K = %lld columns but W_%d has %lld %s", i, i,
                                 (long long)x->d[x->rank - 1].v, i, (long long)w->d[kd].v, kd ? "columns" : "rows");
        if (w->rank == 2) {
            if (M.sym == -2 || (!weft_dim_known(M) && weft_dim_known(w->d[md]))) M = w->d[md];
            else if (known_ne(M, w->d[md]))
                return weft_op_error(n, WEFT_ERR_SHAPE, "term %d: W_%d has M = %lld, an earlier W has %lld", i, i,
                                     (long long)w->d[md].v, (long long)M.v);
        }
        if (i > 0 && x->rank > 0 && x0->rank > 0) {
            if (x->rank != x0->rank)
                return weft_op_error(n, WEFT_ERR_SHAPE,
                                     "term %d: X_%d has rank %d, X_0 has %d (leading dims must be the same)", i, i, x->rank,
                                     x0->rank);
            for (int d = 0; d + 1 < x->rank; d++)
                if (known_ne(x->d[d], x0->d[d]))
                    return weft_op_error(n, WEFT_ERR_SHAPE, "term %d: X_%d has %lld in dimension %d, X_0 has %lld", i, i,
                                         (long long)x->d[d].v, d, (long long)x0->d[d].v);
        }
    }
    if (M.sym == -2) M = weft_dim_unknown(c);
    c->out_dtype[0] = t;
    weft_shape *o = &c->out_shape[0];
    if (x0->rank < 0) {
        o->rank = -1;
    } else {
        *o = *x0;
        /* a leading dim that X_0 leaves symbolic and another X gives as a number takes the number */
        for (int i = 1; i < terms; i++)
            for (int d = 0; d + 1 < o->rank && c->in_shape[2 * i].rank == o->rank; d++)
                if (!weft_dim_known(o->d[d]) && weft_dim_known(c->in_shape[2 * i].d[d])) o->d[d] = c->in_shape[2 * i].d[d];
        o->d[o->rank - 1] = M;
    }
    if (weft_in_present(c, 2 * terms)) {
        const weft_shape *b = &c->in_shape[2 * terms];
        if (b->rank >= 0 && (b->rank != 1 || known_ne(b->d[0], M)))
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (bias) must be [M]%s", 2 * terms,
                                 weft_dim_known(M) ? "" : " (M from W)");
    }
    if (weft_in_present(c, 2 * terms + 1) && o->rank >= 0) {
        const weft_shape *a = &c->in_shape[2 * terms + 1];
        bool bad = a->rank >= 0 && a->rank != o->rank;
        for (int d = 0; !bad && a->rank >= 0 && d < a->rank; d++) bad = known_ne(a->d[d], o->d[d]);
        if (bad) {
            char sa[128], so[128];
            weft_shape_format(a, sa, sizeof sa);
            weft_shape_format(o, so, sizeof so);
            return weft_op_error(n, WEFT_ERR_SHAPE, "input %d (acc) is %s, the output %s", 2 * terms + 1, sa, so);
        }
    }
    return WEFT_OK;
}

static int64_t lead_rows(const weft_tview *x)
{
    int64_t r = 1;
    for (int d = 0; d + 1 < x->rank; d++) r *= x->dims[d];
    return r;
}

static weft_status fmm_run(weft_kernel_ctx *k)
{
    int terms, act;
    double alpha;
    bool normalize;
    weft_status st = fmm_attrs(k->node, k->n_in, &terms, &act, &alpha, &normalize);
    if (st) return st;
    const weft_tview *x0 = &k->in[0], *w0 = &k->in[1];
    weft_tview *out = &k->out[0];
    if (x0->rank < 1 || w0->rank != 2) return weft_op_error(k->node, WEFT_ERR_SHAPE, "X_0 must have rank >= 1 and W_0 be 2-D");
    int64_t rows = lead_rows(x0), M = w0->dims[fmm_transposed(k->node, 0) ? 0 : 1];
    for (int i = 0; i < terms; i++) {
        const weft_tview *x = &k->in[2 * i], *w = &k->in[2 * i + 1];
        int kd = fmm_transposed(k->node, i);
        bool same_lead = x->rank == x0->rank;
        for (int d = 0; same_lead && d + 1 < x->rank; d++) same_lead = x->dims[d] == x0->dims[d];
        if (!same_lead || w->rank != 2 || w->dims[kd] != x->dims[x->rank - 1] || w->dims[!kd] != M)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "term %d: X_%d must be [X_0's leading dims, K] and W_%d %s", i,
                                 i, i, kd ? "[M, K]" : "[K, M]");
    }
    const weft_tview *bias = weft_kin_present(k, 2 * terms) ? &k->in[2 * terms] : NULL;
    const weft_tview *acc = weft_kin_present(k, 2 * terms + 1) ? &k->in[2 * terms + 1] : NULL;
    if (bias && bias->numel != M)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "bias has %lld entries, M is %lld", (long long)bias->numel, (long long)M);
    if (out->numel != rows * M || (acc && acc->numel != rows * M))
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "output and acc must have %lld x %lld elements", (long long)rows,
                             (long long)M);
    double *s = k->scratch(k->user, (size_t)(M ? M : 1) * sizeof(double));
    if (!s) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    float eps = weft_attr_float(k->node, "eps", 1e-12f);
    /* Per output element: the products of every term, k ascending, summed in double (as weft's MatMul
     * and Gemm do) and rounded once to T; then, in T as the exported Add / Div / Add compute them, + bias,
     * the row normalisation, + acc; then the activation as the ONNX op computes it. */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *b = bias ? (const T *)bias->data : NULL, *ac = acc ? (const T *)acc->data : NULL; \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            for (int64_t m = 0; m < M; m++) s[m] = 0;                                              \
            for (int i = 0; i < terms; i++) {                                                      \
                const weft_tview *xv = &k->in[2 * i];                                              \
                const int64_t K = xv->dims[xv->rank - 1];                                          \
                const T *x = (const T *)xv->data + r * K, *w = k->in[2 * i + 1].data;              \
                /* W[k, m] at k * M + m, or at m * K + k when stored transposed */                 \
                const int64_t sk = fmm_transposed(k->node, i) ? 1 : M, sm = sk == 1 ? K : 1;       \
                for (int64_t kk = 0; kk < K; kk++) {                                               \
                    const double xk = (double)x[kk];                                               \
                    const T *wr = w + kk * sk;                                                     \
                    for (int64_t m = 0; m < M; m++) s[m] += xk * (double)wr[m * sm];               \
                }                                                                                  \
            }                                                                                      \
            T *y = (T *)out->data + r * M;                                                         \
            for (int64_t m = 0; m < M; m++) y[m] = (T)s[m];                                        \
            if (b) for (int64_t m = 0; m < M; m++) y[m] = y[m] + b[m];                             \
            if (normalize) L2_ROW(T, y, y, M, eps)                                                 \
            if (ac) for (int64_t m = 0; m < M; m++) y[m] = y[m] + ac[r * M + m];                   \
            if (act != WEFT_FUSED_IDENTITY)                                                        \
                for (int64_t m = 0; m < M; m++) y[m] = (T)weft_fused_unary(act, (double)y[m], alpha); \
        }                                                                                          \
    }
    WEFT_DISPATCH(x0->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- L2Normalize --------------------------------------------------------------------------------- */

static weft_status l2n_infer(weft_infer_ctx *c)
{
    if (!float_type(c->in_dtype[0]))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input 0 (x): dtype %s is not supported (float32, float64)",
                             weft_dtype_name(c->in_dtype[0]));
    if (c->in_shape[0].rank == 0) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 0 (x) must have rank >= 1");
    return weft_infer_same_as_input0(c);
}

static weft_status l2n_run(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    if (x->rank < 1) return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 0 (x) must have rank >= 1");
    int64_t F = x->dims[x->rank - 1], rows = F ? x->numel / F : 0;
    float eps = weft_attr_float(k->node, "eps", 1e-12f);
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        const T *xs = x->data;                                                                     \
        T *y = k->out[0].data;                                                                     \
        for (int64_t r = 0; r < rows; r++) L2_ROW(T, xs + r * F, y + r * F, F, eps)                \
    }
    WEFT_DISPATCH(x->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- FusedElementwise ---------------------------------------------------------------------------- */

weft_status weft_fused_program_read(const weft_node_info *node, int n_inputs, weft_fused_program *p)
{
    memset(p, 0, sizeof *p);
    const weft_attr *a = weft_attr_find(node, "program");
    if (!a || a->type != WEFT_ATTR_INTS)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "attribute program (ints) is required");
    if (a->n < 4 || a->n % 4)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL,
                             "program has %d ints: it must be one or more instructions of 4 ints (opcode, dst, a, b)", a->n);
    if (a->n / 4 > WEFT_FUSED_MAX_INSNS)
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "program has %d instructions, at most %d are supported", a->n / 4,
                             WEFT_FUSED_MAX_INSNS);
    if (n_inputs < 1 || n_inputs >= WEFT_FUSED_MAX_REGS)
        return weft_op_error(node, WEFT_ERR_UNSUPPORTED, "%d inputs: 1 to %d are supported", n_inputs, WEFT_FUSED_MAX_REGS - 1);
    p->code = a->ints;
    p->n_insns = a->n / 4;
    p->n_inputs = n_inputs;
    p->n_regs = n_inputs;
    const weft_attr *ca = weft_attr_find(node, "constants"), *aa = weft_attr_find(node, "alphas");
    if (ca && ca->type != WEFT_ATTR_FLOATS)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "attribute constants must be floats");
    if (aa && aa->type != WEFT_ATTR_FLOATS)
        return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "attribute alphas must be floats");
    if (ca) { p->consts = ca->floats; p->n_consts = ca->n; }
    if (aa) {
        if (aa->n != p->n_insns)
            return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "attribute alphas has %d values for %d instructions", aa->n,
                                 p->n_insns);
        p->alphas = aa->floats;
    }
    bool defined[WEFT_FUSED_MAX_REGS] = {false};
    for (int r = 0; r < n_inputs; r++) defined[r] = true;
    for (int i = 0; i < p->n_insns; i++) {
        const int64_t *in = p->code + 4 * i;
        int64_t op = in[0], dst = in[1];
        bool binary = weft_fused_is_binary(op);
        if (!binary && !weft_fused_is_unary(op))
            return weft_op_error(node, WEFT_ERR_INVALID_MODEL, "instruction %d: unknown opcode %lld", i, (long long)op);
        for (int k = 0; k < (binary ? 2 : 1); k++) {
            int64_t r = in[2 + k];
            const char *which = k ? "b" : "a";
            if (r < 0) {
                if (-1 - r >= p->n_consts)
                    return weft_op_error(node, WEFT_ERR_INVALID_MODEL,
                                         "instruction %d: operand %s = %lld names constant %lld, the node has %d", i, which,
                                         (long long)r, (long long)(-1 - r), p->n_consts);
            } else if (r >= WEFT_FUSED_MAX_REGS || !defined[r]) {
                return weft_op_error(node, WEFT_ERR_INVALID_MODEL,
                                     "instruction %d: operand %s reads register %lld, which no input or earlier "
                                     "instruction defines", i, which, (long long)r);
            }
        }
        if (dst < n_inputs || dst >= WEFT_FUSED_MAX_REGS)
            return weft_op_error(node, WEFT_ERR_INVALID_MODEL,
                                 "instruction %d: dst = %lld must be a result register in [%d, %d) (registers below %d "
                                 "are the inputs)", i, (long long)dst, n_inputs, WEFT_FUSED_MAX_REGS, n_inputs);
        if (op == WEFT_FUSED_GELU) {
            double al = weft_fused_alpha(p, i);
            if (al != 0 && al != 1)
                return weft_op_error(node, WEFT_ERR_INVALID_MODEL,
                                     "instruction %d: gelu's alpha must be 0 (erf) or 1 (tanh), got %g", i, al);
        }
        defined[dst] = true;
        if (dst + 1 > p->n_regs) p->n_regs = (int)dst + 1;
    }
    p->out_reg = (int)p->code[4 * (p->n_insns - 1) + 1];
    return WEFT_OK;
}

static weft_status fe_infer(weft_infer_ctx *c)
{
    const weft_node_info *n = c->node;
    if (c->n_in < 1) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "at least one input is required");
    weft_dtype t = c->in_dtype[0];
    for (int i = 0; i < c->n_in; i++) {
        if (!weft_in_present(c, i)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "input %d is required", i);
        if (!float_type(c->in_dtype[i]))
            return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported (float32, float64)", i,
                                 weft_dtype_name(c->in_dtype[i]));
        if (c->in_dtype[i] != t)
            return weft_op_error(n, WEFT_ERR_TYPE, "input %d has dtype %s, input 0 has %s", i, weft_dtype_name(c->in_dtype[i]),
                                 weft_dtype_name(t));
    }
    weft_fused_program p;
    weft_status st = weft_fused_program_read(n, c->n_in, &p);
    if (st) return st;
    const weft_shape *sh[WEFT_FUSED_MAX_REGS];
    for (int i = 0; i < c->n_in; i++) sh[i] = &c->in_shape[i];
    c->out_dtype[0] = t;
    return weft_infer_broadcast(c, sh, c->n_in, &c->out_shape[0]);
}

static weft_status fe_run(weft_kernel_ctx *k)
{
    weft_fused_program p;
    weft_status st = weft_fused_program_read(k->node, k->n_in, &p);
    if (st) return st;
    weft_tview *y = &k->out[0];
    const int R = y->rank, nin = k->n_in;
    for (int i = 0; i < nin; i++) {
        if (k->in[i].dtype != y->dtype || k->in[i].rank > R)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d does not broadcast to the output", i);
        for (int d = 0; d < k->in[i].rank; d++) {
            int64_t v = k->in[i].dims[d], o = y->dims[d + R - k->in[i].rank];
            if (v != o && v != 1)
                return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d: dimension %d is %lld, the output's %lld", i, d,
                                     (long long)v, (long long)o);
        }
    }
    /* scratch: the register file (8 bytes a register whatever T), then per input its strides and its
     * running offset, then the output index */
    size_t bytes = ((size_t)p.n_regs + (size_t)nin * (R + 1) + (size_t)R + 1) * 8;
    double *regbuf = k->scratch(k->user, bytes);
    if (!regbuf) return weft_op_error(k->node, WEFT_ERR_NOMEM, "out of scratch memory");
    int64_t *st_ = (int64_t *)(regbuf + p.n_regs), *off = st_ + (size_t)nin * R, *idx = off + nin;
    for (int i = 0; i < nin; i++) {
        weft_broadcast_strides(k->in[i].dims, k->in[i].rank, y->dims, R, st_ + (size_t)i * R);
        off[i] = 0;
    }
    for (int d = 0; d < R; d++) idx[d] = 0;
    const int64_t *code = p.code;
    /* One element at a time: load the inputs into registers, run the program, store the out register,
     * advance every input's offset along the output's index. */
#define WEFT_BODY(T)                                                                               \
    {                                                                                              \
        T *reg = (T *)regbuf, *yo = y->data;                                                       \
        for (int64_t e = 0; e < y->numel; e++) {                                                   \
            for (int i = 0; i < nin; i++) reg[i] = ((const T *)k->in[i].data)[off[i]];             \
            for (int i = 0; i < p.n_insns; i++) {                                                  \
                const int64_t *in = code + 4 * i;                                                  \
                const int op = (int)in[0];                                                         \
                T a = in[2] >= 0 ? reg[in[2]] : (T)p.consts[-1 - in[2]];                           \
                if (weft_fused_is_binary(op)) {                                                    \
                    T b = in[3] >= 0 ? reg[in[3]] : (T)p.consts[-1 - in[3]];                       \
                    reg[in[1]] = weft_fused_binary(op, a, b);                                      \
                } else {                                                                           \
                    reg[in[1]] = (T)weft_fused_unary(op, (double)a, weft_fused_alpha(&p, i));      \
                }                                                                                  \
            }                                                                                      \
            yo[e] = reg[p.out_reg];                                                                \
            for (int d = R - 1; d >= 0; d--) {                                                     \
                idx[d]++;                                                                          \
                for (int i = 0; i < nin; i++) off[i] += st_[(size_t)i * R + d];                    \
                if (idx[d] < y->dims[d]) break;                                                    \
                for (int i = 0; i < nin; i++) off[i] -= st_[(size_t)i * R + d] * y->dims[d];       \
                idx[d] = 0;                                                                        \
            }                                                                                      \
        }                                                                                          \
    }
    WEFT_DISPATCH(y->dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
#undef WEFT_BODY
    return WEFT_OK;
}

/* --- the table ----------------------------------------------------------------------------------- */

const weft_op_def weft_ops_weft_dense[] = {
    {"FusedMatMul", DOMAIN, 1, 0, 2, -1, 1, 1, 0, fmm_infer, fmm_run, 0},
    {"L2Normalize", DOMAIN, 1, 0, 1, 1, 1, 1, 0, l2n_infer, l2n_run, 0},
    {"FusedElementwise", DOMAIN, 1, 0, 1, -1, 1, 1, 0, fe_infer, fe_run, 0},
};
const int weft_ops_weft_dense_count = sizeof weft_ops_weft_dense / sizeof weft_ops_weft_dense[0];
