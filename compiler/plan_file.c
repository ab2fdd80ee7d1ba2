/*
 * compiler/plan_file.c — `.weftplan` files: weft_plan_save, weft_plan_load, weft_plan_load_from_buffer.
 *
 * A file is the magic "WEFTPLAN", the format version (uint32, little-endian), then one WeftPlan
 * message (schemas/weftplan.proto; the format is described in schemas/weftplan.md). The message holds
 * the optimised graph as an ONNX model (compiler/onnx_export.c), the backend priority list, the backend
 * that took each top-level step, and a SHA-256 over all of it.
 *
 * Loading reads the header before any protobuf parsing (a random file is "not a weft plan"), checks the
 * version, parses, verifies the digest, then imports the embedded model with the ordinary importer,
 * infers shapes (no optimisation: the graph is already optimised) and lowers it with the recorded
 * assignment, so every step runs on the backend it ran on when the plan was saved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_write.h"
#include "onnx_export.h"
#include "onnx_tensor.h"
#include "plan.h"
#include "plan_file.h"
#include "schemas/weftplan.pb-c.h"
#include "sha256.h"

#define PLAN_MAGIC "WEFTPLAN"
#define PLAN_MAGIC_LEN 8
#define PLAN_HEADER_LEN 12
#define PLAN_FORMAT_NAME "weft.plan"
#define PLAN_FORMAT_VERSION 1u
#define PLAN_MAX_BYTES ((size_t)1 << 32)

/* --- the checksum --------------------------------------------------------------------------------- */

static void put_u32(weft_sha256 *h, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    weft_sha256_update(h, b, 4);
}

static void put_u64(weft_sha256 *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    weft_sha256_update(h, b, 8);
}

static void put_bytes(weft_sha256 *h, const void *p, size_t n)
{
    put_u64(h, n);
    if (n) weft_sha256_update(h, p, n);
}

static void put_str(weft_sha256 *h, const char *s) { put_bytes(h, s ? s : "", s ? strlen(s) : 0); }

/* The digest of fields 1-7 in the canonical form of schemas/weftplan.md: per field, its number (u32
 * LE), then integers as u64 LE, strings and bytes as u64 LE length + bytes, repeated fields as u64 LE
 * count + elements. Independent of how protobuf happened to lay the message out. */
void weft_plan_digest(const Weft__WeftPlan *m, uint8_t out[32])
{
    weft_sha256 h;
    weft_sha256_init(&h);
    put_u32(&h, 1);
    put_str(&h, m->format);
    put_u32(&h, 2);
    put_u64(&h, m->format_version);
    put_u32(&h, 3);
    put_str(&h, m->weft_version);
    put_u32(&h, 4);
    put_u64(&h, m->n_backends);
    for (size_t i = 0; i < m->n_backends; i++) put_str(&h, m->backends[i]);
    put_u32(&h, 5);
    put_u64(&h, m->n_assignment);
    for (size_t i = 0; i < m->n_assignment; i++) put_str(&h, m->assignment[i]);
    put_u32(&h, 6);
    put_u64(&h, (uint64_t)(int64_t)m->opt_level);
    put_u32(&h, 7);
    put_bytes(&h, m->model.data, m->model.len);
    weft_sha256_final(&h, out);
}

/* --- saving --------------------------------------------------------------------------------------- */

weft_status weft_plan_save(const weft_plan *p, const char *path)
{
    if (!p || !path) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_save: %s is NULL", p ? "path" : "plan");
    if (p->parent || !p->graph)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_save: only a whole plan can be saved");
    weft_error_clear();
    uint8_t *model = NULL, *body = NULL;
    size_t model_len = 0;
    char **assign = calloc((size_t)p->graph->n_nodes + 1, sizeof *assign);
    char *backends[WEFT_MAX_BACKENDS];
    char version[32];
    weft_status st = WEFT_OK;
    if (!assign) return weft_error(WEFT_ERR_NOMEM, "out of memory");

    weft_onnx_export_options eo = {.value_info = true};
    if ((st = weft_ir_to_onnx(p->graph, p->syms, &eo, &model, &model_len))) {
        weft_error_wrap(st, "%s: writing the plan's graph", path);
        goto done;
    }
    /* the steps that are not copies are the graph's nodes, in order (compiler/lower.c); copies between
     * buffer types follow from the assignment and are inserted again on load */
    int n_assign = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        if (s->kind == WEFT_STEP_COPY) continue;
        if (n_assign >= p->graph->n_nodes) break;
        assign[n_assign++] = (char *)(s->kind == WEFT_STEP_KERNEL && s->backend ? s->backend->name : "");
    }
    if (n_assign != p->graph->n_nodes) {
        st = weft_error(WEFT_ERR_INTERNAL, "%s: the plan's schedule does not follow its graph (%d steps for %d nodes)",
                        path, n_assign, p->graph->n_nodes);
        goto done;
    }
    for (int b = 0; b < p->n_backends; b++) backends[b] = (char *)p->backends[b]->name;
    snprintf(version, sizeof version, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);

    Weft__WeftPlan m;
    weft__weft_plan__init(&m);
    m.format = PLAN_FORMAT_NAME;
    m.has_format_version = true;
    m.format_version = PLAN_FORMAT_VERSION;
    m.weft_version = version;
    m.n_backends = (size_t)p->n_backends;
    m.backends = backends;
    m.n_assignment = (size_t)n_assign;
    m.assignment = assign;
    m.has_opt_level = true;
    m.opt_level = p->opt_level;
    m.has_model = true;
    m.model.data = model;
    m.model.len = model_len;
    uint8_t digest[32];
    weft_plan_digest(&m, digest);
    m.has_sha256 = true;
    m.sha256.data = digest;
    m.sha256.len = sizeof digest;

    size_t body_len = weft__weft_plan__get_packed_size(&m);
    if (body_len > PLAN_MAX_BYTES - PLAN_HEADER_LEN) {
        st = weft_error(WEFT_ERR_UNSUPPORTED, "%s: the plan takes %zu bytes, more than a plan file may hold (%zu)", path,
                        body_len + PLAN_HEADER_LEN, PLAN_MAX_BYTES);
        goto done;
    }
    if (!(body = malloc(body_len ? body_len : 1))) {
        st = weft_error(WEFT_ERR_NOMEM, "%s: out of memory (the plan takes %zu bytes)", path, body_len);
        goto done;
    }
    weft__weft_plan__pack(&m, body);
    uint8_t header[PLAN_HEADER_LEN];
    memcpy(header, PLAN_MAGIC, PLAN_MAGIC_LEN);
    for (int i = 0; i < 4; i++) header[PLAN_MAGIC_LEN + i] = (uint8_t)(PLAN_FORMAT_VERSION >> (8 * i));
    const void *parts[2] = {header, body};
    size_t lens[2] = {sizeof header, body_len};
    st = weft_write_file_atomic(path, parts, lens, 2);
done:
    free(assign);
    free(model);
    free(body);
    return st;
}

/* --- loading -------------------------------------------------------------------------------------- */

static weft_status use_table(weft_graph *g, void *syms)
{
    g->syms = syms;
    return WEFT_OK;
}

/* Parses and checks the body; *out is the message (free it with weft__weft_plan__free_unpacked). */
static weft_status read_message(const uint8_t *buf, size_t len, const char *label, Weft__WeftPlan **out)
{
    *out = NULL;
    if (len == 0) return weft_error(WEFT_ERR_PARSE, "%s: not a weft plan: the file is empty", label);
    size_t cmp = len < PLAN_MAGIC_LEN ? len : PLAN_MAGIC_LEN;
    if (memcmp(buf, PLAN_MAGIC, cmp) != 0)
        return weft_error(WEFT_ERR_PARSE, "%s: not a weft plan (it does not start with \"%s\")", label, PLAN_MAGIC);
    if (len < PLAN_HEADER_LEN)
        return weft_error(WEFT_ERR_PARSE, "%s: truncated weft plan: %zu bytes, shorter than the %d-byte header", label,
                          len, PLAN_HEADER_LEN);
    uint32_t version = 0;
    for (int i = 0; i < 4; i++) version |= (uint32_t)buf[PLAN_MAGIC_LEN + i] << (8 * i);
    if (version == 0)
        return weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: format version 0 in the header", label);
    if (version > PLAN_FORMAT_VERSION)
        return weft_error(WEFT_ERR_UNSUPPORTED,
                          "%s: weft plan format version %u is newer than this weft reads (%u): compile the model "
                          "again with this weft",
                          label, version, PLAN_FORMAT_VERSION);
    Weft__WeftPlan *m = weft__weft_plan__unpack(NULL, len - PLAN_HEADER_LEN, buf + PLAN_HEADER_LEN);
    if (!m)
        return weft_error(WEFT_ERR_PARSE, "%s: corrupted or truncated weft plan: its body does not decode", label);
    weft_status st = WEFT_OK;
    uint8_t digest[32];
    if (!m->format || strcmp(m->format, PLAN_FORMAT_NAME) != 0)
        st = weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: format name is not \"%s\"", label, PLAN_FORMAT_NAME);
    else if (!m->has_format_version || m->format_version != version)
        st = weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: the body's format version disagrees with the header's (%u)",
                        label, version);
    else if (!m->has_sha256 || m->sha256.len != sizeof digest)
        st = weft_error(WEFT_ERR_PARSE, "%s: corrupted or truncated weft plan: no checksum", label);
    if (!st) {
        weft_plan_digest(m, digest);
        if (memcmp(digest, m->sha256.data, sizeof digest) != 0)
            st = weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: checksum mismatch (SHA-256 of the contents differs "
                            "from the one stored)", label);
    }
    if (!st && (!m->has_model || m->model.len == 0))
        st = weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: no graph", label);
    if (st) { weft__weft_plan__free_unpacked(m, NULL); return st; }
    *out = m;
    return WEFT_OK;
}

/* The backend priority list of the file, each one checked against this build. */
static weft_status read_backends(const Weft__WeftPlan *m, const char *label, const weft_backend **out, int *n)
{
    *n = 0;
    if (m->n_backends == 0 || m->n_backends > WEFT_MAX_BACKENDS)
        return weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: %zu backends listed (1 to %d expected)", label,
                          m->n_backends, WEFT_MAX_BACKENDS);
    for (size_t i = 0; i < m->n_backends; i++) {
        const char *name = m->backends[i] ? m->backends[i] : "";
        const weft_backend *b = weft_backend_find(name);
        if (!b)
            return weft_error(WEFT_ERR_UNSUPPORTED,
                              "%s: the plan was compiled for backend '%.64s', which this build lacks (it has: %s); "
                              "compile the model again here",
                              label, name, weft_backends());
        for (int k = 0; k < *n; k++)
            if (out[k] == b) return weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: backend '%s' listed twice", label, name);
        out[(*n)++] = b;
    }
    return WEFT_OK;
}

static weft_status load_plan(const uint8_t *buf, size_t len, const char *label, weft_plan **out)
{
    *out = NULL;
    Weft__WeftPlan *m = NULL;
    weft_status st = read_message(buf, len, label, &m);
    if (st) return st;
    const weft_backend *backends[WEFT_MAX_BACKENDS];
    int n_backends = 0;
    weft_model *model = NULL;
    weft_graph *g = NULL;
    weft_symtab *syms = NULL;
    const char **assign = NULL;
    if ((st = read_backends(m, label, backends, &n_backends))) goto done;

    if ((st = weft_model_load_from_buffer(m->model.data, m->model.len, NULL, &model))) {
        weft_error_wrap(st, "%s: the plan's graph", label);
        goto done;
    }
    /* The plan owns the graph and the symbol table: take both from the model. */
    if (!(syms = calloc(1, sizeof *syms))) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    *syms = model->syms;
    memset(&model->syms, 0, sizeof model->syms);
    g = model->graph;
    model->graph = NULL;
    weft_graph_walk(g, use_table, syms);
    weft_model_free(model);
    model = NULL;

    if (m->n_assignment != (size_t)g->n_nodes) {
        st = weft_error(WEFT_ERR_PARSE, "%s: corrupted weft plan: %zu backend assignments for %d steps", label,
                        m->n_assignment, g->n_nodes);
        goto done;
    }
    if (!(assign = calloc(m->n_assignment + 1, sizeof *assign))) { st = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < m->n_assignment; i++)
        assign[i] = m->assignment[i] && m->assignment[i][0] ? m->assignment[i] : NULL; /* "": control flow */

    weft_ir_resolve_ops(g, NULL);
    /* shapes only: the graph was optimised before it was saved */
    if ((st = weft_pass_infer(g, false, NULL))) {
        weft_error_wrap(st, "%s: the plan's graph", label);
        goto done;
    }
    struct weft_plan *p = NULL;
    if ((st = weft_plan_lower(g, syms, backends, n_backends, assign, &p))) {
        weft_error_wrap(st, "%s", label);
        goto done;
    }
    g = NULL;
    syms = NULL; /* the plan owns them now */
    p->opt_level = m->has_opt_level ? m->opt_level : 0;
    *out = p;
done:
    free(assign);
    weft_model_free(model);
    weft_graph_free(g);
    if (syms) { weft_symtab_free(syms); free(syms); }
    weft__weft_plan__free_unpacked(m, NULL);
    return st;
}

weft_status weft_plan_load_from_buffer(const void *buf, size_t len, weft_plan **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_load_from_buffer: out is NULL");
    *out = NULL;
    if (!buf && len) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_load_from_buffer: NULL buffer");
    weft_error_clear();
    return load_plan(buf, len, "<buffer>", out);
}

weft_status weft_plan_load(const char *path, weft_plan **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_load: out is NULL");
    *out = NULL;
    if (!path) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_load: path is NULL");
    weft_error_clear();
    uint8_t *buf = NULL;
    size_t len = 0;
    weft_status st = weft_read_whole_file(path, PLAN_MAX_BYTES, &buf, &len);
    if (st) return st;
    st = load_plan(buf, len, path, out);
    free(buf);
    return st;
}
