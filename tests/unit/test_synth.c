/*
 * tests/unit/test_synth.c — synthesised inputs (weft_plan_synthesize_inputs / _describe) through the
 * public API only.
 *
 * What is expected is worked out here from the models' definitions (models/README.md,
 * schemas/traffic_graph.md): `x` is [num_nodes, F] and `edge_index` [2, num_edges] with both rows in
 * [0, num_nodes); in the traffic models `x_<type>` is [num_<type>, F] and `edge_index__<src>__<rel>__<dst>`
 * (and `pairs__...`) [2, num_edges_... / num_pairs_...] with row 0 in [0, num_<src>) and row 1 in
 * [0, num_<dst>). The node counts of the two types are set far apart, so a row given the other type's
 * range shows. Beyond the ranges: every symbol has the value asked for, a seed gives the same values
 * every time and another seed others, floats look like N(0,1) samples, indices use their whole range,
 * and the inputs run through a session. A model whose index rows nothing places is an error naming the
 * input.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "onnx/onnx.pb-c.h"

#define N_HOMOG 10   /* num_nodes */
#define N_CON 41     /* num_con */
#define N_IP 9       /* num_ip */
#define N_EDGES 2000 /* every edge (and pair) count: E >> N, so every node shows up in every row */

static weft_plan *compile(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "models/%s/model.onnx", name);
    weft_model *m = NULL;
    weft_plan *p = NULL;
    if (weft_model_load(path, &m) || weft_compile(m, NULL, &p)) fprintf(stderr, "\n  %s: %s\n", path, weft_last_error());
    weft_model_free(m);
    return p;
}

/* The value the models' conventions give symbol `sym` (-1: a symbol this test does not know). */
static int64_t expected_symbol(const char *sym)
{
    if (!strncmp(sym, "num_edges", 9) || !strncmp(sym, "num_pairs", 9)) return N_EDGES;
    if (!strcmp(sym, "num_nodes")) return N_HOMOG;
    if (!strcmp(sym, "num_con")) return N_CON;
    if (!strcmp(sym, "num_ip")) return N_IP;
    return -1;
}

static int64_t type_size(const char *type, size_t len)
{
    if (len == 3 && !strncmp(type, "con", 3)) return N_CON;
    if (len == 2 && !strncmp(type, "ip", 2)) return N_IP;
    return -1;
}

/* The range of row `row` of index input `name` by the naming conventions; -1 for a non-index input. */
static int64_t expected_range(const char *name, int row)
{
    if (!strcmp(name, "edge_index")) return N_HOMOG;
    const char *rest = !strncmp(name, "edge_index__", 12) ? name + 12 : !strncmp(name, "pairs__", 7) ? name + 7 : NULL;
    if (!rest) return -1;
    const char *rel = strstr(rest, "__"), *dst = rel ? strstr(rel + 2, "__") : NULL;
    if (!dst) return -1;
    return row == 0 ? type_size(rest, (size_t)(rel - rest)) : type_size(dst + 2, strlen(dst + 2));
}

static const char *const dim_names[] = {"num_con", "num_ip"};
static const int64_t dim_values[] = {N_CON, N_IP};

static weft_synth_options options(uint64_t seed)
{
    /* nodes is N_HOMOG for the homogeneous models; the traffic models' node counts are named */
    return (weft_synth_options){N_HOMOG, N_EDGES, seed, dim_names, dim_values, 2};
}

/* Options for a model: the traffic dims only where the model has them. */
static weft_synth_options options_for(const weft_plan *p, uint64_t seed)
{
    weft_synth_options o = options(seed);
    bool traffic = false;
    for (int i = 0; i < weft_plan_num_inputs(p); i++) {
        weft_tensor info;
        if (weft_plan_input_info(p, i, &info) == WEFT_OK && !strcmp(info.name, "x_con")) traffic = true;
    }
    if (!traffic) o.n_dims = 0;
    return o;
}

static weft_tensor *synthesise(const weft_plan *p, uint64_t seed)
{
    int n = weft_plan_num_inputs(p);
    weft_tensor *in = calloc((size_t)n, sizeof *in);
    weft_synth_options o = options_for(p, seed);
    weft_status st = weft_plan_synthesize_inputs(p, &o, in, n);
    if (st) fprintf(stderr, "\n  synthesise: %s\n", weft_last_error());
    CU_ASSERT_EQUAL(st, WEFT_OK);
    if (st) { free(in); return NULL; }
    return in;
}

static void release(weft_tensor *in, int n)
{
    if (!in) return;
    for (int i = 0; i < n; i++) weft_tensor_release(&in[i]);
    free(in);
}

static int64_t numel(const weft_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->dims[d];
    return n;
}

static int64_t index_at(const weft_tensor *t, int64_t k)
{
    return t->dtype == WEFT_INT32 ? ((const int32_t *)t->data)[k] : ((const int64_t *)t->data)[k];
}

/* Shapes, dtypes and names from the plan, each symbol its value; index rows in range and covering it;
 * floats N(0,1)-like. */
static void check_inputs(const weft_plan *p, const weft_tensor *in, int64_t *edges_out)
{
    int64_t edges = 0;
    for (int i = 0; i < weft_plan_num_inputs(p); i++) {
        weft_tensor info;
        CU_ASSERT_EQUAL_FATAL(weft_plan_input_info(p, i, &info), WEFT_OK);
        const weft_tensor *t = &in[i];
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->name);
        CU_ASSERT_STRING_EQUAL(t->name, info.name);
        CU_ASSERT_EQUAL(t->dtype, info.dtype);
        CU_ASSERT_EQUAL_FATAL(t->rank, info.rank);
        for (int d = 0; d < t->rank; d++) {
            const char *sym = weft_plan_input_dim_name(p, i, d);
            int64_t want = sym ? expected_symbol(sym) : info.dims[d];
            if (t->dims[d] != want)
                fprintf(stderr, "\n  %s dim %d (%s): %lld, expected %lld\n", t->name, d, sym ? sym : "number",
                        (long long)t->dims[d], (long long)want);
            CU_ASSERT_EQUAL(t->dims[d], want);
        }
        CU_ASSERT_EQUAL(t->nbytes, (size_t)numel(t) * weft_dtype_size(t->dtype));
        if (expected_range(t->name, 0) >= 0) {
            CU_ASSERT(t->dtype == WEFT_INT64 || t->dtype == WEFT_INT32);
            CU_ASSERT_EQUAL_FATAL(t->rank, 2);
            CU_ASSERT_EQUAL(t->dims[0], 2);
            if (strncmp(t->name, "pairs", 5) != 0) edges += t->dims[1];
            for (int row = 0; row < 2; row++) {
                int64_t range = expected_range(t->name, row), bad = 0;
                char *seen = calloc((size_t)range, 1);
                for (int64_t e = 0; e < t->dims[1]; e++) {
                    int64_t v = index_at(t, row * t->dims[1] + e);
                    if (v < 0 || v >= range) bad++;
                    else seen[v] = 1;
                }
                int64_t covered = 0;
                for (int64_t v = 0; v < range; v++) covered += seen[v];
                free(seen);
                if (bad || covered != range)
                    fprintf(stderr, "\n  %s row %d: %lld values outside [0, %lld), %lld of its values used\n", t->name,
                            row, (long long)bad, (long long)range, (long long)covered);
                CU_ASSERT_EQUAL(bad, 0);
                CU_ASSERT_EQUAL(covered, range);
            }
        } else {
            CU_ASSERT_EQUAL_FATAL(t->dtype, WEFT_FLOAT32);
            int64_t n = numel(t);
            double sum = 0, sq = 0;
            for (int64_t k = 0; k < n; k++) {
                double v = ((const float *)t->data)[k];
                CU_ASSERT_FATAL(isfinite(v));
                sum += v;
                sq += v * v;
            }
            /* n >= 279 (x_ip: 9 x 31): the mean of N(0,1) samples within 5 standard errors of 0, their
             * second moment within 5 of its standard errors (sqrt(2/n)) of 1 */
            double mean = sum / (double)n, m2 = sq / (double)n;
            if (!(fabs(mean) < 5 / sqrt((double)n) && fabs(m2 - 1) < 5 * sqrt(2.0 / (double)n)))
                fprintf(stderr, "\n  %s: mean %g, second moment %g over %lld values\n", t->name, mean, m2, (long long)n);
            CU_ASSERT(fabs(mean) < 5 / sqrt((double)n));
            CU_ASSERT(fabs(m2 - 1) < 5 * sqrt(2.0 / (double)n));
        }
    }
    *edges_out = edges;
}

/* describe agrees with the inputs made and with the conventions. */
static void check_describe(const weft_plan *p, const weft_tensor *in, int64_t edges)
{
    weft_synth_options o = options_for(p, 1);
    weft_synth_info *si = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_plan_synthesize_describe(p, &o, &si), WEFT_OK);
    CU_ASSERT_EQUAL(si->n_inputs, weft_plan_num_inputs(p));
    for (int i = 0; i < si->n_inputs; i++) {
        CU_ASSERT_STRING_EQUAL(si->inputs[i].name, in[i].name);
        CU_ASSERT_PTR_NULL(si->inputs[i].data);
        CU_ASSERT_EQUAL(si->inputs[i].rank, in[i].rank);
        CU_ASSERT(memcmp(si->inputs[i].dims, in[i].dims, sizeof in[i].dims) == 0);
    }
    CU_ASSERT_EQUAL(si->edges, edges);
    for (int k = 0; k < si->n_symbols; k++) {
        CU_ASSERT_EQUAL(si->symbols[k].value, expected_symbol(si->symbols[k].name));
        bool named = !strcmp(si->symbols[k].name, "num_con") || !strcmp(si->symbols[k].name, "num_ip");
        weft_synth_role want = named ? WEFT_SYNTH_GIVEN
                               : !strncmp(si->symbols[k].name, "num_edges", 9) || !strncmp(si->symbols[k].name, "num_pairs", 9)
                                   ? WEFT_SYNTH_EDGES
                                   : WEFT_SYNTH_NODES;
        CU_ASSERT_EQUAL(si->symbols[k].role, want);
    }
    int index_rows = 0;
    for (int i = 0; i < si->n_inputs; i++) index_rows += expected_range(in[i].name, 0) >= 0 ? 2 : 0;
    CU_ASSERT_EQUAL(si->n_rows, index_rows);
    for (int r = 0; r < si->n_rows; r++) {
        const weft_synth_row *row = &si->rows[r];
        CU_ASSERT_FATAL(row->input >= 0 && row->input < si->n_inputs);
        CU_ASSERT_EQUAL(row->range, expected_range(in[row->input].name, row->row));
        CU_ASSERT_PTR_NOT_NULL_FATAL(row->dim);
        CU_ASSERT_EQUAL(expected_symbol(row->dim), row->range);
        CU_ASSERT_STRING_EQUAL(row->source, "graph");
        CU_ASSERT(row->uses > 0);
    }
    weft_synth_info_free(si);
}

static void check_model(const char *name)
{
    weft_plan *p = compile(name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int n = weft_plan_num_inputs(p);
    weft_tensor *a = synthesise(p, 1), *b = synthesise(p, 1), *c = synthesise(p, 2);
    if (a && b && c) {
        int64_t edges = 0;
        check_inputs(p, a, &edges);
        check_inputs(p, c, &edges);
        check_describe(p, a, edges);
        /* reproducible for a seed; different for another, input by input */
        for (int i = 0; i < n; i++) {
            CU_ASSERT_EQUAL_FATAL(a[i].nbytes, b[i].nbytes);
            CU_ASSERT(memcmp(a[i].data, b[i].data, a[i].nbytes) == 0);
            CU_ASSERT(a[i].nbytes == 0 || memcmp(a[i].data, c[i].data, a[i].nbytes) != 0);
        }
        /* they run, on every backend of this build */
        weft_session *s = NULL;
        CU_ASSERT_EQUAL_FATAL(weft_session_create(p, &s), WEFT_OK);
        int n_out = weft_plan_num_outputs(p);
        weft_tensor out[8] = {0};
        CU_ASSERT_FATAL(n_out <= 8);
        for (int k = 0; k < 2; k++) {
            weft_status st = weft_session_run(s, k ? c : a, (size_t)n, out, (size_t)n_out);
            if (st) fprintf(stderr, "\n  %s: %s\n", name, weft_last_error());
            CU_ASSERT_EQUAL(st, WEFT_OK);
        }
        weft_session_free(s);
    }
    release(a, n);
    release(b, n);
    release(c, n);
    weft_plan_free(p);
}

static void test_sage(void) { check_model("sage_mean_ts18"); }
static void test_gcn(void) { check_model("gcn_ts18"); }
static void test_traffic_encoder(void) { check_model("traffic_encoder_ts18"); }
static void test_traffic_linkpred(void) { check_model("traffic_linkpred_ts18"); }

/* --- errors ----------------------------------------------------------------------------------------- */

/* A model with node sets a [na, 4] and b [nb, 4] and an int64 idx [2, num_e] that only Size reads: no
 * use, no name and no single node-count dimension tells which set idx's rows index. */
static weft_plan *unplaceable_model(void)
{
    Onnx__TensorShapeProto__Dimension d[3][2];
    Onnx__TensorShapeProto__Dimension *dp[3][2];
    Onnx__TensorShapeProto shape[3];
    Onnx__TypeProto__Tensor tt[3];
    Onnx__TypeProto type[3];
    Onnx__ValueInfoProto vi[3], *vip[3];
    static const char *const names[3] = {"a", "b", "idx"}, *const first[3] = {"na", "nb", NULL};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 2; k++) {
            onnx__tensor_shape_proto__dimension__init(&d[i][k]);
            dp[i][k] = &d[i][k];
        }
        d[i][0].value_case = first[i] ? ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                                      : ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (first[i]) d[i][0].dim_param = (char *)first[i];
        else d[i][0].dim_value = 2;
        d[i][1].value_case = i < 2 ? ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                                   : ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        if (i < 2) d[i][1].dim_value = 4;
        else d[i][1].dim_param = "num_e";
        onnx__tensor_shape_proto__init(&shape[i]);
        shape[i].n_dim = 2;
        shape[i].dim = dp[i];
        onnx__type_proto__tensor__init(&tt[i]);
        tt[i].has_elem_type = 1;
        tt[i].elem_type = i < 2 ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT : ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        tt[i].shape = &shape[i];
        onnx__type_proto__init(&type[i]);
        type[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        type[i].tensor_type = &tt[i];
        onnx__value_info_proto__init(&vi[i]);
        vi[i].name = (char *)names[i];
        vi[i].type = &type[i];
        vip[i] = &vi[i];
    }
    /* outputs: y = Relu(a), z = Relu(b), n = Size(idx), untyped (inferred) */
    static const char *const ops[3] = {"Relu", "Relu", "Size"}, *const outs[3] = {"y", "z", "n"};
    Onnx__NodeProto node[3], *nodep[3];
    Onnx__ValueInfoProto ovi[3], *ovip[3];
    char *node_in[3][1], *node_out[3][1];
    for (int i = 0; i < 3; i++) {
        onnx__node_proto__init(&node[i]);
        node_in[i][0] = (char *)names[i];
        node_out[i][0] = (char *)outs[i];
        node[i].op_type = (char *)ops[i];
        node[i].n_input = 1;
        node[i].input = node_in[i];
        node[i].n_output = 1;
        node[i].output = node_out[i];
        nodep[i] = &node[i];
        onnx__value_info_proto__init(&ovi[i]);
        ovi[i].name = (char *)outs[i];
        ovip[i] = &ovi[i];
    }
    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = "unplaceable";
    g.n_node = 3;
    g.node = nodep;
    g.n_input = 3;
    g.input = vip;
    g.n_output = 3;
    g.output = ovip;
    Onnx__OperatorSetIdProto opset, *opsetp = &opset;
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = 1;
    opset.version = 18;
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1;
    m.ir_version = 8;
    m.graph = &g;
    m.n_opset_import = 1;
    m.opset_import = &opsetp;
    size_t len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(&m, buf);
    weft_model *model = NULL;
    weft_plan *p = NULL;
    if (weft_model_load_from_buffer(buf, len, NULL, &model) || weft_compile(model, NULL, &p))
        fprintf(stderr, "\n  the unplaceable model: %s\n", weft_last_error());
    weft_model_free(model);
    free(buf);
    return p;
}

static void test_unplaceable_rows(void)
{
    weft_plan *p = unplaceable_model();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL_FATAL(weft_plan_num_inputs(p), 3);
    weft_tensor in[3];
    memset(in, 0x5a, sizeof in);
    weft_synth_options o = {10, 20, 1, NULL, NULL, 0};
    CU_ASSERT_EQUAL(weft_plan_synthesize_inputs(p, &o, in, 3), WEFT_ERR_UNSUPPORTED);
    const char *msg = weft_last_error();
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "row 0 of input 'idx'"));
    for (int i = 0; i < 3; i++) CU_ASSERT(in[i].data == NULL && in[i].name == NULL); /* nothing left allocated */
    weft_synth_info *si = NULL;
    CU_ASSERT_EQUAL(weft_plan_synthesize_describe(p, &o, &si), WEFT_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(si);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "'idx'"));
    weft_plan_free(p);
}

static void test_bad_options(void)
{
    weft_plan *p = compile("sage_mean_ts18");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    weft_tensor in[2];
    /* a dimension the inputs do not have: named, with the ones they have */
    const char *hats[] = {"num_hats"};
    const int64_t three[] = {3};
    weft_synth_options o = {10, 20, 1, hats, three, 1};
    CU_ASSERT_EQUAL(weft_plan_synthesize_inputs(p, &o, in, 2), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "num_hats"));
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "num_nodes"));
    /* the wrong number of inputs */
    o.n_dims = 0;
    CU_ASSERT_EQUAL(weft_plan_synthesize_inputs(p, &o, in, 1), WEFT_ERR_INVALID_ARGUMENT);
    /* edges into an empty node set: no valid index */
    o.nodes = 0;
    CU_ASSERT_EQUAL(weft_plan_synthesize_inputs(p, &o, in, 2), WEFT_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "'edge_index'"));
    CU_ASSERT(in[0].data == NULL && in[1].data == NULL);
    /* ... but an empty graph is fine */
    o.edges = 0;
    CU_ASSERT_EQUAL_FATAL(weft_plan_synthesize_inputs(p, &o, in, 2), WEFT_OK);
    CU_ASSERT_EQUAL(in[0].dims[0], 0);
    CU_ASSERT_EQUAL(in[1].dims[1], 0);
    weft_tensor_release(&in[0]);
    weft_tensor_release(&in[1]);
    /* negative sizes */
    o.nodes = -1;
    CU_ASSERT_EQUAL(weft_plan_synthesize_inputs(p, &o, in, 2), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(weft_plan_synthesize_inputs(p, NULL, in, 2), WEFT_ERR_INVALID_ARGUMENT);
    weft_plan_free(p);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("synth", NULL, NULL);
    CU_add_test(s, "sage_mean_ts18", test_sage);
    CU_add_test(s, "gcn_ts18", test_gcn);
    CU_add_test(s, "traffic_encoder_ts18", test_traffic_encoder);
    CU_add_test(s, "traffic_linkpred_ts18", test_traffic_linkpred);
    CU_add_test(s, "index rows nothing places", test_unplaceable_rows);
    CU_add_test(s, "bad options", test_bad_options);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
