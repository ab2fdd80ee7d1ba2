/*
 * compiler/plan_describe.c — weft_plan_describe: what the compiler made of a model. The backends and
 * the steps each took, the schedule's op histogram (so a user sees that scatter chains became
 * ai.weft.SegmentReduce), the constants the plan carries, inputs and outputs with symbolic shapes; on
 * request every step (op, backend, operands with their shapes) and what each compiler pass did.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "strbuf.h"

typedef struct step_count {
    const char *domain, *op;
    int n;
} step_count;

/* Counts the steps of p and its subplans into counts[0..*n) (at most cap kinds). */
static void count_steps(const struct weft_plan *p, step_count *counts, int *n, int cap, int *total)
{
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        (*total)++;
        int k = 0;
        while (k < *n && !(strcmp(counts[k].op, s->info.op_type) == 0 && strcmp(counts[k].domain, s->info.domain) == 0)) k++;
        if (k == *n && *n < cap) counts[(*n)++] = (step_count){s->info.domain, s->info.op_type, 0};
        if (k < *n) counts[k].n++;
        for (int j = 0; j < s->n_sub; j++) count_steps(s->sub[j], counts, n, cap, total);
    }
}

static int by_count(const void *a, const void *b)
{
    const step_count *x = a, *y = b;
    if (x->n != y->n) return y->n - x->n;
    return strcmp(x->op, y->op);
}

static void shape_str(const struct weft_plan *p, const weft_slot *s, char *buf, size_t n)
{
    weft_shape_format_sym(&s->shape, p->syms, buf, n);
}

static const char *const class_names[] = {"other", "dense", "message passing", "elementwise"};

static const char *step_backend(const weft_step *s)
{
    if (s->kind == WEFT_STEP_KERNEL && s->backend) return s->backend->name;
    if (s->kind == WEFT_STEP_COPY) return s->copy_dir == WEFT_COPY_TO_HOST ? "copy to host" : "copy to device";
    return "control";
}

static void value_list(weft_sb *b, const struct weft_plan *p, const int *slots, int n, bool json)
{
    char shape[256];
    for (int i = 0; i < n; i++) {
        weft_sb_puts(b, i ? ", " : "");
        if (slots[i] < 0) {
            weft_sb_puts(b, json ? "null" : "-");
            continue;
        }
        const weft_slot *s = &p->slots[slots[i]];
        shape_str(p, s, shape, sizeof shape);
        if (json) {
            weft_sb_puts(b, "{\"name\": ");
            weft_sb_json_str(b, s->name);
            weft_sb_printf(b, ", \"dtype\": \"%s\", \"shape\": ", weft_dtype_name(s->dtype));
            weft_sb_json_str(b, shape);
            weft_sb_puts(b, "}");
        } else {
            weft_sb_text_str(b, s->name[0] ? s->name : "(unused)");
            weft_sb_printf(b, ":%s%s", weft_dtype_name(s->dtype), shape);
        }
    }
}

static void json_float(weft_sb *b, float f)
{
    if (isfinite(f)) weft_sb_printf(b, "%.9g", f);
    else weft_sb_json_str(b, isnan(f) ? "nan" : f > 0 ? "inf" : "-inf");
}

/* Attributes: text `{name=value ...}` with long lists shortened, or a JSON object; tensors and graphs
 * are named only. */
static void attrs(weft_sb *b, const weft_node_info *info, bool json)
{
    if (json) weft_sb_puts(b, "{");
    for (int a = 0; a < info->n_attrs; a++) {
        const weft_attr *at = &info->attrs[a];
        if (json) {
            weft_sb_puts(b, a ? ", " : "");
            weft_sb_json_str(b, at->name);
            weft_sb_puts(b, ": ");
        } else {
            weft_sb_puts(b, a ? " " : " {");
            weft_sb_text_str(b, at->name);
            weft_sb_puts(b, "=");
        }
        int shown = json ? at->n : (at->n < 16 ? at->n : 16);
        switch (at->type) {
        case WEFT_ATTR_INT: weft_sb_printf(b, "%lld", (long long)at->i); break;
        case WEFT_ATTR_FLOAT: json ? json_float(b, at->f) : weft_sb_printf(b, "%.9g", at->f); break;
        case WEFT_ATTR_STRING: json ? weft_sb_json_str(b, at->s ? at->s : "") : weft_sb_text_str(b, at->s ? at->s : ""); break;
        case WEFT_ATTR_INTS:
        case WEFT_ATTR_FLOATS:
            weft_sb_puts(b, "[");
            for (int k = 0; k < shown; k++) {
                weft_sb_puts(b, k ? (json ? ", " : ",") : "");
                if (at->type == WEFT_ATTR_INTS) weft_sb_printf(b, "%lld", (long long)at->ints[k]);
                else if (json) json_float(b, at->floats[k]);
                else weft_sb_printf(b, "%.9g", at->floats[k]);
            }
            weft_sb_puts(b, shown < at->n ? ",...]" : "]");
            break;
        default: weft_sb_puts(b, json ? "null" : "..."); break;
        }
    }
    if (json) weft_sb_puts(b, "}");
    else if (info->n_attrs) weft_sb_puts(b, "}");
}

/* Every step of p: op, attributes, backend, operands; subplans nested under their control step. */
static void describe_steps(weft_sb *b, const struct weft_plan *p, bool json, int depth)
{
    if (json) weft_sb_puts(b, "[");
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        if (json) {
            weft_sb_puts(b, i ? ", {\"op\": " : "{\"op\": ");
            weft_sb_json_str(b, s->info.op_type);
            weft_sb_puts(b, ", \"domain\": ");
            weft_sb_json_str(b, s->info.domain);
            weft_sb_puts(b, ", \"name\": ");
            weft_sb_json_str(b, s->info.name);
            weft_sb_puts(b, ", \"backend\": ");
            weft_sb_json_str(b, step_backend(s));
            weft_sb_printf(b, ", \"class\": \"%s\", \"shape_only\": %s, \"attributes\": ", class_names[s->op_class],
                           s->shape_only ? "true" : "false");
            attrs(b, &s->info, true);
            weft_sb_puts(b, ", \"inputs\": [");
            value_list(b, p, s->in, s->n_in, true);
            weft_sb_puts(b, "], \"outputs\": [");
            value_list(b, p, s->out, s->n_out, true);
            weft_sb_puts(b, "]");
            if (s->n_sub) {
                weft_sb_puts(b, ", \"subplans\": [");
                for (int j = 0; j < s->n_sub; j++) {
                    weft_sb_puts(b, j ? ", " : "");
                    describe_steps(b, s->sub[j], true, depth + 1);
                }
                weft_sb_puts(b, "]");
            }
            weft_sb_puts(b, "}");
            continue;
        }
        weft_sb_printf(b, "  %*s%4d  ", 2 * depth, "", i);
        if (s->info.domain[0]) {
            weft_sb_text_str(b, s->info.domain);
            weft_sb_puts(b, ".");
        }
        weft_sb_text_str(b, s->info.op_type);
        attrs(b, &s->info, false);
        weft_sb_printf(b, " [%s%s] (", step_backend(s), s->shape_only ? ", once per set of sizes" : "");
        value_list(b, p, s->in, s->n_in, false);
        weft_sb_puts(b, ") -> (");
        value_list(b, p, s->out, s->n_out, false);
        weft_sb_puts(b, ")\n");
        for (int j = 0; j < s->n_sub; j++) {
            weft_sb_printf(b, "  %*s      %s:\n", 2 * depth, "", s->sub_names && s->sub_names[j] ? s->sub_names[j] : "subgraph");
            describe_steps(b, s->sub[j], false, depth + 2);
        }
    }
    if (json) weft_sb_puts(b, "]");
}

/* What each pass did: nodes before -> after, rewrites, bytes of intermediates before -> after and the
 * change, as expressions in the model's symbols. */
static void describe_passes(weft_sb *b, const struct weft_plan *p, bool json)
{
    char before[1024], after[1024], delta[1024];
    for (int i = 0; i < p->n_passes; i++) {
        const weft_pass_report *r = &p->passes[i];
        weft_bytes_expr d;
        weft_bytes_sub(&r->bytes_after, &r->bytes_before, &d);
        weft_bytes_format(&r->bytes_before, p->syms, before, sizeof before);
        weft_bytes_format(&r->bytes_after, p->syms, after, sizeof after);
        weft_bytes_format(&d, p->syms, delta, sizeof delta);
        if (json) {
            weft_sb_puts(b, i ? ", {\"name\": " : "{\"name\": ");
            weft_sb_json_str(b, r->name);
            weft_sb_printf(b, ", \"nodes_before\": %d, \"nodes_after\": %d, \"changed\": %d, \"bytes_before\": ", r->nodes_before,
                           r->nodes_after, r->changed);
            weft_sb_json_str(b, before);
            weft_sb_puts(b, ", \"bytes_after\": ");
            weft_sb_json_str(b, after);
            weft_sb_puts(b, ", \"bytes_change\": ");
            weft_sb_json_str(b, delta);
            weft_sb_puts(b, "}");
            continue;
        }
        int pad = 16 - (int)strlen(r->name);
        weft_sb_puts(b, "  ");
        weft_sb_text_str(b, r->name);
        weft_sb_printf(b, "%*s nodes %5d -> %-5d rewrites %d\n", pad > 0 ? pad : 0, "", r->nodes_before, r->nodes_after,
                       r->changed);
        if (strcmp(before, after) == 0) {
            weft_sb_printf(b, "      intermediates: %s (unchanged)\n", before);
        } else {
            weft_sb_printf(b, "      intermediates: %s\n", before);
            weft_sb_printf(b, "                  -> %s\n", after);
            weft_sb_printf(b, "          change: %s\n", delta);
        }
    }
}

weft_status weft_plan_describe(const weft_plan *p, weft_describe_format fmt, char **out)
{
    if (!p || !out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_describe: NULL argument");
    *out = NULL;
    enum { CAP = 512 };
    step_count *counts = calloc(CAP, sizeof *counts);
    if (!counts) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    int n_kinds = 0, total = 0;
    count_steps(p, counts, &n_kinds, CAP, &total);
    qsort(counts, (size_t)n_kinds, sizeof *counts, by_count);
    size_t const_bytes = 0;
    int n_const = 0;
    for (int i = 0; i < p->n_slots; i++)
        if (p->slots[i].kind == WEFT_SLOT_CONST) { n_const++; const_bytes += p->slots[i].nbytes; }
    char backends[256] = "";
    for (int i = 0, len = 0; i < p->n_backends && len < (int)sizeof backends; i++)
        len += snprintf(backends + len, sizeof backends - (size_t)len, "%s%s", i ? "," : "", p->backends[i]->name);
    weft_sb b = {0};
    char shape[512];
    bool json = fmt & WEFT_DESCRIBE_JSON;
    int per_backend[WEFT_MAX_BACKENDS] = {0}, by_runtime = 0, shape_only = 0, n_copies = 0, n_uploads = 0;
    weft_bytes_expr moved = {0}, uploaded = {0}, relaid = {0};
    char moved_s[256], uploaded_s[256], relaid_s[256];
    /* layout boundaries: the Transposes compiler/pass_channels_last.c puts where channels-last values
     * meet channels-first ones, and the steps between them */
    int n_cl = 0, n_relayout = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        shape_only += s->shape_only;
        if (s->def && !strcmp(s->def->name, "ChannelsLast") && !strcmp(s->def->domain, "ai.weft")) n_cl++;
        const char *nm = s->info.name ? s->info.name : "";
        size_t nl = strlen(nm);
        if (s->def && !strcmp(s->def->name, "Transpose") && s->n_in > 0 && s->in[0] >= 0 &&
            ((nl > 17 && !strcmp(nm + nl - 17, "/to_channels_last")) || (nl > 18 && !strcmp(nm + nl - 18, "/to_channels_first")))) {
            n_relayout++;
            weft_bytes_add(&relaid, p->slots[s->in[0]].dtype, &p->slots[s->in[0]].shape, 1.0);
        }
        if (s->kind == WEFT_STEP_COPY) {
            const weft_slot *src = &p->slots[s->in[0]];
            bool once = src->kind == WEFT_SLOT_CONST;
            weft_bytes_add(once ? &uploaded : &moved, src->dtype, &src->shape, 1.0);
            n_uploads += once;
            n_copies += !once;
            continue;
        }
        int k = 0;
        while (k < p->n_backends && p->backends[k] != s->backend) k++;
        if (k < p->n_backends) per_backend[k]++;
        else by_runtime++;
    }
    weft_bytes_format(&moved, p->syms, moved_s, sizeof moved_s);
    weft_bytes_format(&uploaded, p->syms, uploaded_s, sizeof uploaded_s);
    weft_bytes_format(&relaid, p->syms, relaid_s, sizeof relaid_s);
    if (json) {
        weft_sb_puts(&b, "{\"backend\": ");
        weft_sb_json_str(&b, backends);
        weft_sb_puts(&b, ", \"steps_by_backend\": {");
        for (int k = 0; k < p->n_backends; k++) {
            weft_sb_puts(&b, k ? ", " : "");
            weft_sb_json_str(&b, p->backends[k]->name);
            weft_sb_printf(&b, ": %d", per_backend[k]);
        }
        weft_sb_printf(&b, "%s\"runtime\": %d}, \"shape_only_steps\": %d, \"opt_level\": %d", p->n_backends ? ", " : "",
                       by_runtime, shape_only, p->opt_level);
        weft_sb_printf(&b, ", \"copies\": %d, \"copy_bytes_per_run\": ", n_copies);
        weft_sb_json_str(&b, moved_s);
        weft_sb_printf(&b, ", \"uploads\": %d, \"upload_bytes\": ", n_uploads);
        weft_sb_json_str(&b, uploaded_s);
        weft_sb_printf(&b, ", \"channels_last_steps\": %d, \"layout_transposes\": %d, \"layout_bytes_per_run\": ", n_cl,
                       n_relayout);
        weft_sb_json_str(&b, relaid_s);
        weft_sb_printf(&b, ", \"steps\": %d, \"buffers\": %d, \"constants\": %d, \"constant_bytes\": %zu, \"ops\": [",
                       total, p->n_buffers, n_const, const_bytes);
        for (int k = 0; k < n_kinds; k++) {
            weft_sb_puts(&b, k ? ", {\"op\": " : "{\"op\": ");
            weft_sb_json_str(&b, counts[k].op);
            weft_sb_puts(&b, ", \"domain\": ");
            weft_sb_json_str(&b, counts[k].domain);
            weft_sb_printf(&b, ", \"count\": %d}", counts[k].n);
        }
        for (int io = 0; io < 2; io++) {
            weft_sb_puts(&b, io ? "], \"outputs\": [" : "], \"inputs\": [");
            int n = io ? p->n_outputs : p->n_inputs;
            for (int i = 0; i < n; i++) {
                const weft_slot *s = &p->slots[io ? p->outputs[i] : p->inputs[i]];
                shape_str(p, s, shape, sizeof shape);
                weft_sb_puts(&b, i ? ", {\"name\": " : "{\"name\": ");
                weft_sb_json_str(&b, s->name);
                weft_sb_printf(&b, ", \"dtype\": \"%s\", \"shape\": ", weft_dtype_name(s->dtype));
                weft_sb_json_str(&b, shape);
                weft_sb_puts(&b, "}");
            }
        }
        weft_sb_puts(&b, "]");
        if (fmt & WEFT_DESCRIBE_STEPS) {
            weft_sb_puts(&b, ", \"schedule\": ");
            describe_steps(&b, p, true, 0);
        }
        if (fmt & WEFT_DESCRIBE_PASSES) {
            weft_sb_puts(&b, ", \"passes\": [");
            describe_passes(&b, p, true);
            weft_sb_puts(&b, "]");
        }
        weft_sb_puts(&b, "}\n");
    } else {
        weft_sb_printf(&b, "backend: %s\nsteps: %d (%d kinds)\nbuffers: %d shared by the temporaries\n", backends, total,
                       n_kinds, p->n_buffers);
        weft_sb_puts(&b, "steps by backend:");
        for (int k = 0; k < p->n_backends; k++) weft_sb_printf(&b, " %s %d,", p->backends[k]->name, per_backend[k]);
        weft_sb_printf(&b, " runtime (control flow) %d; %d compute sizes only (once per set of sizes)\n", by_runtime, shape_only);
        if (n_copies || n_uploads)
            weft_sb_printf(&b, "copies between buffer types: %d per run moving %s; %d constants uploaded once (%s)\n", n_copies,
                           moved_s, n_uploads, uploaded_s);
        if (n_cl || n_relayout)
            weft_sb_printf(&b, "layout: %d steps channels-last; %d Transposes at layout boundaries moving %s per run\n", n_cl,
                           n_relayout, relaid_s);
        weft_sb_printf(&b, "constants: %d, %zu bytes\n", n_const, const_bytes);
        for (int io = 0; io < 2; io++) {
            int n = io ? p->n_outputs : p->n_inputs;
            weft_sb_puts(&b, io ? "outputs:\n" : "inputs:\n");
            for (int i = 0; i < n; i++) {
                const weft_slot *s = &p->slots[io ? p->outputs[i] : p->inputs[i]];
                shape_str(p, s, shape, sizeof shape);
                weft_sb_puts(&b, "  ");
                weft_sb_text_str(&b, s->name);
                weft_sb_printf(&b, "  %s %s\n", weft_dtype_name(s->dtype), shape);
            }
        }
        weft_sb_puts(&b, "schedule:\n");
        for (int k = 0; k < n_kinds; k++) {
            weft_sb_printf(&b, "  %6d  ", counts[k].n);
            if (counts[k].domain[0]) {
                weft_sb_text_str(&b, counts[k].domain);
                weft_sb_puts(&b, ".");
            }
            weft_sb_text_str(&b, counts[k].op);
            weft_sb_puts(&b, "\n");
        }
        if (fmt & WEFT_DESCRIBE_PASSES) {
            weft_sb_printf(&b, "passes (-O%d):\n", p->opt_level);
            describe_passes(&b, p, false);
        }
        if (fmt & WEFT_DESCRIBE_STEPS) {
            weft_sb_puts(&b, "steps:\n");
            describe_steps(&b, p, false, 0);
        }
    }
    free(counts);
    if (b.failed) { free(b.s); return weft_error(WEFT_ERR_NOMEM, "out of memory describing the plan"); }
    *out = b.s;
    return WEFT_OK;
}
