/*
 * tests/unit/test_import.c — ONNX import: every storage form, external data and its confinement,
 * sparse tensors, Constant nodes, local functions, subgraphs, symbols, invalid and hostile files.
 *
 * The models come from tests/data/gen_import_models.py; the numbers checked here are the ones written
 * in that script. Hostile variants (truncations, bit flips, symlinks, a 3 GiB sparse file) are made at
 * run time in a temporary folder.
 */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/ir.h"
#include "tests/unit/op_harness.h"

#define DATA "tests/data/import/"

/* --- helpers ------------------------------------------------------------------------------------ */

static weft_model *load_ok(const char *path)
{
    weft_model *m = NULL;
    weft_status s = weft_model_load(path, &m);
    if (s != WEFT_OK) printf("\n  %s: %s: %s\n", path, weft_status_name(s), weft_last_error());
    CU_ASSERT_EQUAL(s, WEFT_OK);
    return m;
}

/* Loads a file that must fail with `want`, with a message naming the file and containing `needle`. */
static void load_fails(const char *path, weft_status want, const char *needle)
{
    weft_model *m = NULL;
    weft_status s = weft_model_load(path, &m);
    if (s != want || (needle && !strstr(weft_last_error(), needle)))
        printf("\n  %s: got %s: %s\n", path, weft_status_name(s), weft_last_error());
    CU_ASSERT_EQUAL(s, want);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), path));
    if (needle) CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), needle));
    weft_model_free(m);
}

static const weft_value *val(const weft_graph *g, const char *name)
{
    int i = weft_graph_find_value(g, name);
    CU_ASSERT(i >= 0);
    if (i < 0) printf("\n  no value '%s'\n", name);
    return i >= 0 ? &g->values[i] : NULL;
}

/* A constant of the given dtype and dims whose bytes equal `want`. */
static void check_const(const weft_graph *g, const char *name, weft_dtype dt, int rank, const int64_t *dims,
                        const void *want, size_t nbytes)
{
    const weft_value *v = val(g, name);
    if (!v) return;
    CU_ASSERT(v->flags & WEFT_VALUE_CONST);
    CU_ASSERT(v->flags & WEFT_VALUE_TYPED);
    CU_ASSERT_EQUAL(v->dtype, dt);
    CU_ASSERT_EQUAL(v->shape.rank, rank);
    for (int i = 0; i < rank && i < v->shape.rank; i++) {
        CU_ASSERT(weft_dim_known(v->shape.d[i]));
        CU_ASSERT_EQUAL(v->shape.d[i].v, dims[i]);
    }
    CU_ASSERT_EQUAL(v->nbytes, nbytes);
    if (v->nbytes == nbytes && nbytes) {
        CU_ASSERT(memcmp(v->data, want, nbytes) == 0);
        if (memcmp(v->data, want, nbytes) != 0) printf("\n  '%s': contents differ\n", name);
    }
}

static int count_op(const weft_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += strcmp(g->nodes[i].op_type, op) == 0;
    return n;
}

static const weft_attr *node_attr(const weft_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

static char tmpdir[256];

static int make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft_import_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = wt_read_file(from, &n);
    if (!b) return -1;
    int r = wt_write_file(to, b, n);
    free(b);
    return r;
}

/* --- tests -------------------------------------------------------------------------------------- */

static void test_model_fields(void)
{
    weft_model *m = load_ok(DATA "storage.onnx");
    if (!m) return;
    CU_ASSERT_EQUAL(m->ir_version, 8);
    CU_ASSERT_STRING_EQUAL(m->producer_name, "weft-tests");
    CU_ASSERT_STRING_EQUAL(m->producer_version, "1.0");
    CU_ASSERT_STRING_EQUAL(m->doc_string, "import test");
    CU_ASSERT_EQUAL(m->model_version, 42);
    CU_ASSERT_STRING_EQUAL(m->path, DATA "storage.onnx");
    CU_ASSERT_EQUAL(m->n_opsets, 1);
    CU_ASSERT_EQUAL(weft_model_opset(m, ""), 17);
    CU_ASSERT_EQUAL(m->n_functions, 0);
    CU_ASSERT_EQUAL(m->graph->n_inputs, 0);
    CU_ASSERT_EQUAL(m->graph->n_outputs, 18);
    CU_ASSERT_EQUAL(m->graph->n_nodes, 18);
    CU_ASSERT_PTR_NULL(m->graph->parent);
    weft_model_free(m);
}

static void test_storage_forms(void)
{
    weft_model *m = load_ok(DATA "storage.onnx");
    if (!m) return;
    const weft_graph *g = m->graph;
    const weft_value *w = val(g, "f32_raw");
    CU_ASSERT(w && (w->flags & WEFT_VALUE_INITIALIZER) && !(w->flags & WEFT_VALUE_INPUT));
    check_const(g, "f32_raw", WEFT_FLOAT32, 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}, 24);
    check_const(g, "i64_raw", WEFT_INT64, 1, (int64_t[]){2}, (int64_t[]){-5, (int64_t)1 << 40}, 16);
    check_const(g, "bool_raw", WEFT_BOOL, 1, (int64_t[]){3}, (uint8_t[]){1, 0, 1}, 3);
    check_const(g, "f32_typed", WEFT_FLOAT32, 1, (int64_t[]){2}, (float[]){0.5f, -1.25f}, 8);
    check_const(g, "f64_typed", WEFT_FLOAT64, 1, (int64_t[]){2}, (double[]){3.5, -0.125}, 16);
    check_const(g, "i64_typed", WEFT_INT64, 1, (int64_t[]){3}, (int64_t[]){7, -8, 9000000000LL}, 24);
    check_const(g, "i32_typed", WEFT_INT32, 1, (int64_t[]){2}, (int32_t[]){INT32_MIN, INT32_MAX}, 8);
    check_const(g, "i16_typed", WEFT_INT16, 1, (int64_t[]){2}, (int16_t[]){-32768, 32767}, 4);
    check_const(g, "i8_typed", WEFT_INT8, 1, (int64_t[]){3}, (int8_t[]){-128, 127, 5}, 3);
    check_const(g, "u8_typed", WEFT_UINT8, 1, (int64_t[]){2}, (uint8_t[]){0, 255}, 2);
    check_const(g, "u16_typed", WEFT_UINT16, 1, (int64_t[]){2}, (uint16_t[]){65535, 1}, 4);
    check_const(g, "bool_typed", WEFT_BOOL, 1, (int64_t[]){2}, (uint8_t[]){1, 0}, 2);
    /* binary16 of 1.5 is 0x3E00, of -2.0 is 0xC000; bfloat16 of 1.0 is 0x3F80 */
    check_const(g, "f16_typed", WEFT_FLOAT16, 1, (int64_t[]){2}, (uint16_t[]){0x3E00, 0xC000}, 4);
    check_const(g, "bf16_typed", WEFT_BFLOAT16, 1, (int64_t[]){1}, (uint16_t[]){0x3F80}, 2);
    check_const(g, "u32_typed", WEFT_UINT32, 1, (int64_t[]){1}, (uint32_t[]){4000000000u}, 4);
    check_const(g, "u64_typed", WEFT_UINT64, 1, (int64_t[]){1}, (uint64_t[]){UINT64_MAX}, 8);
    check_const(g, "scalar", WEFT_FLOAT32, 0, NULL, (float[]){2.5f}, 4);
    check_const(g, "empty", WEFT_FLOAT32, 2, (int64_t[]){0, 3}, NULL, 0);
    /* Identity nodes read the initializers */
    int id = -1;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].n_inputs == 1 && g->nodes[i].inputs[0] == weft_graph_find_value(g, "f32_raw")) id = i;
    CU_ASSERT(id >= 0);
    if (id >= 0) {
        CU_ASSERT_STRING_EQUAL(g->nodes[id].op_type, "Identity");
        CU_ASSERT_EQUAL(g->nodes[id].opset, 17);
        int o = g->nodes[id].outputs[0];
        CU_ASSERT_EQUAL(o, weft_graph_find_value(g, "f32_raw_out"));
        CU_ASSERT_EQUAL(g->values[o].producer, id);
        CU_ASSERT(g->values[o].flags & WEFT_VALUE_OUTPUT);
    }
    weft_model_free(m);
}

static void test_external(void)
{
    weft_model *m = load_ok(DATA "ext/external.onnx");
    if (!m) return;
    check_const(m->graph, "w_f32", WEFT_FLOAT32, 2, (int64_t[]){2, 2}, (float[]){1.0f, -2.0f, 3.5f, 4.25f}, 16);
    check_const(m->graph, "w_i64", WEFT_INT64, 1, (int64_t[]){2}, (int64_t[]){11, -12}, 16);
    weft_model_free(m);

    /* from memory: no folder, so external data is refused */
    size_t n;
    uint8_t *b = wt_read_file(DATA "ext/external.onnx", &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(weft_model_load_from_buffer(b, n, NULL, &m), WEFT_ERR_SECURITY);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_EQUAL(weft_model_load_from_buffer(b, n, DATA "ext", &m), WEFT_OK);
    if (m) check_const(m->graph, "w_i64", WEFT_INT64, 1, (int64_t[]){2}, (int64_t[]){11, -12}, 16);
    weft_model_free(m);
    free(b);
}

static void test_external_hostile(void)
{
    load_fails(DATA "ext/ext_escape.onnx", WEFT_ERR_SECURITY, "..");
    load_fails(DATA "ext/ext_dotdot_inside.onnx", WEFT_ERR_SECURITY, "..");
    load_fails(DATA "ext/ext_abs.onnx", WEFT_ERR_SECURITY, "absolute");
    load_fails(DATA "ext/ext_too_long.onnx", WEFT_ERR_INVALID_MODEL, "exceeds");
    load_fails(DATA "ext/ext_neg_offset.onnx", WEFT_ERR_INVALID_MODEL, "-4");
    load_fails(DATA "ext/ext_huge_length.onnx", WEFT_ERR_INVALID_MODEL, "4611686018427387904");
    load_fails(DATA "ext/ext_missing.onnx", WEFT_ERR_IO, "nope.bin");
    load_fails(DATA "ext/ext_link.onnx", WEFT_ERR_IO, "link.bin"); /* no link in the repository */
}

static void test_external_symlink(void)
{
    CU_ASSERT_FATAL(make_tmpdir() == 0);
    char model[512], link[512], inside[512], outside_dir[512], outside[512];
    snprintf(model, sizeof model, "%s/m.onnx", tmpdir);
    snprintf(link, sizeof link, "%s/link.bin", tmpdir);
    snprintf(inside, sizeof inside, "%s/real.bin", tmpdir);
    snprintf(outside_dir, sizeof outside_dir, "%s_out", tmpdir);
    snprintf(outside, sizeof outside, "%s/secret.bin", outside_dir);
    CU_ASSERT_FATAL(copy_file(DATA "ext/ext_link.onnx", model) == 0);
    CU_ASSERT_FATAL(mkdir(outside_dir, 0700) == 0);
    float payload[8] = {0, 0, 0, 0, 7.0f, 8.0f, -9.0f, 10.5f}; /* the tensor is at offset 16 */
    CU_ASSERT_FATAL(wt_write_file(outside, payload, sizeof payload) == 0);
    CU_ASSERT_FATAL(wt_write_file(inside, payload, sizeof payload) == 0);

    /* a link that leaves the folder is refused even though its name looks local */
    CU_ASSERT_FATAL(symlink(outside, link) == 0);
    load_fails(model, WEFT_ERR_SECURITY, "outside");
    /* a link to a file inside the folder is fine */
    unlink(link);
    CU_ASSERT_FATAL(symlink(inside, link) == 0);
    weft_model *m = load_ok(model);
    if (m) check_const(m->graph, "w", WEFT_FLOAT32, 1, (int64_t[]){4}, payload + 4, 16);
    weft_model_free(m);
    /* a folder reached through a symlinked path still confines (the model's own folder is resolved) */
    unlink(link);
    unlink(inside);
    unlink(model);
    unlink(outside);
    rmdir(outside_dir);
    rmdir(tmpdir);
}

static void test_external_beyond_2gib(void)
{
    CU_ASSERT_FATAL(make_tmpdir() == 0);
    char model[512], big[512];
    snprintf(model, sizeof model, "%s/m.onnx", tmpdir);
    snprintf(big, sizeof big, "%s/big.bin", tmpdir);
    CU_ASSERT_FATAL(copy_file(DATA "ext/ext_big.onnx", model) == 0);
    int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    float vals[4] = {1.25f, -3.0f, 1e30f, 0.0f};
    /* a sparse file: 3 GiB of hole, then 16 bytes */
    ssize_t w = pwrite(fd, vals, sizeof vals, (off_t)3 << 30);
    close(fd);
    if (w != (ssize_t)sizeof vals) {
        printf("\n  skipped: cannot make a 3 GiB sparse file here (%s)\n", strerror(errno));
    } else {
        weft_model *m = load_ok(model);
        if (m) check_const(m->graph, "w", WEFT_FLOAT32, 1, (int64_t[]){4}, vals, 16);
        weft_model_free(m);
    }
    unlink(big);
    unlink(model);
    rmdir(tmpdir);
}

static void test_sparse(void)
{
    weft_model *m = load_ok(DATA "sparse.onnx");
    if (m) {
        float lin[12] = {0};
        lin[1] = 10.0f;  /* linear index 1 = (0,1) */
        lin[11] = 20.0f; /* linear index 11 = (2,3) */
        check_const(m->graph, "sp_lin", WEFT_FLOAT32, 2, (int64_t[]){3, 4}, lin, sizeof lin);
        int64_t crd[6] = {0};
        crd[1 * 3 + 0] = 5;  /* (1,0) */
        crd[0 * 3 + 2] = -6; /* (0,2) */
        check_const(m->graph, "sp_crd", WEFT_INT64, 2, (int64_t[]){2, 3}, crd, sizeof crd);
        CU_ASSERT(val(m->graph, "sp_lin")->flags & WEFT_VALUE_INITIALIZER);
    }
    weft_model_free(m);
    load_fails(DATA "sparse_oob.onnx", WEFT_ERR_INVALID_MODEL, "out of range");
}

static void test_constants(void)
{
    weft_model *m = load_ok(DATA "constants.onnx");
    if (m) {
        const weft_graph *g = m->graph;
        CU_ASSERT_EQUAL(count_op(g, "Constant"), 0); /* folded into values */
        CU_ASSERT_EQUAL(g->n_nodes, 6);
        check_const(g, "c_tensor", WEFT_INT32, 2, (int64_t[]){2, 2}, (int32_t[]){1, 2, 3, 4}, 16);
        check_const(g, "c_float", WEFT_FLOAT32, 0, NULL, (float[]){0.75f}, 4);
        check_const(g, "c_floats", WEFT_FLOAT32, 1, (int64_t[]){3}, (float[]){1, 2, 3}, 12);
        check_const(g, "c_int", WEFT_INT64, 0, NULL, (int64_t[]){-3}, 8);
        check_const(g, "c_ints", WEFT_INT64, 1, (int64_t[]){2}, (int64_t[]){4, 5}, 16);
        check_const(g, "c_sparse", WEFT_FLOAT32, 1, (int64_t[]){4}, (float[]){0, 0, 9, 0}, 16);
        const weft_value *c = val(g, "c_int");
        CU_ASSERT(c && c->producer == -1 && !(c->flags & WEFT_VALUE_INITIALIZER));
    }
    weft_model_free(m);
    load_fails(DATA "constant_string.onnx", WEFT_ERR_UNSUPPORTED, "string");
}

/* ScaleAdd(x, b; alpha, beta = 2) = MulBy(x; factor = alpha) + MulBy(b; factor = beta), MulBy(u; factor)
 * = u * Constant(value_float = factor). call1: alpha 3, beta default 2; call2: alpha 0.5, beta -1. */
static void test_function(void)
{
    weft_model *m = load_ok(DATA "function.onnx");
    if (m) {
        const weft_graph *g = m->graph;
        CU_ASSERT_EQUAL(m->n_functions, 2);
        CU_ASSERT_EQUAL(g->n_nodes, 6);
        CU_ASSERT_EQUAL(count_op(g, "Mul"), 4);
        CU_ASSERT_EQUAL(count_op(g, "Add"), 2);
        CU_ASSERT_EQUAL(count_op(g, "Constant"), 0);
        CU_ASSERT_EQUAL(g->n_inputs, 2);
        CU_ASSERT_EQUAL(g->n_outputs, 1);
        /* the factors, in node order: call1 alpha, call1 beta, call2 alpha, call2 beta */
        float want[4] = {3.0f, 2.0f, 0.5f, -1.0f};
        int k = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const weft_node *n = &g->nodes[i];
            CU_ASSERT_STRING_EQUAL(n->domain, "");
            CU_ASSERT_EQUAL(n->opset, 17);
            if (strcmp(n->op_type, "Mul") != 0) continue;
            const weft_value *f = &g->values[n->inputs[1]];
            CU_ASSERT(f->flags & WEFT_VALUE_CONST);
            CU_ASSERT_EQUAL(f->dtype, WEFT_FLOAT32);
            CU_ASSERT_EQUAL(f->shape.rank, 0);
            if (k < 4 && f->data) CU_ASSERT_EQUAL(*(const float *)f->data, want[k]);
            k++;
        }
        CU_ASSERT_EQUAL(k, 4);
        /* the first call reads X and B, writes Y; the second reads Y and writes Z (an output) */
        int y = weft_graph_find_value(g, "Y"), z = weft_graph_find_value(g, "Z");
        CU_ASSERT(y >= 0 && z >= 0);
        if (y >= 0 && z >= 0) {
            CU_ASSERT(g->values[y].producer >= 0);
            CU_ASSERT_STRING_EQUAL(g->nodes[g->values[y].producer].op_type, "Add");
            CU_ASSERT(g->values[z].flags & WEFT_VALUE_OUTPUT);
            CU_ASSERT(strstr(g->nodes[g->values[y].producer].name, "call1") != NULL);
        }
        /* function-internal names were made unique per call */
        CU_ASSERT_EQUAL(weft_graph_find_value(g, "xa"), -1);
        CU_ASSERT_EQUAL(weft_ir_toposort(m->graph), WEFT_OK);
    }
    weft_model_free(m);
    load_fails(DATA "function_recursive.onnx", WEFT_ERR_INVALID_MODEL, "calls itself");
}

static void test_subgraphs(void)
{
    weft_model *m = load_ok(DATA "subgraph.onnx");
    if (m) {
        const weft_graph *g = m->graph;
        CU_ASSERT_EQUAL(g->n_inputs, 2); /* C, X; W is an initializer */
        CU_ASSERT_EQUAL(g->n_nodes, 1);
        const weft_node *n = &g->nodes[0];
        CU_ASSERT_STRING_EQUAL(n->name, "the_if");
        const weft_attr *th = node_attr(n, "then_branch"), *el = node_attr(n, "else_branch");
        CU_ASSERT_FATAL(th && el && th->type == WEFT_ATTR_GRAPH && el->type == WEFT_ATTR_GRAPH);
        const weft_graph *tg = th->g, *eg = el->g;
        CU_ASSERT_PTR_EQUAL(tg->parent, g);
        CU_ASSERT_PTR_EQUAL(tg->syms, &m->syms);
        CU_ASSERT_STRING_EQUAL(tg->name, "then_branch");
        const weft_value *x = val(tg, "X"), *w = val(tg, "W");
        CU_ASSERT(x && (x->flags & WEFT_VALUE_OUTER));
        CU_ASSERT(w && (w->flags & WEFT_VALUE_OUTER));
        CU_ASSERT_EQUAL(tg->n_outputs, 1);
        const weft_graph *owner = NULL;
        const weft_value *wt = weft_graph_lookup_scoped(tg, "W", &owner);
        CU_ASSERT(wt && (wt->flags & WEFT_VALUE_INITIALIZER) && owner == g);
        /* else: Constant trip count folded; Loop whose body reads W from two levels up */
        CU_ASSERT_EQUAL(eg->n_nodes, 1);
        CU_ASSERT_STRING_EQUAL(eg->nodes[0].op_type, "Loop");
        CU_ASSERT_EQUAL(eg->nodes[0].n_inputs, 3);
        CU_ASSERT_EQUAL(eg->nodes[0].inputs[1], -1); /* empty name: absent optional input */
        const weft_value *trip = val(eg, "trip");
        CU_ASSERT(trip && (trip->flags & WEFT_VALUE_CONST));
        const weft_attr *body = node_attr(&eg->nodes[0], "body");
        CU_ASSERT_FATAL(body && body->g);
        CU_ASSERT_PTR_EQUAL(body->g->parent, eg);
        CU_ASSERT_EQUAL(body->g->n_inputs, 3);
        CU_ASSERT_EQUAL(body->g->n_outputs, 2);
        const weft_value *bw = val(body->g, "W");
        CU_ASSERT(bw && (bw->flags & WEFT_VALUE_OUTER));
        CU_ASSERT(weft_graph_lookup_scoped(body->g, "W", &owner) != NULL && owner == g);
        const weft_value *ci = val(body->g, "cond_in");
        CU_ASSERT(ci && (ci->flags & WEFT_VALUE_INPUT) && ci->dtype == WEFT_BOOL && ci->shape.rank == 0);
    }
    weft_model_free(m);
    load_fails(DATA "subgraph_dangling.onnx", WEFT_ERR_INVALID_MODEL, "nowhere");
}

static void test_forms(void)
{
    weft_model *m = load_ok(DATA "forms.onnx");
    if (m) {
        const weft_graph *g = m->graph;
        CU_ASSERT_EQUAL(weft_model_opset(m, ""), 13); /* imported as "ai.onnx" */
        CU_ASSERT_EQUAL(m->ir_version, 10);
        CU_ASSERT_EQUAL(g->n_inputs, 2); /* B has an initializer: a constant, not an input */
        const weft_value *x = val(g, "X"), *y = val(g, "Y"), *b = val(g, "B");
        CU_ASSERT_FATAL(x && y && b);
        CU_ASSERT(b->flags & WEFT_VALUE_CONST);
        CU_ASSERT(!(b->flags & WEFT_VALUE_INPUT));
        CU_ASSERT(x->flags & WEFT_VALUE_INPUT && x->flags & WEFT_VALUE_TYPED);
        CU_ASSERT_EQUAL(x->shape.rank, 3);
        CU_ASSERT(!weft_dim_known(x->shape.d[0]));
        CU_ASSERT_STRING_EQUAL(weft_sym_name(&m->syms, x->shape.d[0].sym), "N");
        CU_ASSERT_EQUAL(x->shape.d[0].sym, y->shape.d[0].sym); /* same dim_param, same symbol */
        CU_ASSERT(weft_dim_known(x->shape.d[1]) && x->shape.d[1].v == 3);
        CU_ASSERT(!weft_dim_known(x->shape.d[2]) && !weft_dim_known(y->shape.d[2]));
        CU_ASSERT(x->shape.d[2].sym != y->shape.d[2].sym); /* unnamed dims are fresh symbols */
        /* nodes out of order: Relu reads h, which the later Add writes */
        const weft_value *h = val(g, "h");
        CU_ASSERT_FATAL(h != NULL);
        CU_ASSERT(h->flags & WEFT_VALUE_TYPED); /* from value_info */
        CU_ASSERT_STRING_EQUAL(weft_sym_name(&m->syms, h->shape.d[2].sym), "M");
        CU_ASSERT(h->producer >= 0 && strcmp(g->nodes[h->producer].name, "add") == 0);
        CU_ASSERT_STRING_EQUAL(g->nodes[0].op_type, "Relu");
        CU_ASSERT_STRING_EQUAL(g->nodes[0].name, "Relu_0"); /* generated */
        CU_ASSERT_EQUAL(g->nodes[0].opset, 13);
        /* Clip(Y, "", Mx): the empty name is an absent input */
        int clip = 2;
        CU_ASSERT_STRING_EQUAL(g->nodes[clip].op_type, "Clip");
        CU_ASSERT_EQUAL(g->nodes[clip].inputs[1], -1);
        CU_ASSERT_EQUAL(g->nodes[clip].inputs[2], weft_graph_find_value(g, "Mx"));
        const weft_value *w = val(g, "W");
        CU_ASSERT(w && w->dtype == WEFT_FLOAT32 && w->shape.rank == -1 && !(w->flags & WEFT_VALUE_TYPED));
        CU_ASSERT_EQUAL(weft_ir_toposort(m->graph), WEFT_OK);
        CU_ASSERT_STRING_EQUAL(g->nodes[0].op_type, "Add");
    }
    weft_model_free(m);
}

static void test_invalid_models(void)
{
    load_fails(DATA "dup_output.onnx", WEFT_ERR_INVALID_MODEL, "'Y'");
    load_fails(DATA "output_is_input.onnx", WEFT_ERR_INVALID_MODEL, "graph input");
    load_fails(DATA "dangling.onnx", WEFT_ERR_INVALID_MODEL, "ghost");
    load_fails(DATA "ir2.onnx", WEFT_ERR_UNSUPPORTED, "IR version 2");
    load_fails(DATA "sequence_input.onnx", WEFT_ERR_UNSUPPORTED, "'S'");
    load_fails(DATA "negative_dim.onnx", WEFT_ERR_INVALID_MODEL, "negative");
    load_fails(DATA "rank9.onnx", WEFT_ERR_UNSUPPORTED, "rank 9");
    load_fails(DATA "bad_raw_length.onnx", WEFT_ERR_INVALID_MODEL, "'W'");
    load_fails(DATA "huge_dims.onnx", WEFT_ERR_NOMEM, "'W'");
    load_fails(DATA "overflow_dims.onnx", WEFT_ERR_NOMEM, "overflows");
    load_fails(DATA "bad_typed_count.onnx", WEFT_ERR_INVALID_MODEL, "int64_data");
    load_fails(DATA "int8_out_of_range.onnx", WEFT_ERR_INVALID_MODEL, "300");
    load_fails(DATA "string_initializer.onnx", WEFT_ERR_UNSUPPORTED, "string");
    load_fails(DATA "unimported_domain.onnx", WEFT_ERR_INVALID_MODEL, "com.other");
    load_fails(DATA "no_graph.onnx", WEFT_ERR_INVALID_MODEL, "no graph");
    load_fails(DATA "duplicate_attribute.onnx", WEFT_ERR_INVALID_MODEL, "twice");
    load_fails(DATA "stray_attribute_ref.onnx", WEFT_ERR_INVALID_MODEL, "outside a function");
    load_fails(DATA "does_not_exist.onnx", WEFT_ERR_IO, NULL);
    load_fails(DATA "ext", WEFT_ERR_IO, NULL); /* a folder */
    weft_model *m = NULL;
    CU_ASSERT_EQUAL(weft_model_load(NULL, &m), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(weft_model_load(DATA "storage.onnx", NULL), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(weft_model_load_from_buffer(NULL, 0, NULL, &m), WEFT_ERR_PARSE);
    weft_model_free(NULL);
}

/* Loads `path` expecting no crash; a failure must carry a message naming the file. */
static int load_any(const char *path)
{
    weft_model *m = NULL;
    weft_status s = weft_model_load(path, &m);
    if (s == WEFT_OK) { weft_model_free(m); return 0; }
    CU_ASSERT_PTR_NULL(m);
    if (!strstr(weft_last_error(), path)) {
        printf("\n  message does not name the file: %s\n", weft_last_error());
        CU_FAIL("message does not name the file");
    }
    return 1;
}

static void test_hostile_files(void)
{
    CU_ASSERT_FATAL(make_tmpdir() == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/h.onnx", tmpdir);

    CU_ASSERT(wt_write_file(path, "", 0) == 0);
    CU_ASSERT(load_any(path));
    CU_ASSERT_EQUAL(weft_model_load(path, &(weft_model *){NULL}), WEFT_ERR_PARSE);

    /* random bytes (a fixed LCG so failures reproduce) */
    uint32_t seed = 12345;
    for (int trial = 0; trial < 50; trial++) {
        uint8_t buf[512];
        size_t n = 1 + trial * 10;
        for (size_t i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; buf[i] = (uint8_t)(seed >> 16); }
        CU_ASSERT(wt_write_file(path, buf, n) == 0);
        CU_ASSERT(load_any(path)); /* random bytes never make a model */
    }

    /* every truncation and many bit flips of real models */
    const char *srcs[] = {DATA "storage.onnx", DATA "function.onnx", DATA "subgraph.onnx", DATA "sparse.onnx",
                          DATA "constants.onnx"};
    int failures = 0, loads = 0;
    for (size_t k = 0; k < sizeof srcs / sizeof srcs[0]; k++) {
        size_t n;
        uint8_t *orig = wt_read_file(srcs[k], &n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
        size_t step = n > 400 ? n / 400 : 1;
        for (size_t cut = 0; cut < n; cut += step) {
            CU_ASSERT(wt_write_file(path, orig, cut) == 0);
            failures += load_any(path);
            loads++;
        }
        uint8_t *flip = malloc(n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(flip);
        for (int trial = 0; trial < 300; trial++) {
            memcpy(flip, orig, n);
            for (int b = 0; b < 1 + trial % 3; b++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % n;
                flip[at] ^= (uint8_t)(1u << (seed % 8));
            }
            CU_ASSERT(wt_write_file(path, flip, n) == 0);
            failures += load_any(path);
            loads++;
        }
        free(flip);
        free(orig);
    }
    CU_ASSERT(failures > loads / 4); /* most damaged files are refused */
    unlink(path);
    rmdir(tmpdir);
}

/* Varint into the end of a buffer being built back to front. */
static size_t put_varint_back(uint8_t *end, uint64_t v)
{
    uint8_t tmp[10];
    size_t k = 0;
    do { tmp[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)); v >>= 7; } while (v);
    memcpy(end - k, tmp, k);
    return k;
}

static void test_deep_nesting(void)
{
    /* ModelProto.graph(7) -> GraphProto.node(1) -> NodeProto.attribute(5) -> AttributeProto.g(6) -> ...,
     * 20000 levels deep: the parser must refuse it rather than exhaust the stack */
    const int levels = 20000;
    size_t cap = (size_t)levels * 3 * 8 + 64;
    uint8_t *buf = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    uint8_t *end = buf + cap, *p = end;
    const uint8_t tags[3] = {(6 << 3) | 2, (5 << 3) | 2, (1 << 3) | 2}; /* innermost first: g, attribute, node */
    for (int i = 0; i < levels * 3; i++) {
        size_t len = (size_t)(end - p);
        p -= put_varint_back(p, len);
        *--p = tags[i % 3];
    }
    /* wrap as ModelProto.graph, preceded by ir_version = 8 */
    size_t len = (size_t)(end - p);
    p -= put_varint_back(p, len);
    *--p = (7 << 3) | 2;
    *--p = 8;
    *--p = (1 << 3) | 0;
    weft_model *m = NULL;
    weft_status s = weft_model_load_from_buffer(p, (size_t)(end - p), NULL, &m);
    CU_ASSERT_EQUAL(s, WEFT_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "nest"));
    weft_model_free(m);
    free(buf);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("import", NULL, NULL);
    CU_add_test(s, "model fields", test_model_fields);
    CU_add_test(s, "initializer storage forms", test_storage_forms);
    CU_add_test(s, "external data", test_external);
    CU_add_test(s, "external data: hostile paths and sizes", test_external_hostile);
    CU_add_test(s, "external data: symlinks", test_external_symlink);
    CU_add_test(s, "external data: offsets beyond 2 GiB", test_external_beyond_2gib);
    CU_add_test(s, "sparse initializers", test_sparse);
    CU_add_test(s, "Constant nodes", test_constants);
    CU_add_test(s, "local functions", test_function);
    CU_add_test(s, "If/Loop subgraphs", test_subgraphs);
    CU_add_test(s, "symbols, order, value_info", test_forms);
    CU_add_test(s, "invalid models", test_invalid_models);
    CU_add_test(s, "hostile files", test_hostile_files);
    CU_add_test(s, "deep nesting", test_deep_nesting);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
