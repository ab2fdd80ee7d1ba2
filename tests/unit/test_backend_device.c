/*
 * tests/unit/test_backend_device.c — a backend whose memory is not the host's: lowering places values,
 * inserts copy steps where they cross buffer types (inputs uploaded every run, constants once per
 * session, outputs downloaded), keeps host inputs (a Reshape's shape) on the host; the runtime plans one
 * arena per buffer type. The "device" here is host memory that the test tracks, so a kernel that is
 * handed memory of the wrong side is caught. A second fake device defers its work to a queue and captures
 * it as graphs, as the cuda backend's stream does: the runtime's segments, capture, replay and waits.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "runtime/session.h"

/* --- the fake device ----------------------------------------------------------------------------- */

#define MAX_BLOCKS 256
static struct { char *p; size_t n; } blocks[MAX_BLOCKS];
static size_t to_device_bytes, to_host_bytes;
static int to_device_calls, to_host_calls, bad_side;

static bool on_device(const void *p)
{
    for (int i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i].p && (const char *)p >= blocks[i].p && (const char *)p < blocks[i].p + blocks[i].n) return true;
    return false;
}

static weft_status dev_alloc(void *ctx, size_t bytes, void **out)
{
    (void)ctx;
    for (int i = 0; i < MAX_BLOCKS; i++)
        if (!blocks[i].p) {
            blocks[i].p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
            blocks[i].n = bytes;
            *out = blocks[i].p;
            return blocks[i].p ? WEFT_OK : weft_error(WEFT_ERR_NOMEM, "fake device: out of memory");
        }
    return weft_error(WEFT_ERR_NOMEM, "fake device: too many blocks");
}

static void dev_free(void *ctx, void *p)
{
    (void)ctx;
    for (int i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i].p == p) { free(p); blocks[i].p = NULL; return; }
}

static weft_status dev_copy(void *ctx, void *queue, void *dst, const void *src, size_t n, int dir)
{
    (void)ctx;
    if (dir == WEFT_COPY_TO_DEVICE) {
        if (n && (!on_device(dst) || on_device(src))) bad_side++;
        to_device_bytes += n;
        to_device_calls++;
    } else if (dir == WEFT_COPY_TO_HOST) {
        if (n && (on_device(dst) || !on_device(src))) bad_side++;
        to_host_bytes += n;
        to_host_calls++;
    }
    if (n) memcpy(dst, src, n);
    return WEFT_OK;
}

static const weft_buffer_type fake_buft = {"fakedev", false, 64, dev_alloc, dev_free, dev_copy, NULL};

/* Takes float Add, Mul, Relu and Reshape; runs the reference kernels on the "device" memory after
 * checking every operand lives where lowering promised (host inputs on the host, the rest on the device). */
static bool dev_supports(const weft_step_desc *s)
{
    static const char *const ops[] = {"Add", "Mul", "Relu", "Reshape"};
    if (s->node->domain[0]) return false;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(s->node->op_type, ops[i]) == 0) return s->in_dtype[0] == WEFT_FLOAT32;
    return false;
}

static weft_status dev_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = (void *)s->def;
    return WEFT_OK;
}

static int dev_runs;
static weft_status dev_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const weft_op_def *def = prepared;
    dev_runs++;
    for (int i = 0; i < k->n_in; i++) {
        if (!k->in[i].numel) continue;
        bool want_host = (def->host_inputs >> i) & 1u;
        if (on_device(k->in[i].data) == want_host) bad_side++;
    }
    for (int o = 0; o < k->n_out; o++)
        if (k->out[o].numel && !on_device(k->out[o].data)) bad_side++;
    return def->run(k);
}

static const weft_backend fake_backend = {"fakedev", &fake_buft, dev_supports, dev_prepare, NULL, dev_run, NULL, NULL};

/* --- a fake device with a queue: work is deferred like a stream's, and can be captured ------------- */

/* The queue holds work until something waits for it (a copy to the host, the end of a run); a captured
 * graph is a list of work that replay appends. Running deferred work on host memory the test tracks
 * catches a runtime that reads results before the queue drained, or replays graphs on stale addresses. */
typedef struct fq_work {
    const weft_op_def *def; /* NULL: a copy of `bytes` from src to dst */
    weft_node_info node;
    int n_in, n_out;
    weft_tview in[4], out[2];
    void *dst;
    const void *src;
    size_t bytes;
    void *staged; /* owned: what an upload read from the host when it was enqueued */
} fq_work;

#define FQ_MAX 256
typedef struct fq_queue {
    fq_work pending[FQ_MAX];
    int n_pending;
    bool capturing;
    fq_work *capture;
    int n_capture;
} fq_queue;

typedef struct fq_graph {
    fq_work *work;
    int n;
} fq_graph;

static int fq_opens, fq_closes, fq_begins, fq_syncs, fq_captures, fq_replays, fq_kernels, fq_graphs_live;

static weft_status fq_enqueue(fq_queue *q, const fq_work *w)
{
    if (q->capturing) {
        fq_work *more = realloc(q->capture, (size_t)(q->n_capture + 1) * sizeof *more);
        if (!more) return WEFT_ERR_NOMEM;
        q->capture = more;
        q->capture[q->n_capture++] = *w;
        return WEFT_OK;
    }
    if (q->n_pending == FQ_MAX) return weft_error(WEFT_ERR_INTERNAL, "fake queue full");
    q->pending[q->n_pending++] = *w;
    return WEFT_OK;
}

static weft_status fq_drain(fq_queue *q)
{
    weft_status st = WEFT_OK;
    for (int i = 0; i < q->n_pending; i++) {
        fq_work *w = &q->pending[i];
        if (!w->def) {
            if (w->bytes) memcpy(w->dst, w->staged ? w->staged : w->src, w->bytes);
        } else if (!st) {
            weft_kernel_ctx k = {&w->node, w->n_in, w->in, w->n_out, w->out, NULL, NULL, 1, q};
            st = w->def->run(&k);
            fq_kernels++;
        }
        free(w->staged);
        w->staged = NULL;
    }
    q->n_pending = 0;
    return st;
}

static weft_status fq_copy(void *ctx, void *queue, void *dst, const void *src, size_t n, int dir)
{
    fq_queue *q = queue;
    if (!q || dir == WEFT_COPY_TO_HOST) {
        weft_status st = q ? fq_drain(q) : WEFT_OK;
        if (n) memcpy(dst, src, n);
        return st;
    }
    fq_work w = {0};
    w.dst = dst;
    w.src = src;
    w.bytes = n;
    if (dir == WEFT_COPY_TO_DEVICE && n) {
        w.staged = malloc(n);
        if (!w.staged) return WEFT_ERR_NOMEM;
        memcpy(w.staged, src, n);
    }
    return fq_enqueue(q, &w);
}

static weft_status fq_open(void *ctx, const struct weft_session_options *opts, void **queue)
{
    *queue = calloc(1, sizeof(fq_queue));
    fq_opens++;
    return *queue ? WEFT_OK : WEFT_ERR_NOMEM;
}

static weft_status fq_sync(void *queue)
{
    fq_syncs++;
    return fq_drain(queue);
}

static weft_status fq_begin(void *queue)
{
    fq_begins++;
    return ((fq_queue *)queue)->n_pending ? weft_error(WEFT_ERR_INTERNAL, "a run starts with work pending") : WEFT_OK;
}

static void fq_close(void *queue)
{
    fq_queue *q = queue;
    fq_drain(q);
    free(q->capture);
    free(q);
    fq_closes++;
}

static weft_status fq_capture_begin(void *queue)
{
    fq_queue *q = queue;
    q->capturing = true;
    q->n_capture = 0;
    return WEFT_OK;
}

static weft_status fq_capture_end(void *queue, void **graph)
{
    fq_queue *q = queue;
    q->capturing = false;
    fq_graph *g = malloc(sizeof *g);
    if (!g) return WEFT_ERR_NOMEM;
    g->work = q->capture;
    g->n = q->n_capture;
    q->capture = NULL;
    q->n_capture = 0;
    *graph = g;
    fq_captures++;
    fq_graphs_live++;
    return WEFT_OK;
}

static weft_status fq_replay(void *queue, void *graph)
{
    fq_graph *g = graph;
    fq_replays++;
    for (int i = 0; i < g->n; i++) {
        weft_status st = fq_enqueue(queue, &g->work[i]);
        if (st) return st;
    }
    return WEFT_OK;
}

static void fq_graph_free(void *graph)
{
    fq_graph *g = graph;
    free(g->work);
    free(g);
    fq_graphs_live--;
}

static const weft_buffer_type fq_buft = {"fakeq", false, 64, dev_alloc, dev_free, fq_copy, NULL,
                                         fq_open, fq_sync, fq_begin, fq_close,
                                         fq_capture_begin, fq_capture_end, fq_replay, fq_graph_free};

static weft_status fq_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    fq_work w = {0};
    w.def = prepared;
    w.node = *k->node;
    w.n_in = k->n_in;
    w.n_out = k->n_out;
    if (!k->queue || k->n_in > 4 || k->n_out > 2) return weft_error(WEFT_ERR_INTERNAL, "fake queue: bad step");
    memcpy(w.in, k->in, (size_t)k->n_in * sizeof *k->in);
    memcpy(w.out, k->out, (size_t)k->n_out * sizeof *k->out);
    return fq_enqueue(k->queue, &w);
}

static const weft_backend fq_backend = {"fakeq", &fq_buft, dev_supports, dev_prepare, NULL, fq_run, NULL, NULL};

/* --- the model: out = Reshape(Relu(x + c) * x, shape), with shape computed from x's dims --------- */

static int add_value(weft_graph *g, const char *name) { return weft_graph_add_value(g, name); }

static int add_node(weft_graph *g, const char *op, int a, int b, int out)
{
    int n = weft_graph_add_node(g, op, "", op, b >= 0 ? 2 : 1, 1);
    g->nodes[n].opset = 17;
    g->nodes[n].inputs[0] = a;
    if (b >= 0) g->nodes[n].inputs[1] = b;
    g->nodes[n].outputs[0] = out;
    g->values[out].producer = n;
    return n;
}

static weft_plan *make_plan_for(const weft_backend *be)
{
    weft_symtab *syms = calloc(1, sizeof *syms);
    weft_graph *g = weft_graph_new(NULL, syms);
    int x = add_value(g, "x");
    g->values[x].dtype = WEFT_FLOAT32;
    g->values[x].shape.rank = 2;
    g->values[x].shape.d[0] = (weft_dim){0, weft_sym_intern(syms, "n")};
    g->values[x].shape.d[1] = weft_dim_num(4);
    g->values[x].flags |= WEFT_VALUE_INPUT | WEFT_VALUE_TYPED;
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    int c = add_value(g, "c");
    float cdata[4] = {1, -2, 3, -4};
    weft_shape cs = {1, {{4, -1}}};
    weft_value_set_data(&g->values[c], WEFT_FLOAT32, &cs, cdata, sizeof cdata);
    g->values[c].flags |= WEFT_VALUE_INITIALIZER;
    int minus1 = add_value(g, "minus1");
    int64_t m1[1] = {-1};
    weft_shape s1 = {1, {{1, -1}}};
    weft_value_set_data(&g->values[minus1], WEFT_INT64, &s1, m1, sizeof m1);
    int a = add_value(g, "a"), r = add_value(g, "r"), y = add_value(g, "y"), out = add_value(g, "out");
    add_node(g, "Add", x, c, a);
    add_node(g, "Relu", a, -1, r);
    add_node(g, "Mul", r, x, y);
    add_node(g, "Reshape", y, minus1, out);
    g->outputs = malloc(sizeof(int));
    g->outputs[g->n_outputs++] = out;
    g->values[out].flags |= WEFT_VALUE_OUTPUT;
    weft_ir_resolve_ops(g, NULL);
    /* -O0: no fusion, so the four ops stay four steps the fake device takes */
    CU_ASSERT_FATAL(weft_compile_graph(g, 0, NULL, NULL) == WEFT_OK);
    const weft_backend *list[2] = {be, &weft_backend_ref};
    weft_plan *p = NULL;
    weft_status st = weft_plan_lower(g, syms, list, 2, NULL, &p);
    if (st) fprintf(stderr, "lower: %s\n", weft_last_error());
    CU_ASSERT_FATAL(st == WEFT_OK);
    return p;
}

static weft_plan *make_plan(void) { return make_plan_for(&fake_backend); }

static void test_copies_are_inserted(void)
{
    weft_plan *p = make_plan();
    int copies = 0, on_dev = 0;
    for (int i = 0; i < p->n_steps; i++) {
        copies += p->steps[i].kind == WEFT_STEP_COPY;
        on_dev += p->steps[i].kind == WEFT_STEP_KERNEL && p->steps[i].backend == &fake_backend;
    }
    /* x and c up, out down; the Reshape's shape stays on the host */
    CU_ASSERT_EQUAL(copies, 3);
    CU_ASSERT_EQUAL(on_dev, 4);
    CU_ASSERT_EQUAL(p->n_bufts, 2);
    char *text = NULL;
    CU_ASSERT(weft_plan_describe(p, WEFT_DESCRIBE_TEXT | WEFT_DESCRIBE_STEPS, &text) == WEFT_OK);
    CU_ASSERT(text && strstr(text, "Copy") && strstr(text, "fakedev"));
    free(text);
    weft_plan_free(p);
}

static void test_device_run_matches_host(void)
{
    weft_plan *p = make_plan();
    weft_session *s = NULL;
    CU_ASSERT_FATAL(weft_session_create(p, &s) == WEFT_OK);
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)(i % 5) - 2.0f;
    const float c[4] = {1, -2, 3, -4};
    weft_tensor in = {"x", WEFT_FLOAT32, 2, {3, 4}, x, sizeof x};
    to_device_bytes = to_host_bytes = 0;
    to_device_calls = to_host_calls = bad_side = dev_runs = 0;
    for (int run = 0; run < 3; run++) {
        weft_tensor out = {0};
        CU_ASSERT_FATAL(weft_session_run(s, &in, 1, &out, 1) == WEFT_OK);
        CU_ASSERT_EQUAL(out.rank, 1);
        CU_ASSERT_EQUAL(out.dims[0], 12);
        CU_ASSERT(!on_device(out.data));
        for (int i = 0; i < 12; i++) {
            float a = x[i] + c[i % 4];
            CU_ASSERT_DOUBLE_EQUAL(((float *)out.data)[i], (a > 0 ? a : 0) * x[i], 1e-6);
        }
    }
    CU_ASSERT_EQUAL(bad_side, 0);
    CU_ASSERT_EQUAL(dev_runs, 12);
    /* the constant once, x every run; out every run */
    CU_ASSERT_EQUAL(to_device_calls, 1 + 3);
    CU_ASSERT_EQUAL(to_device_bytes, sizeof c + 3 * sizeof x);
    CU_ASSERT_EQUAL(to_host_calls, 3);
    CU_ASSERT_EQUAL(to_host_bytes, 3 * sizeof x);
    weft_session_free(s);
    weft_plan_free(p);
    for (int i = 0; i < MAX_BLOCKS; i++) CU_ASSERT(blocks[i].p == NULL); /* everything given back */
}

/* Checks one run of the queued plan on `rows` rows of x. */
static void run_queued(weft_session *s, int rows)
{
    float x[64];
    const float c[4] = {1, -2, 3, -4};
    for (int i = 0; i < rows * 4; i++) x[i] = (float)((i * 7 + rows) % 9) - 4.0f;
    weft_tensor in = {"x", WEFT_FLOAT32, 2, {rows, 4}, x, (size_t)rows * 4 * sizeof(float)};
    weft_tensor out = {0};
    CU_ASSERT_FATAL(weft_session_run(s, &in, 1, &out, 1) == WEFT_OK);
    CU_ASSERT_EQUAL_FATAL(out.dims[0], rows * 4);
    int bad = 0;
    for (int i = 0; i < rows * 4; i++) {
        float a = x[i] + c[i % 4];
        bad += ((float *)out.data)[i] != (a > 0 ? a : 0) * x[i];
    }
    if (bad) fprintf(stderr, "\n    %d of %d elements differ (rows %d, captures %d, replays %d)\n", bad, rows * 4, rows, fq_captures, fq_replays);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_queued_runs_replay_graphs(void)
{
    weft_plan *p = make_plan_for(&fq_backend);
    weft_session *s = NULL;
    fq_opens = fq_closes = fq_begins = fq_syncs = fq_captures = fq_replays = fq_kernels = 0;
    CU_ASSERT_FATAL(weft_session_create(p, &s) == WEFT_OK);
    CU_ASSERT_EQUAL(fq_opens, 1);
    for (int r = 0; r < 3; r++) run_queued(s, 3);
    /* the four device steps are one segment: captured once, replayed by every run */
    CU_ASSERT_EQUAL(fq_captures, 1);
    CU_ASSERT_EQUAL(fq_replays, 3);
    CU_ASSERT_EQUAL(fq_kernels, 3 * 4);
    CU_ASSERT_EQUAL(fq_begins, 3);
    CU_ASSERT(fq_syncs >= 3);
    /* new sizes: a second graph; larger sizes move the arena, so the first is captured again */
    for (int r = 0; r < 2; r++) run_queued(s, 16);
    CU_ASSERT_EQUAL(fq_captures, 2);
    run_queued(s, 3);
    run_queued(s, 3);
    CU_ASSERT(fq_captures == 2 || fq_captures == 3);
    CU_ASSERT_EQUAL(fq_replays, 7);

    /* the caller's device memory: the input read there, the output handed out there */
    {
        float *xd = NULL;
        CU_ASSERT_FATAL(dev_alloc(NULL, 8 * sizeof(float), (void **)&xd) == WEFT_OK);
        float xh[8];
        for (int i = 0; i < 8; i++) xh[i] = (float)(i % 3) - 1.0f;
        memcpy(xd, xh, sizeof xh);
        weft_tensor in = {"x", WEFT_FLOAT32, 2, {2, 4}, xd, sizeof xh, 1};
        weft_tensor out = {0};
        out.on_device = 1;
        CU_ASSERT_FATAL(weft_session_run(s, &in, 1, &out, 1) == WEFT_OK);
        CU_ASSERT_EQUAL(out.on_device, 1);
        CU_ASSERT(on_device(out.data));
        const float c[4] = {1, -2, 3, -4};
        int bad = 0;
        for (int i = 0; i < 8; i++) {
            float a = xh[i] + c[i % 4];
            bad += ((float *)out.data)[i] != (a > 0 ? a : 0) * xh[i];
        }
        CU_ASSERT_EQUAL(bad, 0);
        /* the same output on the host after a run with a host input */
        run_queued(s, 2);
        dev_free(NULL, xd);
    }
    weft_session_free(s);
    CU_ASSERT_EQUAL(fq_closes, 1);
    CU_ASSERT_EQUAL(fq_graphs_live, 0);

    /* launch by launch: the same results, no graphs */
    weft_session_options o = {1, 0, 1, 0};
    fq_captures = fq_replays = fq_kernels = 0;
    CU_ASSERT_FATAL(weft_session_create_with_options(p, &o, &s) == WEFT_OK);
    for (int r = 0; r < 3; r++) run_queued(s, 5);
    CU_ASSERT_EQUAL(fq_captures, 0);
    CU_ASSERT_EQUAL(fq_replays, 0);
    CU_ASSERT_EQUAL(fq_kernels, 3 * 4);
    weft_session_free(s);

    /* profiling times each step: no graphs either, and each device step waits for its work */
    weft_session_options po = {1, 1, 0, 0};
    fq_captures = 0;
    CU_ASSERT_FATAL(weft_session_create_with_options(p, &po, &s) == WEFT_OK);
    run_queued(s, 2);
    CU_ASSERT_EQUAL(fq_captures, 0);
    weft_session_free(s);
    weft_plan_free(p);
    CU_ASSERT_EQUAL(fq_graphs_live, 0);
    for (int i = 0; i < MAX_BLOCKS; i++) CU_ASSERT(blocks[i].p == NULL);
}

/* Priority lists with a device backend: its host steps go to the CPU backends before ref; "auto" and
 * the usable list leave out a device backend that cannot run here. */
static void test_device_backend_lists(void)
{
    const weft_backend *dev = weft_backend_find("cuda");
    if (!dev) return; /* a build without the cuda backend */
    const weft_backend *list[WEFT_MAX_BACKENDS];
    int n = 0;
    CU_ASSERT_FATAL(weft_backend_parse_list("cuda", list, WEFT_MAX_BACKENDS, &n) == WEFT_OK);
    CU_ASSERT_FATAL(n >= 2);
    CU_ASSERT(list[0] == dev);
    CU_ASSERT(list[n - 1] == &weft_backend_ref);
    int host = 0;
    for (int i = 1; i < n - 1; i++) host += list[i]->buft->is_host;
    CU_ASSERT_EQUAL(host, n - 2);
    /* every host backend of the build but ref sits between them */
    int want = 0;
    for (int i = 0; i < weft_backend_count(); i++)
        want += weft_backend_at(i)->buft->is_host && weft_backend_at(i) != &weft_backend_ref;
    CU_ASSERT_EQUAL(n - 2, want);
    /* a host backend named with it: the list as written */
    CU_ASSERT_FATAL(weft_backend_parse_list("cuda,ref", list, WEFT_MAX_BACKENDS, &n) == WEFT_OK);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_FATAL(weft_backend_parse_list("ref,cuda", list, WEFT_MAX_BACKENDS, &n) == WEFT_OK);
    CU_ASSERT(list[0] == &weft_backend_ref);
    const char *why = weft_backend_unavailable("cuda");
    CU_ASSERT(weft_backend_unavailable("ref") == NULL);
    CU_ASSERT(weft_backend_unavailable("nosuch") != NULL);
    CU_ASSERT_FATAL(weft_backend_parse_list("auto", list, WEFT_MAX_BACKENDS, &n) == WEFT_OK);
    bool has_dev = false;
    for (int i = 0; i < n; i++) has_dev |= list[i] == dev;
    CU_ASSERT(has_dev == (why == NULL));
    CU_ASSERT((strstr(weft_backends_usable(), "cuda") != NULL) == (why == NULL));
    CU_ASSERT(strstr(weft_backends(), "cuda") != NULL);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("device backend", NULL, NULL);
    CU_add_test(s, "copies are inserted where values cross buffer types", test_copies_are_inserted);
    CU_add_test(s, "a run on the device matches the host", test_device_run_matches_host);
    CU_add_test(s, "queued device work is captured once per set of sizes and replayed", test_queued_runs_replay_graphs);
    CU_add_test(s, "priority lists with a device backend", test_device_backend_lists);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
