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
#include "weft.h"

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

typedef struct builder {
    weft_graph *g;
    int opset;
    weft_status st;
    int serial;
} builder;

static int value(builder *b, const char *name)
{
    if (b->st) return -1;
    char buf[160];
    if (!name) snprintf(buf, sizeof buf, "classifier__%d", b->serial++), name = buf;
    int v = weft_graph_add_value(b->g, name);
    if (v < 0) b->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    return v;
}

static int op(builder *b, const char *type, const char *domain, int opset, const int *in, int n_in, const char *out)
{
    if (b->st) return -1;
    char name[160];
    snprintf(name, sizeof name, "classifier/%s_%d", type, b->serial);
    int nd = weft_graph_add_node(b->g, type, domain, name, n_in, 1);
    int v = value(b, out);
    if (nd < 0 || v < 0) {
        if (!b->st) b->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        return -1;
    }
    weft_node *n = &b->g->nodes[nd];
    n->opset = opset;
    memcpy(n->inputs, in, (size_t)n_in * sizeof *in);
    n->outputs[0] = v;
    b->g->values[v].producer = nd;
    return v;
}

static void attr(builder *b, int v, const char *name, weft_attr_type type, int64_t i, float f)
{
    if (b->st) return;
    weft_attr a = {.name = dupstr(name), .type = type, .i = i, .f = f};
    if (!a.name || weft_node_add_attr(&b->g->nodes[b->g->values[v].producer], &a))
        b->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A named float initializer of `rank` dims, U(-bound, bound): the trainer makes it a parameter. */
static int param(builder *b, const char *name, int rank, const int64_t *dims, double bound, uint64_t *rs)
{
    int v = value(b, name);
    if (v < 0) return -1;
    size_t n = 1;
    weft_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++) s.d[i] = weft_dim_num(dims[i]), n *= (size_t)dims[i];
    float *w = malloc(n * sizeof *w);
    if (!w) {
        b->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        double u = (double)(next_rand(rs) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
        w[i] = (float)((2 * u - 1) * bound);
    }
    weft_value *val = &b->g->values[v];
    val->flags |= WEFT_VALUE_TYPED | WEFT_VALUE_INITIALIZER;
    if (weft_value_set_data(val, WEFT_FLOAT32, &s, w, n * sizeof *w)) b->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    val->flags |= WEFT_VALUE_CONST;
    free(w);
    return v;
}

static int input(builder *b, const char *name, weft_dtype dt, int rank, const weft_dim *dims)
{
    int v = value(b, name);
    if (v < 0) return -1;
    weft_value *val = &b->g->values[v];
    val->dtype = dt;
    val->shape.rank = rank;
    for (int i = 0; i < rank; i++) val->shape.d[i] = dims[i];
    val->flags |= WEFT_VALUE_INPUT | WEFT_VALUE_TYPED;
    int *in = realloc(b->g->inputs, (size_t)(b->g->n_inputs + 1) * sizeof *in);
    if (!in) {
        b->st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        return -1;
    }
    b->g->inputs = in;
    in[b->g->n_inputs++] = v;
    return v;
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
    weft_model *m = calloc(1, sizeof *m);
    if (!m) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    builder b = {.opset = (int)weft_model_opset(enc, "")};
    for (int i = 0; i < enc->syms.n && !b.st; i++)
        if (weft_sym_intern(&m->syms, enc->syms.names[i]) < 0) b.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (!b.st && !(b.g = m->graph = weft_graph_clone(enc->graph, NULL))) b.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
    int weft_opset = (int)weft_model_opset(enc, "ai.weft");
    if (!b.st) {
        /* the clone and the model's copy of the symbols go together; ai.weft joins the imports */
        b.g->syms = &m->syms;
        m->ir_version = enc->ir_version;
        m->opsets = calloc((size_t)enc->n_opsets + 2, sizeof *m->opsets);
        if (!m->opsets) b.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        for (int i = 0; !b.st && i < enc->n_opsets; i++) {
            m->opsets[i].version = enc->opsets[i].version;
            if (!(m->opsets[i].domain = dupstr(enc->opsets[i].domain))) b.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            m->n_opsets++;
        }
        if (!b.st && weft_opset == 0) {
            weft_opset = 1;
            m->opsets[m->n_opsets].version = 1;
            if (!(m->opsets[m->n_opsets].domain = dupstr("ai.weft"))) b.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
            else m->n_opsets++;
        }
    }
    if (!b.st && b.opset < 13)
        b.st = weft_error(WEFT_ERR_UNSUPPORTED, "weft_classifier_model: the encoder's opset %d is older than 13", b.opset);
    int h = -1, xc = -1;
    for (int i = 0; !b.st && i < b.g->n_outputs; i++)
        if (b.g->values[b.g->outputs[i]].name && strcmp(b.g->values[b.g->outputs[i]].name, "h_con") == 0)
            h = b.g->outputs[i];
    for (int i = 0; !b.st && i < b.g->n_inputs; i++)
        if (b.g->values[b.g->inputs[i]].name && strcmp(b.g->values[b.g->inputs[i]].name, "x_con") == 0)
            xc = b.g->inputs[i];
    if (!b.st && (h < 0 || xc < 0 || b.g->values[xc].shape.rank < 1))
        b.st = weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_classifier_model: the encoder needs the input 'x_con' "
                          "[num_con, F] and the output 'h_con'");
    if (!b.st) {
        uint64_t rs = seed ^ 0x636c617373696679ULL; /* "classify": the head's stream apart from others */
        double b0 = 1.0 / sqrt((double)D), b2 = 1.0 / sqrt((double)hidden);
        int w0 = param(&b, "head.0.weight", 2, (int64_t[]){hidden, D}, b0, &rs);
        int c0 = param(&b, "head.0.bias", 1, (int64_t[]){hidden}, b0, &rs);
        int w2 = param(&b, "head.2.weight", 2, (int64_t[]){n_classes, hidden}, b2, &rs);
        int c2 = param(&b, "head.2.bias", 1, (int64_t[]){n_classes}, b2, &rs);
        weft_dim dn[1] = {b.g->values[xc].shape.d[0]}, dc[1] = {weft_dim_num(n_classes)};
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
        int *outs = b.st ? NULL : malloc(2 * sizeof *outs);
        if (!b.st && !outs) b.st = weft_error(WEFT_ERR_NOMEM, "out of memory");
        if (!b.st) {
            /* outputs: the loss and the logits (the embeddings need not be kept) */
            for (int i = 0; i < b.g->n_outputs; i++) b.g->values[b.g->outputs[i]].flags &= ~(unsigned)WEFT_VALUE_OUTPUT;
            free(b.g->outputs);
            b.g->outputs = outs;
            b.g->n_outputs = 2;
            outs[0] = loss;
            outs[1] = lg;
            for (int i = 0; i < 2; i++) b.g->values[outs[i]].flags |= WEFT_VALUE_OUTPUT;
        }
    }
    if (b.st) {
        if (m->graph) weft_graph_free(m->graph);
        weft_symtab_free(&m->syms);
        for (int i = 0; m->opsets && i < m->n_opsets; i++) free(m->opsets[i].domain);
        free(m->opsets);
        free(m);
        return b.st;
    }
    *out = m;
    return WEFT_OK;
}
