/*
 * cli/cmd_compile.c — `weft compile MODEL [--backend B] [-O N] [-o FILE] [--json] [--print-passes] [--steps]`:
 * compile and describe the plan; optionally save it (.weftplan), and what each compiler pass did and the
 * whole schedule.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: weft compile MODEL [--backend B] [-O LEVEL] [-o FILE] [--json] [--print-passes] [--steps]\n"
            "                    [--dim SYM=V ...] [--input NAME=PATH ...]\n\n"
            "Compiles an ONNX model (verification, shape inference, constant folding, message-passing\n"
            "lowering, CSR indices, GEMM / edge-softmax / link-score / elementwise fusion, dead-code removal,\n"
            "memory planning) and describes the plan: the backend of each step, the schedule's ops, its\n"
            "constants, its inputs and outputs, and its memory for given sizes: the arena planned by\n"
            "liveness next to its lower bound (the largest total of bytes live at once).\n\n"
            "  --backend B     backends in priority order, e.g. onednn or openblas,ref (default: every\n"
            "                  backend of this build, fastest first; ref takes what the others do not)\n"
            "  -O LEVEL        0: no rewrites; 1 (default): all passes\n"
            "  -o FILE         also save the plan as FILE (a .weftplan: graph, weights, backends; 'weft run'\n"
            "                  loads it without the ONNX file and without compiling again)\n"
            "  --json          print the description as one JSON object\n"
            "  --print-passes  also list every pass: nodes before -> after, rewrites, and the bytes of\n"
            "                  intermediate tensors before -> after (in the model's symbols)\n"
            "  --steps         also list every step of the schedule: op, backend, inputs -> outputs\n"
            "  --dim SYM=V     size the memory report with symbol SYM = V (repeatable; default: 1000 for\n"
            "                  every symbol of the inputs)\n"
            "  --input NAME=PATH  size it with the shape of the tensor in PATH instead (repeatable)\n"
            "  --help          show this help\n");
}

#define COMPILE_MAX_SIZES 64

typedef struct size_arg {
    const char *name, *value; /* --dim SYM=V or --input NAME=PATH, split in place */
} size_arg;

/* The memory a session of p plans for the sizes given (or 1000 for every symbol): printed as text, or
 * as the members of a JSON object. */
static int memory_report(const weft_plan *p, const size_arg *dims, int n_dims, const size_arg *files, int n_files,
                         bool json)
{
    int n_in = weft_plan_num_inputs(p);
    weft_tensor *in = calloc((size_t)n_in + 1, sizeof *in), *loaded = calloc((size_t)n_in + 1, sizeof *loaded);
    int rc = CLI_OK;
    if (!in || !loaded) { free(in); free(loaded); return cli_fail("out of memory"); }
    char assumed[512] = "";
    size_t alen = 0;
    bool defaulted = false; /* some symbol took the default 1000, not a size the user gave */
    for (int i = 0; i < n_in && rc == CLI_OK; i++) {
        weft_plan_input_info(p, i, &in[i]);
        for (int f = 0; f < n_files; f++) {
            if (strcmp(files[f].name, in[i].name)) continue;
            if (weft_tensor_load(files[f].value, &loaded[i]) != WEFT_OK) {
                rc = cli_fail("cannot read --input '%s'", files[f].value);
                break;
            }
            in[i].rank = loaded[i].rank;
            memcpy(in[i].dims, loaded[i].dims, sizeof in[i].dims);
        }
        for (int d = 0; d < in[i].rank && rc == CLI_OK; d++) {
            const char *sym = weft_plan_input_dim_name(p, i, d);
            if (!sym || in[i].dims[d] >= 0) continue;
            in[i].dims[d] = 1000;
            bool given = false;
            for (int k = 0; k < n_dims; k++)
                if (strcmp(dims[k].name, sym) == 0) {
                    long v;
                    if (!cli_parse_int(dims[k].value, 0, 1L << 40, &v)) {
                        rc = cli_usage("compile", "compile: --dim %s wants a size, got '%s'", sym, dims[k].value);
                        break;
                    }
                    in[i].dims[d] = v;
                    given = true;
                }
            defaulted |= !given;
            bool seen = false; /* each symbol once */
            for (int j = 0; j <= i && !seen; j++)
                for (int e = 0; e < (j < i ? in[j].rank : d) && !seen; e++) {
                    const char *other = weft_plan_input_dim_name(p, j, e);
                    seen = other && strcmp(other, sym) == 0;
                }
            if (!seen && alen < sizeof assumed)
                alen += (size_t)snprintf(assumed + alen, sizeof assumed - alen, "%s%s=%lld", alen ? ", " : "", sym,
                                         (long long)in[i].dims[d]);
        }
        in[i].data = NULL;
    }
    weft_session *s = NULL;
    weft_session_stats st = {0};
    weft_session_options so = {1, 0};
    bool sized = rc == CLI_OK && weft_session_create_with_options(p, &so, &s) == WEFT_OK &&
                 weft_session_reshape(s, in, (size_t)n_in) == WEFT_OK && weft_session_get_stats(s, &st) == WEFT_OK;
    if (rc == CLI_OK && !sized && defaulted) {
        /* the default sizes do not fit the model (a sequence longer than its position table): say so, the
         * compilation itself succeeded */
        if (json) {
            printf(", \"memory\": {\"sizes\": ");
            cli_json_str(stdout, assumed);
            printf(", \"error\": ");
            cli_json_str(stdout, weft_last_error());
            printf("}");
        } else {
            printf("memory: not sized for the assumed sizes (%s): %s; give the sizes with --dim SYM=V\n", assumed,
                   weft_last_error());
        }
    } else if (rc == CLI_OK && !sized) {
        rc = cli_fail("cannot size the plan's memory");
    }
    if (rc == CLI_OK && sized) {
        double ratio = st.arena_bound_bytes ? (double)st.arena_bytes / (double)st.arena_bound_bytes : 1.0;
        if (json) {
            printf(", \"memory\": {\"sizes\": ");
            cli_json_str(stdout, assumed);
            printf(", \"arena_bytes\": %zu, \"liveness_bound_bytes\": %zu, \"ratio\": %.4f, \"dynamic_steps\": %d}",
                   st.arena_bytes, st.arena_bound_bytes, ratio, st.dynamic_steps);
        } else {
            printf("memory for %s:\n  arena %zu bytes planned, liveness lower bound %zu bytes (%.3fx)\n",
                   assumed[0] ? assumed : "these sizes", st.arena_bytes, st.arena_bound_bytes, ratio);
            if (st.dynamic_steps)
                printf("  %d steps have sizes that depend on data: their values are sized at run time, outside the arena\n",
                       st.dynamic_steps);
        }
    }
    weft_session_free(s);
    for (int i = 0; i < n_in; i++) weft_tensor_release(&loaded[i]);
    free(loaded);
    free(in);
    return rc;
}

int cmd_compile(int argc, char **argv)
{
    size_arg dims[COMPILE_MAX_SIZES], files[COMPILE_MAX_SIZES];
    int n_dims = 0, n_files = 0;
    const char *path = NULL, *backend = NULL, *out_path = NULL;
    bool json = false, passes = false, steps = false;
    long level = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--print-passes") == 0) {
            passes = true;
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = true;
        } else if (strcmp(argv[i], "--backend") == 0) {
            if (++i >= argc) return cli_usage("compile", "compile: --backend needs a value");
            backend = argv[i];
        } else if (strcmp(argv[i], "-O") == 0) {
            if (++i >= argc || !cli_parse_int(argv[i], 0, 1, &level)) return cli_usage("compile", "compile: -O takes 0 or 1");
        } else if (strcmp(argv[i], "--dim") == 0 || strcmp(argv[i], "--input") == 0) {
            bool is_dim = strcmp(argv[i], "--dim") == 0;
            char *v = ++i < argc ? argv[i] : NULL, *eq = v ? strchr(v, '=') : NULL;
            if (!eq || eq == v || !eq[1])
                return cli_usage("compile", "compile: %s wants %s", argv[i - 1], is_dim ? "SYM=V" : "NAME=PATH");
            if ((is_dim ? n_dims : n_files) == COMPILE_MAX_SIZES) return cli_usage("compile", "compile: too many %s", argv[i - 1]);
            *eq = '\0';
            size_arg a = {v, eq + 1};
            if (is_dim) dims[n_dims++] = a;
            else files[n_files++] = a;
        } else if (strcmp(argv[i], "-o") == 0) {
            if (++i >= argc) return cli_usage("compile", "compile: -o needs a file name");
            out_path = argv[i];
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
    if (out_path && weft_plan_save(p, out_path) != WEFT_OK) {
        weft_plan_free(p);
        return cli_fail("cannot save the plan");
    }
    char *report = NULL;
    int fmt = (json ? WEFT_DESCRIBE_JSON : WEFT_DESCRIBE_TEXT) | (passes ? WEFT_DESCRIBE_PASSES : 0) |
              (steps ? WEFT_DESCRIBE_STEPS : 0);
    st = weft_plan_describe(p, (weft_describe_format)fmt, &report);
    if (st != WEFT_OK) {
        weft_plan_free(p);
        return cli_fail("cannot describe the plan");
    }
    /* the memory report goes inside the JSON object: before its closing brace */
    size_t len = strlen(report);
    if (json) {
        while (len && report[len - 1] == '\n') len--;
        if (len && report[len - 1] == '}') len--;
    }
    fwrite(report, 1, len, stdout);
    int rc = memory_report(p, dims, n_dims, files, n_files, json);
    if (json) fputs("}\n", stdout);
    free(report);
    weft_plan_free(p);
    if (fflush(stdout) != 0) return cli_fail("cannot write the report");
    return rc;
}
