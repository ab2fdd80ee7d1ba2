/* cli/cmd_compile.c — `weft compile MODEL [--backend B] [-O N] [--json]`: compile and describe the plan. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: weft compile MODEL [--backend B] [-O LEVEL] [--json]\n\n"
            "Compiles an ONNX model (verification, shape inference, constant folding, message-passing\n"
            "lowering, dead-code removal, memory planning) and describes the plan: the schedule's ops, the\n"
            "buffers its temporaries share, its constants, and its inputs and outputs.\n\n"
            "  --backend B  the backend to compile for (default: ref)\n"
            "  -O LEVEL     0: no rewrites; 1 (default): all passes\n"
            "  --json       print the description as one JSON object\n"
            "  --help       show this help\n");
}

int cmd_compile(int argc, char **argv)
{
    const char *path = NULL, *backend = "ref";
    bool json = false;
    long level = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--backend") == 0) {
            if (++i >= argc) return cli_usage("compile", "compile: --backend needs a value");
            backend = argv[i];
        } else if (strcmp(argv[i], "-O") == 0) {
            if (++i >= argc || !cli_parse_int(argv[i], 0, 1, &level)) return cli_usage("compile", "compile: -O takes 0 or 1");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("compile", "compile: unknown option '%s'", argv[i]);
        } else if (path) {
            return cli_usage("compile", "compile: more than one model given ('%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) return cli_usage("compile", "compile: no model given");
    weft_model *m = NULL;
    if (weft_model_load(path, &m) != WEFT_OK) return cli_fail("cannot load model '%s'", path);
    weft_compile_options o = {backend, (int)level};
    weft_plan *p = NULL;
    weft_status st = weft_compile(m, &o, &p);
    weft_model_free(m);
    if (st != WEFT_OK) return cli_fail("cannot compile '%s'", path);
    char *report = NULL;
    st = weft_plan_describe(p, json ? WEFT_DESCRIBE_JSON : WEFT_DESCRIBE_TEXT, &report);
    weft_plan_free(p);
    if (st != WEFT_OK) return cli_fail("cannot describe the plan");
    fputs(report, stdout);
    free(report);
    if (fflush(stdout) != 0) return cli_fail("cannot write the report");
    return CLI_OK;
}
