/* cli/cmd_run.c — `weft run MODEL --input NAME=PATH ... [--output-dir DIR] [--json]`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define RUN_SHOW_VALUES 8 /* how many leading values are printed per output */

static void help(FILE *f)
{
    fprintf(f,
            "usage: weft run MODEL --input NAME=PATH ... [--backend B] [--threads T] [-O LEVEL]\n"
            "                [--output-dir DIR] [--json]\n\n"
            "Compiles MODEL, runs it once on the given inputs and prints each output's name, dtype, shape\n"
            "and first values. MODEL may also be a plan file written by 'weft compile -o' (told apart by\n"
            "content): it runs as it was compiled, with no ONNX file; --backend, if given, must name the\n"
            "backends it was compiled for, and -O is the plan's own.\n\n"
            "  --input NAME=PATH   bind graph input NAME to the tensor in PATH (.npy or ONNX TensorProto\n"
            "                      .pb, told apart by content); every graph input must be given once\n"
            "  --backend B         backends in priority order, e.g. onednn or openblas,ref (default: every\n"
            "                      backend of this build, fastest first; ref takes what others do not)\n"
            "  --threads T         threads the kernels may use (default: one per core)\n"
            "  -O LEVEL            0: no rewrites; 1 (default): every pass\n"
            "  --output-dir DIR    write DIR/<output name>.npy for every graph output (DIR is created;\n"
            "                      characters other than [A-Za-z0-9._-] in names become '_')\n"
            "  --json              print the result as one JSON object\n"
            "  --help              show this help\n");
}

typedef struct run_input {
    const char *name; /* from the command line */
    const char *path;
    weft_tensor t;    /* as loaded (owns data and the file's own name) */
} run_input;

/* Frees everything the run owns; NULLs are fine. */
static void cleanup(run_input *in, int n_in, weft_model *m, weft_plan *p, weft_session *s, weft_tensor *call_in,
                    weft_tensor *out)
{
    for (int i = 0; i < n_in; i++) weft_tensor_release(&in[i].t);
    free(in);
    free(call_in);
    free(out);
    weft_session_free(s);
    weft_plan_free(p);
    weft_model_free(m);
}

/* The .npy file names for the outputs: sanitised, and made distinct when two names sanitise alike. */
static char **output_files(const weft_tensor *out, int n)
{
    char **files = calloc((size_t)(n ? n : 1), sizeof *files);
    if (!files) return NULL;
    for (int i = 0; i < n; i++) {
        char base[256], name[300];
        cli_safe_name(out[i].name, base, sizeof base);
        snprintf(name, sizeof name, "%s", base);
        for (int k = 1;; k++) {
            bool clash = false;
            for (int j = 0; j < i; j++)
                if (strcmp(files[j], name) == 0) clash = true;
            if (!clash) break;
            snprintf(name, sizeof name, "%s_%d", base, k);
        }
        files[i] = strdup(name);
        if (!files[i]) {
            for (int j = 0; j < i; j++) free(files[j]);
            free(files);
            return NULL;
        }
    }
    return files;
}

int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *backend = NULL, *out_dir = NULL;
    bool json = false;
    long threads = 0, level = 1;
    run_input *in = calloc((size_t)argc, sizeof *in); /* at most one input per argument */
    int n_in = 0;
    if (!in) {
        fprintf(stderr, "weft: out of memory\n");
        return CLI_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            free(in);
            return CLI_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-O") == 0) {
            bool is_t = strcmp(a, "--threads") == 0;
            if (i + 1 >= argc || !cli_parse_int(argv[i + 1], is_t ? 1 : 0, is_t ? 1024 : 1, is_t ? &threads : &level)) {
                free(in);
                return cli_usage("run", is_t ? "run: --threads wants a number in 1..1024" : "run: -O takes 0 or 1");
            }
            i++;
        } else if (strcmp(a, "--input") == 0 || strcmp(a, "--backend") == 0 || strcmp(a, "--output-dir") == 0) {
            if (i + 1 >= argc) {
                free(in);
                return cli_usage("run", "run: %s needs a value", a);
            }
            const char *v = argv[++i];
            if (strcmp(a, "--backend") == 0) {
                backend = v;
            } else if (strcmp(a, "--output-dir") == 0) {
                out_dir = v;
            } else {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v || !eq[1]) {
                    free(in);
                    return cli_usage("run", "run: --input wants NAME=PATH, got '%s'", v);
                }
                /* Split in place: argv strings are ours to modify. */
                argv[i][eq - v] = '\0';
                in[n_in].name = v;
                in[n_in].path = eq + 1;
                for (int j = 0; j < n_in; j++)
                    if (strcmp(in[j].name, v) == 0) {
                        int rc = cli_usage("run", "run: input '%s' is given twice", v);
                        free(in);
                        return rc;
                    }
                n_in++;
            }
        } else if (a[0] == '-' && a[1]) {
            free(in);
            return cli_usage("run", "run: unknown option '%s'", a);
        } else if (model_path) {
            free(in);
            return cli_usage("run", "run: more than one model given ('%s' and '%s')", model_path, a);
        } else {
            model_path = a;
        }
    }
    if (!model_path) {
        free(in);
        return cli_usage("run", "run: no model given");
    }

    weft_model *m = NULL;
    weft_plan *p = NULL;
    weft_session *s = NULL;
    weft_tensor *call_in = NULL, *out = NULL;
    int rc;
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        rc = cli_fail(__VA_ARGS__);                                                                \
        cleanup(in, n_in, m, p, s, call_in, out);                                                  \
        return rc;                                                                                 \
    } while (0)

    /* Before any work, so a bad folder costs nothing. */
    if (out_dir && cli_mkdir_p(out_dir) != 0) {
        fprintf(stderr, "weft: cannot create output directory '%s': %s\n", out_dir, strerror(errno));
        cleanup(in, n_in, m, p, s, call_in, out);
        return CLI_FAIL;
    }
    /* an ONNX model is compiled here; a .weftplan file is loaded as it was compiled */
    if (cli_load_plan(model_path, backend, (int)level, &p) != WEFT_OK) FAIL("cannot load '%s'", model_path);

    /* Every --input must name a graph input and every graph input must be given: say which, and what
     * the model expects, before reading any tensor file. */
    int n_graph_in = weft_plan_num_inputs(p);
    char expected[2048] = "";
    size_t k = 0;
    for (int g = 0; g < n_graph_in; g++) {
        weft_tensor info;
        if (weft_plan_input_info(p, g, &info) != WEFT_OK) FAIL("cannot read input %d of '%s'", g, model_path);
        k += (size_t)snprintf(expected + k, k < sizeof expected ? sizeof expected - k : 0, "%s%s", g ? ", " : "",
                              info.name ? info.name : "?");
    }
    if (n_graph_in == 0) snprintf(expected, sizeof expected, "none");
    for (int j = 0; j < n_in; j++) {
        bool found = false;
        for (int g = 0; g < n_graph_in && !found; g++) {
            weft_tensor info;
            if (weft_plan_input_info(p, g, &info) == WEFT_OK && info.name && strcmp(info.name, in[j].name) == 0)
                found = true;
        }
        if (!found) {
            rc = CLI_FAIL;
            fprintf(stderr, "weft: --input '");
            cli_text_str(stderr, in[j].name);
            fprintf(stderr, "': the model has no input of that name (its inputs: ");
            cli_text_str(stderr, expected);
            fprintf(stderr, ")\n");
            cleanup(in, n_in, m, p, s, call_in, out);
            return rc;
        }
    }
    for (int g = 0; g < n_graph_in; g++) {
        weft_tensor info;
        if (weft_plan_input_info(p, g, &info) != WEFT_OK) FAIL("cannot read input %d of '%s'", g, model_path);
        bool given = false;
        for (int j = 0; j < n_in; j++)
            if (info.name && strcmp(info.name, in[j].name) == 0) given = true;
        if (!given) {
            rc = CLI_FAIL;
            fprintf(stderr, "weft: missing input '");
            cli_text_str(stderr, info.name);
            fprintf(stderr, "': give it with --input ");
            cli_text_str(stderr, info.name);
            fprintf(stderr, "=PATH (the model's inputs: ");
            cli_text_str(stderr, expected);
            fprintf(stderr, ")\n");
            cleanup(in, n_in, m, p, s, call_in, out);
            return rc;
        }
    }

    call_in = calloc((size_t)(n_in ? n_in : 1), sizeof *call_in);
    if (!call_in) FAIL("out of memory");
    for (int j = 0; j < n_in; j++) {
        if (weft_tensor_load(in[j].path, &in[j].t) != WEFT_OK)
            FAIL("cannot read input '%s' from '%s'", in[j].name, in[j].path);
        call_in[j] = in[j].t;
        call_in[j].name = in[j].name; /* the command line decides, not the name stored in the file */
    }

    int n_out = weft_plan_num_outputs(p);
    out = calloc((size_t)(n_out ? n_out : 1), sizeof *out);
    if (!out) FAIL("out of memory");
    weft_session_options so = {(int)threads, 0};
    if (weft_session_create_with_options(p, &so, &s) != WEFT_OK) FAIL("cannot create a session for '%s'", model_path);
    if (weft_session_run(s, call_in, (size_t)n_in, out, (size_t)n_out) != WEFT_OK)
        FAIL("running '%s' failed", model_path);

    char **files = output_files(out, n_out);
    if (!files) FAIL("out of memory");
    rc = CLI_OK;
    /* Write every file first, so a failure leaves no half-printed report. */
    for (int i = 0; out_dir && i < n_out && rc == CLI_OK; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s.npy", out_dir, files[i]) >= sizeof path) {
            fprintf(stderr, "weft: output path for '%s' is too long\n", files[i]);
            rc = CLI_FAIL;
        } else if (weft_tensor_save_npy(path, &out[i]) != WEFT_OK) {
            rc = cli_fail("cannot write output '%s' to '%s'", out[i].name ? out[i].name : "?", path);
        }
    }
    if (json && rc == CLI_OK) printf("{\"model\":"), cli_json_str(stdout, model_path), printf(",\"outputs\":[");
    for (int i = 0; i < n_out && rc == CLI_OK; i++) {
        char path[4096] = "";
        if (out_dir) snprintf(path, sizeof path, "%s/%s.npy", out_dir, files[i]);
        char dims[256];
        cli_format_dims(out[i].dims, out[i].rank, dims, sizeof dims);
        int64_t n = cli_numel(out[i].dims, out[i].rank);
        size_t es = weft_dtype_size(out[i].dtype);
        /* Show only values the buffer really holds. */
        int64_t show = n < 0 || es == 0 || !out[i].data ? 0 : n;
        if (es && show > (int64_t)(out[i].nbytes / es)) show = (int64_t)(out[i].nbytes / es);
        if (show > RUN_SHOW_VALUES) show = RUN_SHOW_VALUES;
        if (json) {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_str(stdout, out[i].name);
            printf(",\"dtype\":");
            cli_json_str(stdout, weft_dtype_name(out[i].dtype));
            printf(",\"shape\":[");
            for (int d = 0; d < out[i].rank; d++) printf("%s%lld", d ? "," : "", (long long)out[i].dims[d]);
            printf("],\"file\":");
            if (out_dir) cli_json_str(stdout, path);
            else printf("null");
            printf(",\"first_values\":[");
            for (int64_t e = 0; e < show; e++) {
                if (e) putchar(',');
                cli_json_elem(stdout, out[i].dtype, out[i].data, e);
            }
            printf("]}");
        } else {
            cli_text_str(stdout, out[i].name);
            printf("  %s  %s  [", weft_dtype_name(out[i].dtype), dims);
            for (int64_t e = 0; e < show; e++) {
                char v[64];
                cli_format_elem(out[i].dtype, out[i].data, e, v, sizeof v);
                printf("%s%s", e ? ", " : "", v);
            }
            printf("%s]", n > show ? ", ..." : "");
            if (out_dir) {
                printf("  -> ");
                cli_text_str(stdout, path);
            }
            putchar('\n');
        }
    }
    if (json && rc == CLI_OK) printf("]}\n");
    for (int i = 0; i < n_out; i++) free(files[i]);
    free(files);
    cleanup(in, n_in, m, p, s, call_in, out);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        fprintf(stderr, "weft: cannot write to stdout: %s\n", strerror(errno));
        rc = CLI_FAIL;
    }
    return rc;
#undef FAIL
}
