/* cli/cmd_inspect.c — `weft inspect MODEL [--json]`: the model report of weft_model_describe, or for a
 * plan file (.weftplan) the plan report of weft_plan_describe. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: weft inspect MODEL [--json]\n\n"
            "Describes an ONNX model: IR version, opsets, producer, graph inputs and outputs with dtypes and\n"
            "symbolic shapes, op histogram, parameter count and bytes, inlined functions, and the ops weft\n"
            "does not support (with the nodes that use them). Given a plan file (written by 'weft compile\n"
            "-o'), describes the plan instead, as 'weft compile' does.\n\n"
            "  --json    print the report as one JSON object\n"
            "  --help    show this help\n");
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("inspect", "inspect: unknown option '%s'", argv[i]);
        } else if (path) {
            return cli_usage("inspect", "inspect: more than one model given ('%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) return cli_usage("inspect", "inspect: no model given");

    char *report = NULL;
    weft_status st;
    if (cli_is_plan_file(path)) {
        weft_plan *p = NULL;
        if (weft_plan_load(path, &p) != WEFT_OK) return cli_fail("cannot load '%s'", path);
        st = weft_plan_describe(p, json ? WEFT_DESCRIBE_JSON : WEFT_DESCRIBE_TEXT, &report);
        weft_plan_free(p);
        if (st != WEFT_OK) return cli_fail("cannot describe plan '%s'", path);
    } else {
        weft_model *m = NULL;
        if (weft_model_load(path, &m) != WEFT_OK) return cli_fail("cannot load model '%s'", path);
        st = weft_model_describe(m, json ? WEFT_DESCRIBE_JSON : WEFT_DESCRIBE_TEXT, &report);
        weft_model_free(m);
        if (st != WEFT_OK) return cli_fail("cannot describe model '%s'", path);
    }
    fputs(report, stdout);
    free(report);
    if (fflush(stdout) != 0) return cli_fail("cannot write the report");
    return CLI_OK;
}
