/* cli/main.c — the `weft` command: picks the subcommand; each lives in its own cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_flows(int argc, char **argv); /* cli/cmd_flows.c */
int cmd_graph(int argc, char **argv); /* cli/cmd_graph.c */
int cmd_pretrain(int argc, char **argv); /* cli/cmd_pretrain.c */
int cmd_export(int argc, char **argv);   /* cli/cmd_export.c */
int cmd_finetune(int argc, char **argv); /* cli/cmd_finetune.c */
int cmd_predict(int argc, char **argv);  /* cli/cmd_finetune.c */

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"inspect", cmd_inspect, "describe a model: inputs, outputs, ops, parameters, unsupported ops"},
    {"compile", cmd_compile, "compile a model and describe the plan: schedule, buffers, constants"},
    {"run", cmd_run, "run a model on input tensors and write its outputs as .npy"},
    {"conformance", cmd_conformance, "run ONNX node conformance tests and report pass/fail/unsupported"},
    {"bench", cmd_bench, "latency, throughput and memory of a model on each backend, checked against ref"},
    {"flows", cmd_flows, "packet captures and flow logs -> one normalised flow CSV"},
    {"graph", cmd_graph, "flow CSV -> spatio-temporal graphs: nodes, edges, degrees, DOT, .npy tensors"},
    {"pretrain", cmd_pretrain, "self-supervised link prediction on traffic graphs -> a pretrained encoder (ONNX)"},
    {"finetune", cmd_finetune, "a flow classifier on a graph encoder, trained on labelled traffic -> ONNX + metrics"},
    {"predict", cmd_predict, "a classifier from 'weft finetune' on traffic: a class and scores per flow, metrics"},
    {"export", cmd_export, "a finetuned task model -> a plain inference model with its class names as metadata"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: weft <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'weft <command> --help' describes a command's options; 'weft --backends' lists the backends\n"
               "of this build (%s).\n", weft_backends());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("weft %d.%d.%d (backends: %s)\n", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH, weft_backends());
        return CLI_OK;
    }
    if (strcmp(cmd, "--backends") == 0) {
        /* for scripts: the backends of this build that can run here, comma-separated; a backend built
         * without its device here is named on stderr, so suites say why they skip it */
        printf("%s\n", weft_backends_usable());
        const char *all = weft_backends();
        for (const char *p = all; *p;) {
            const char *e = strchr(p, ',');
            char name[32];
            size_t len = e ? (size_t)(e - p) : strlen(p);
            snprintf(name, sizeof name, "%.*s", (int)len, p);
            const char *why = weft_backend_unavailable(name);
            if (why) fprintf(stderr, "weft: backend '%s' is built but cannot run here: %s (its checks are skipped)\n", name, why);
            if (!e) break;
            p = e + 1;
        }
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "weft: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
