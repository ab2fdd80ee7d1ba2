/*
 * runtime/trainer.c — training a model: its float initializers become parameters held outside the plan,
 * one plan computes the loss and every parameter's gradient, and each step applies the optimizer to the
 * parameters (see include/weft.h, "training").
 *
 * Parameters keep their identity through compilation because they are no longer constants: each
 * trainable initializer becomes a graph input of the training graph, so no pass folds through it and the
 * plan stays valid whatever values the store holds. Frozen initializers (weft_trainer_options.freeze)
 * stay constants and fold as usual. Two plans share the store: the training plan (forward, loss and the
 * backward pass that compiler/pass_autodiff.c adds, compiled together so liveness keeps each saved
 * activation exactly as long as the backward pass needs it) and the forward plan for evaluation.
 *
 * A step is "compute gradients, then apply them", with the gradients in hand between the two (where
 * data-parallel training would all-reduce them): clipping by global norm, then SGD with momentum, Adam
 * or AdamW, with PyTorch's update formulas, in double precision per element.
 */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/status.h"
#include "../compiler/autodiff.h"
#include "../compiler/onnx_export.h"
#include "../compiler/atomic_write.h"
#include "../compiler/plan.h"
#include "../ops/lr_schedule.h"
#include "graph_edit.h"
#include "weft.h"

typedef struct param {
    char *name;
    weft_tensor t;  /* the values (t.data owned) */
    double *m, *v;  /* optimizer state per element: momentum buffer / Adam's first and second moments */
    void *snap;     /* the values at the last weft_trainer_snapshot (t.nbytes), or NULL */
    size_t n;       /* elements */
    int grad_out;   /* index of its gradient among the training plan's outputs */
} param;

struct weft_trainer {
    weft_trainer_options o;
    weft_symtab syms;        /* the training graphs' symbols (inference may add some): the model's stay as they are */
    weft_model *base;        /* the model as given (its graph: for saving with the trained values) */
    weft_plan *train, *fwd;
    weft_session *strain, *sfwd;
    param *p;
    int n_p;
    int loss_out;            /* index of the loss among the training plan's outputs */
    int64_t steps;
    double last_norm;        /* the gradients' global norm at the last step (before clipping) */
    weft_tensor *in;         /* scratch: caller inputs + parameters */
    weft_tensor *out;        /* scratch: the training plan's outputs */
    size_t cap_in;
    char **meta_keys, **meta_values; /* written into every model and checkpoint saved */
    int n_meta;
};

void weft_trainer_options_default(weft_trainer_options *o)
{
    memset(o, 0, sizeof *o);
    o->optimizer = WEFT_OPT_ADAM;
    o->lr = 1e-3;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.0;
    o->momentum = 0.0;
    o->opt_level = 1;
}

static weft_lr_schedule schedule_of(const weft_trainer_options *o);

/* The prefix of a checkpoint's optimizer-state tensors. */
#define STATE "__weft_state__/"

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* True when `name` matches one of the comma-separated glob patterns of `list`. */
static bool matches_any(const char *list, const char *name)
{
    if (!list || !*list) return false;
    char pat[512];
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && len < sizeof pat) {
            memcpy(pat, p, len);
            pat[len] = 0;
            if (fnmatch(pat, name, 0) == 0) return true;
        }
        p += len + (e ? 1 : 0);
    }
    return false;
}

static bool copy_syms(weft_symtab *dst, const weft_symtab *src)
{
    for (int i = 0; i < src->n; i++)
        if (weft_sym_intern(dst, src->names[i]) < 0) return false;
    return true;
}

static weft_status use_table(weft_graph *g, void *syms)
{
    g->syms = syms;
    return WEFT_OK;
}

/* A model around graph g and a copy of the symbols `syms`, for weft_compile. */
static weft_model *model_around(const weft_model *base, const weft_symtab *syms, weft_graph *g)
{
    weft_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->graph = g;
    if (!copy_syms(&m->syms, syms)) {
        weft_symtab_free(&m->syms);
        free(m);
        return NULL;
    }
    m->ir_version = base->ir_version;
    return m;
}

static void model_release(weft_model *m)
{
    if (!m) return;
    weft_graph_free(m->graph);
    weft_symtab_free(&m->syms);
    free(m);
}

void weft_trainer_free(weft_trainer *t)
{
    if (!t) return;
    weft_session_free(t->strain);
    weft_session_free(t->sfwd);
    weft_plan_free(t->train);
    weft_plan_free(t->fwd);
    for (int i = 0; i < t->n_p; i++) {
        free(t->p[i].name);
        free(t->p[i].t.data);
        free(t->p[i].m);
        free(t->p[i].v);
        free(t->p[i].snap);
    }
    free(t->p);
    free(t->in);
    free(t->out);
    for (int i = 0; i < t->n_meta; i++) free(t->meta_keys[i]), free(t->meta_values[i]);
    free(t->meta_keys);
    free(t->meta_values);
    weft_symtab_free(&t->syms);
    free(t);
}

weft_status weft_trainer_set_metadata(weft_trainer *t, const char *key, const char *value)
{
    if (!t || !key || !key[0] || !value)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_set_metadata: %s", !t ? "trainer is NULL" : "empty key or NULL value");
    if (strcmp(key, "weft.checkpoint") == 0)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_set_metadata: 'weft.checkpoint' is the trainer's own key");
    char *v = dupstr(value);
    if (!v) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < t->n_meta; i++)
        if (strcmp(t->meta_keys[i], key) == 0) {
            free(t->meta_values[i]);
            t->meta_values[i] = v;
            return WEFT_OK;
        }
    char *k = dupstr(key), **nk = realloc(t->meta_keys, (size_t)(t->n_meta + 1) * sizeof *nk);
    if (nk) t->meta_keys = nk;
    char **nv = nk ? realloc(t->meta_values, (size_t)(t->n_meta + 1) * sizeof *nv) : NULL;
    if (nv) t->meta_values = nv;
    if (!k || !nk || !nv) {
        free(k), free(v);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    t->meta_keys[t->n_meta] = k;
    t->meta_values[t->n_meta++] = v;
    return WEFT_OK;
}

/* The ONNX export options of a saved model: the base model's opsets, the trainer's metadata and, for a
 * checkpoint, weft.checkpoint. keys / values have room for n_meta + 1 entries. */
static weft_onnx_export_options export_options(const weft_trainer *t, const weft_model *m, bool checkpoint,
                                               const char **keys, const char **values)
{
    int n = 0;
    if (checkpoint) keys[n] = "weft.checkpoint", values[n++] = "1";
    for (int i = 0; i < t->n_meta; i++) keys[n] = t->meta_keys[i], values[n++] = t->meta_values[i];
    return (weft_onnx_export_options){.opsets = m->opsets, .n_opsets = m->n_opsets, .metadata_keys = keys,
                                      .metadata_values = values, .n_metadata = n};
}

weft_status weft_trainer_create(const weft_model *model, const weft_trainer_options *opts, weft_trainer **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_create: out is NULL");
    *out = NULL;
    if (!model || !model->graph || !opts || !opts->loss)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_create: %s",
                          !model ? "model is NULL" : !opts ? "options are NULL" : "no loss output named");
    if (opts->optimizer != WEFT_OPT_SGD && opts->optimizer != WEFT_OPT_ADAM && opts->optimizer != WEFT_OPT_ADAMW)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_create: unknown optimizer %d", (int)opts->optimizer);
    if (!(opts->lr >= 0) || !(opts->eps > 0) || !(opts->beta1 >= 0 && opts->beta1 < 1) ||
        !(opts->beta2 >= 0 && opts->beta2 < 1) || !(opts->weight_decay >= 0) || !(opts->momentum >= 0) ||
        !(opts->clip_norm >= 0))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT,
                          "weft_trainer_create: optimizer settings out of range (lr %g, betas %g %g, eps %g, weight "
                          "decay %g, momentum %g, clip norm %g)",
                          opts->lr, opts->beta1, opts->beta2, opts->eps, opts->weight_decay, opts->momentum,
                          opts->clip_norm);
    if (opts->lr_decay != WEFT_DECAY_CONSTANT && opts->lr_decay != WEFT_DECAY_COSINE && opts->lr_decay != WEFT_DECAY_STEP)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_create: unknown learning-rate decay %d", (int)opts->lr_decay);
    weft_lr_schedule sched = schedule_of(opts);
    weft_status sst = weft_lr_schedule_check(&sched);
    if (sst) return weft_error_wrap(sst, "weft_trainer_create");
    weft_trainer *t = calloc(1, sizeof *t);
    if (!t) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    t->o = *opts;
    t->base = (weft_model *)model;
    weft_status st = WEFT_OK;
    weft_model *fm = NULL, *tm = NULL;

    weft_graph *g = weft_graph_clone(model->graph, NULL);
    if (!g || !copy_syms(&t->syms, &model->syms)) {
        weft_graph_free(g);
        weft_trainer_free(t);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    weft_graph_walk(g, use_table, &t->syms);
    int loss = -1;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->values[g->outputs[i]].name && strcmp(g->values[g->outputs[i]].name, opts->loss) == 0) loss = g->outputs[i];
    if (loss < 0) {
        weft_graph_free(g);
        weft_trainer_free(t);
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_create: the model has no output '%s' to minimise",
                          opts->loss);
    }

    /* Trainable initializers become inputs whose values live in the store. */
    int *pv = malloc((size_t)g->n_values * sizeof *pv);
    t->p = calloc((size_t)g->n_values + 1, sizeof *t->p);
    int *inputs = realloc(g->inputs, (size_t)(g->n_inputs + g->n_values) * sizeof *inputs);
    if (!pv || !t->p || !inputs) {
        free(pv);
        free(inputs);
        weft_graph_free(g);
        weft_trainer_free(t);
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    }
    g->inputs = inputs;
    for (int i = 0; i < g->n_values; i++) {
        weft_value *v = &g->values[i];
        if (!(v->flags & WEFT_VALUE_INITIALIZER) || !(v->flags & WEFT_VALUE_CONST) || !v->data || !v->name) continue;
        if (v->dtype != WEFT_FLOAT32 && v->dtype != WEFT_FLOAT64) continue; /* integer tables are not trained */
        if (strncmp(v->name, STATE, strlen(STATE)) == 0) continue; /* a checkpoint's optimizer state */
        if (matches_any(opts->freeze, v->name)) continue;
        param *p = &t->p[t->n_p];
        p->name = dupstr(v->name);
        p->n = v->nbytes / weft_dtype_size(v->dtype);
        p->m = calloc(p->n + 1, sizeof *p->m);
        p->v = opts->optimizer == WEFT_OPT_SGD ? NULL : calloc(p->n + 1, sizeof *p->v);
        if (!p->name || !p->m || (opts->optimizer != WEFT_OPT_SGD && !p->v)) {
            free(p->name), free(p->m), free(p->v);
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            break;
        }
        p->t.name = p->name;
        p->t.dtype = v->dtype;
        p->t.rank = v->shape.rank;
        for (int d = 0; d < v->shape.rank; d++) p->t.dims[d] = v->shape.d[d].v;
        p->t.data = v->data; /* the store takes the values over */
        p->t.nbytes = v->nbytes;
        v->data = NULL;
        v->nbytes = 0;
        v->flags &= ~(unsigned)(WEFT_VALUE_CONST | WEFT_VALUE_INITIALIZER);
        v->flags |= WEFT_VALUE_INPUT;
        g->inputs[g->n_inputs++] = i;
        pv[t->n_p++] = i;
    }
    if (!st && t->n_p == 0)
        st = weft_error(WEFT_ERR_INVALID_ARGUMENT,
                        "weft_trainer_create: nothing to train: the model has no float initializer%s",
                        opts->freeze && *opts->freeze ? " that --freeze leaves" : "");
    /* The forward plan (evaluation) from the graph as it is now; the training plan adds the backward. */
    if (!st) {
        weft_ir_resolve_ops(g, NULL);
        st = weft_pass_infer(g, true, NULL);
        if (st) st = weft_error_wrap(st, "weft_trainer_create: inferring shapes");
    }
    if (!st) {
        const weft_value *lv = &g->values[loss];
        size_t elems = 1;
        for (int d = 0; d < lv->shape.rank; d++) elems *= weft_dim_known(lv->shape.d[d]) ? (size_t)lv->shape.d[d].v : 2;
        if ((lv->dtype != WEFT_FLOAT32 && lv->dtype != WEFT_FLOAT64) || elems != 1)
            st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_create: the loss '%s' must be one float value",
                            opts->loss);
    }
    weft_compile_options co = {opts->backend, opts->opt_level};
    if (!st) {
        weft_graph *fg = weft_graph_clone(g, NULL);
        if (!fg || !(fm = model_around(model, &t->syms, fg))) {
            weft_graph_free(fg);
            st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        } else {
            st = weft_compile(fm, &co, &t->fwd);
        }
    }
    int *grads = malloc((size_t)(t->n_p + 1) * sizeof *grads);
    if (!st && !grads) st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (!st && co.opt_level >= 1) {
        st = weft_compile_graph_differentiable(g);
        if (st) st = weft_error_wrap(st, "weft_trainer_create: lowering the model before differentiating it");
        /* a rewrite may have given the output a new value */
        for (int i = 0; !st && i < g->n_outputs; i++)
            if (g->values[g->outputs[i]].name && strcmp(g->values[g->outputs[i]].name, opts->loss) == 0) loss = g->outputs[i];
    }
    if (!st) st = weft_autodiff(g, loss, pv, t->n_p, grads);
    if (!st) {
        if (!(tm = model_around(model, &t->syms, g))) st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        else {
            g = NULL; /* tm owns it now */
            st = weft_compile(tm, &co, &t->train);
        }
    }
    /* Where the loss and each gradient are among the training plan's outputs. */
    if (!st) {
        int n_out = weft_plan_num_outputs(t->train);
        t->out = calloc((size_t)n_out + 1, sizeof *t->out);
        if (!t->out) st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        t->loss_out = -1;
        for (int k = 0; k < t->n_p; k++) t->p[k].grad_out = -1;
        for (int i = 0; !st && i < n_out; i++) {
            weft_tensor info;
            weft_plan_output_info(t->train, i, &info);
            if (strcmp(info.name, opts->loss) == 0) t->loss_out = i;
            for (int k = 0; k < t->n_p; k++) {
                size_t ln = strlen(t->p[k].name);
                if (strncmp(info.name, t->p[k].name, ln) == 0 && strcmp(info.name + ln, "__grad") == 0) t->p[k].grad_out = i;
            }
        }
        for (int k = 0; !st && k < t->n_p; k++)
            if (t->p[k].grad_out < 0) st = weft_error(WEFT_ERR_INTERNAL, "no gradient output for '%s'", t->p[k].name);
        if (!st && t->loss_out < 0) st = weft_error(WEFT_ERR_INTERNAL, "no loss output in the training plan");
    }
    weft_session_options so = {opts->threads, 0}, sot = {opts->threads, opts->profile};
    if (!st) st = weft_session_create_with_options(t->train, &sot, &t->strain);
    if (!st) st = weft_session_create_with_options(t->fwd, &so, &t->sfwd);
    free(pv);
    free(grads);
    weft_graph_free(g);
    model_release(fm);
    model_release(tm);
    if (st) {
        weft_trainer_free(t);
        return st;
    }
    *out = t;
    return WEFT_OK;
}

/* The caller's inputs followed by every parameter, in t->in. */
static weft_status gather_inputs(weft_trainer *t, const weft_tensor *in, size_t n_in)
{
    size_t need = n_in + (size_t)t->n_p;
    if (need > t->cap_in) {
        weft_tensor *a = realloc(t->in, need * sizeof *a);
        if (!a) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        t->in = a;
        t->cap_in = need;
    }
    for (size_t i = 0; i < n_in; i++) {
        for (int k = 0; k < t->n_p; k++)
            if (in[i].name && strcmp(in[i].name, t->p[k].name) == 0)
                return weft_error(WEFT_ERR_INVALID_ARGUMENT, "input '%s' is a trained parameter: the trainer supplies it",
                                  in[i].name);
        t->in[i] = in[i];
    }
    for (int k = 0; k < t->n_p; k++) t->in[n_in + (size_t)k] = t->p[k].t;
    return WEFT_OK;
}

static double elem(const weft_tensor *x, size_t i)
{
    return x->dtype == WEFT_FLOAT64 ? ((const double *)x->data)[i] : (double)((const float *)x->data)[i];
}

static void set_elem(weft_tensor *x, size_t i, double v)
{
    if (x->dtype == WEFT_FLOAT64)
        ((double *)x->data)[i] = v;
    else
        ((float *)x->data)[i] = (float)v;
}

/* One optimizer update of parameter p with gradient g scaled by `scale` (clipping), PyTorch's formulas:
 *   SGD:   g += wd·θ;  b = μ·b + g (b = g at the first step);  θ -= lr·b      (g without momentum)
 *   Adam:  g += wd·θ;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
 *          θ -= lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps)
 *   AdamW: θ -= lr·wd·θ first (decoupled), then Adam without the decay in g. */
/* The options' schedule in ops/lr_schedule.h's terms. */
static weft_lr_schedule schedule_of(const weft_trainer_options *o)
{
    weft_lr_schedule s = {o->lr, o->warmup_steps, o->warmup_start, WEFT_LR_CONSTANT, o->decay_steps, o->min_lr,
                          o->step_size, o->gamma};
    s.decay = o->lr_decay == WEFT_DECAY_COSINE ? WEFT_LR_COSINE : o->lr_decay == WEFT_DECAY_STEP ? WEFT_LR_STEP
                                                                                               : WEFT_LR_CONSTANT;
    return s;
}

double weft_trainer_lr(const weft_trainer *t)
{
    if (!t) return 0;
    weft_lr_schedule s = schedule_of(&t->o);
    return weft_lr_at(&s, t->steps);
}

static void update(const weft_trainer *t, param *p, const weft_tensor *g, double scale, double lr)
{
    const weft_trainer_options *o = &t->o;
    double step = (double)t->steps; /* already counts this step */
    double bc1 = 1.0 - pow(o->beta1, step), bc2 = 1.0 - pow(o->beta2, step);
    for (size_t i = 0; i < p->n; i++) {
        double th = elem(&p->t, i), gr = elem(g, i) * scale;
        switch (o->optimizer) {
        case WEFT_OPT_SGD:
            if (o->weight_decay) gr += o->weight_decay * th;
            if (o->momentum) {
                p->m[i] = t->steps == 1 ? gr : o->momentum * p->m[i] + gr;
                gr = p->m[i];
            }
            th -= lr * gr;
            break;
        case WEFT_OPT_ADAMW:
            th -= lr * o->weight_decay * th;
            /* then Adam's update without the decay in the gradient */
            __attribute__((fallthrough));
        case WEFT_OPT_ADAM:
            if (o->optimizer == WEFT_OPT_ADAM && o->weight_decay) gr += o->weight_decay * th;
            p->m[i] = o->beta1 * p->m[i] + (1 - o->beta1) * gr;
            p->v[i] = o->beta2 * p->v[i] + (1 - o->beta2) * gr * gr;
            th -= lr * (p->m[i] / bc1) / (sqrt(p->v[i] / bc2) + o->eps);
            break;
        }
        set_elem(&p->t, i, th);
    }
}

weft_status weft_trainer_step(weft_trainer *t, const weft_tensor *in, size_t n_in, double *loss)
{
    if (!t) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_step: trainer is NULL");
    weft_status st = gather_inputs(t, in, n_in);
    if (st) return st;
    int n_out = weft_plan_num_outputs(t->train);
    for (int i = 0; i < n_out; i++) memset(&t->out[i], 0, sizeof t->out[i]);
    st = weft_session_run(t->strain, t->in, n_in + (size_t)t->n_p, t->out, (size_t)n_out);
    if (st) return st;
    double l = elem(&t->out[t->loss_out], 0);
    if (loss) *loss = l;
    if (!isfinite(l))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT,
                          "weft_trainer_step: the loss is %g: parameters left as they were (lower the learning rate?)", l);
    /* the gradients' global norm, for clipping and for the caller */
    double ss = 0;
    for (int k = 0; k < t->n_p; k++) {
        const weft_tensor *g = &t->out[t->p[k].grad_out];
        for (size_t i = 0; i < t->p[k].n; i++) {
            double x = elem(g, i);
            ss += x * x;
        }
    }
    t->last_norm = sqrt(ss);
    if (!isfinite(t->last_norm))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_step: a gradient is not finite: parameters left as they were");
    double scale = 1.0;
    if (t->o.clip_norm > 0 && t->last_norm > t->o.clip_norm) scale = t->o.clip_norm / (t->last_norm + 1e-6);
    double lr = weft_trainer_lr(t); /* after t->steps updates */
    t->steps++;
    for (int k = 0; k < t->n_p; k++) update(t, &t->p[k], &t->out[t->p[k].grad_out], scale, lr);
    return WEFT_OK;
}

weft_status weft_trainer_eval(weft_trainer *t, const weft_tensor *in, size_t n_in, weft_tensor *out, size_t n_out)
{
    if (!t) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_eval: trainer is NULL");
    weft_status st = gather_inputs(t, in, n_in);
    if (st) return st;
    return weft_session_run(t->sfwd, t->in, n_in + (size_t)t->n_p, out, n_out);
}

int weft_trainer_num_params(const weft_trainer *t) { return t ? t->n_p : 0; }

weft_status weft_trainer_param(weft_trainer *t, int i, weft_tensor *view)
{
    if (!t || !view || i < 0 || i >= t->n_p)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_param: no parameter %d", i);
    *view = t->p[i].t;
    return WEFT_OK;
}

weft_status weft_trainer_set_lr(weft_trainer *t, double lr)
{
    if (!t || !(lr >= 0) || !isfinite(lr))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_set_lr: %s", t ? "lr must be finite and >= 0" : "NULL");
    weft_trainer_options o = t->o;
    o.lr = lr;
    weft_lr_schedule sched = schedule_of(&o);
    weft_status st = weft_lr_schedule_check(&sched);
    if (st) return weft_error_wrap(st, "weft_trainer_set_lr");
    t->o.lr = lr;
    return WEFT_OK;
}

int64_t weft_trainer_steps(const weft_trainer *t) { return t ? t->steps : 0; }
double weft_trainer_grad_norm(const weft_trainer *t) { return t ? t->last_norm : 0; }

weft_status weft_trainer_snapshot(weft_trainer *t)
{
    if (!t) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_snapshot: trainer is NULL");
    for (int k = 0; k < t->n_p; k++)
        if (!t->p[k].snap && !(t->p[k].snap = malloc(t->p[k].t.nbytes + 1))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (int k = 0; k < t->n_p; k++) memcpy(t->p[k].snap, t->p[k].t.data, t->p[k].t.nbytes);
    return WEFT_OK;
}

weft_status weft_trainer_restore_snapshot(weft_trainer *t)
{
    if (!t) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_restore_snapshot: trainer is NULL");
    if (t->n_p && !t->p[0].snap)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_restore_snapshot: no snapshot was taken");
    for (int k = 0; k < t->n_p; k++) memcpy(t->p[k].t.data, t->p[k].snap, t->p[k].t.nbytes);
    return WEFT_OK;
}

weft_status weft_trainer_describe(const weft_trainer *t, weft_describe_format fmt, char **out)
{
    if (!t || !out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_describe: NULL argument");
    return weft_plan_describe(t->train, fmt, out);
}

weft_status weft_trainer_profile(const weft_trainer *t, const weft_step_profile **out, int *n_steps)
{
    if (!t || !out || !n_steps) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_profile: NULL argument");
    return weft_session_profile(t->strain, out, n_steps);
}

weft_status weft_trainer_save_model(const weft_trainer *t, const char *path)
{
    if (!t) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_save_model: trainer is NULL");
    return weft_trainer_save_into(t, t->base, path);
}

weft_status weft_trainer_save_into(const weft_trainer *t, const weft_model *m, const char *path)
{
    if (!t || !m || !path)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_save_into: %s is NULL", !t ? "trainer" : !m ? "model" : "path");
    /* the model, with the trained values in place of its initializers' of the same names */
    weft_graph *g = weft_graph_clone(m->graph, NULL);
    if (!g) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status st = WEFT_OK;
    for (int k = 0; k < t->n_p && !st; k++) {
        int v = weft_graph_find_value(g, t->p[k].name);
        if (v < 0 || !(g->values[v].flags & WEFT_VALUE_INITIALIZER)) continue; /* a part this model lacks */
        weft_value *val = &g->values[v];
        if (val->nbytes != t->p[k].t.nbytes || val->dtype != t->p[k].t.dtype) {
            st = weft_error(WEFT_ERR_SHAPE, "weft_trainer_save_into: initializer '%s' differs from the trained parameter "
                            "in type or size", t->p[k].name);
            break;
        }
        st = weft_value_set_data(val, val->dtype, &val->shape, t->p[k].t.data, t->p[k].t.nbytes);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    /* a model built around another (link prediction, a classifier) has values no one typed yet: an ONNX
     * file declares its outputs' types */
    if (!st) {
        weft_ir_resolve_ops(g, NULL);
        st = weft_pass_infer(g, false, NULL);
    }
    const char **keys = malloc((size_t)(t->n_meta + 1) * sizeof *keys), **values = malloc((size_t)(t->n_meta + 1) * sizeof *values);
    if (!st && (!keys || !values)) st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (!st) {
        weft_onnx_export_options eo = export_options(t, m, false, keys, values);
        st = weft_ir_to_onnx(g, &m->syms, &eo, &buf, &len);
    }
    free(keys);
    free(values);
    if (!st) {
        const void *parts[1] = {buf};
        size_t lens[1] = {len};
        st = weft_write_file_atomic(path, parts, lens, 1);
    }
    free(buf);
    weft_graph_free(g);
    return st;
}

/* --- checkpoints --------------------------------------------------------------------------------- */

/* A checkpoint is the trained model (weights in place, as weft_trainer_save_model writes it) with the
 * optimizer's state beside them: per parameter P the tensors "__weft_state__/P/m" (and "/v" for Adam
 * and AdamW; float64, one per element), and the int64 scalars "__weft_state__/step" (updates made),
 * "__weft_state__/optimizer" and "__weft_state__/counter" (the caller's: an epoch, say). The state
 * tensors are graph outputs, so the file stays a valid ONNX model that any runtime loads. */

static int add_state(weft_gedit *e, const char *name, weft_dtype dt, int64_t n, const void *data)
{
    int v = weft_gedit_initializer(e, name, dt, 1, &n, data);
    if (v >= 0) {
        int *o = realloc(e->g->outputs, (size_t)(e->g->n_outputs + 1) * sizeof *o);
        if (!o) {
            if (!e->st) e->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            return -1;
        }
        e->g->outputs = o;
        o[e->g->n_outputs++] = v;
        e->g->values[v].flags |= WEFT_VALUE_OUTPUT;
    }
    return v;
}

weft_status weft_trainer_save_checkpoint(const weft_trainer *t, const char *path, int64_t counter)
{
    if (!t || !path) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_save_checkpoint: %s is NULL", t ? "path" : "trainer");
    weft_graph *g = weft_graph_clone(t->base->graph, NULL);
    if (!g) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_gedit e = {.g = g, .prefix = "checkpoint"};
    for (int k = 0; k < t->n_p && !e.st; k++) {
        int v = weft_graph_find_value(g, t->p[k].name);
        if (v < 0) {
            e.st = weft_error(WEFT_ERR_INTERNAL, "parameter '%s' is not in the model", t->p[k].name);
            break;
        }
        weft_value *val = &g->values[v];
        e.st = weft_value_set_data(val, val->dtype, &val->shape, t->p[k].t.data, t->p[k].t.nbytes);
        char name[600];
        snprintf(name, sizeof name, STATE "%s/m", t->p[k].name);
        add_state(&e, name, WEFT_FLOAT64, (int64_t)t->p[k].n, t->p[k].m);
        if (t->p[k].v) {
            snprintf(name, sizeof name, STATE "%s/v", t->p[k].name);
            add_state(&e, name, WEFT_FLOAT64, (int64_t)t->p[k].n, t->p[k].v);
        }
        if (t->p[k].snap) {
            snprintf(name, sizeof name, STATE "%s/snapshot", t->p[k].name);
            add_state(&e, name, t->p[k].t.dtype, (int64_t)t->p[k].n, t->p[k].snap);
        }
    }
    int64_t step = t->steps, opt = (int64_t)t->o.optimizer;
    add_state(&e, STATE "step", WEFT_INT64, 1, &step);
    add_state(&e, STATE "optimizer", WEFT_INT64, 1, &opt);
    add_state(&e, STATE "counter", WEFT_INT64, 1, &counter);
    uint8_t *buf = NULL;
    size_t len = 0;
    weft_status st = e.st;
    if (!st) { /* see weft_trainer_save_into */
        weft_ir_resolve_ops(g, NULL);
        st = weft_pass_infer(g, false, NULL);
    }
    const char **keys = malloc((size_t)(t->n_meta + 1) * sizeof *keys), **values = malloc((size_t)(t->n_meta + 1) * sizeof *values);
    if (!st && (!keys || !values)) st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (!st) {
        weft_onnx_export_options eo = export_options(t, t->base, true, keys, values);
        st = weft_ir_to_onnx(g, &t->base->syms, &eo, &buf, &len);
    }
    free(keys);
    free(values);
    if (!st) {
        const void *parts[1] = {buf};
        size_t lens[1] = {len};
        st = weft_write_file_atomic(path, parts, lens, 1);
    }
    free(buf);
    weft_graph_free(g);
    return st;
}

/* The contents of the checkpoint value `name`: its data if it has dtype dt and n elements, else NULL. */
static const void *state_of(const weft_graph *g, const char *name, weft_dtype dt, size_t n)
{
    int v = weft_graph_find_value(g, name);
    if (v < 0) return NULL;
    const weft_value *val = &g->values[v];
    if (!val->data || val->dtype != dt || val->nbytes != n * weft_dtype_size(dt)) return NULL;
    return val->data;
}

weft_status weft_trainer_load_checkpoint(weft_trainer *t, const char *path, int64_t *counter)
{
    if (!t || !path) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_trainer_load_checkpoint: %s is NULL", t ? "path" : "trainer");
    weft_model *m = NULL;
    weft_status st = weft_model_load(path, &m);
    if (st) return weft_error_wrap(st, "checkpoint %s", path);
    const weft_graph *g = m->graph;
    const int64_t *step = state_of(g, STATE "step", WEFT_INT64, 1), *opt = state_of(g, STATE "optimizer", WEFT_INT64, 1),
                  *cnt = state_of(g, STATE "counter", WEFT_INT64, 1);
    if (!step || !opt || !cnt || *step < 0) {
        st = weft_error(WEFT_ERR_INVALID_MODEL, "%s: not a weft checkpoint (no optimizer state)", path);
    } else if (*opt != (int64_t)t->o.optimizer) {
        st = weft_error(WEFT_ERR_INVALID_MODEL, "%s: written by another optimizer (%lld; this trainer uses %d)", path,
                        (long long)*opt, (int)t->o.optimizer);
    }
    /* check everything before changing anything */
    for (int k = 0; k < t->n_p && !st; k++) {
        param *p = &t->p[k];
        char name[600];
        if (!state_of(g, p->name, p->t.dtype, p->n)) {
            st = weft_error(WEFT_ERR_INVALID_MODEL, "%s: no parameter '%s' of %zu %s values: a checkpoint of another model",
                            path, p->name, p->n, weft_dtype_name(p->t.dtype));
            break;
        }
        snprintf(name, sizeof name, STATE "%s/m", p->name);
        bool ok = state_of(g, name, WEFT_FLOAT64, p->n) != NULL;
        snprintf(name, sizeof name, STATE "%s/v", p->name);
        if (ok && p->v) ok = state_of(g, name, WEFT_FLOAT64, p->n) != NULL;
        if (!ok) st = weft_error(WEFT_ERR_INVALID_MODEL, "%s: the optimizer state of '%s' is missing or wrong", path, p->name);
    }
    /* a snapshot: every parameter's or none */
    int snaps = 0;
    for (int k = 0; k < t->n_p && !st; k++) {
        char name[600];
        snprintf(name, sizeof name, STATE "%s/snapshot", t->p[k].name);
        snaps += state_of(g, name, t->p[k].t.dtype, t->p[k].n) != NULL;
    }
    if (!st && snaps && snaps != t->n_p)
        st = weft_error(WEFT_ERR_INVALID_MODEL, "%s: a snapshot of %d of the %d parameters", path, snaps, t->n_p);
    for (int k = 0; k < t->n_p && !st && snaps; k++)
        if (!t->p[k].snap && !(t->p[k].snap = malloc(t->p[k].t.nbytes + 1))) st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (!st) {
        for (int k = 0; k < t->n_p; k++) {
            param *p = &t->p[k];
            char name[600];
            memcpy(p->t.data, state_of(g, p->name, p->t.dtype, p->n), p->t.nbytes);
            snprintf(name, sizeof name, STATE "%s/m", p->name);
            memcpy(p->m, state_of(g, name, WEFT_FLOAT64, p->n), p->n * sizeof *p->m);
            if (p->v) {
                snprintf(name, sizeof name, STATE "%s/v", p->name);
                memcpy(p->v, state_of(g, name, WEFT_FLOAT64, p->n), p->n * sizeof *p->v);
            }
            snprintf(name, sizeof name, STATE "%s/snapshot", p->name);
            if (snaps) memcpy(p->snap, state_of(g, name, p->t.dtype, p->n), p->t.nbytes);
            else free(p->snap), p->snap = NULL;
        }
        t->steps = *step;
        if (counter) *counter = *cnt;
    }
    weft_model_free(m);
    return st;
}
