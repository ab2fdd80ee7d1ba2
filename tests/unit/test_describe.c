/* tests/unit/test_describe.c — weft_model_describe over a hand-built IR: text and JSON reports. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/ir.h"

static char *xstrdup(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

static int add_typed(weft_graph *g, const char *name, weft_dtype t, int rank, const weft_dim *d, unsigned flags)
{
    int v = weft_graph_add_value(g, name);
    if (v < 0) return -1;
    g->values[v].dtype = t;
    g->values[v].shape.rank = rank;
    for (int i = 0; i < rank; i++) g->values[v].shape.d[i] = d[i];
    g->values[v].flags |= flags | WEFT_VALUE_TYPED;
    return v;
}

static int add_node(weft_graph *g, const char *op, const char *domain, const char *name, int opset)
{
    int n = weft_graph_add_node(g, op, domain, name, 0, 0);
    if (n >= 0) g->nodes[n].opset = opset;
    return n;
}

/*
 * x: float [N,3] -> Add, Add, Relu, com.example.Frob ("frob1"), If (whose then-branch holds one
 * Frob "inner" and one Add) -> y: int64 [N,?]. Initializers: W float [3,4] (12 elements, 48 bytes),
 * B int64 [4] (4 elements, 32 bytes): 16 parameters, 80 bytes.
 */
static weft_model *build_model(void)
{
    weft_model *m = calloc(1, sizeof *m);
    CU_ASSERT_FATAL(m != NULL);
    m->ir_version = 8;
    m->producer_name = xstrdup("hand \"built\"");
    m->producer_version = xstrdup("0.1");
    m->n_opsets = 2;
    m->opsets = calloc(2, sizeof *m->opsets);
    m->opsets[0].domain = xstrdup("");
    m->opsets[0].version = 17;
    m->opsets[1].domain = xstrdup("com.example");
    m->opsets[1].version = 1;
    m->n_functions = 2;
    int32_t N = weft_sym_intern(&m->syms, "N");
    int32_t unk = weft_sym_fresh(&m->syms);
    weft_graph *g = weft_graph_new(NULL, &m->syms);
    CU_ASSERT_FATAL(g != NULL);
    m->graph = g;

    weft_dim xd[2] = {{0, N}, {3, -1}}, yd[2] = {{0, N}, {0, unk}}, wd[2] = {{3, -1}, {4, -1}}, bd[1] = {{4, -1}};
    int x = add_typed(g, "x", WEFT_FLOAT32, 2, xd, WEFT_VALUE_INPUT);
    int y = add_typed(g, "y", WEFT_INT64, 2, yd, WEFT_VALUE_OUTPUT);
    int w = add_typed(g, "W", WEFT_FLOAT32, 2, wd, WEFT_VALUE_INITIALIZER | WEFT_VALUE_CONST);
    int b = add_typed(g, "B", WEFT_INT64, 1, bd, WEFT_VALUE_INITIALIZER | WEFT_VALUE_CONST);
    CU_ASSERT_FATAL(x >= 0 && y >= 0 && w >= 0 && b >= 0);
    static const float wv[12] = {0};
    static const int64_t bv[4] = {0};
    CU_ASSERT_FATAL(weft_value_set_data(&g->values[w], WEFT_FLOAT32, &g->values[w].shape, wv, sizeof wv) == WEFT_OK);
    CU_ASSERT_FATAL(weft_value_set_data(&g->values[b], WEFT_INT64, &g->values[b].shape, bv, sizeof bv) == WEFT_OK);
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x;
    g->n_inputs = 1;
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = y;
    g->n_outputs = 1;

    CU_ASSERT_FATAL(add_node(g, "Add", "", "a1", 17) >= 0);
    CU_ASSERT_FATAL(add_node(g, "Relu", "", "r1", 17) >= 0);
    CU_ASSERT_FATAL(add_node(g, "Add", "", "a2", 17) >= 0);
    CU_ASSERT_FATAL(add_node(g, "Frob", "com.example", "frob1", 1) >= 0);
    int iff = add_node(g, "If", "", "if1", 17);
    CU_ASSERT_FATAL(iff >= 0);

    weft_graph *sub = weft_graph_new(g, &m->syms);
    CU_ASSERT_FATAL(sub != NULL);
    CU_ASSERT_FATAL(add_node(sub, "Frob", "com.example", "inner", 1) >= 0);
    CU_ASSERT_FATAL(add_node(sub, "Add", "", "inner_add", 17) >= 0);
    weft_attr a = {0};
    a.name = xstrdup("then_branch");
    a.type = WEFT_ATTR_GRAPH;
    a.g = sub;
    CU_ASSERT_FATAL(weft_node_add_attr(&g->nodes[iff], &a) == WEFT_OK);
    return m;
}

static void free_model(weft_model *m)
{
    weft_graph_free(m->graph);
    for (int i = 0; i < m->n_opsets; i++) free(m->opsets[i].domain);
    free(m->opsets);
    free(m->producer_name);
    free(m->producer_version);
    weft_symtab_free(&m->syms);
    free(m);
}

static void test_text(void)
{
    weft_model *m = build_model();
    char *s = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_model_describe(m, WEFT_DESCRIBE_TEXT, &s), WEFT_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "ir_version: 8\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "producer: hand \"built\" 0.1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "opsets: ai.onnx 17, com.example 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "  x  float  [N,3]\n"));
    /* the fresh symbol has a generated name; the known part is the N */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "  y  int64  [N,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "nodes: 5 (+2 in 1 subgraphs)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "parameters: 16 elements, 80 bytes in 2 initializers\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "functions inlined: 2\n"));
    /* Add is used 3 times (2 + 1 in the subgraph), Frob twice: most used first. */
    char *add = strstr(s, "     3  Add"), *frob = strstr(s, "     2  com.example.Frob  (unsupported)");
    CU_ASSERT_PTR_NOT_NULL(add);
    CU_ASSERT_PTR_NOT_NULL(frob);
    CU_ASSERT(add && frob && add < frob);
    /* The unsupported op names both nodes, the one in the subgraph too. */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "com.example.Frob (opset 1): frob1, inner\n"));
    /* Add's mark follows the registry. */
    bool add_supported = weft_op_find("", "Add", 17) != NULL;
    CU_ASSERT_EQUAL(strstr(s, "     3  Add  (unsupported)") == NULL, add_supported);
    free(s);
    free_model(m);
}

static void test_json(void)
{
    weft_model *m = build_model();
    char *s = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_model_describe(m, WEFT_DESCRIBE_JSON, &s), WEFT_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"producer_name\":\"hand \\\"built\\\"\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"inputs\":[{\"name\":\"x\",\"dtype\":\"float\",\"shape\":[\"N\",3]}]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"parameters\":{\"count\":16,\"bytes\":80,\"initializers\":2,\"complete\":true}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"functions_inlined\":2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "{\"op_type\":\"Frob\",\"domain\":\"com.example\",\"opset\":1,\"nodes\":[\"frob1\",\"inner\"]}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"opsets\":[{\"domain\":\"\",\"version\":17},{\"domain\":\"com.example\",\"version\":1}]"));
    free(s);
    free_model(m);
}

/* Names from a model file are hostile: control characters and broken UTF-8 must not break JSON. */
static void test_json_escaping(void)
{
    weft_model *m = build_model();
    free(m->producer_name);
    m->producer_name = xstrdup("a\nb\\c\x01\xff\xc3\xa9");
    char *s = NULL;
    CU_ASSERT_EQUAL_FATAL(weft_model_describe(m, WEFT_DESCRIBE_JSON, &s), WEFT_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"producer_name\":\"a\\nb\\\\c\\u0001\\ufffd\xc3\xa9\""));
    free(s);
    CU_ASSERT_EQUAL_FATAL(weft_model_describe(m, WEFT_DESCRIBE_TEXT, &s), WEFT_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "producer: a\\x0ab\\c\\x01"));
    free(s);
    free_model(m);
}

static void test_bad_args(void)
{
    char *s = (char *)1;
    CU_ASSERT_EQUAL(weft_model_describe(NULL, WEFT_DESCRIBE_TEXT, &s), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(s);
    weft_model *m = build_model();
    CU_ASSERT_EQUAL(weft_model_describe(m, WEFT_DESCRIBE_TEXT, NULL), WEFT_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(weft_model_describe(m, (weft_describe_format)7, &s), WEFT_ERR_INVALID_ARGUMENT);
    free_model(m);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("describe", NULL, NULL);
    CU_add_test(s, "text report", test_text);
    CU_add_test(s, "json report", test_json);
    CU_add_test(s, "json escaping", test_json_escaping);
    CU_add_test(s, "bad arguments", test_bad_args);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
