/*
 * tests/unit/test_plan_file.c — `.weftplan` files and the ONNX writer they use.
 *
 * The oracle for a loaded plan is the in-memory plan it was saved from: same inputs, bit-identical
 * outputs. The oracle for the ONNX writer is the importer: import → export → import gives the same
 * graph and the same outputs. Damaged files (truncated, bytes flipped, wrong version, a backend this
 * build lacks, random bytes, empty) must each give an error, never a crash. Tests that need a valid
 * checksum on a modified file compute it from the canonical form schemas/weftplan.md specifies, with
 * an encoder written here independently of compiler/plan_file.c.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compiler/onnx_export.h"
#include "compiler/plan.h"
#include "compiler/sha256.h"
#include "schemas/weftplan.pb-c.h"
#include "tests/unit/op_harness.h"

static char tmpdir[256];

static void tmp_path(const char *name, char *buf, size_t n) { snprintf(buf, n, "%s/%s", tmpdir, name); }

/* --- running plans ---------------------------------------------------------------------------------- */

typedef struct outputs {
    int n;
    weft_tensor t[16];
} outputs;

static void outputs_free(outputs *o)
{
    for (int i = 0; i < o->n; i++) free(o->t[i].data);
    o->n = 0;
}

/* Runs plan p on the inputs of `dir` (input_<i>.pb; a tensor without a name binds plan input i) and
 * copies the outputs into *o. */
static weft_status run_on(const weft_plan *p, const char *dir, outputs *o)
{
    weft_tensor in[32];
    int n_in = 0;
    memset(o, 0, sizeof *o);
    for (; n_in < 32; n_in++) {
        char path[512];
        snprintf(path, sizeof path, "%s/input_%d.pb", dir, n_in);
        if (access(path, R_OK) != 0) break;
        if (weft_tensor_load(path, &in[n_in]) != WEFT_OK) return WEFT_ERR_IO;
        if (!in[n_in].name) {
            weft_tensor info;
            weft_plan_input_info(p, n_in, &info);
            in[n_in].name = strdup(info.name);
        }
    }
    weft_session *s = NULL;
    weft_status st = weft_session_create(p, &s);
    int n_out = weft_plan_num_outputs(p);
    weft_tensor out[16];
    memset(out, 0, sizeof out);
    if (!st && n_out > 16) st = WEFT_ERR_INTERNAL;
    if (!st) st = weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out);
    if (st) printf("\n    run failed: %s\n", weft_last_error());
    for (int i = 0; !st && i < n_out; i++) {
        o->t[i] = out[i];
        o->t[i].data = malloc(out[i].nbytes + 1);
        memcpy(o->t[i].data, out[i].data, out[i].nbytes);
        o->n++;
    }
    weft_session_free(s);
    for (int i = 0; i < n_in; i++) weft_tensor_release(&in[i]);
    return st;
}

/* Bit-identical outputs (same names, dtypes, shapes, bytes). */
static int same_outputs(const outputs *a, const outputs *b)
{
    if (a->n != b->n) { printf("\n    %d outputs vs %d\n", a->n, b->n); return 0; }
    for (int i = 0; i < a->n; i++) {
        const weft_tensor *x = &a->t[i], *y = &b->t[i];
        if (strcmp(x->name, y->name) != 0 || x->dtype != y->dtype || x->rank != y->rank || x->nbytes != y->nbytes ||
            memcmp(x->dims, y->dims, (size_t)x->rank * sizeof(int64_t)) != 0 || memcmp(x->data, y->data, x->nbytes) != 0) {
            printf("\n    output %d ('%s') differs\n", i, x->name);
            return 0;
        }
    }
    return 1;
}

static weft_plan *compile_path(const char *path, const char *backend, int opt)
{
    weft_model *m = NULL;
    if (weft_model_load(path, &m) != WEFT_OK) { printf("\n    %s: %s\n", path, weft_last_error()); return NULL; }
    weft_compile_options o = {backend, opt};
    weft_plan *p = NULL;
    if (weft_compile(m, &o, &p) != WEFT_OK) printf("\n    %s: %s\n", path, weft_last_error());
    weft_model_free(m);
    return p;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Compiles models/<name>, runs it, saves and loads the plan, runs the loaded one: outputs must be
 * identical, and so must the schedule (op and backend of every step). */
static void roundtrip_model(const char *name, int opt, bool verbose)
{
    char model[256], data[256], file[512];
    snprintf(model, sizeof model, "models/%s/model.onnx", name);
    snprintf(data, sizeof data, "models/%s/test_data_set_0", name);
    snprintf(file, sizeof file, "%s/%s-O%d.weftplan", tmpdir, name, opt);
    weft_plan *p = compile_path(model, NULL, opt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    outputs want, got;
    CU_ASSERT_EQUAL_FATAL(run_on(p, data, &want), WEFT_OK);
    weft_status st = weft_plan_save(p, file);
    if (st) printf("\n    save %s: %s\n", name, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    weft_plan *q = NULL;
    double t0 = now_ms();
    st = weft_plan_load(file, &q);
    double t1 = now_ms();
    if (st) printf("\n    load %s: %s\n", name, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    if (verbose) printf("\n    %-28s -O%d load %7.2f ms", name, opt, t1 - t0);
    CU_ASSERT_EQUAL(q->n_steps, p->n_steps);
    CU_ASSERT_EQUAL(q->n_inputs, p->n_inputs);
    CU_ASSERT_EQUAL(q->n_outputs, p->n_outputs);
    CU_ASSERT_EQUAL(q->opt_level, p->opt_level);
    CU_ASSERT_EQUAL(q->n_backends, p->n_backends);
    for (int b = 0; b < p->n_backends && b < q->n_backends; b++) CU_ASSERT_PTR_EQUAL(q->backends[b], p->backends[b]);
    for (int i = 0; i < p->n_steps && i < q->n_steps; i++) {
        CU_ASSERT_STRING_EQUAL(q->steps[i].info.op_type, p->steps[i].info.op_type);
        CU_ASSERT_PTR_EQUAL(q->steps[i].backend, p->steps[i].backend);
        CU_ASSERT_EQUAL(q->steps[i].shape_only, p->steps[i].shape_only);
    }
    for (int i = 0; i < p->n_inputs && i < q->n_inputs; i++) {
        weft_tensor a, b;
        weft_plan_input_info(p, i, &a);
        weft_plan_input_info(q, i, &b);
        CU_ASSERT_STRING_EQUAL(a.name, b.name);
        CU_ASSERT_EQUAL(a.dtype, b.dtype);
        CU_ASSERT_EQUAL(a.rank, b.rank);
    }
    CU_ASSERT_EQUAL(run_on(q, data, &got), WEFT_OK);
    CU_ASSERT(same_outputs(&want, &got));
    /* saving the loaded plan gives the same bytes: nothing drifts from one generation to the next */
    char again[600];
    snprintf(again, sizeof again, "%s.again", file);
    CU_ASSERT_EQUAL(weft_plan_save(q, again), WEFT_OK);
    size_t n1 = 0, n2 = 0;
    uint8_t *b1 = wt_read_file(file, &n1), *b2 = wt_read_file(again, &n2);
    CU_ASSERT(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    outputs_free(&want);
    outputs_free(&got);
    weft_plan_free(p);
    weft_plan_free(q);
}

static void test_roundtrip_sage(void) { roundtrip_model("sage_mean_ts18", 1, false); }
static void test_roundtrip_traffic(void) { roundtrip_model("traffic_encoder_ts18", 1, false); }
static void test_roundtrip_O0(void) { roundtrip_model("sage_mean_ts18", 0, false); }

/* Every model of models/ (the load time of each is printed, not asserted). */
static void test_roundtrip_all_models(void)
{
    DIR *d = opendir("models");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char names[64][128];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        char path[512];
        snprintf(path, sizeof path, "models/%s/test_data_set_0/input_0.pb", e->d_name);
        if (access(path, R_OK) == 0) snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    CU_ASSERT(n > 0);
    for (int i = 0; i < n; i++) roundtrip_model(names[i], 1, true);
    printf("\n    ");
}

/* --- the ONNX writer ---------------------------------------------------------------------------------- */

static int same_attr(const weft_attr *a, const weft_attr *b);
static int same_graph(const weft_graph *a, const weft_symtab *sa, const weft_graph *b, const weft_symtab *sb);

static int same_shape(const weft_shape *a, const weft_symtab *sa, const weft_shape *b, const weft_symtab *sb)
{
    if (a->rank != b->rank) return 0;
    for (int d = 0; d < a->rank; d++) {
        if (weft_dim_known(a->d[d]) != weft_dim_known(b->d[d])) return 0;
        if (weft_dim_known(a->d[d]) ? a->d[d].v != b->d[d].v
                                    : strcmp(weft_sym_name(sa, a->d[d].sym), weft_sym_name(sb, b->d[d].sym)) != 0)
            return 0;
    }
    return 1;
}

static int same_attr(const weft_attr *a, const weft_attr *b)
{
    if (strcmp(a->name, b->name) != 0 || a->type != b->type) return 0;
    switch (a->type) {
    case WEFT_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case WEFT_ATTR_INT: return a->i == b->i;
    case WEFT_ATTR_STRING: return a->s_len == b->s_len && memcmp(a->s, b->s, a->s_len) == 0;
    case WEFT_ATTR_FLOATS: return a->n == b->n && memcmp(a->floats, b->floats, (size_t)a->n * sizeof(float)) == 0;
    case WEFT_ATTR_INTS: return a->n == b->n && memcmp(a->ints, b->ints, (size_t)a->n * sizeof(int64_t)) == 0;
    case WEFT_ATTR_STRINGS:
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++)
            if (strcmp(a->strings[i], b->strings[i]) != 0) return 0;
        return 1;
    case WEFT_ATTR_TENSOR:
    case WEFT_ATTR_TENSORS: {
        int n = a->type == WEFT_ATTR_TENSOR ? 1 : a->n;
        if (a->type == WEFT_ATTR_TENSORS && a->n != b->n) return 0;
        for (int i = 0; i < n; i++) {
            const weft_tensor *x = &a->t[i], *y = &b->t[i];
            if (x->dtype != y->dtype || x->rank != y->rank || x->nbytes != y->nbytes ||
                memcmp(x->dims, y->dims, (size_t)x->rank * sizeof(int64_t)) != 0 || memcmp(x->data, y->data, x->nbytes) != 0)
                return 0;
        }
        return 1;
    }
    case WEFT_ATTR_GRAPH: return same_graph(a->g, a->g->syms, b->g, b->g->syms);
    case WEFT_ATTR_GRAPHS:
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++)
            if (!same_graph(a->gs[i], a->gs[i]->syms, b->gs[i], b->gs[i]->syms)) return 0;
        return 1;
    default: return 1;
    }
}

/* The name of value v of g, or "" for an absent one. */
static const char *vname(const weft_graph *g, int v) { return v >= 0 ? g->values[v].name : ""; }

/* Same nodes (op, domain, opset, operands by name, attributes), inputs, outputs, and the same data for
 * every constant a node reads. */
static int same_graph(const weft_graph *a, const weft_symtab *sa, const weft_graph *b, const weft_symtab *sb)
{
    if (a->n_nodes != b->n_nodes || a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs) {
        printf("\n    graph '%s': %d/%d nodes, %d/%d inputs, %d/%d outputs\n", a->name, a->n_nodes, b->n_nodes,
               a->n_inputs, b->n_inputs, a->n_outputs, b->n_outputs);
        return 0;
    }
    for (int i = 0; i < a->n_inputs; i++) {
        const weft_value *x = &a->values[a->inputs[i]], *y = &b->values[b->inputs[i]];
        if (strcmp(x->name, y->name) != 0 || x->dtype != y->dtype || !same_shape(&x->shape, sa, &y->shape, sb)) {
            printf("\n    input '%s' differs\n", x->name);
            return 0;
        }
    }
    for (int i = 0; i < a->n_outputs; i++)
        if (strcmp(vname(a, a->outputs[i]), vname(b, b->outputs[i])) != 0) return 0;
    for (int i = 0; i < a->n_nodes; i++) {
        const weft_node *x = &a->nodes[i], *y = &b->nodes[i];
        int ok = strcmp(x->op_type, y->op_type) == 0 && strcmp(x->domain, y->domain) == 0 && x->opset == y->opset &&
                 x->n_inputs == y->n_inputs && x->n_outputs == y->n_outputs && x->n_attrs == y->n_attrs;
        for (int k = 0; ok && k < x->n_inputs; k++) {
            ok = strcmp(vname(a, x->inputs[k]), vname(b, y->inputs[k])) == 0;
            if (ok && x->inputs[k] >= 0 && (a->values[x->inputs[k]].flags & WEFT_VALUE_CONST)) {
                const weft_value *p = &a->values[x->inputs[k]], *q = &b->values[y->inputs[k]];
                ok = (q->flags & WEFT_VALUE_CONST) && p->dtype == q->dtype && p->nbytes == q->nbytes &&
                     memcmp(p->data, q->data, p->nbytes) == 0 && same_shape(&p->shape, sa, &q->shape, sb);
            }
        }
        for (int k = 0; ok && k < x->n_outputs; k++) ok = strcmp(vname(a, x->outputs[k]), vname(b, y->outputs[k])) == 0;
        for (int k = 0; ok && k < x->n_attrs; k++) ok = same_attr(&x->attrs[k], &y->attrs[k]);
        if (!ok) {
            printf("\n    node %d ('%s', %s) differs\n", i, x->name, x->op_type);
            return 0;
        }
    }
    return 1;
}

/* import → export → import: the same graph; compiled, the same outputs (when `data` is given). */
static void onnx_roundtrip(const char *path, const char *data)
{
    weft_model *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_model_load(path, &a), WEFT_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    weft_status st = weft_model_to_onnx(a, &buf, &len);
    if (st) printf("\n    %s: %s\n", path, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    st = weft_model_load_from_buffer(buf, len, NULL, &b);
    if (st) printf("\n    %s reimported: %s\n", path, weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    CU_ASSERT(same_graph(a->graph, &a->syms, b->graph, &b->syms));
    CU_ASSERT(b->ir_version >= 4);
    for (int i = 0; i < a->n_opsets; i++) CU_ASSERT_EQUAL(weft_model_opset(b, a->opsets[i].domain), a->opsets[i].version);
    if (data) {
        weft_plan *p = NULL, *q = NULL;
        CU_ASSERT_EQUAL_FATAL(weft_compile(a, NULL, &p), WEFT_OK);
        CU_ASSERT_EQUAL_FATAL(weft_compile(b, NULL, &q), WEFT_OK);
        outputs x, y;
        CU_ASSERT_EQUAL(run_on(p, data, &x), WEFT_OK);
        CU_ASSERT_EQUAL(run_on(q, data, &y), WEFT_OK);
        CU_ASSERT(same_outputs(&x, &y));
        outputs_free(&x);
        outputs_free(&y);
        weft_plan_free(p);
        weft_plan_free(q);
    }
    free(buf);
    weft_model_free(a);
    weft_model_free(b);
}

static void test_onnx_roundtrip_models(void)
{
    onnx_roundtrip("models/sage_mean_ts18/model.onnx", "models/sage_mean_ts18/test_data_set_0");
    onnx_roundtrip("models/gat_ts17/model.onnx", "models/gat_ts17/test_data_set_0"); /* If subgraphs */
    onnx_roundtrip("models/gru_temporal_dynamo18/model.onnx", "models/gru_temporal_dynamo18/test_data_set_0");
    onnx_roundtrip("models/traffic_encoder_ts18/model.onnx", "models/traffic_encoder_ts18/test_data_set_0");
}

/* Files made to exercise the importer: subgraphs, local functions (inlined), Constant nodes, sparse
 * initializers, every initializer storage form, symbolic dims. */
static void test_onnx_roundtrip_forms(void)
{
    static const char *const files[] = {"constants", "forms", "function", "sparse", "storage", "subgraph",
                                        };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/data/import/%s.onnx", files[i]);
        onnx_roundtrip(path, NULL);
    }
}

/* Values without a name (passes may make them) get names no other value has; symbols that share a
 * name stay two symbols. */
static void test_onnx_anonymous_values(void)
{
    weft_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_model_load("models/time_encoder_ts18/model.onnx", &m), WEFT_OK);
    weft_graph *g = m->graph;
    /* rename every intermediate value to "" (the hash skips empty names) */
    int renamed = 0;
    for (int v = 0; v < g->n_values; v++) {
        weft_value *val = &g->values[v];
        if (val->flags & (WEFT_VALUE_INPUT | WEFT_VALUE_OUTPUT | WEFT_VALUE_CONST)) continue;
        val->name[0] = '\0';
        renamed++;
    }
    CU_ASSERT_FATAL(renamed > 0);
    /* a second symbol with the name of the first input's first symbolic dim */
    const char *dup = NULL;
    for (int i = 0; i < g->n_inputs && !dup; i++) {
        const weft_value *val = &g->values[g->inputs[i]];
        for (int d = 0; d < val->shape.rank && !dup; d++)
            if (!weft_dim_known(val->shape.d[d])) dup = weft_sym_name(&m->syms, val->shape.d[d].sym);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(weft_model_to_onnx(m, &buf, &len), WEFT_OK);
    weft_model *b = NULL;
    weft_status st = weft_model_load_from_buffer(buf, len, NULL, &b);
    if (st) printf("\n    %s\n", weft_last_error());
    CU_ASSERT_EQUAL_FATAL(st, WEFT_OK);
    CU_ASSERT_EQUAL(b->graph->n_nodes, g->n_nodes);
    weft_plan *p = NULL, *q = NULL;
    CU_ASSERT_EQUAL(weft_compile(m, NULL, &p), WEFT_OK);
    CU_ASSERT_EQUAL(weft_compile(b, NULL, &q), WEFT_OK);
    if (p && q) {
        outputs x, y;
        CU_ASSERT_EQUAL(run_on(p, "models/time_encoder_ts18/test_data_set_0", &x), WEFT_OK);
        CU_ASSERT_EQUAL(run_on(q, "models/time_encoder_ts18/test_data_set_0", &y), WEFT_OK);
        CU_ASSERT(same_outputs(&x, &y));
        outputs_free(&x);
        outputs_free(&y);
    }
    weft_plan_free(p);
    weft_plan_free(q);
    weft_model_free(b);
    free(buf);
    CU_ASSERT_PTR_NOT_NULL(dup);
    if (dup) {
        /* two symbols, one name: written as two dim_params */
        char *name = strdup(dup);
        int32_t s2 = weft_sym_fresh(&m->syms);
        free(m->syms.names[s2]);
        m->syms.names[s2] = name;
        weft_value *x = &g->values[g->inputs[0]];
        int d0 = -1;
        for (int d = 0; d < x->shape.rank; d++)
            if (!weft_dim_known(x->shape.d[d]) && strcmp(weft_sym_name(&m->syms, x->shape.d[d].sym), dup) == 0) d0 = d;
        CU_ASSERT(d0 >= 0);
        if (d0 >= 0) {
            /* give the first output the twin symbol */
            weft_value *y = &g->values[g->outputs[0]];
            if (y->shape.rank >= 1) y->shape.d[0] = (weft_dim){0, s2};
            CU_ASSERT_EQUAL_FATAL(weft_model_to_onnx(m, &buf, &len), WEFT_OK);
            CU_ASSERT_EQUAL_FATAL(weft_model_load_from_buffer(buf, len, NULL, &b), WEFT_OK);
            const weft_value *bx = &b->graph->values[b->graph->inputs[0]];
            const weft_value *by = &b->graph->values[b->graph->outputs[0]];
            if (y->shape.rank >= 1) CU_ASSERT(by->shape.d[0].sym != bx->shape.d[d0].sym);
            weft_model_free(b);
            free(buf);
        }
    }
    weft_model_free(m);
}

/* --- damaged and foreign files ------------------------------------------------------------------------ */

static uint8_t *saved_plan(const char *name, size_t *len)
{
    char model[256], file[512];
    snprintf(model, sizeof model, "models/%s/model.onnx", name);
    snprintf(file, sizeof file, "%s/%s.damage.weftplan", tmpdir, name);
    weft_plan *p = compile_path(model, NULL, 1);
    if (!p) return NULL;
    weft_status st = weft_plan_save(p, file);
    weft_plan_free(p);
    return st ? NULL : wt_read_file(file, len);
}

/* A load that must fail: an error status, a message that says so, and nothing returned. */
static int refused(const void *buf, size_t len, const char *expect)
{
    weft_plan *p = (weft_plan *)1;
    weft_status st = weft_plan_load_from_buffer(buf, len, &p);
    if (st == WEFT_OK) { weft_plan_free(p); return 0; }
    const char *msg = weft_last_error();
    if (p != NULL || !msg[0]) return 0;
    if (expect && !strstr(msg, expect)) { printf("\n    message '%s' lacks '%s'\n", msg, expect); return 0; }
    return 1;
}

static void test_truncated(void)
{
    size_t len = 0;
    uint8_t *buf = saved_plan("sage_mean_ts18", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    int bad = 0, tries = 0;
    for (size_t cut = 0; cut < len; cut += 7, tries++) {
        /* a copy of exactly `cut` bytes, so ASan sees any read past the end */
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, buf, cut);
        if (!refused(c, cut, NULL)) { if (!bad) printf("\n    cut at %zu was accepted\n", cut); bad++; }
        free(c);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(refused(buf, 0, "empty"));
    CU_ASSERT(refused(buf, 5, "truncated")); /* 5 bytes of the magic */
    CU_ASSERT(refused(buf, 10, "truncated"));
    CU_ASSERT(refused(buf, len - 1, NULL));
    free(buf);
}

static void test_flipped(void)
{
    /* each load of a flipped file hashes the whole file: fewer positions in the large one */
    const char *models[] = {"sage_mean_ts18", "traffic_encoder_ts18"};
    const size_t edge[] = {512, 128}, spread[] = {400, 60};
    for (int m = 0; m < 2; m++) {
        size_t len = 0;
        uint8_t *buf = saved_plan(models[m], &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
        uint8_t *c = malloc(len);
        int accepted = 0, tries = 0;
        /* the header and the first and last bytes (every field but the model's contents), and a spread
         * of positions over the rest */
        size_t step = len / spread[m] ? len / spread[m] : 1;
        for (size_t pos = 0; pos < len; pos++) {
            bool pick = pos < edge[m] || pos + edge[m] >= len || pos % step == 0;
            if (!pick) continue;
            for (int flip = 0; flip < 2; flip++) {
                memcpy(c, buf, len);
                c[pos] ^= flip ? 0xFF : (uint8_t)(1u << (pos % 8));
                tries++;
                weft_plan *p = NULL;
                if (weft_plan_load_from_buffer(c, len, &p) == WEFT_OK) {
                    /* the checksum cannot let a change through; if it ever did, the plan must still run */
                    accepted++;
                    outputs o;
                    char data[256];
                    snprintf(data, sizeof data, "models/%s/test_data_set_0", models[m]);
                    run_on(p, data, &o);
                    outputs_free(&o);
                    weft_plan_free(p);
                }
            }
        }
        CU_ASSERT(tries > 300);
        CU_ASSERT_EQUAL(accepted, 0);
        free(c);
        free(buf);
    }
}

/* --- messages rebuilt with a valid checksum ------------------------------------------------------- */

static void h_u32(weft_sha256 *h, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    weft_sha256_update(h, b, 4);
}

static void h_u64(weft_sha256 *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    weft_sha256_update(h, b, 8);
}

static void h_str(weft_sha256 *h, const void *s, size_t n)
{
    h_u64(h, n);
    weft_sha256_update(h, s, n);
}

/* schemas/weftplan.md, "Checksum" */
static void reseal(Weft__WeftPlan *m, uint8_t digest[32])
{
    weft_sha256 h;
    weft_sha256_init(&h);
    h_u32(&h, 1), h_str(&h, m->format ? m->format : "", m->format ? strlen(m->format) : 0);
    h_u32(&h, 2), h_u64(&h, m->format_version);
    h_u32(&h, 3), h_str(&h, m->weft_version ? m->weft_version : "", m->weft_version ? strlen(m->weft_version) : 0);
    h_u32(&h, 4), h_u64(&h, m->n_backends);
    for (size_t i = 0; i < m->n_backends; i++) h_str(&h, m->backends[i], strlen(m->backends[i]));
    h_u32(&h, 5), h_u64(&h, m->n_assignment);
    for (size_t i = 0; i < m->n_assignment; i++) h_str(&h, m->assignment[i], strlen(m->assignment[i]));
    h_u32(&h, 6), h_u64(&h, (uint64_t)(int64_t)m->opt_level);
    h_u32(&h, 7), h_str(&h, m->model.data, m->model.len);
    weft_sha256_final(&h, digest);
    m->has_sha256 = true;
    m->sha256.data = digest;
    m->sha256.len = 32;
}

/* Header (magic, `version`) + the packed message. */
static uint8_t *pack_file(const Weft__WeftPlan *m, uint32_t version, size_t *len)
{
    size_t n = weft__weft_plan__get_packed_size(m);
    uint8_t *buf = malloc(12 + n);
    memcpy(buf, "WEFTPLAN", 8);
    for (int i = 0; i < 4; i++) buf[8 + i] = (uint8_t)(version >> (8 * i));
    weft__weft_plan__pack(m, buf + 12);
    *len = 12 + n;
    return buf;
}

static void test_resealed(void)
{
    size_t len = 0;
    uint8_t *buf = saved_plan("sage_mean_ts18", &len), digest[32];
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    Weft__WeftPlan *m = weft__weft_plan__unpack(NULL, len - 12, buf + 12);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->format, "weft.plan");
    CU_ASSERT_EQUAL(m->format_version, 1);
    CU_ASSERT(m->n_backends >= 1);
    uint8_t *sha = m->sha256.data;
    size_t file_len;
    uint8_t *file;

    /* the independent encoder agrees with the writer: resealing changes nothing */
    reseal(m, digest);
    CU_ASSERT(memcmp(digest, sha, 32) == 0);
    file = pack_file(m, 1, &file_len);
    weft_plan *p = NULL;
    CU_ASSERT_EQUAL(weft_plan_load_from_buffer(file, file_len, &p), WEFT_OK);
    weft_plan_free(p);
    free(file);

    /* a newer format version, in header and body */
    m->format_version = 2;
    reseal(m, digest);
    file = pack_file(m, 2, &file_len);
    CU_ASSERT(refused(file, file_len, "newer"));
    CU_ASSERT_EQUAL(weft_plan_load_from_buffer(file, file_len, &p), WEFT_ERR_UNSUPPORTED);
    free(file);
    /* header and body disagree */
    file = pack_file(m, 1, &file_len);
    CU_ASSERT(refused(file, file_len, "disagrees"));
    free(file);
    m->format_version = 1;

    /* a backend this build lacks */
    char *saved_b0 = m->backends[0];
    m->backends[0] = "tpu";
    reseal(m, digest);
    file = pack_file(m, 1, &file_len);
    CU_ASSERT(refused(file, file_len, "'tpu'"));
    CU_ASSERT_EQUAL(weft_plan_load_from_buffer(file, file_len, &p), WEFT_ERR_UNSUPPORTED);
    free(file);
    m->backends[0] = saved_b0;

    /* a step given to a backend outside the list */
    size_t k = 0;
    while (k < m->n_assignment && !m->assignment[k][0]) k++;
    CU_ASSERT_FATAL(k < m->n_assignment);
    char *saved_a = m->assignment[k];
    m->assignment[k] = "tpu";
    reseal(m, digest);
    file = pack_file(m, 1, &file_len);
    CU_ASSERT(refused(file, file_len, "tpu"));
    free(file);
    m->assignment[k] = saved_a;

    /* one assignment short */
    m->n_assignment--;
    reseal(m, digest);
    file = pack_file(m, 1, &file_len);
    CU_ASSERT(refused(file, file_len, "assignments"));
    free(file);
    m->n_assignment++;

    /* another format name; no model */
    char *saved_f = m->format;
    m->format = "onnx";
    reseal(m, digest);
    file = pack_file(m, 1, &file_len);
    CU_ASSERT(refused(file, file_len, "format name"));
    free(file);
    m->format = saved_f;
    m->has_model = false;
    ProtobufCBinaryData saved_m = m->model;
    m->model.len = 0;
    m->model.data = NULL;
    reseal(m, digest);
    file = pack_file(m, 1, &file_len);
    CU_ASSERT(refused(file, file_len, "no graph"));
    free(file);
    m->has_model = true;
    m->model = saved_m;

    /* a model that is not ONNX, with a valid checksum: the importer's error, named as the plan's */
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    m->model.data = junk;
    m->model.len = sizeof junk;
    reseal(m, digest);
    file = pack_file(m, 1, &file_len);
    CU_ASSERT(refused(file, file_len, "graph"));
    free(file);
    m->model = saved_m;

    m->sha256.data = sha; /* free_unpacked frees what unpack made */
    weft__weft_plan__free_unpacked(m, NULL);
    free(buf);
}

static void test_foreign_files(void)
{
    char path[512];
    weft_plan *p = NULL;
    /* empty file */
    tmp_path("empty.weftplan", path, sizeof path);
    CU_ASSERT_EQUAL(wt_write_file(path, "", 0), 0);
    CU_ASSERT_EQUAL(weft_plan_load(path, &p), WEFT_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), path));
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "empty"));
    /* random bytes */
    uint8_t rnd[4096];
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
    tmp_path("random.weftplan", path, sizeof path);
    CU_ASSERT_EQUAL(wt_write_file(path, rnd, sizeof rnd), 0);
    CU_ASSERT_EQUAL(weft_plan_load(path, &p), WEFT_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "not a weft plan"));
    /* random bytes behind a valid header */
    memcpy(rnd, "WEFTPLAN\x01\0\0\0", 12);
    CU_ASSERT(refused(rnd, sizeof rnd, NULL));
    /* an ONNX model */
    CU_ASSERT_EQUAL(weft_plan_load("models/sage_mean_ts18/model.onnx", &p), WEFT_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "not a weft plan"));
    /* no such file */
    tmp_path("missing.weftplan", path, sizeof path);
    CU_ASSERT_EQUAL(weft_plan_load(path, &p), WEFT_ERR_IO);
    CU_ASSERT_PTR_NULL(p);
    /* bad arguments */
    CU_ASSERT_EQUAL(weft_plan_load(NULL, &p), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(weft_plan_load_from_buffer(NULL, 5, &p), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(weft_plan_save(NULL, path), WEFT_ERR_INVALID_ARGUMENT);
    /* saving into a folder that does not exist fails cleanly */
    weft_plan *q = compile_path("models/time_encoder_ts18/model.onnx", NULL, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    tmp_path("no/such/folder/x.weftplan", path, sizeof path);
    CU_ASSERT_EQUAL(weft_plan_save(q, path), WEFT_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), path));
    /* saving over an existing file replaces it, and leaves no temporary behind */
    tmp_path("replace.weftplan", path, sizeof path);
    CU_ASSERT_EQUAL(wt_write_file(path, "old", 3), 0);
    CU_ASSERT_EQUAL(weft_plan_save(q, path), WEFT_OK);
    CU_ASSERT_EQUAL(weft_plan_load(path, &p), WEFT_OK);
    weft_plan_free(p);
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int leftovers = 0;
    while (d && (e = readdir(d))) leftovers += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    CU_ASSERT_EQUAL(leftovers, 0);
    weft_plan_free(q);
}

/* --- SHA-256 --------------------------------------------------------------------------------------------- */

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha256_vectors(void)
{
    /* FIPS 180-4 examples and the million-'a' vector */
    uint8_t d[32];
    char h[65];
    weft_sha256_digest("", 0, d);
    hex(d, h);
    CU_ASSERT_STRING_EQUAL(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    weft_sha256_digest("abc", 3, d);
    hex(d, h);
    CU_ASSERT_STRING_EQUAL(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    weft_sha256_digest(m448, strlen(m448), d);
    hex(d, h);
    CU_ASSERT_STRING_EQUAL(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    weft_sha256 c;
    weft_sha256_init(&c);
    char a[1001];
    memset(a, 'a', sizeof a);
    for (int i = 0; i < 1000; i++) weft_sha256_update(&c, a, i % 2 ? 999 : 1001);
    weft_sha256_final(&c, d); /* 500*999 + 500*1001 = 1e6 bytes, in uneven pieces */
    hex(d, h);
    CU_ASSERT_STRING_EQUAL(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256(void)
{
    /* both implementations (SHA instructions where the processor has them, and the portable rounds) */
    weft_sha256_force_portable(true);
    sha256_vectors();
    weft_sha256_force_portable(false);
    sha256_vectors();
    /* and they agree on random buffers of every length around the block boundaries */
    uint8_t buf[700], a[32], b[32];
    unsigned r = 99;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)((r = r * 1664525u + 1013904223u) >> 24);
    int differ = 0;
    for (size_t n = 0; n < sizeof buf; n++) {
        weft_sha256_force_portable(true);
        weft_sha256_digest(buf, n, a);
        weft_sha256_force_portable(false);
        weft_sha256_digest(buf, n, b);
        differ += memcmp(a, b, 32) != 0;
    }
    CU_ASSERT_EQUAL(differ, 0);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft_plan_file_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("plan_file", NULL, NULL);
    CU_add_test(s, "SHA-256 vectors", test_sha256);
    CU_add_test(s, "save/load: sage_mean_ts18", test_roundtrip_sage);
    CU_add_test(s, "save/load: traffic_encoder_ts18", test_roundtrip_traffic);
    CU_add_test(s, "save/load: -O0", test_roundtrip_O0);
    CU_add_test(s, "save/load: every model", test_roundtrip_all_models);
    CU_add_test(s, "ONNX writer: models", test_onnx_roundtrip_models);
    CU_add_test(s, "ONNX writer: importer forms", test_onnx_roundtrip_forms);
    CU_add_test(s, "ONNX writer: anonymous values, twin symbols", test_onnx_anonymous_values);
    CU_add_test(s, "truncated at every 7th byte", test_truncated);
    CU_add_test(s, "flipped bytes", test_flipped);
    CU_add_test(s, "versions, backends, assignments", test_resealed);
    CU_add_test(s, "foreign, empty and missing files", test_foreign_files);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return fails ? 1 : 0;
}
