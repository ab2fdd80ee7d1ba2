/*
 * tests/unit/test_cuda_rnn.c — the cuda backend's recurrent steps (ops/cuda/rnn.c, ops/cuda/rnn_cell.cu:
 * ONNX RNN, GRU and LSTM) against `ref` (ops/rnn.c).
 *
 * Each case is one node built with tests/unit/ir_build.h and compared by wt_cuda_compare (cuda_check.h):
 * lowered for `cuda,ref` and for `ref`, run on the same random inputs (a fixed seed), the cuda session run
 * twice (the second run replays the captured graph), the step required to be on cuda. Cases cover every
 * op, direction and layout, GRU linear_before_reset 0 and 1, LSTM peepholes and input_forget, B,
 * initial_h and initial_c each present or absent, W / R / B / P as constants (uploaded once) or run-time
 * inputs, nodes with 1, 2 or 3 outputs, hidden_size given or taken from R, clip (float and int), the
 * default activations listed explicitly, zero sizes (no time steps: Y_h and Y_c are zeros; no sequences;
 * X without columns), ones, odd hidden sizes, sizes of real models, symbolic sequence and batch sizes,
 * and the recurrent models of models/ on `cuda` against `ref`.
 *
 * Weights are uniform in +-1/sqrt(H), as PyTorch initialises its recurrent layers: the recurrence is then
 * contracting, so the difference of the summation orders (cuBLASLt sums in float32, the reference in
 * double) stays at the size of one rounding instead of growing from step to step as it does in the
 * chaotic regime of large recurrent weights. The tolerance, rtol 1e-5 + atol 5e-6, is about 5 times the
 * largest difference a host model of the kernels reached on these cases with every product summed
 * sequentially in float32 (the worst order); an error of layout or of a gate is orders of magnitude
 * larger.
 *
 * Which steps the backend takes (float32, default activations, no sequence_lens) is checked through the
 * backend's `supports` whenever the build has the backend. Without a GPU the other suites only compile
 * each case (and each model) for cuda and check that the recurrent step landed there (cuda_check.h's
 * placement-only mode); nothing runs.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "ops/backend.h"
#include "tests/unit/cuda_check.h"
#include "tests/unit/ir_build.h"

#define RTOL 1e-5
#define ATOL 5e-6
#define N_IN 8

static unsigned seed = 20240617u;

enum { K_RNN, K_GRU, K_LSTM };
enum { IN_X, IN_W, IN_R, IN_B, IN_SEQ, IN_H0, IN_C0, IN_P };
static const char *const op_names[] = {"RNN", "GRU", "LSTM"};
static const char *const dir_names[] = {"forward", "reverse", "bidirectional"};

/* --- one node, built and compared ------------------------------------------------------------------------ */

typedef struct rcase {
    int kind, dir, layout;
    int lbr;           /* GRU */
    int input_forget;  /* LSTM */
    int64_t S, N, I, H;
    bool B, H0, C0, P; /* optional inputs present (C0, P: LSTM) */
    bool wconst;       /* W, R, B, P are constants rather than inputs */
    int n_out;         /* outputs of the node (at most 2 for RNN / GRU) */
    int clip;          /* 0 none, 1 a float attribute, 2 an int attribute */
    float clip_v;
    bool hidden_attr;
    bool acts;         /* the default activations listed in the attribute */
    bool sym;          /* sequence and batch sizes symbolic at compile time */
    float x_scale;
    /* filled by run_rcase */
    bool present[N_IN];
    int rank[N_IN];
    int64_t dims[N_IN][3];
    float *data[N_IN];
    char names[N_IN][8];
    char label[320];
} rcase;

static int kind_gates(int kind) { return kind == K_RNN ? 1 : kind == K_GRU ? 3 : 4; }
static int kind_outputs(int kind) { return kind == K_LSTM ? 3 : 2; }
static bool is_weight(int i) { return i == IN_W || i == IN_R || i == IN_B || i == IN_P; }

static void add_activations(weft_graph *g, int y, const rcase *c)
{
    int n_act = c->kind == K_RNN ? 1 : c->kind == K_GRU ? 2 : 3, dirs = c->dir == 2 ? 2 : 1;
    weft_attr a = {.name = strdup("activations"), .type = WEFT_ATTR_STRINGS, .n = n_act * dirs};
    a.strings = calloc((size_t)a.n, sizeof *a.strings);
    CU_ASSERT_FATAL(a.name && a.strings);
    for (int i = 0; i < a.n; i++) {
        /* ONNX spells them so; the reference matches names in any case */
        bool sigmoid = c->kind != K_RNN && i % n_act == 0;
        a.strings[i] = strdup(sigmoid ? (i ? "sigmoid" : "Sigmoid") : (i % 2 ? "Tanh" : "TANH"));
        CU_ASSERT_FATAL(a.strings[i] != NULL);
    }
    CU_ASSERT_FATAL(weft_node_add_attr(&g->nodes[g->values[y].producer], &a) == WEFT_OK);
}

static void build_rnn(weft_graph *g, void *user)
{
    rcase *c = user;
    int ins[N_IN], n_in = 3;
    for (int i = 0; i < N_IN; i++)
        if (c->present[i]) n_in = i + 1;
    for (int i = 0; i < n_in; i++) {
        if (!c->present[i]) ins[i] = -1;
        else if (c->wconst && is_weight(i)) ins[i] = irb_constant(g, c->names[i], WEFT_FLOAT32, c->rank[i], c->dims[i], c->data[i]);
        else ins[i] = irb_input(g, c->names[i], WEFT_FLOAT32, c->rank[i], c->dims[i]);
    }
    if (c->sym) {
        /* X's sequence and batch axes, and the batch axis of the initial states */
        int32_t seq = weft_sym_intern(g->syms, "seq"), batch = weft_sym_intern(g->syms, "batch");
        weft_shape *x = &g->values[ins[IN_X]].shape;
        x->d[c->layout ? 1 : 0] = (weft_dim){0, seq};
        x->d[c->layout ? 0 : 1] = (weft_dim){0, batch};
        for (int i = IN_H0; i <= IN_C0; i++)
            if (i < n_in && ins[i] >= 0) g->values[ins[i]].shape.d[c->layout ? 0 : 1] = (weft_dim){0, batch};
    }
    int y = irb_node(g, op_names[c->kind], "", 14, ins, n_in, "y", c->n_out);
    if (c->dir) irb_attr_s(g, y, "direction", dir_names[c->dir]);
    if (c->layout) irb_attr_i(g, y, "layout", 1);
    if (c->hidden_attr) irb_attr_i(g, y, "hidden_size", c->H);
    if (c->kind == K_GRU && (c->lbr || c->hidden_attr)) irb_attr_i(g, y, "linear_before_reset", c->lbr);
    if (c->kind == K_LSTM && (c->input_forget || c->hidden_attr)) irb_attr_i(g, y, "input_forget", c->input_forget);
    if (c->clip == 1) irb_attr_f(g, y, "clip", c->clip_v);
    if (c->clip == 2) irb_attr_i(g, y, "clip", (int64_t)c->clip_v);
    if (c->acts) add_activations(g, y, c);
    const weft_node *n = &g->nodes[g->values[y].producer];
    for (int o = 0; o < c->n_out; o++) irb_output(g, n->outputs[o]);
}

/* Shapes, data and names of the case's operands; then the comparison. */
static void run_rcase(rcase *c)
{
    const int64_t D = c->dir == 2 ? 2 : 1, G = kind_gates(c->kind), S = c->S, N = c->N, I = c->I, H = c->H;
    const int64_t dims[N_IN][3] = {{c->layout ? N : S, c->layout ? S : N, I}, {D, G * H, I}, {D, G * H, H}, {D, 2 * G * H}, {N},
                                   {c->layout ? N : D, c->layout ? D : N, H}, {c->layout ? N : D, c->layout ? D : N, H},
                                   {D, 3 * H}};
    static const int ranks[N_IN] = {3, 3, 3, 2, 1, 3, 3, 2};
    bool lstm = c->kind == K_LSTM;
    bool present[N_IN] = {true, true, true, c->B, false, c->H0, lstm && c->C0, lstm && c->P};
    if (c->n_out < 1) c->n_out = 1;
    if (c->n_out > kind_outputs(c->kind)) c->n_out = kind_outputs(c->kind);
    float wr = (float)(1.0 / sqrt((double)H)), xs = c->x_scale > 0 ? c->x_scale : 1.0f;
    weft_tensor t[N_IN];
    int nt = 0;
    for (int i = 0; i < N_IN; i++) {
        c->present[i] = present[i];
        c->data[i] = NULL;
        if (!present[i]) continue;
        c->rank[i] = ranks[i];
        memcpy(c->dims[i], dims[i], sizeof dims[i]);
        snprintf(c->names[i], sizeof c->names[i], "in%d", i);
        int64_t n = 1;
        for (int d = 0; d < ranks[i]; d++) n *= dims[i][d];
        c->data[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
        CU_ASSERT_FATAL(c->data[i] != NULL);
        float r = is_weight(i) ? wr : i == IN_X ? xs : 1.0f;
        wt_fill_uniform(c->data[i], n, -r, r, &seed);
        if (c->wconst && is_weight(i)) continue;
        weft_tensor *x = &t[nt++];
        memset(x, 0, sizeof *x);
        x->name = c->names[i];
        x->dtype = WEFT_FLOAT32;
        x->rank = ranks[i];
        memcpy(x->dims, dims[i], sizeof dims[i]);
        x->data = c->data[i];
        x->nbytes = (size_t)n * sizeof(float);
    }
    snprintf(c->label, sizeof c->label,
             "%s %s layout %d%s%s S=%lld N=%lld I=%lld H=%lld%s%s%s%s, weights %s, %d outputs%s%s%s%s", op_names[c->kind],
             dir_names[c->dir], c->layout, c->kind == K_GRU ? (c->lbr ? " linear_before_reset 1" : " linear_before_reset 0") : "",
             lstm && c->input_forget ? " input_forget" : "", (long long)S, (long long)N, (long long)I, (long long)H,
             c->B ? " B" : "", c->H0 ? " initial_h" : "", lstm && c->C0 ? " initial_c" : "", lstm && c->P ? " P" : "",
             c->wconst ? "constant" : "inputs", c->n_out, c->clip ? " clip" : "", c->hidden_attr ? " hidden_size" : "",
             c->acts ? " activations listed" : "", c->sym ? " symbolic sizes" : "");
    wt_cuda_case k = {build_rnn, c, t, nt, RTOL, ATOL, 0, 1, 2};
    int r = wt_cuda_compare(&k);
    if (r) fprintf(stderr, "  case: %s\n", c->label);
    CU_ASSERT_EQUAL(r, 0);
    for (int i = 0; i < N_IN; i++) free(c->data[i]);
}

static rcase base_case(int kind, int dir, int layout)
{
    rcase c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.dir = dir;
    c.layout = layout;
    c.S = 4;
    c.N = 3;
    c.I = 5;
    c.H = 7;
    c.n_out = 3;
    c.x_scale = 1.0f;
    return c;
}

/* --- the forms ------------------------------------------------------------------------------------------ */

/* Every op x direction x layout x form (GRU: linear_before_reset 0, 1; LSTM: plain, input_forget,
 * peepholes) x {none, B, initial_h, all} of the optional inputs. */
static void test_forms(void)
{
    int n = 0;
    for (int kind = 0; kind < 3; kind++)
        for (int dir = 0; dir < 3; dir++)
            for (int layout = 0; layout < 2; layout++)
                for (int v = 0; v < (kind == K_RNN ? 1 : kind == K_GRU ? 2 : 3); v++)
                    for (int opt = 0; opt < 4; opt++, n++) {
                        rcase c = base_case(kind, dir, layout);
                        c.lbr = kind == K_GRU ? v : 0;
                        c.input_forget = kind == K_LSTM && v == 1;
                        c.P = kind == K_LSTM && v == 2;
                        c.B = opt == 1 || opt == 3;
                        c.H0 = opt >= 2;
                        c.C0 = opt == 3 || (opt == 1 && n % 2);
                        c.wconst = n % 2 == 0;
                        c.n_out = 1 + n % 3;
                        c.hidden_attr = n % 5 == 0;
                        run_rcase(&c);
                    }
}

/* Zero sizes, ones, odd hidden sizes. */
static void test_sizes(void)
{
    static const int64_t sz[][4] = {
        /* S, N, I, H */
        {0, 2, 3, 4},  /* no time steps: Y empty, Y_h and Y_c zeros */
        {3, 0, 3, 4},  /* no sequences */
        {3, 2, 0, 4},  /* X without columns: gates from the biases and h alone */
        {0, 0, 0, 1},  /* everything empty */
        {1, 1, 1, 1},  /* ones */
        {1, 1, 0, 1},
        {2, 1, 1, 3},  /* batch 1 */
        {1, 5, 6, 13}, /* one step */
        {6, 1, 9, 17}, /* odd H, batch 1 */
    };
    int n = 0;
    for (int kind = 0; kind < 3; kind++)
        for (int dir = 0; dir < 3; dir++)
            for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++, n++) {
                rcase c = base_case(kind, dir, n % 2);
                c.lbr = kind == K_GRU && n % 3 != 0;
                c.S = sz[i][0];
                c.N = sz[i][1];
                c.I = sz[i][2];
                c.H = sz[i][3];
                c.B = c.H0 = c.C0 = true;
                c.P = kind == K_LSTM && n % 2;
                c.wconst = n % 4 < 2;
                c.n_out = 3;
                run_rcase(&c);
            }
}

/* clip (saturating inputs), the default activations listed, hidden_size given. */
static void test_attributes(void)
{
    static const float clips[] = {0.0f, 0.5f, 2.0f, 1.0f};
    int n = 0;
    for (int kind = 0; kind < 3; kind++)
        for (int m = 0; m < 4; m++, n++) {
            rcase c = base_case(kind, m % 3, n % 2);
            c.lbr = m % 2;
            c.input_forget = kind == K_LSTM && m == 2;
            c.clip = m == 3 ? 2 : 1;
            c.clip_v = clips[m];
            c.x_scale = 3.0f;
            c.B = c.H0 = c.C0 = true;
            c.P = kind == K_LSTM && m != 2;
            c.wconst = m % 2 == 0;
            run_rcase(&c);
        }
    for (int kind = 0; kind < 3; kind++)
        for (int dir = 0; dir < 3; dir++) {
            rcase c = base_case(kind, dir, dir == 1);
            c.acts = true;
            c.hidden_attr = true;
            c.lbr = dir != 0;
            c.B = c.H0 = true;
            run_rcase(&c);
        }
}

/* Random combinations from a fixed seed. */
static unsigned pick_state = 7u;

static int pick(int n)
{
    pick_state = pick_state * 1103515245u + 12345u;
    return (int)((pick_state >> 8) % (unsigned)n);
}

static void test_random(void)
{
    static const int64_t Ss[] = {0, 1, 2, 3, 5, 8, 9}, Ns[] = {0, 1, 2, 3, 4, 7}, Is[] = {0, 1, 3, 8, 13, 16},
                         Hs[] = {1, 2, 3, 5, 8, 13, 17, 32};
#define PICK(a) (a)[pick((int)(sizeof(a) / sizeof((a)[0])))]
    for (int n = 0; n < 60; n++) {
        int kind = pick(3), dir = pick(3), layout = pick(2);
        rcase c = base_case(kind, dir, layout);
        c.lbr = pick(2);
        c.input_forget = pick(4) == 0;
        c.S = PICK(Ss);
        c.N = PICK(Ns);
        c.I = PICK(Is);
        c.H = PICK(Hs);
        c.B = pick(3) != 0;
        c.H0 = pick(2) == 0;
        c.C0 = pick(2) == 0;
        c.P = pick(3) == 0;
        c.wconst = pick(2) == 0;
        c.n_out = 1 + pick(3);
        if (pick(6) == 0) {
            c.clip = 1;
            c.clip_v = 0.75f;
        }
        c.hidden_attr = pick(2) == 0;
        c.acts = pick(6) == 0;
        run_rcase(&c);
    }
#undef PICK
}

/* Sizes of real models (the products then take cuBLASLt's 16-byte paths and many blocks), and sequence
 * and batch sizes known only at run time. */
static void test_large(void)
{
    struct {
        int kind, dir, layout, lbr;
        int64_t S, N, I, H;
    } big[] = {
        {K_LSTM, 2, 0, 0, 32, 16, 64, 128},
        {K_GRU, 2, 0, 1, 24, 16, 64, 96},
        {K_GRU, 1, 1, 0, 40, 8, 32, 96},
        {K_RNN, 0, 0, 0, 64, 4, 16, 64},
        {K_LSTM, 1, 1, 0, 20, 33, 10, 50},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        rcase c = base_case(big[i].kind, big[i].dir, big[i].layout);
        c.lbr = big[i].lbr;
        c.S = big[i].S;
        c.N = big[i].N;
        c.I = big[i].I;
        c.H = big[i].H;
        c.B = c.H0 = c.C0 = true;
        c.wconst = true;
        run_rcase(&c);
    }
    for (int kind = 0; kind < 3; kind++)
        for (int layout = 0; layout < 2; layout++) {
            rcase c = base_case(kind, 2, layout);
            c.sym = true;
            c.lbr = 1;
            c.B = c.H0 = c.C0 = true;
            c.wconst = true;
            run_rcase(&c);
        }
}

/* initial_h whose batch differs from X's at run time (both symbols at compile time): the run fails with
 * a shape error (the run's shape inference finds it before the step; the step's reshape checks it too)
 * rather than reading past the state. */
static void build_bad_batch(weft_graph *g, void *user)
{
    (void)user;
    int x = irb_input(g, "x", WEFT_FLOAT32, 3, (int64_t[]){4, 3, 5});
    int h = irb_input(g, "h", WEFT_FLOAT32, 3, (int64_t[]){1, 2, 6});
    g->values[x].shape.d[1] = (weft_dim){0, weft_sym_intern(g->syms, "batch")};
    g->values[h].shape.d[1] = (weft_dim){0, weft_sym_intern(g->syms, "batch_h")};
    static float w[18 * 5], r[18 * 6];
    for (int i = 0; i < 18 * 6; i++) {
        if (i < 18 * 5) w[i] = 0.1f * (float)(i % 7) - 0.3f;
        r[i] = 0.05f * (float)(i % 5) - 0.1f;
    }
    int wv = irb_constant(g, "w", WEFT_FLOAT32, 3, (int64_t[]){1, 18, 5}, w);
    int rv = irb_constant(g, "r", WEFT_FLOAT32, 3, (int64_t[]){1, 18, 6}, r);
    int y = irb_node(g, "GRU", "", 14, (int[]){x, wv, rv, -1, -1, h}, 6, "y", 2);
    irb_attr_i(g, y, "hidden_size", 6);
    irb_output(g, y);
}

static void test_errors(void)
{
    float x[4 * 3 * 5], h[2 * 6];
    wt_fill_uniform(x, 4 * 3 * 5, -1, 1, &seed);
    wt_fill_uniform(h, 2 * 6, -1, 1, &seed);
    weft_tensor in[2];
    memset(in, 0, sizeof in);
    in[0] = (weft_tensor){.name = "x", .dtype = WEFT_FLOAT32, .rank = 3, .dims = {4, 3, 5}, .data = x, .nbytes = sizeof x};
    in[1] = (weft_tensor){.name = "h", .dtype = WEFT_FLOAT32, .rank = 3, .dims = {1, 2, 6}, .data = h, .nbytes = sizeof h};
    wt_cuda_case k = {build_bad_batch, NULL, in, 2, RTOL, ATOL, 0, 1, 2};
    CU_ASSERT_EQUAL(wt_cuda_expect_error(&k, WEFT_ERR_SHAPE, NULL), 0);
}

/* --- the recurrent models of models/ ------------------------------------------------------------------ */

static const char *const models[] = {"gru_classifier_ts17", "gru_classifier_dynamo18", "gru_temporal_ts17", "gru_temporal_ts18",
                                     "gru_temporal_dynamo18", "lstm_classifier_ts17", "lstm_classifier_dynamo18"};

#define MAX_MODEL_IO 8

typedef struct model_run {
    weft_tensor out[2][MAX_MODEL_IO]; /* per test data set, copied */
    int n_out;
    int recurrent, recurrent_on_cuda; /* recurrent steps of the plan, and those on the cuda backend */
} model_run;

static bool is_recurrent(const char *op)
{
    return op && (strcmp(op, "RNN") == 0 || strcmp(op, "GRU") == 0 || strcmp(op, "LSTM") == 0);
}

/* The plan's recurrent steps, and how many the cuda backend takes. */
static void count_recurrent(const weft_plan *p, model_run *mr)
{
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *st = &p->steps[i];
        if (st->kind != WEFT_STEP_KERNEL || !is_recurrent(st->info.op_type)) continue;
        mr->recurrent++;
        mr->recurrent_on_cuda += st->backend && strcmp(st->backend->name, "cuda") == 0;
    }
}

/* Both test data sets of model `name`, one session (the second set may bind other sizes); without a GPU
 * only the plan. */
static weft_status run_model(const char *name, const char *backend, model_run *mr)
{
    char path[512];
    snprintf(path, sizeof path, "models/%s/model.onnx", name);
    weft_model *m = NULL;
    weft_plan *p = NULL;
    weft_session *s = NULL;
    memset(mr, 0, sizeof *mr);
    weft_status st = weft_model_load(path, &m);
    weft_compile_options co = {backend, 0};
    if (!st) st = weft_compile(m, &co, &p);
    weft_model_free(m);
    if (!st) count_recurrent(p, mr);
    if (!st && wt_cuda_placement_only()) {
        weft_plan_free(p);
        return WEFT_OK;
    }
    if (!st) st = weft_session_create(p, &s);
    int n_in = st ? 0 : weft_plan_num_inputs(p);
    mr->n_out = st ? 0 : weft_plan_num_outputs(p);
    if (n_in > MAX_MODEL_IO || mr->n_out > MAX_MODEL_IO) st = weft_error(WEFT_ERR_INTERNAL, "too many inputs or outputs");
    for (int set = 0; !st && set < 2; set++) {
        weft_tensor in[MAX_MODEL_IO], o[MAX_MODEL_IO];
        const char *loaded[MAX_MODEL_IO];
        int n_loaded = 0;
        memset(in, 0, sizeof in);
        memset(o, 0, sizeof o);
        for (int i = 0; !st && i < n_in; i++) {
            snprintf(path, sizeof path, "models/%s/test_data_set_%d/input_%d.pb", name, set, i);
            weft_tensor info;
            if (!(st = weft_tensor_load(path, &in[i]))) {
                n_loaded++;
                loaded[i] = in[i].name;
                st = weft_plan_input_info(p, i, &info);
                in[i].name = info.name;
            }
        }
        /* twice: the second run replays the captured graph */
        for (int r = 0; !st && r < 2; r++) st = weft_session_run(s, in, (size_t)n_in, o, (size_t)mr->n_out);
        for (int k = 0; !st && k < mr->n_out; k++) {
            mr->out[set][k] = o[k];
            mr->out[set][k].data = malloc(o[k].nbytes ? o[k].nbytes : 1);
            if (!mr->out[set][k].data) st = WEFT_ERR_NOMEM;
            else memcpy(mr->out[set][k].data, o[k].data, o[k].nbytes);
        }
        for (int i = 0; i < n_loaded; i++) {
            in[i].name = loaded[i];
            weft_tensor_release(&in[i]);
        }
    }
    weft_session_free(s);
    weft_plan_free(p);
    return st;
}

static void free_model_run(model_run *mr)
{
    for (int set = 0; set < 2; set++)
        for (int k = 0; k < MAX_MODEL_IO; k++) free(mr->out[set][k].data);
}

static void test_models(void)
{
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        model_run want, got;
        memset(&want, 0, sizeof want);
        weft_status st = wt_cuda_placement_only() ? WEFT_OK : run_model(models[m], "ref", &want);
        if (st) fprintf(stderr, "  %s on ref: %s\n", models[m], weft_last_error());
        CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
        st = run_model(models[m], "cuda", &got);
        if (st) fprintf(stderr, "  %s on cuda: %s\n", models[m], weft_last_error());
        CU_ASSERT_EQUAL(st, WEFT_OK);
        if (!st) {
            if (got.recurrent_on_cuda != got.recurrent || got.recurrent < 1)
                fprintf(stderr, "  %s: %d of %d recurrent steps on cuda\n", models[m], got.recurrent_on_cuda, got.recurrent);
            CU_ASSERT(got.recurrent >= 1 && got.recurrent_on_cuda == got.recurrent);
            CU_ASSERT_EQUAL(got.n_out, want.n_out);
            for (int set = 0; set < 2; set++)
                for (int k = 0; k < want.n_out && k < got.n_out; k++) {
                    const weft_tensor *a = &got.out[set][k], *b = &want.out[set][k];
                    CU_ASSERT_EQUAL(a->nbytes, b->nbytes);
                    if (a->nbytes != b->nbytes || b->dtype != WEFT_FLOAT32) continue;
                    const float *x = a->data, *y = b->data;
                    size_t n = b->nbytes / sizeof(float);
                    /* through the models' other layers the tolerance is the dense tests' */
                    for (size_t i = 0; i < n; i++)
                        if (!(fabs((double)x[i] - (double)y[i]) <= 1e-5 + 1e-4 * fabs((double)y[i]))) {
                            fprintf(stderr, "  %s set %d output %d element %zu: cuda %.9g, ref %.9g\n", models[m], set, k, i,
                                    x[i], y[i]);
                            CU_FAIL("model output differs");
                            break;
                        }
                }
        }
        free_model_run(&want);
        free_model_run(&got);
    }
}

/* --- which steps the backend takes (no GPU needed) -------------------------------------------------------- */

static weft_dim num(int64_t v) { return weft_dim_num(v); }
static weft_dim sym(int32_t s) { weft_dim d = {0, s}; return d; }

typedef struct sup_case {
    int kind;
    weft_dtype dt;
    bool seq_lens;
    int n_attrs;
    weft_attr attrs[6];
    bool symbolic;   /* sequence and batch symbolic */
    bool hidden_sym; /* R's last dim symbolic (no hidden_size): H unknown */
    int opset;       /* 0: 14 */
} sup_case;

/* Whether the cuda backend takes a node of c->kind: X [seq, batch, 5], H 6, with B and initial_h. */
static bool takes(const sup_case *c)
{
    const weft_backend *be = weft_backend_find("cuda");
    const int64_t G = kind_gates(c->kind), H = 6, D = 1;
    int opset = c->opset ? c->opset : 14;
    weft_node_info node = {"step", op_names[c->kind], "", opset, c->n_attrs, c->attrs};
    weft_dtype idt[N_IN], odt[3];
    weft_shape ish[N_IN], osh[3];
    const void *cdata[N_IN] = {0};
    memset(ish, 0, sizeof ish);
    memset(osh, 0, sizeof osh);
    weft_dim seq = c->symbolic ? sym(0) : num(4), batch = c->symbolic ? sym(1) : num(3);
    ish[IN_X] = (weft_shape){3, {seq, batch, num(5)}};
    ish[IN_W] = (weft_shape){3, {num(D), num(G * H), num(5)}};
    ish[IN_R] = (weft_shape){3, {num(D), num(G * H), c->hidden_sym ? sym(2) : num(H)}};
    ish[IN_B] = (weft_shape){2, {num(D), num(2 * G * H)}};
    ish[IN_SEQ] = (weft_shape){1, {batch}};
    ish[IN_H0] = (weft_shape){3, {num(D), batch, num(H)}};
    int n_in = 6;
    for (int i = 0; i < n_in; i++) idt[i] = c->dt;
    idt[IN_SEQ] = c->seq_lens ? WEFT_INT32 : WEFT_UNDEFINED;
    osh[0] = (weft_shape){4, {seq, num(D), batch, num(H)}};
    osh[1] = (weft_shape){3, {num(D), batch, num(H)}};
    odt[0] = odt[1] = c->dt;
    weft_step_desc d = {weft_op_find("", op_names[c->kind], opset), &node, n_in, 2, idt, ish, cdata, odt, osh};
    CU_ASSERT_FATAL(d.def != NULL);
    return be->supports(&d);
}

static weft_attr s_attr(const char *name, const char *v)
{
    return (weft_attr){.name = (char *)name, .type = WEFT_ATTR_STRING, .s = (char *)v, .s_len = strlen(v)};
}
static weft_attr i_attr(const char *name, int64_t v) { return (weft_attr){.name = (char *)name, .type = WEFT_ATTR_INT, .i = v}; }

static void test_supports(void)
{
    if (!weft_backend_find("cuda")) return;
    for (int kind = 0; kind < 3; kind++) {
        sup_case c = {.kind = kind, .dt = WEFT_FLOAT32};
        CU_ASSERT(takes(&c));
        c.symbolic = true;
        CU_ASSERT(takes(&c));
        c.dt = WEFT_FLOAT64; /* float32 only */
        CU_ASSERT(!takes(&c));
        c.dt = WEFT_FLOAT32;
        c.seq_lens = true; /* per-sequence lengths: the host */
        CU_ASSERT(!takes(&c));
        c.seq_lens = false;
        c.hidden_sym = true; /* H unknown */
        CU_ASSERT(!takes(&c));
        c.n_attrs = 1;
        c.attrs[0] = i_attr("hidden_size", 6);
        CU_ASSERT(takes(&c));
    }
    /* attributes */
    char *gru_default[] = {"Sigmoid", "tanh"}, *gru_relu[] = {"Sigmoid", "Relu"};
    char *lstm_default[] = {"Sigmoid", "Tanh", "Tanh"}, *lstm_other[] = {"Sigmoid", "Tanh", "Sigmoid"};
    struct {
        int kind;
        weft_attr a;
        bool want;
    } at[] = {
        {K_GRU, i_attr("linear_before_reset", 1), true},
        {K_GRU, i_attr("linear_before_reset", 2), false},
        {K_LSTM, i_attr("input_forget", 1), true},
        {K_RNN, s_attr("direction", "reverse"), true},
        {K_RNN, s_attr("direction", "sideways"), false},
        {K_LSTM, (weft_attr){.name = "clip", .type = WEFT_ATTR_FLOAT, .f = 0.5f}, true},
        {K_LSTM, (weft_attr){.name = "clip", .type = WEFT_ATTR_FLOAT, .f = -1.0f}, false},
        {K_GRU, (weft_attr){.name = "activations", .type = WEFT_ATTR_STRINGS, .n = 2, .strings = gru_default}, true},
        {K_GRU, (weft_attr){.name = "activations", .type = WEFT_ATTR_STRINGS, .n = 2, .strings = gru_relu}, false},
        {K_LSTM, (weft_attr){.name = "activations", .type = WEFT_ATTR_STRINGS, .n = 3, .strings = lstm_default}, true},
        {K_LSTM, (weft_attr){.name = "activations", .type = WEFT_ATTR_STRINGS, .n = 3, .strings = lstm_other}, false},
        {K_LSTM, (weft_attr){.name = "activations", .type = WEFT_ATTR_STRINGS, .n = 2, .strings = lstm_default}, false},
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        sup_case c = {.kind = at[i].kind, .dt = WEFT_FLOAT32};
        c.n_attrs = 1;
        c.attrs[0] = at[i].a;
        bool got = takes(&c);
        if (got != at[i].want) fprintf(stderr, "  %s with attribute %s: supports says %d\n", op_names[c.kind], at[i].a.name, got);
        CU_ASSERT_EQUAL(got, at[i].want);
    }
    /* layout 1 exists from opset 14 on: before, the reference reports the attribute */
    sup_case c = {.kind = K_LSTM, .dt = WEFT_FLOAT32};
    c.n_attrs = 1;
    c.attrs[0] = i_attr("layout", 1);
    CU_ASSERT(takes(&c));
    c.opset = 13;
    CU_ASSERT(!takes(&c));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    bool skip = wt_cuda_skip("cuda rnn");
    if (skip && !weft_backend_find("cuda")) {
        CU_cleanup_registry();
        return 0;
    }
    CU_pSuite s = CU_add_suite("cuda rnn: supports", NULL, NULL);
    CU_add_test(s, "float32, default activations, no sequence_lens", test_supports);
    if (!skip) {
        s = CU_add_suite("cuda rnn", NULL, NULL);
        CU_add_test(s, "every op, direction, layout and form", test_forms);
        CU_add_test(s, "zero sizes, ones, odd sizes", test_sizes);
        CU_add_test(s, "clip, activations listed, hidden_size", test_attributes);
        CU_add_test(s, "random cases", test_random);
        CU_add_test(s, "model sizes, symbolic sizes", test_large);
        CU_add_test(s, "a run-time size mismatch", test_errors);
        CU_add_test(s, "recurrent models", test_models);
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
