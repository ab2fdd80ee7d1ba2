/*
 * cli/cmd_compile.c — `weft compile MODEL [--backend B] [-O N] [-o FILE] [--json] [--print-passes] [--steps]`:
 * compile and describe the plan; optionally save it (.weftplan), and what each compiler pass did and the
 * whole schedule.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compiler/plan.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: weft compile MODEL [--backend B] [-O LEVEL] [-o FILE] [--json] [--print-passes] [--steps]\n\n"
            "Compiles an ONNX model (verification, shape inference, constant folding, message-passing\n"
            "lowering, CSR indices, GEMM / edge-softmax / link-score / elementwise fusion, dead-code removal,\n"
            "memory planning) and describes the plan: the schedule's ops, the buffers its temporaries share,\n"
            "its constants, and its inputs and outputs.\n\n"
            "  --backend B     the backend to compile for (default: ref)\n"
            "  -O LEVEL        0: no rewrites; 1 (default): all passes\n"
            "  -o FILE         also save the plan as FILE (a .weftplan: graph, weights, backends; 'weft run'\n"
            "                  loads it without the ONNX file and without compiling again)\n"
            "  --json          print the description as one JSON object\n"
            "  --print-passes  also list every pass: nodes before -> after, rewrites, and the bytes of\n"
            "                  intermediate tensors before -> after (in the model's symbols)\n"
            "  --steps         also list every step of the schedule: op, backend, inputs -> outputs\n"
            "  --help          show this help\n");
}

static void print_value_list(FILE *f, const struct weft_plan *p, const int *slots, int n, bool json)
{
    char shape[256];
    for (int i = 0; i < n; i++) {
        fputs(i ? ", " : "", f);
        if (slots[i] < 0) {
            fputs(json ? "null" : "-", f);
            continue;
        }
        const weft_slot *s = &p->slots[slots[i]];
        weft_shape_format_sym(&s->shape, p->syms, shape, sizeof shape);
        if (json) {
            fputs("{\"name\": ", f);
            cli_json_str(f, s->name);
            fprintf(f, ", \"dtype\": \"%s\", \"shape\": ", weft_dtype_name(s->dtype));
            cli_json_str(f, shape);
            fputs("}", f);
        } else {
            cli_text_str(f, s->name);
            fprintf(f, ":%s%s", weft_dtype_name(s->dtype), shape);
        }
    }
}

/* Attributes as name=value (lists shortened; tensors and graphs named only). */
static void print_attrs_text(FILE *f, const weft_node_info *info)
{
    for (int a = 0; a < info->n_attrs; a++) {
        const weft_attr *at = &info->attrs[a];
        fputs(a ? " " : " {", f);
        cli_text_str(f, at->name);
        fputs("=", f);
        switch (at->type) {
        case WEFT_ATTR_INT: fprintf(f, "%lld", (long long)at->i); break;
        case WEFT_ATTR_FLOAT: fprintf(f, "%.9g", at->f); break;
        case WEFT_ATTR_STRING: cli_text_str(f, at->s ? at->s : ""); break;
        case WEFT_ATTR_INTS:
        case WEFT_ATTR_FLOATS:
            fputs("[", f);
            for (int k = 0; k < at->n && k < 16; k++) {
                if (at->type == WEFT_ATTR_INTS) fprintf(f, "%s%lld", k ? "," : "", (long long)at->ints[k]);
                else fprintf(f, "%s%.9g", k ? "," : "", at->floats[k]);
            }
            fputs(at->n > 16 ? ",...]" : "]", f);
            break;
        default: fputs("...", f); break;
        }
    }
    if (info->n_attrs) fputs("}", f);
}

/* One line per step (subplans indented under their control-flow step). */
static void print_steps_text(FILE *f, const struct weft_plan *p, int depth)
{
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        fprintf(f, "  %*s%4d  ", 2 * depth, "", i);
        if (s->info.domain[0]) {
            cli_text_str(f, s->info.domain);
            fputs(".", f);
        }
        cli_text_str(f, s->info.op_type);
        print_attrs_text(f, &s->info);
        fprintf(f, " [%s] (", s->backend ? s->backend->name : "control");
        print_value_list(f, p, s->in, s->n_in, false);
        fputs(") -> (", f);
        print_value_list(f, p, s->out, s->n_out, false);
        fputs(")\n", f);
        for (int j = 0; j < s->n_sub; j++) {
            fprintf(f, "  %*s      %s:\n", 2 * depth, "", s->sub_names && s->sub_names[j] ? s->sub_names[j] : "subgraph");
            print_steps_text(f, s->sub[j], depth + 2);
        }
    }
}

/* Attributes as a JSON object (numbers, strings, lists of them; tensors and graphs as null). */
static void print_attrs_json(FILE *f, const weft_node_info *info)
{
    fputs("{", f);
    for (int a = 0; a < info->n_attrs; a++) {
        const weft_attr *at = &info->attrs[a];
        fputs(a ? ", " : "", f);
        cli_json_str(f, at->name);
        fputs(": ", f);
        switch (at->type) {
        case WEFT_ATTR_INT: fprintf(f, "%lld", (long long)at->i); break;
        case WEFT_ATTR_FLOAT:
            if (isfinite(at->f)) fprintf(f, "%.9g", at->f);
            else cli_json_str(f, isnan(at->f) ? "nan" : at->f > 0 ? "inf" : "-inf");
            break;
        case WEFT_ATTR_STRING: cli_json_str(f, at->s ? at->s : ""); break;
        case WEFT_ATTR_INTS:
        case WEFT_ATTR_FLOATS:
            fputs("[", f);
            for (int k = 0; k < at->n; k++) {
                fputs(k ? ", " : "", f);
                if (at->type == WEFT_ATTR_INTS) fprintf(f, "%lld", (long long)at->ints[k]);
                else if (isfinite(at->floats[k])) fprintf(f, "%.9g", at->floats[k]);
                else cli_json_str(f, isnan(at->floats[k]) ? "nan" : at->floats[k] > 0 ? "inf" : "-inf");
            }
            fputs("]", f);
            break;
        default: fputs("null", f); break;
        }
    }
    fputs("}", f);
}

static void print_steps_json(FILE *f, const struct weft_plan *p)
{
    fputs("[", f);
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        fputs(i ? ", {\"op\": " : "{\"op\": ", f);
        cli_json_str(f, s->info.op_type);
        fputs(", \"domain\": ", f);
        cli_json_str(f, s->info.domain);
        fputs(", \"name\": ", f);
        cli_json_str(f, s->info.name);
        fputs(", \"backend\": ", f);
        cli_json_str(f, s->backend ? s->backend->name : "control");
        fputs(", \"attributes\": ", f);
        print_attrs_json(f, &s->info);
        fputs(", \"inputs\": [", f);
        print_value_list(f, p, s->in, s->n_in, true);
        fputs("], \"outputs\": [", f);
        print_value_list(f, p, s->out, s->n_out, true);
        fputs("]", f);
        if (s->n_sub) {
            fputs(", \"subplans\": [", f);
            for (int j = 0; j < s->n_sub; j++) {
                if (j) fputs(", ", f);
                print_steps_json(f, s->sub[j]);
            }
            fputs("]", f);
        }
        fputs("}", f);
    }
    fputs("]", f);
}

/* What each pass did: nodes before -> after, rewrites, bytes of intermediates before -> after and the
 * change, all as expressions in the model's symbols. */
static void print_passes(FILE *f, const struct weft_plan *p, bool json)
{
    char before[1024], after[1024], delta[1024];
    if (!json) fprintf(f, "passes (-O%d):\n", p->opt_level);
    for (int i = 0; i < p->n_passes; i++) {
        const weft_pass_report *r = &p->passes[i];
        weft_bytes_expr d;
        weft_bytes_sub(&r->bytes_after, &r->bytes_before, &d);
        weft_bytes_format(&r->bytes_before, p->syms, before, sizeof before);
        weft_bytes_format(&r->bytes_after, p->syms, after, sizeof after);
        weft_bytes_format(&d, p->syms, delta, sizeof delta);
        if (json) {
            fputs(i ? ", {\"name\": " : "{\"name\": ", f);
            cli_json_str(f, r->name);
            fprintf(f, ", \"nodes_before\": %d, \"nodes_after\": %d, \"changed\": %d, \"bytes_before\": ", r->nodes_before,
                    r->nodes_after, r->changed);
            cli_json_str(f, before);
            fputs(", \"bytes_after\": ", f);
            cli_json_str(f, after);
            fputs(", \"bytes_change\": ", f);
            cli_json_str(f, delta);
            fputs("}", f);
        } else {
            int pad = 16 - (int)strlen(r->name);
            fputs("  ", f);
            cli_text_str(f, r->name);
            fprintf(f, "%*s nodes %5d -> %-5d rewrites %d\n", pad > 0 ? pad : 0, "", r->nodes_before, r->nodes_after,
                    r->changed);
            if (strcmp(before, after) == 0) {
                fprintf(f, "      intermediates: %s (unchanged)\n", before);
            } else {
                fprintf(f, "      intermediates: %s\n", before);
                fprintf(f, "                  -> %s\n", after);
                fprintf(f, "          change: %s\n", delta);
            }
        }
    }
}

int cmd_compile(int argc, char **argv)
{
    const char *path = NULL, *backend = "ref", *out_path = NULL;
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
    st = weft_plan_describe(p, json ? WEFT_DESCRIBE_JSON : WEFT_DESCRIBE_TEXT, &report);
    if (st != WEFT_OK) {
        weft_plan_free(p);
        return cli_fail("cannot describe the plan");
    }
    if (json && (passes || steps)) {
        /* the description is one object: its closing brace makes room for the extra members */
        size_t len = strlen(report);
        while (len && (report[len - 1] == '\n' || report[len - 1] == ' ')) len--;
        if (len && report[len - 1] == '}') len--;
        fwrite(report, 1, len, stdout);
        if (passes) {
            fputs(", \"passes\": [", stdout);
            print_passes(stdout, p, true);
            fputs("]", stdout);
        }
        if (steps) {
            fputs(", \"schedule\": ", stdout);
            print_steps_json(stdout, p);
        }
        fputs("}\n", stdout);
    } else {
        fputs(report, stdout);
        if (passes) print_passes(stdout, p, false);
        if (steps) {
            fputs("steps:\n", stdout);
            print_steps_text(stdout, p, 0);
        }
    }
    free(report);
    weft_plan_free(p);
    if (fflush(stdout) != 0) return cli_fail("cannot write the report");
    return CLI_OK;
}
