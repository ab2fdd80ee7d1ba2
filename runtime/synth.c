/*
 * runtime/synth.c — synthesised inputs: random but valid values for every graph input of a plan
 * (weft_plan_synthesize_inputs, weft_plan_synthesize_describe in weft.h).
 *
 * The sizes: each dimension symbol of the graph inputs is an edge count (the last dimension of an
 * integer index input), the size of a node set (a dimension an index row ranges over, found by
 * compiler/index_ranges.c), or another symbol, and takes the options' `edges`, `nodes`, `nodes`, unless
 * the options name it. The values: every input has its own xoshiro256** stream, seeded by the seed,
 * the input's name and the row, so an input's values depend on nothing else (adding an input to a
 * model leaves the others' values alone) and are the same on every machine. Float values are N(0,1)
 * by Box-Muller, index values uniform in their row's range (a multigraph: duplicate edges and isolated
 * nodes occur as they would at random).
 *
 * Benchmark results are reproduced from these values: any change to the generators changes the inputs
 * every recorded result was measured on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/index_ranges.h"
#include "../compiler/plan.h"

/* --- the generator -------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct rng { uint64_t s[4]; } rng;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) /* xoshiro256** */
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Seeded by the seed, the input's name (FNV-1a) and the row (-1 for a non-index input). */
static void rng_init(rng *r, uint64_t seed, const char *name, int row)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    uint64_t s = seed ^ h ^ ((uint64_t)row * 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&s);
}

static int64_t rng_below(rng *r, int64_t n) /* uniform in [0, n) */
{
    return (int64_t)(((unsigned __int128)rng_next(r) * (unsigned __int128)n) >> 64);
}

static double rng_unit(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; } /* in (0, 1) */

/* --- the sizes ------------------------------------------------------------------------------------ */

void weft_synth_info_free(weft_synth_info *info)
{
    if (!info) return;
    free(info->inputs);
    free(info->symbols);
    free(info->rows);
    free(info);
}

static const char *sym_name(const weft_plan *p, weft_dim d) { return d.sym >= 0 ? weft_sym_name(p->syms, d.sym) : NULL; }

/* The symbol's entry, added (with role `role`) if new; -1 when out of memory. */
static int sym_slot(weft_synth_info *si, int *cap, const char *name, weft_synth_role role)
{
    for (int k = 0; k < si->n_symbols; k++)
        if (!strcmp(si->symbols[k].name, name)) return k;
    if (si->n_symbols == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        weft_synth_symbol *more = realloc(si->symbols, (size_t)nc * sizeof *more);
        if (!more) return -1;
        si->symbols = more;
        *cap = nc;
    }
    si->symbols[si->n_symbols] = (weft_synth_symbol){name, -1, role};
    return si->n_symbols++;
}

static int64_t dim_value(const weft_synth_info *si, const char *sym, weft_dim d)
{
    if (d.sym < 0) return d.v;
    for (int k = 0; sym && k < si->n_symbols; k++)
        if (!strcmp(si->symbols[k].name, sym)) return si->symbols[k].value;
    return -1;
}

static bool is_pairs(const char *name) { return strncmp(name, "pairs", 5) == 0; }

/* Fills si (zeroed by the caller; its arrays freed by the caller whatever happens). */
static weft_status describe(const weft_plan *p, const weft_synth_options *o, weft_synth_info *si)
{
    if (!p || !o) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "synthesised inputs: no plan or no options");
    if (o->nodes < 0 || o->edges < 0)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "synthesised inputs: negative node count %lld or edge count %lld",
                          (long long)o->nodes, (long long)o->edges);
    if (o->n_dims < 0 || (o->n_dims > 0 && (!o->dim_names || !o->dim_values)))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "synthesised inputs: %d dimensions without names or values",
                          o->n_dims);
    for (int j = 0; j < o->n_dims; j++)
        if (!o->dim_names[j] || o->dim_values[j] < 0)
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "synthesised inputs: dimension %d (%s) has no name or a "
                              "negative value", j, o->dim_names[j] ? o->dim_names[j] : "unnamed");
    weft_index_row *rows = NULL;
    int n_rows = 0, cap = 0;
    weft_status st = weft_index_ranges(p->graph, &rows, &n_rows);
    if (st) return weft_error_wrap(st, "cannot analyse the index inputs");
    si->n_inputs = p->n_inputs;
    si->inputs = calloc((size_t)(p->n_inputs > 0 ? p->n_inputs : 1), sizeof *si->inputs);
    si->rows = calloc((size_t)(n_rows > 0 ? n_rows : 1), sizeof *si->rows);
    if (!si->inputs || !si->rows) {
        st = weft_error(WEFT_ERR_NOMEM, "synthesised inputs: out of memory");
        goto done;
    }
    /* Edge counts first: the last dimension of every index input. */
    for (int i = 0; i < p->n_inputs; i++) {
        const weft_slot *sl = &p->slots[p->inputs[i]];
        weft_tensor *in = &si->inputs[i];
        in->name = sl->name ? sl->name : "";
        in->dtype = sl->dtype;
        in->rank = sl->shape.rank;
        if (in->rank < 0) {
            st = weft_error(WEFT_ERR_UNSUPPORTED, "input '%s' has an unknown rank: its shape cannot be chosen", in->name);
            goto done;
        }
        bool index = false;
        for (int r = 0; r < n_rows && !index; r++) index = rows[r].input == i;
        const char *e = index ? sym_name(p, sl->shape.d[in->rank - 1]) : NULL;
        if (e && sym_slot(si, &cap, e, WEFT_SYNTH_EDGES) < 0) goto nomem;
    }
    /* Node counts: the dimensions the index rows range over (a symbol that is both stays an edge count). */
    for (int r = 0; r < n_rows; r++) {
        const char *nm = sym_name(p, rows[r].range);
        if (nm && sym_slot(si, &cap, nm, WEFT_SYNTH_NODES) < 0) goto nomem;
    }
    /* Every other symbol of the inputs. */
    for (int i = 0; i < p->n_inputs; i++) {
        const weft_slot *sl = &p->slots[p->inputs[i]];
        for (int d = 0; d < sl->shape.rank; d++) {
            const char *nm = sym_name(p, sl->shape.d[d]);
            if (nm && sym_slot(si, &cap, nm, WEFT_SYNTH_OTHER) < 0) goto nomem;
        }
    }
    for (int k = 0; k < si->n_symbols; k++)
        si->symbols[k].value = si->symbols[k].role == WEFT_SYNTH_EDGES ? o->edges : o->nodes;
    for (int j = 0; j < o->n_dims; j++) {
        int k;
        for (k = 0; k < si->n_symbols; k++)
            if (!strcmp(si->symbols[k].name, o->dim_names[j])) break;
        if (k == si->n_symbols) {
            char list[1024] = "";
            size_t len = 0;
            for (int q = 0; q < si->n_symbols; q++)
                len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", q ? ", " : "",
                                        si->symbols[q].name);
            st = weft_error(WEFT_ERR_INVALID_ARGUMENT,
                            "dimension '%s': the model's inputs have no dimension of that name (they have: %s)",
                            o->dim_names[j], si->n_symbols ? list : "none");
            goto done;
        }
        si->symbols[k].value = o->dim_values[j];
        si->symbols[k].role = WEFT_SYNTH_GIVEN;
    }
    for (int i = 0; i < p->n_inputs; i++) {
        const weft_slot *sl = &p->slots[p->inputs[i]];
        weft_tensor *in = &si->inputs[i];
        bool index = false;
        for (int r = 0; r < n_rows && !index; r++) index = rows[r].input == i;
        for (int d = 0; d < in->rank; d++) in->dims[d] = dim_value(si, sym_name(p, sl->shape.d[d]), sl->shape.d[d]);
        if (index && !is_pairs(in->name)) si->edges += in->dims[in->rank - 1];
    }
    for (int r = 0; r < n_rows; r++) {
        const char *name = si->inputs[rows[r].input].name;
        if (rows[r].source == WEFT_RANGE_UNKNOWN) {
            st = weft_error(WEFT_ERR_UNSUPPORTED,
                            "cannot tell which node set row %d of input '%s' indexes: the compiled graph does not use "
                            "it as an index weft can follow, its name is not edge_index__<src>__<rel>__<dst> or "
                            "pairs__<src>__<rel>__<dst> with x_<src> / x_<dst> inputs, and the inputs have no single "
                            "node-count dimension",
                            rows[r].row, name);
            goto done;
        }
        const char *dim = sym_name(p, rows[r].range);
        si->rows[si->n_rows++] = (weft_synth_row){
            rows[r].input, rows[r].row, dim_value(si, dim, rows[r].range), dim,
            weft_range_source_name(rows[r].source), rows[r].uses, rows[r].conflicts,
            rows[r].conflicts > 0 ? sym_name(p, rows[r].other) : NULL};
    }
    goto done;
nomem:
    st = weft_error(WEFT_ERR_NOMEM, "synthesised inputs: out of memory");
done:
    free(rows);
    return st;
}

weft_status weft_plan_synthesize_describe(const weft_plan *p, const weft_synth_options *o, weft_synth_info **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_synthesize_describe: no output");
    *out = calloc(1, sizeof **out);
    if (!*out) return weft_error(WEFT_ERR_NOMEM, "synthesised inputs: out of memory");
    weft_status st = describe(p, o, *out);
    if (st) {
        weft_synth_info_free(*out);
        *out = NULL;
    }
    return st;
}

/* --- the values ----------------------------------------------------------------------------------- */

/* Fills t (its data allocated here) with input i's values. */
static weft_status synthesise(const weft_synth_info *si, int i, uint64_t seed, weft_tensor *t)
{
    const weft_tensor *in = &si->inputs[i];
    int64_t n = 1;
    for (int d = 0; d < in->rank; d++) {
        if (in->dims[d] < 0 || (in->dims[d] && n > INT64_MAX / in->dims[d])) { n = -1; break; }
        n *= in->dims[d];
    }
    size_t es = weft_dtype_size(in->dtype);
    if (n < 0 || es == 0 || (uint64_t)n > SIZE_MAX / es)
        return weft_error(WEFT_ERR_UNSUPPORTED, "input '%s' of type %s cannot be synthesised", in->name,
                          weft_dtype_name(in->dtype));
    int n_rows = 0;
    for (int r = 0; r < si->n_rows; r++) n_rows += si->rows[r].input == i;
    bool ints = in->dtype == WEFT_INT32 || in->dtype == WEFT_INT64;
    bool floats = in->dtype == WEFT_FLOAT32 || in->dtype == WEFT_FLOAT64;
    if (n_rows > 0 ? !ints : !(floats || in->dtype == WEFT_BOOL))
        return weft_error(WEFT_ERR_UNSUPPORTED,
                          "input '%s' is %s: only float32, float64 and bool inputs and int32 / int64 index inputs "
                          "can be synthesised", in->name, weft_dtype_name(in->dtype));
    t->nbytes = (size_t)n * es;
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    t->name = strdup(in->name);
    if (!t->data || !t->name)
        return weft_error(WEFT_ERR_NOMEM, "out of memory for input '%s' (%zu bytes)", in->name, t->nbytes);
    t->dtype = in->dtype;
    t->rank = in->rank;
    memcpy(t->dims, in->dims, sizeof t->dims);
    rng r;
    if (n_rows > 0) {
        int64_t per_row = in->rank == 1 ? n : in->dims[1];
        for (int row = 0; row < n_rows; row++) {
            const weft_synth_row *sr = NULL;
            for (int k = 0; k < si->n_rows && !sr; k++)
                if (si->rows[k].input == i && si->rows[k].row == row) sr = &si->rows[k];
            int64_t m = sr ? sr->range : -1;
            if (m <= 0 && per_row > 0)
                return weft_error(WEFT_ERR_SHAPE, "row %d of input '%s' indexes a dimension of size %lld%s%s%s: no "
                                  "valid value", row, in->name, (long long)m, sr && sr->dim ? " (" : "",
                                  sr && sr->dim ? sr->dim : "", sr && sr->dim ? ")" : "");
            rng_init(&r, seed, in->name, row);
            for (int64_t e = 0; e < per_row; e++) {
                int64_t v = rng_below(&r, m);
                if (in->dtype == WEFT_INT32) ((int32_t *)t->data)[row * per_row + e] = (int32_t)v;
                else ((int64_t *)t->data)[row * per_row + e] = v;
            }
        }
        return WEFT_OK;
    }
    rng_init(&r, seed, in->name, -1);
    if (in->dtype == WEFT_BOOL) {
        for (int64_t k = 0; k < n; k++) ((uint8_t *)t->data)[k] = (uint8_t)(rng_next(&r) >> 63);
        return WEFT_OK;
    }
    for (int64_t k = 0; k < n; k += 2) { /* Box-Muller: two N(0,1) values per draw */
        double u = rng_unit(&r), v = rng_unit(&r), rad = sqrt(-2.0 * log(u));
        double a = rad * cos(2 * M_PI * v), b = rad * sin(2 * M_PI * v);
        if (in->dtype == WEFT_FLOAT32) {
            ((float *)t->data)[k] = (float)a;
            if (k + 1 < n) ((float *)t->data)[k + 1] = (float)b;
        } else {
            ((double *)t->data)[k] = a;
            if (k + 1 < n) ((double *)t->data)[k + 1] = b;
        }
    }
    return WEFT_OK;
}

weft_status weft_plan_synthesize_inputs(const weft_plan *p, const weft_synth_options *o, weft_tensor *inputs,
                                        int n_inputs)
{
    if (!inputs && n_inputs > 0) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_synthesize_inputs: no inputs");
    for (int i = 0; i < n_inputs; i++) memset(&inputs[i], 0, sizeof inputs[i]);
    if (p && n_inputs != p->n_inputs)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_synthesize_inputs: room for %d inputs, the plan has %d",
                          n_inputs, p->n_inputs);
    weft_synth_info si = {0};
    weft_status st = describe(p, o, &si);
    for (int i = 0; i < n_inputs && !st; i++) st = synthesise(&si, i, o->seed, &inputs[i]);
    if (st)
        for (int i = 0; i < n_inputs; i++) weft_tensor_release(&inputs[i]);
    free(si.inputs);
    free(si.symbols);
    free(si.rows);
    return st;
}
