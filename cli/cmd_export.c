/* cli/cmd_export.c — `weft export`: a trained task model (weft finetune's output: encoder, head and the
 * training loss) → a plain inference model any ONNX runtime opens, with its class names and feature
 * scaling carried as ONNX metadata. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compiler/atomic_write.h"
#include "compiler/onnx_export.h"
#include "compiler/plan.h"

int cmd_export(int argc, char **argv);

static void export_help(FILE *f)
{
    fprintf(f, "usage: weft export TASK.onnx -o MODEL.onnx\n"
               "\n"
               "Writes the inference part of a model trained by 'weft finetune': every output but the training\n"
               "loss, without the inputs only the loss reads (labels, class weights), so ONNX Runtime and any\n"
               "other ONNX runtime run it. The task model's metadata_props go with it: 'weft.classes' (one\n"
               "name per line), 'weft.scaler' (the scaler file's text), 'weft.graph' and 'weft.train' (for a\n"
               "task model without them, the class names and scaling from TASK.onnx.classes.txt and\n"
               "TASK.onnx.scaler beside it). Written atomically (a temporary file, fsync, rename).\n"
               "exit status: 0 success, 1 failure, 2 bad command line.\n");
}

/* A small text file's contents, or NULL when it is not there. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0 || n > (1u << 24)) break;
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            export_help(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc) return cli_usage("export", "%s needs a value", argv[i]);
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("export", "unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return cli_usage("export", "one task model at a time ('%s' is a second)", argv[i]);
        }
    }
    if (!in || !out) return cli_usage("export", "usage: weft export TASK.onnx -o MODEL.onnx");
    weft_model *m = NULL;
    if (weft_model_load(in, &m)) {
        fprintf(stderr, "weft export: %s\n", weft_last_error());
        return CLI_FAIL;
    }
    weft_graph *g = m->graph;
    int rc = CLI_FAIL;
    char *classes = NULL, *scaler = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    /* every output but the loss */
    int kept = 0, dropped = 0;
    for (int i = 0; i < g->n_outputs; i++) {
        weft_value *v = &g->values[g->outputs[i]];
        if (v->name && strcmp(v->name, "loss") == 0) {
            v->flags &= ~(unsigned)WEFT_VALUE_OUTPUT;
            dropped++;
        } else {
            g->outputs[kept++] = g->outputs[i];
        }
    }
    g->n_outputs = kept;
    if (!dropped || !kept) {
        fprintf(stderr, "weft export: %s: %s\n", in,
                !dropped ? "no 'loss' output: not a task model from weft finetune" : "nothing but the loss to keep");
        goto out;
    }
    int changed = 0;
    if (weft_pass_dce(g, &changed)) {
        fprintf(stderr, "weft export: %s\n", weft_last_error());
        goto out;
    }
    /* inputs nothing reads any more (the labels and class weights the loss took) */
    {
        bool *read = calloc((size_t)g->n_values + 1, sizeof *read);
        if (!read) goto out;
        for (int k = 0; k < g->n_nodes; k++)
            for (int j = 0; j < g->nodes[k].n_inputs; j++)
                if (g->nodes[k].inputs[j] >= 0) read[g->nodes[k].inputs[j]] = true;
        for (int i = 0; i < g->n_outputs; i++) read[g->outputs[i]] = true;
        int w = 0;
        for (int i = 0; i < g->n_inputs; i++) {
            if (read[g->inputs[i]]) g->inputs[w++] = g->inputs[i];
            else g->values[g->inputs[i]].flags &= ~(unsigned)WEFT_VALUE_INPUT;
        }
        g->n_inputs = w;
        free(read);
    }
    /* the task model's metadata (class names, scaling, graph and training options) as it is; a model
     * from before they were carried there has its class names and scaling in files beside it */
    int n_meta = 0, n_have = weft_model_metadata_count(m);
    const char **keys = malloc((size_t)(n_have + 2) * sizeof *keys), **values = malloc((size_t)(n_have + 2) * sizeof *values);
    if (!keys || !values) {
        free(keys), free(values);
        fprintf(stderr, "weft export: out of memory\n");
        goto out;
    }
    for (int i = 0; i < n_have; i++) {
        const char *k, *v;
        if (weft_model_metadata_entry(m, i, &k, &v) == WEFT_OK && strcmp(k, "weft.checkpoint") != 0)
            keys[n_meta] = k, values[n_meta++] = v;
    }
    char side[4096];
    snprintf(side, sizeof side, "%s.classes.txt", in);
    if (!weft_model_metadata(m, "weft.classes") && (classes = slurp(side)))
        keys[n_meta] = "weft.classes", values[n_meta++] = classes;
    snprintf(side, sizeof side, "%s.scaler", in);
    if (!weft_model_metadata(m, "weft.scaler") && (scaler = slurp(side)))
        keys[n_meta] = "weft.scaler", values[n_meta++] = scaler;
    weft_onnx_export_options eo = {.opsets = m->opsets, .n_opsets = m->n_opsets, .ir_version = m->ir_version,
                                   .metadata_keys = keys, .metadata_values = values, .n_metadata = n_meta};
    weft_status est = weft_ir_to_onnx(g, &m->syms, &eo, &buf, &len);
    free(keys);
    free(values);
    if (est) {
        fprintf(stderr, "weft export: %s\n", weft_last_error());
        goto out;
    }
    const void *parts[1] = {buf};
    size_t lens[1] = {len};
    if (weft_write_file_atomic(out, parts, lens, 1)) {
        fprintf(stderr, "weft export: %s\n", weft_last_error());
        goto out;
    }
    fprintf(stderr, "weft export: %s written: %d output(s), %d input(s)%s%s\n", out, g->n_outputs, g->n_inputs,
            classes ? ", class names" : "", scaler ? ", feature scaling" : "");
    rc = CLI_OK;
out:
    free(buf);
    free(classes);
    free(scaler);
    weft_model_free(m);
    return rc;
}
