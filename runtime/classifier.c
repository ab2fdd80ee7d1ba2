/*
 * runtime/classifier.c — the flow classifier of the traffic model's fine-tuning task (../shared/seeds):
 * a head on the encoder's connection embeddings.
 *
 * The model: the encoder's graph, then on `h_con` [num_con, D]
 *     Gemm(head.0) -> LeakyRelu(0.01) -> Gemm(head.2) = `logits` [num_con, C]
 * (PyTorch's nn.Sequential(Linear, LeakyReLU, Linear): the weights keep its names and [out, in] layout,
 * hence Gemm with transB = 1), and the loss ai.weft SoftmaxCrossEntropy(logits, labels, class_weight)
 * with reduction mean and ignore_index -100, so that con nodes without a label (flows kept for
 * validation or test, or with no class) add nothing to the loss or to its denominator. Inputs added:
 * `labels` int64 [num_con] and `class_weight` float [C]. Outputs: `loss`, `logits`.
 *
 * The head's weights are drawn as nn.Linear initialises them: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
 * weight and bias alike, from a seeded generator (splitmix64), so one seed gives one model everywhere.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/status.h"
#include "../compiler/plan.h"
#include "graph_edit.h"
#include "weft.h"

typedef struct builder {
    weft_gedit e;
    int opset; /* the encoder's default-domain opset, which the head's ops use */
} builder;

static int op(builder *b, const char *type, const char *domain, int opset, const int *in, int n_in, const char *out)
{
    return weft_gedit_op(&b->e, type, domain, opset, in, n_in, out);
}

static void attr(builder *b, int v, const char *name, weft_attr_type type, int64_t i, float f)
{
    if (type == WEFT_ATTR_INT) weft_gedit_attr_int(&b->e, v, name, i);
    else weft_gedit_attr_float(&b->e, v, name, f);
}

/* A named float initializer of `rank` dims, U(-bound, bound): the trainer makes it a parameter. */
static int param(builder *b, const char *name, int rank, const int64_t *dims, double bound, uint64_t *rs)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    float *w = malloc(n * sizeof *w);
    if (!w) {
        if (!b->e.st) b->e.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        double u = (double)(weft_splitmix64(rs) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
        w[i] = (float)((2 * u - 1) * bound);
    }
    int v = weft_gedit_initializer(&b->e, name, WEFT_FLOAT32, rank, dims, w);
    free(w);
    return v;
}

static int input(builder *b, const char *name, weft_dtype dt, int rank, const weft_dim *dims)
{
    return weft_gedit_input(&b->e, name, dt, rank, dims);
}

/* The width of the encoder's h_con: its declared dims are symbolic (the exporter names them), so the
 * encoder is compiled and the width read off the plan, where shape inference has made it a number. */
static weft_status embedding_width(const weft_model *enc, int64_t *d)
{
    weft_plan *p = NULL;
    weft_compile_options co = {.backend = "ref", .opt_level = 0};
    weft_status st = weft_compile(enc, &co, &p);
    if (st) return st;
    *d = -1;
    for (int i = 0; i < weft_plan_num_outputs(p); i++) {
        weft_tensor info;
        if (weft_plan_output_info(p, i, &info) == WEFT_OK && info.name && strcmp(info.name, "h_con") == 0 &&
            info.rank == 2)
            *d = info.dims[1];
    }
    weft_plan_free(p);
    if (*d <= 0)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_classifier_model: the encoder has no output 'h_con' "
                          "[num_con, D] with a known width D");
    return WEFT_OK;
}

weft_status weft_classifier_model(const weft_model *enc, int n_classes, int hidden, uint64_t seed, weft_model **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_classifier_model: out is NULL");
    *out = NULL;
    if (!enc || !enc->graph) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_classifier_model: encoder is NULL");
    if (n_classes < 2 || hidden < 1)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_classifier_model: needs at least 2 classes and a hidden "
                          "width of at least 1 (got %d and %d)", n_classes, hidden);
    int64_t D;
    weft_status st0 = embedding_width(enc, &D);
    if (st0) return st0;
    weft_model *m = NULL;
    weft_status st1 = weft_gedit_model_copy(enc, 1, &m);
    if (st1) return st1;
    builder b = {.e = {.g = m->graph, .prefix = "classifier"}, .opset = (int)weft_model_opset(enc, "")};
    int weft_opset = (int)weft_gedit_import(&b.e, m, "ai.weft", 1); /* the loss is an ai.weft op */
    if (!b.e.st && b.opset < 13)
        b.e.st = weft_error(WEFT_ERR_UNSUPPORTED, "weft_classifier_model: the encoder's opset %d is older than 13", b.opset);
    int h = -1, xc = -1;
    for (int i = 0; !b.e.st && i < b.e.g->n_outputs; i++)
        if (b.e.g->values[b.e.g->outputs[i]].name && strcmp(b.e.g->values[b.e.g->outputs[i]].name, "h_con") == 0)
            h = b.e.g->outputs[i];
    for (int i = 0; !b.e.st && i < b.e.g->n_inputs; i++)
        if (b.e.g->values[b.e.g->inputs[i]].name && strcmp(b.e.g->values[b.e.g->inputs[i]].name, "x_con") == 0)
            xc = b.e.g->inputs[i];
    if (!b.e.st && (h < 0 || xc < 0 || b.e.g->values[xc].shape.rank < 1))
        b.e.st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_classifier_model: the encoder needs the input 'x_con' "
                          "[num_con, F] and the output 'h_con'");
    if (!b.e.st) {
        uint64_t rs = seed ^ 0x636c617373696679ULL; /* "classify": the head's stream apart from others */
        double b0 = 1.0 / sqrt((double)D), b2 = 1.0 / sqrt((double)hidden);
        int w0 = param(&b, "head.0.weight", 2, (int64_t[]){hidden, D}, b0, &rs);
        int c0 = param(&b, "head.0.bias", 1, (int64_t[]){hidden}, b0, &rs);
        int w2 = param(&b, "head.2.weight", 2, (int64_t[]){n_classes, hidden}, b2, &rs);
        int c2 = param(&b, "head.2.bias", 1, (int64_t[]){n_classes}, b2, &rs);
        weft_dim dn[1] = {b.e.g->values[xc].shape.d[0]}, dc[1] = {weft_dim_num(n_classes)};
        int lab = input(&b, "labels", WEFT_INT64, 1, dn);
        int cw = input(&b, "class_weight", WEFT_FLOAT32, 1, dc);
        int z = op(&b, "Gemm", "", b.opset, (int[]){h, w0, c0}, 3, NULL);
        attr(&b, z, "transB", WEFT_ATTR_INT, 1, 0);
        int a = op(&b, "LeakyRelu", "", b.opset, &z, 1, NULL);
        attr(&b, a, "alpha", WEFT_ATTR_FLOAT, 0, 0.01f);
        int lg = op(&b, "Gemm", "", b.opset, (int[]){a, w2, c2}, 3, "logits");
        attr(&b, lg, "transB", WEFT_ATTR_INT, 1, 0);
        int loss = op(&b, "SoftmaxCrossEntropy", "ai.weft", weft_opset, (int[]){lg, lab, cw}, 3, "loss");
        attr(&b, loss, "ignore_index", WEFT_ATTR_INT, -100, 0);
        /* outputs: the loss and the logits (the embeddings need not be kept) */
        weft_gedit_set_outputs(&b.e, (int[]){loss, lg}, 2);
    }
    if (b.e.st) {
        weft_model_free(m);
        return b.e.st;
    }
    *out = m;
    return WEFT_OK;
}
