/*
 * tests/unit/test_trainer.c — runtime/trainer.c: parameters out of the plan, one training plan for the
 * loss and the gradients, SGD / Adam / AdamW updates checked against their formulas computed here,
 * clipping, freezing, evaluation, saving the trained model and loading it back, and clear errors.
 *
 * The model is linear regression written as ONNX ops: pred = X·W + b, loss = ReduceMean((pred - Y)²),
 * whose gradients are known in closed form: dW = 2/n · Xᵀ(pred - Y), db = 2/n · Σ(pred - Y).
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/plan.h"
#include "ir_build.h"
#include "weft.h"

enum { N = 64, D = 3 };

typedef struct lr_model {
    weft_model m;
    float X[N * D], Y[N];
} lr_model;

static int node(weft_graph *g, const char *op, const int *in, int n_in, const char *out)
{
    return irb_node(g, op, "", 18, in, n_in, out, 1);
}

/* The model with W = w0, b = b0, and data from W* = (1, -2, 0.5), b* = 0.3 plus a little noise. */
static void build(lr_model *lm, const float *w0, float b0)
{
    memset(lm, 0, sizeof *lm);
    weft_graph *g = weft_graph_new(NULL, &lm->m.syms);
    lm->m.graph = g;
    lm->m.ir_version = 8;
    int64_t dx[2] = {N, D}, dy[2] = {N, 1}, dw[2] = {D, 1}, db[1] = {1};
    int x = irb_input(g, "X", WEFT_FLOAT32, 2, dx);
    int y = irb_input(g, "Y", WEFT_FLOAT32, 2, dy);
    int w = irb_constant(g, "W", WEFT_FLOAT32, 2, dw, w0);
    int b = irb_constant(g, "b", WEFT_FLOAT32, 1, db, &b0);
    int xw = node(g, "MatMul", (int[]){x, w}, 2, "xw");
    int pred = node(g, "Add", (int[]){xw, b}, 2, "pred");
    int diff = node(g, "Sub", (int[]){pred, y}, 2, "diff");
    int sq = node(g, "Mul", (int[]){diff, diff}, 2, "sq");
    int loss = node(g, "ReduceMean", &sq, 1, "loss");
    irb_attr_i(g, loss, "keepdims", 0);
    irb_output(g, pred);
    irb_output(g, loss);
    weft_opset_import *imp = calloc(1, sizeof *imp);
    imp->domain = strdup("");
    imp->version = 18;
    lm->m.opsets = imp;
    lm->m.n_opsets = 1;
    uint64_t r = 42;
    const float ws[D] = {1.0f, -2.0f, 0.5f};
    for (int i = 0; i < N; i++) {
        double yv = 0.3;
        for (int j = 0; j < D; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            lm->X[i * D + j] = (float)((double)(r >> 11) / 9007199254740992.0 * 2 - 1);
            yv += ws[j] * lm->X[i * D + j];
        }
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        lm->Y[i] = (float)(yv + 0.01 * ((double)(r >> 11) / 9007199254740992.0 - 0.5));
    }
}

static void release(lr_model *lm)
{
    weft_graph_free(lm->m.graph);
    weft_symtab_free(&lm->m.syms);
    for (int i = 0; i < lm->m.n_opsets; i++) free(lm->m.opsets[i].domain);
    free(lm->m.opsets);
}

static void batch(lr_model *lm, weft_tensor in[2])
{
    memset(in, 0, 2 * sizeof *in);
    in[0] = (weft_tensor){.name = "X", .dtype = WEFT_FLOAT32, .rank = 2, .dims = {N, D}, .data = lm->X, .nbytes = sizeof lm->X};
    in[1] = (weft_tensor){.name = "Y", .dtype = WEFT_FLOAT32, .rank = 2, .dims = {N, 1}, .data = lm->Y, .nbytes = sizeof lm->Y};
}

/* The closed-form loss and gradients at (w, b). */
static double grads(const lr_model *lm, const double *w, double b, double *gw, double *gb)
{
    double loss = 0;
    for (int j = 0; j < D; j++) gw[j] = 0;
    *gb = 0;
    for (int i = 0; i < N; i++) {
        double p = b;
        for (int j = 0; j < D; j++) p += (double)lm->X[i * D + j] * w[j];
        double d = p - lm->Y[i];
        loss += d * d / N;
        for (int j = 0; j < D; j++) gw[j] += 2.0 / N * d * lm->X[i * D + j];
        *gb += 2.0 / N * d;
    }
    return loss;
}

static int find_param(weft_trainer *t, const char *name, weft_tensor *view)
{
    for (int i = 0; i < weft_trainer_num_params(t); i++) {
        CU_ASSERT_FATAL(weft_trainer_param(t, i, view) == WEFT_OK);
        if (strcmp(view->name, name) == 0) return i;
    }
    return -1;
}

/* Three steps of each optimizer against the formulas, in double, from the same start. */
static void test_updates_match_formulas(void)
{
    const float w0[D] = {0.1f, 0.2f, -0.3f};
    const weft_optimizer_kind kinds[3] = {WEFT_OPT_SGD, WEFT_OPT_ADAM, WEFT_OPT_ADAMW};
    for (int k = 0; k < 3; k++) {
        lr_model lm;
        build(&lm, w0, 0.05f);
        weft_trainer_options o;
        weft_trainer_options_default(&o);
        o.loss = "loss";
        o.optimizer = kinds[k];
        o.lr = kinds[k] == WEFT_OPT_SGD ? 0.1 : 0.01;
        o.momentum = kinds[k] == WEFT_OPT_SGD ? 0.9 : 0;
        o.weight_decay = 0.01;
        o.backend = "ref";
        weft_trainer *t = NULL;
        weft_status st = weft_trainer_create(&lm.m, &o, &t);
        if (st) fprintf(stderr, "\n%s\n", weft_last_error());
        CU_ASSERT_FATAL(st == WEFT_OK);
        CU_ASSERT_EQUAL(weft_trainer_num_params(t), 2);
        double w[D] = {w0[0], w0[1], w0[2]}, b = 0.05f, mw[D + 1] = {0}, vw[D + 1] = {0};
        weft_tensor in[2];
        batch(&lm, in);
        for (int s = 1; s <= 3; s++) {
            double gw[D + 1], loss_ref = grads(&lm, w, b, gw, &gw[D]), loss = 0;
            CU_ASSERT_EQUAL_FATAL(weft_trainer_step(t, in, 2, &loss), WEFT_OK);
            CU_ASSERT_DOUBLE_EQUAL(loss, loss_ref, 1e-5 * fmax(1, loss_ref));
            double *th[D + 1] = {&w[0], &w[1], &w[2], &b};
            for (int j = 0; j <= D; j++) {
                double g = gw[j], x = *th[j];
                if (kinds[k] == WEFT_OPT_SGD) {
                    g += o.weight_decay * x;
                    mw[j] = s == 1 ? g : o.momentum * mw[j] + g;
                    x -= o.lr * mw[j];
                } else {
                    if (kinds[k] == WEFT_OPT_ADAMW) x -= o.lr * o.weight_decay * x;
                    else g += o.weight_decay * x;
                    mw[j] = o.beta1 * mw[j] + (1 - o.beta1) * g;
                    vw[j] = o.beta2 * vw[j] + (1 - o.beta2) * g * g;
                    x -= o.lr * (mw[j] / (1 - pow(o.beta1, s))) / (sqrt(vw[j] / (1 - pow(o.beta2, s))) + o.eps);
                }
                *th[j] = x;
            }
            weft_tensor pw, pb;
            CU_ASSERT_FATAL(find_param(t, "W", &pw) >= 0 && find_param(t, "b", &pb) >= 0);
            for (int j = 0; j < D; j++) CU_ASSERT_DOUBLE_EQUAL(((float *)pw.data)[j], w[j], 2e-6);
            CU_ASSERT_DOUBLE_EQUAL(((float *)pb.data)[0], b, 2e-6);
        }
        CU_ASSERT_EQUAL(weft_trainer_steps(t), 3);
        weft_trainer_free(t);
        release(&lm);
    }
}

/* Learning-rate schedules: SGD steps with warm-up then cosine decay, and step decay, against the
 * closed forms; a schedule out of range is refused. */
static void test_schedules(void)
{
    const float w0[D] = {0.1f, 0.2f, -0.3f};
    for (int kind = 0; kind < 2; kind++) {
        lr_model lm;
        build(&lm, w0, 0.05f);
        weft_trainer_options o;
        weft_trainer_options_default(&o);
        o.loss = "loss";
        o.optimizer = WEFT_OPT_SGD;
        o.lr = 0.1;
        o.backend = "ref";
        o.warmup_steps = 2;
        o.warmup_start = 0.25;
        o.lr_decay = kind ? WEFT_DECAY_STEP : WEFT_DECAY_COSINE;
        o.decay_steps = 3;
        o.min_lr = 0.01;
        o.step_size = 2;
        o.gamma = 0.5;
        weft_trainer *t = NULL;
        CU_ASSERT_FATAL(weft_trainer_create(&lm.m, &o, &t) == WEFT_OK);
        double w[D] = {w0[0], w0[1], w0[2]}, b = 0.05f;
        weft_tensor in[2];
        batch(&lm, in);
        for (int k = 0; k < 6; k++) {
            double lr;
            if (k < 2) lr = 0.1 * (0.25 + 0.75 * k / 2.0);
            else if (kind) lr = 0.1 * pow(0.5, (k - 2) / 2);
            else lr = k - 2 >= 3 ? 0.01 : 0.01 + (0.1 - 0.01) * (1 + cos(M_PI * (k - 2) / 3.0)) / 2;
            CU_ASSERT_DOUBLE_EQUAL(weft_trainer_lr(t), lr, 1e-12);
            double gw[D + 1], loss = 0;
            grads(&lm, w, b, gw, &gw[D]);
            CU_ASSERT_EQUAL_FATAL(weft_trainer_step(t, in, 2, &loss), WEFT_OK);
            for (int j = 0; j < D; j++) w[j] -= lr * gw[j];
            b -= lr * gw[D];
        }
        weft_tensor pw;
        CU_ASSERT_FATAL(find_param(t, "W", &pw) >= 0);
        for (int j = 0; j < D; j++) CU_ASSERT_DOUBLE_EQUAL(((float *)pw.data)[j], w[j], 2e-6);
        /* a base below the cosine floor is refused, and leaves the rate as it was */
        if (!kind) {
            CU_ASSERT_EQUAL(weft_trainer_set_lr(t, 0.001), WEFT_ERR_INVALID_ARGUMENT);
            CU_ASSERT_DOUBLE_EQUAL(weft_trainer_lr(t), 0.01, 1e-12);
        }
        weft_trainer_free(t);
        o.decay_steps = 0; /* cosine without a length / step without a size */
        o.step_size = 0;
        CU_ASSERT_EQUAL(weft_trainer_create(&lm.m, &o, &t), WEFT_ERR_INVALID_ARGUMENT);
        release(&lm);
    }
}

/* Training converges to the generating weights; evaluation, freezing, clipping, saving. */
static void test_train_eval_save(void)
{
    const float w0[D] = {0, 0, 0};
    lr_model lm;
    build(&lm, w0, 0.0f);
    weft_trainer_options o;
    weft_trainer_options_default(&o);
    o.loss = "loss";
    o.optimizer = WEFT_OPT_ADAM;
    o.lr = 0.05;
    o.backend = "ref";
    weft_trainer *t = NULL;
    CU_ASSERT_FATAL(weft_trainer_create(&lm.m, &o, &t) == WEFT_OK);
    weft_tensor in[2];
    batch(&lm, in);
    double loss = 0, first = 0;
    for (int s = 0; s < 600; s++) {
        CU_ASSERT_EQUAL_FATAL(weft_trainer_step(t, in, 2, &loss), WEFT_OK);
        if (s == 0) first = loss;
    }
    CU_ASSERT(loss < 1e-4 && first > 1.0);
    weft_tensor pw, pb;
    find_param(t, "W", &pw);
    find_param(t, "b", &pb);
    const float ws[D] = {1.0f, -2.0f, 0.5f};
    for (int j = 0; j < D; j++) CU_ASSERT_DOUBLE_EQUAL(((float *)pw.data)[j], ws[j], 0.01);
    CU_ASSERT_DOUBLE_EQUAL(((float *)pb.data)[0], 0.3, 0.01);
    /* eval gives the model's outputs with the trained values */
    weft_tensor out[2];
    memset(out, 0, sizeof out);
    CU_ASSERT_FATAL(weft_trainer_eval(t, in, 2, out, 2) == WEFT_OK);
    double l2 = ((float *)out[1].data)[0];
    CU_ASSERT(l2 < 1e-4);
    float pred0 = ((float *)out[0].data)[0];
    /* saved as ONNX and loaded back: the same predictions */
    char path[128];
    snprintf(path, sizeof path, "/tmp/weft_trainer_%d.onnx", (int)getpid());
    /* metadata rides along: set, replaced, refused for the trainer's own key */
    CU_ASSERT_EQUAL(weft_trainer_set_metadata(t, "weft.classes", "a\nb"), WEFT_OK);
    CU_ASSERT_EQUAL(weft_trainer_set_metadata(t, "note", "first"), WEFT_OK);
    CU_ASSERT_EQUAL(weft_trainer_set_metadata(t, "note", "second"), WEFT_OK);
    CU_ASSERT_EQUAL(weft_trainer_set_metadata(t, "weft.checkpoint", "1"), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(weft_trainer_set_metadata(t, "", "x"), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_FATAL(weft_trainer_save_model(t, path) == WEFT_OK);
    weft_model *m2 = NULL;
    CU_ASSERT_FATAL(weft_model_load(path, &m2) == WEFT_OK);
    CU_ASSERT_EQUAL(weft_model_metadata_count(m2), 2);
    CU_ASSERT_STRING_EQUAL(weft_model_metadata(m2, "weft.classes"), "a\nb");
    CU_ASSERT_STRING_EQUAL(weft_model_metadata(m2, "note"), "second");
    CU_ASSERT_PTR_NULL(weft_model_metadata(m2, "weft.checkpoint"));
    const char *mk, *mv;
    CU_ASSERT_EQUAL(weft_model_metadata_entry(m2, 0, &mk, &mv), WEFT_OK);
    CU_ASSERT_STRING_EQUAL(mk, "weft.classes");
    CU_ASSERT_EQUAL(weft_model_metadata_entry(m2, 2, &mk, &mv), WEFT_ERR_INVALID_ARGUMENT);
    weft_plan *p2 = NULL;
    weft_compile_options co = {"ref", 1};
    CU_ASSERT_FATAL(weft_compile(m2, &co, &p2) == WEFT_OK);
    weft_session *s2 = NULL;
    CU_ASSERT_FATAL(weft_session_create(p2, &s2) == WEFT_OK);
    memset(out, 0, sizeof out);
    CU_ASSERT_FATAL(weft_session_run(s2, in, 2, out, 2) == WEFT_OK);
    CU_ASSERT_DOUBLE_EQUAL(((float *)out[0].data)[0], pred0, 1e-6);
    weft_session_free(s2);
    weft_plan_free(p2);
    weft_model_free(m2);
    unlink(path);
    weft_trainer_free(t);

    /* frozen: b keeps its value, W still learns; clipping bounds the first step */
    o.freeze = "b";
    o.clip_norm = 0.5;
    o.optimizer = WEFT_OPT_SGD;
    o.lr = 0.1;
    CU_ASSERT_FATAL(weft_trainer_create(&lm.m, &o, &t) == WEFT_OK);
    CU_ASSERT_EQUAL(weft_trainer_num_params(t), 1);
    CU_ASSERT_EQUAL(find_param(t, "b", &pb), -1);
    double w[D] = {0, 0, 0}, gw[D + 1];
    grads(&lm, w, 0, gw, &gw[D]);
    double norm = sqrt(gw[0] * gw[0] + gw[1] * gw[1] + gw[2] * gw[2]);
    CU_ASSERT_FATAL(norm > 0.5);
    CU_ASSERT_EQUAL_FATAL(weft_trainer_step(t, in, 2, &loss), WEFT_OK);
    CU_ASSERT_DOUBLE_EQUAL(weft_trainer_grad_norm(t), norm, 1e-5);
    find_param(t, "W", &pw);
    for (int j = 0; j < D; j++)
        CU_ASSERT_DOUBLE_EQUAL(((float *)pw.data)[j], -0.1 * gw[j] * 0.5 / (norm + 1e-6), 1e-6);
    weft_trainer_free(t);
    release(&lm);
}

static void test_errors(void)
{
    const float w0[D] = {0, 0, 0};
    lr_model lm;
    build(&lm, w0, 0.0f);
    weft_trainer_options o;
    weft_trainer_options_default(&o);
    o.backend = "ref";
    weft_trainer *t = NULL;
    o.loss = "nope";
    CU_ASSERT_EQUAL(weft_trainer_create(&lm.m, &o, &t), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "'nope'"));
    o.loss = "pred"; /* not one value */
    CU_ASSERT_EQUAL(weft_trainer_create(&lm.m, &o, &t), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "one float value"));
    o.loss = "loss";
    o.freeze = "*";
    CU_ASSERT_EQUAL(weft_trainer_create(&lm.m, &o, &t), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "nothing to train"));
    o.freeze = NULL;
    o.lr = -1;
    CU_ASSERT_EQUAL(weft_trainer_create(&lm.m, &o, &t), WEFT_ERR_INVALID_ARGUMENT);
    o.lr = 1e30; /* diverges: a loss that is not finite leaves the parameters alone */
    CU_ASSERT_FATAL(weft_trainer_create(&lm.m, &o, &t) == WEFT_OK);
    weft_tensor in[2];
    batch(&lm, in);
    weft_status st = WEFT_OK;
    for (int s = 0; s < 20 && st == WEFT_OK; s++) st = weft_trainer_step(t, in, 2, NULL);
    CU_ASSERT_NOT_EQUAL(st, WEFT_OK);
    weft_tensor pw;
    find_param(t, "W", &pw);
    for (int j = 0; j < D; j++) CU_ASSERT(isfinite(((float *)pw.data)[j]));
    /* a parameter passed as an input is refused */
    weft_tensor extra[3];
    batch(&lm, extra);
    extra[2] = pw;
    CU_ASSERT_EQUAL(weft_trainer_step(t, extra, 3, NULL), WEFT_ERR_INVALID_ARGUMENT);
    weft_trainer_free(t);
    release(&lm);
}

/* Link prediction on the paper's traffic encoder with a real graph (built from the shared captures by
 * weft flows and weft graph; committed with the model): the loss falls and the held-out AUC rises. */
static void test_linkpred_traffic_encoder(void)
{
    const char *dir = "models/traffic_encoder_ts17";
    char path[256];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    weft_model *enc = NULL;
    CU_ASSERT_FATAL(weft_model_load(path, &enc) == WEFT_OK);
    weft_model *lp = NULL;
    weft_status st = weft_linkpred_model(enc, &lp);
    if (st) fprintf(stderr, "\n%s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    /* the graph: the test set whose inputs are a real capture's graph (set 2, see models/MANIFEST) */
    weft_tensor in[10];
    memset(in, 0, sizeof in);
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/test_data_set_2/input_%d.pb", dir, i);
        CU_ASSERT_FATAL(weft_tensor_load(path, &in[i]) == WEFT_OK);
    }
    weft_trainer_options o;
    weft_trainer_options_default(&o);
    o.loss = "loss";
    o.lr = 1e-3;
    weft_trainer *t = NULL;
    st = weft_trainer_create(lp, &o, &t);
    if (st) fprintf(stderr, "\n%s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    CU_ASSERT_EQUAL(weft_trainer_num_params(t), 48);
    weft_linkpred_options lo = {0.2, 1, 7};
    weft_linkpred_batch held;
    CU_ASSERT_FATAL(weft_linkpred_make_batch(in, 10, &lo, &held) == WEFT_OK);
    /* held-out AUC over every edge type's pairs, before and after training on other splits */
    double auc0 = -1, auc1 = -1, first = 0, loss = 0;
    for (int phase = 0; phase < 2; phase++) {
        int n_out = 1 + 8;
        weft_tensor out[9];
        memset(out, 0, sizeof out);
        CU_ASSERT_FATAL(weft_trainer_eval(t, held.t, held.n, out, (size_t)n_out) == WEFT_OK);
        size_t total = 0;
        for (int k = 1; k < n_out; k++) total += out[k].nbytes / 4;
        float *sc = malloc(total * 4 + 4), *lb = malloc(total * 4 + 4);
        size_t w = 0;
        for (int k = 1; k < n_out; k++) {
            char lname[160];
            snprintf(lname, sizeof lname, "label__%s", out[k].name + strlen("logits__"));
            const weft_tensor *lt = NULL;
            for (size_t j = 0; j < held.n; j++)
                if (strcmp(held.t[j].name, lname) == 0) lt = &held.t[j];
            CU_ASSERT_FATAL(lt && lt->nbytes == out[k].nbytes);
            memcpy(sc + w, out[k].data, out[k].nbytes);
            memcpy(lb + w, lt->data, lt->nbytes);
            w += out[k].nbytes / 4;
        }
        double auc = weft_auc(sc, lb, w);
        free(sc);
        free(lb);
        if (phase == 0) {
            auc0 = auc;
            for (int s = 0; s < 40; s++) {
                weft_linkpred_options so = {0.2, 1, 100 + (uint64_t)s};
                weft_linkpred_batch b;
                CU_ASSERT_FATAL(weft_linkpred_make_batch(in, 10, &so, &b) == WEFT_OK);
                st = weft_trainer_step(t, b.t, b.n, &loss);
                if (st) fprintf(stderr, "\n%s\n", weft_last_error());
                CU_ASSERT_FATAL(st == WEFT_OK);
                if (s == 0) first = loss;
                weft_linkpred_batch_free(&b);
            }
        } else {
            auc1 = auc;
        }
    }
    fprintf(stderr, "\n  link prediction: loss %.4f -> %.4f, held-out AUC %.3f -> %.3f ", first, loss, auc0, auc1);
    CU_ASSERT(loss < first);
    CU_ASSERT(auc1 > auc0 && auc1 > 0.6);
    weft_linkpred_batch_free(&held);
    for (int i = 0; i < 10; i++) weft_tensor_release(&in[i]);
    weft_trainer_free(t);
    weft_model_free(lp);
    weft_model_free(enc);
}

static void test_auc(void)
{
    const float s[6] = {0.1f, 0.4f, 0.35f, 0.8f, 0.8f, 0.2f}, l[6] = {0, 0, 1, 1, 0, 1};
    /* positives 0.35, 0.8, 0.2 against negatives 0.1, 0.4, 0.8: wins 1+0+0, 1+1+0.5, 1+0+0 = 4.5 of 9 */
    CU_ASSERT_DOUBLE_EQUAL(weft_auc(s, l, 6), 0.5, 1e-12);
    const float l2[3] = {1, 1, 1};
    CU_ASSERT_EQUAL(weft_auc(s, l2, 3), -1);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("trainer", NULL, NULL);
    CU_add_test(s, "SGD with momentum, Adam, AdamW: three steps against the formulas", test_updates_match_formulas);
    CU_add_test(s, "training converges; eval, save and load, freeze, clip", test_train_eval_save);
    CU_add_test(s, "learning-rate schedules", test_schedules);
    CU_add_test(s, "errors", test_errors);
    CU_add_test(s, "AUC", test_auc);
    CU_add_test(s, "link prediction on the traffic encoder", test_linkpred_traffic_encoder);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
