/*
 * ops/optim.c — the optimizer ops of the `ai.weft` domain (schemas/ai.weft.md): SGD, Adam, AdamW, and
 * ClipByGlobalNorm, the gradient clipping that runs between computing gradients and applying them.
 *
 * Each update follows the corresponding torch.optim algorithm (its single-tensor, non-capturable form)
 * step for step, in double whatever the tensors' dtype. The learning rate is an input (a scalar
 * tensor), so a schedule (ops/lr_schedule.h) changes it between steps without recompiling.
 *
 * Values are immutable in a plan (every output gets its own slot), so an update cannot write its
 * inputs: it returns the new parameter and state as outputs, and the trainer binds them as the next
 * step's inputs. Every kernel reads all its inputs at an element before writing that element's outputs
 * (ClipByGlobalNorm reads everything before writing anything), so a runtime may give an output the
 * buffer of the input it replaces and the update then happens in place.
 */
#include <math.h>
#include <string.h>

#include "op.h"

#define DOMAIN "ai.weft"

/* --- shared checks ------------------------------------------------------------------------------- */

static bool same_shape(const weft_shape *a, const weft_shape *b)
{
    if (a->rank < 0 || b->rank < 0) return true;
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (weft_dim_known(a->d[d]) && weft_dim_known(b->d[d]) && a->d[d].v != b->d[d].v) return false;
    return true;
}

/* Input i (called `what`) must have the parameter's (input 0's) dtype and shape. */
static weft_status like_param(const weft_infer_ctx *c, int i, const char *what)
{
    if (c->in_dtype[i] != c->in_dtype[0])
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d (%s) is %s but the parameter is %s", i, what,
                             weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
    if (!same_shape(&c->in_shape[i], &c->in_shape[0]))
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d (%s) must have the parameter's shape", i, what);
    return WEFT_OK;
}

/* Input i (called `what`) must be one number: a scalar or a one-element tensor, float (or, when
 * `integer` is allowed, an integer). */
static weft_status scalar_input(const weft_infer_ctx *c, int i, const char *what, bool integer)
{
    weft_dtype t = c->in_dtype[i];
    if (!weft_dtype_is_float(t) && !(integer && (t == WEFT_INT32 || t == WEFT_INT64)))
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d (%s) must be a %s scalar, not %s", i, what,
                             integer ? "float or integer" : "float", weft_dtype_name(t));
    int64_t n = weft_shape_numel(&c->in_shape[i]);
    if (n >= 0 && n != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d (%s) must hold one value, not %lld", i, what,
                             (long long)n);
    return WEFT_OK;
}

static void outputs_like_param(weft_infer_ctx *c)
{
    for (int o = 0; o < c->n_out; o++) {
        c->out_dtype[o] = c->in_dtype[0];
        c->out_shape[o] = c->in_shape[0];
    }
}

/* The learning rate (input i) and the step number, read on the host. */
static double scalar_at(const weft_kernel_ctx *k, int i) { return weft_load_f64(k->in[i].dtype, k->in[i].data, 0); }

/* --- SGD ----------------------------------------------------------------------------------------- */

typedef struct sgd_cfg {
    double momentum, dampening, weight_decay;
    bool nesterov;
} sgd_cfg;

static weft_status sgd_config(const weft_node_info *n, int n_out, sgd_cfg *s)
{
    s->momentum = weft_attr_float(n, "momentum", 0.0f);
    s->dampening = weft_attr_float(n, "dampening", 0.0f);
    s->weight_decay = weft_attr_float(n, "weight_decay", 0.0f);
    s->nesterov = weft_attr_int(n, "nesterov", 0) != 0;
    if (s->momentum < 0 || s->weight_decay < 0)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "momentum and weight_decay must not be negative");
    if (s->nesterov && (s->momentum <= 0 || s->dampening != 0))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "nesterov needs a momentum and zero dampening");
    if ((s->momentum != 0) != (n_out == 2))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, s->momentum != 0
                             ? "with a momentum, SGD has two outputs (param_new, momentum_buffer_new)"
                             : "without a momentum, SGD has one output (param_new) and no buffer");
    return WEFT_OK;
}

/* SGD(param, grad, lr, momentum_buffer?, step?) -> (param_new, momentum_buffer_new?) */
static weft_status sgd_infer(weft_infer_ctx *c)
{
    sgd_cfg s;
    weft_status st = sgd_config(c->node, c->n_out, &s);
    if (st) return st;
    if (!weft_dtype_is_float(c->in_dtype[0]))
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 0 (param) must be a float tensor, not %s",
                             weft_dtype_name(c->in_dtype[0]));
    if ((st = like_param(c, 1, "grad")) || (st = scalar_input(c, 2, "lr", false))) return st;
    if (s.momentum != 0 && !weft_in_present(c, 3))
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "with a momentum, input 3 (momentum_buffer) is needed");
    if (weft_in_present(c, 3) && (st = like_param(c, 3, "momentum_buffer"))) return st;
    if (weft_in_present(c, 4) && (st = scalar_input(c, 4, "step", true))) return st;
    outputs_like_param(c);
    return WEFT_OK;
}

/* torch.optim.SGD: d = g + wd p; with a momentum, b = d on the first step (step == 1) and
 * mu b + (1 - dampening) d after; d = d + mu b (nesterov) or b; p -= lr d. */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *p = k->in[0].data, *g = k->in[1].data, *b = buf ? buf->data : NULL;                  \
        T *po = k->out[0].data, *bo = s.momentum != 0 ? k->out[1].data : NULL;                        \
        for (int64_t i = 0; i < k->in[0].numel; i++) {                                                \
            double pi = p[i], d = (double)g[i] + s.weight_decay * pi;                                 \
            if (bo) {                                                                                 \
                double bi = first ? d : s.momentum * (double)b[i] + (1 - s.dampening) * d;            \
                bo[i] = (T)bi;                                                                        \
                d = s.nesterov ? d + s.momentum * bi : bi;                                            \
            }                                                                                         \
            po[i] = (T)(pi - lr * d);                                                                 \
        }                                                                                             \
    }

static weft_status sgd_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    sgd_cfg s;
    weft_status st = sgd_config(k->node, k->n_out, &s);
    if (st) return st;
    const weft_tview *buf = weft_kin_present(k, 3) ? &k->in[3] : NULL;
    double lr = scalar_at(k, 2);
    bool first = weft_kin_present(k, 4) && scalar_at(k, 4) == 1;
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status sgd_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, sgd_body); }

/* --- Adam, AdamW --------------------------------------------------------------------------------- */

typedef struct adam_cfg {
    double beta1, beta2, eps, weight_decay;
    bool amsgrad, decoupled; /* AdamW: decay the parameter, not the gradient */
} adam_cfg;

static weft_status adam_config(const weft_node_info *n, bool decoupled, int n_in, int n_out, adam_cfg *a)
{
    a->decoupled = decoupled;
    a->beta1 = weft_attr_float(n, "beta1", 0.9f);
    a->beta2 = weft_attr_float(n, "beta2", 0.999f);
    a->eps = weft_attr_float(n, "epsilon", 1e-8f);
    a->weight_decay = weft_attr_float(n, "weight_decay", decoupled ? 0.01f : 0.0f);
    a->amsgrad = weft_attr_int(n, "amsgrad", 0) != 0;
    if (!(a->beta1 >= 0 && a->beta1 < 1 && a->beta2 >= 0 && a->beta2 < 1))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "beta1 %g and beta2 %g must be in [0, 1)", a->beta1, a->beta2);
    if (!(a->eps >= 0) || !(a->weight_decay >= 0))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "epsilon and weight_decay must not be negative");
    int want = a->amsgrad ? 7 : 6;
    if (n_in != want || n_out != want - 3)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s %s inputs and %d outputs, not %d and %d",
                             a->amsgrad ? "with amsgrad," : "without amsgrad,", a->amsgrad ? "takes 7" : "takes 6",
                             want - 3, n_in, n_out);
    return WEFT_OK;
}

/* Adam(param, grad, lr, step, exp_avg, exp_avg_sq, max_exp_avg_sq?) ->
 * (param_new, exp_avg_new, exp_avg_sq_new, max_exp_avg_sq_new?) */
static weft_status adam_infer_as(weft_infer_ctx *c, bool decoupled)
{
    adam_cfg a;
    weft_status st = adam_config(c->node, decoupled, c->n_in, c->n_out, &a);
    if (st) return st;
    if (!weft_dtype_is_float(c->in_dtype[0]))
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 0 (param) must be a float tensor, not %s",
                             weft_dtype_name(c->in_dtype[0]));
    static const char *const names[] = {"param", "grad", "lr", "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    if ((st = like_param(c, 1, names[1])) || (st = scalar_input(c, 2, names[2], false)) ||
        (st = scalar_input(c, 3, names[3], true)))
        return st;
    for (int i = 4; i < c->n_in; i++)
        if ((st = like_param(c, i, names[i]))) return st;
    outputs_like_param(c);
    return WEFT_OK;
}

/*
 * torch.optim.Adam / AdamW at step t (1 on the first update):
 *   AdamW: p *= 1 - lr wd;   Adam: g += wd p
 *   m = m + (1 - beta1) (g - m)           (torch's lerp)
 *   v = beta2 v + (1 - beta2) g^2
 *   amsgrad: vmax = max(vmax, v), used for v below
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        const T *p = k->in[0].data, *g = k->in[1].data, *m = k->in[4].data, *v = k->in[5].data;       \
        const T *vm = a.amsgrad ? k->in[6].data : NULL;                                               \
        T *po = k->out[0].data, *mo = k->out[1].data, *vo = k->out[2].data;                           \
        T *vmo = a.amsgrad ? k->out[3].data : NULL;                                                   \
        for (int64_t i = 0; i < k->in[0].numel; i++) {                                                \
            double pi = p[i], gi = g[i], mi = m[i], vi = v[i];                                        \
            if (a.decoupled) pi *= 1 - lr * a.weight_decay;                                           \
            else gi += a.weight_decay * pi;                                                           \
            mi += (1 - a.beta1) * (gi - mi);                                                          \
            vi = a.beta2 * vi + (1 - a.beta2) * gi * gi;                                              \
            double vd = vi;                                                                           \
            if (vmo) {                                                                                \
                vd = fmax((double)vm[i], vi);                                                         \
                vmo[i] = (T)vd;                                                                       \
            }                                                                                         \
            mo[i] = (T)mi;                                                                            \
            vo[i] = (T)vi;                                                                            \
            po[i] = (T)(pi - step_size * mi / (sqrt(vd) / bc2_sqrt + a.eps));                         \
        }                                                                                             \
    }

static weft_status adam_body_as(weft_kernel_ctx *k, bool decoupled)
{
    adam_cfg a;
    weft_status st = adam_config(k->node, decoupled, k->n_in, k->n_out, &a);
    if (st) return st;
    double lr = scalar_at(k, 2), t = scalar_at(k, 3);
    if (!(t >= 1))
        return weft_op_error(k->node, WEFT_ERR_INVALID_MODEL, "input 3 (step) is %g: steps count from 1", t);
    double step_size = lr / (1 - pow(a.beta1, t)), bc2_sqrt = sqrt(1 - pow(a.beta2, t));
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status adam_infer(weft_infer_ctx *c) { return adam_infer_as(c, false); }
static weft_status adamw_infer(weft_infer_ctx *c) { return adam_infer_as(c, true); }
static weft_status adam_body(weft_kernel_ctx *k, void *scratch) { (void)scratch; return adam_body_as(k, false); }
static weft_status adamw_body(weft_kernel_ctx *k, void *scratch) { (void)scratch; return adam_body_as(k, true); }
static weft_status adam_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, adam_body); }
static weft_status adamw_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, adamw_body); }

/* --- ClipByGlobalNorm ---------------------------------------------------------------------------- */

static weft_status clip_config(const weft_node_info *n, double *max_norm, double *p)
{
    *max_norm = weft_attr_float(n, "max_norm", 1.0f);
    *p = weft_attr_float(n, "norm_type", 2.0f);
    if (!(*max_norm >= 0)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "max_norm %g is negative", *max_norm);
    if (!(*p > 0)) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "norm_type %g must be positive (or inf)", *p);
    return WEFT_OK;
}

/* ClipByGlobalNorm(g_1, ..., g_n) -> (g_1', ..., g_n', total_norm) */
static weft_status clip_infer(weft_infer_ctx *c)
{
    double mn, p;
    weft_status st = clip_config(c->node, &mn, &p);
    if (st) return st;
    if (c->n_out != c->n_in + 1)
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "%d gradients need %d outputs (each scaled, then the "
                             "norm), not %d", c->n_in, c->n_in + 1, c->n_out);
    if (!weft_dtype_is_float(c->in_dtype[0]))
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 0 must be a float tensor, not %s",
                             weft_dtype_name(c->in_dtype[0]));
    for (int i = 0; i < c->n_in; i++) {
        if (c->in_dtype[i] != c->in_dtype[0])
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input %d is %s but input 0 is %s (one dtype for all)", i,
                                 weft_dtype_name(c->in_dtype[i]), weft_dtype_name(c->in_dtype[0]));
        c->out_dtype[i] = c->in_dtype[i];
        c->out_shape[i] = c->in_shape[i];
    }
    c->out_dtype[c->n_in] = c->in_dtype[0];
    c->out_shape[c->n_in].rank = 0;
    return WEFT_OK;
}

/* torch.nn.utils.clip_grad_norm_: the norm of all gradients together (the norm of the per-tensor
 * norms), every gradient scaled by min(1, max_norm / (norm + 1e-6)), the norm before clipping out. */
#define WEFT_BODY(T)                                                                                  \
    {                                                                                                 \
        double acc = 0;                                                                               \
        for (int j = 0; j < k->n_in; j++) {                                                           \
            const T *g = k->in[j].data;                                                               \
            for (int64_t i = 0; i < k->in[j].numel; i++) {                                            \
                double a = fabs((double)g[i]);                                                        \
                if (isinf(p)) acc = a > acc || isnan(a) ? a : acc;                                    \
                else acc += p == 2 ? a * a : pow(a, p);                                               \
            }                                                                                         \
        }                                                                                             \
        double norm = isinf(p) ? acc : p == 2 ? sqrt(acc) : pow(acc, 1 / p);                          \
        double coef = fmin(max_norm / (norm + 1e-6), 1.0);                                            \
        for (int j = 0; j < k->n_in; j++) {                                                           \
            const T *g = k->in[j].data;                                                               \
            T *o = k->out[j].data;                                                                    \
            for (int64_t i = 0; i < k->in[j].numel; i++) o[i] = (T)((double)g[i] * coef);             \
        }                                                                                             \
        ((T *)k->out[k->n_in].data)[0] = (T)norm;                                                     \
    }

static weft_status clip_body(weft_kernel_ctx *k, void *scratch)
{
    (void)scratch;
    double max_norm, p;
    weft_status st = clip_config(k->node, &max_norm, &p);
    if (st) return st;
    WEFT_DISPATCH(k->in[0].dtype, WEFT_TYPES_FLOAT, return weft_op_unsupported_dtype(k, 0));
    return WEFT_OK;
}
#undef WEFT_BODY

static weft_status clip_run(weft_kernel_ctx *k) { return weft_math_run_widened(k, 0, clip_body); }

/* host_inputs: the kernels read lr and step as numbers (SGD's at 2 and 4, Adam's at 2 and 3). */
const weft_op_def weft_ops_optim[] = {
    {"SGD", DOMAIN, 1, 0, 3, 5, 1, 2, 0, sgd_infer, sgd_run, 0x4 | 0x10},
    {"Adam", DOMAIN, 1, 0, 6, 7, 3, 4, 0, adam_infer, adam_run, 0x4 | 0x8},
    {"AdamW", DOMAIN, 1, 0, 6, 7, 3, 4, 0, adamw_infer, adamw_run, 0x4 | 0x8},
    {"ClipByGlobalNorm", DOMAIN, 1, 0, 1, -1, 2, -1, 0, clip_infer, clip_run},
};
const int weft_ops_optim_count = sizeof weft_ops_optim / sizeof weft_ops_optim[0];
