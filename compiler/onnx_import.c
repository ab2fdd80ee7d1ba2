/*
 * compiler/onnx_import.c — ONNX ModelProto (protobuf-c) → weft IR.
 *
 * The importer is the first thing a hostile file meets, so it trusts nothing: the wire format is
 * scanned for nesting depth before protobuf-c recurses into it, every count and size is checked, and
 * every error names the file and the value, node or attribute at fault.
 *
 * A graph is converted in three passes so that nodes may appear in any order in the file:
 *   1. flatten: the node list, with calls to model-local functions inlined (recursively), every value
 *      name already renamed to its final form;
 *   2. create a value for every node output (Constant nodes become constant values right here);
 *   3. create the nodes and resolve their inputs by name. Subgraphs (If / Loop bodies) are converted
 *      in this pass, when every value of the enclosing graph already exists; names they read from
 *      enclosing graphs become OUTER values.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "onnx/onnx.pb-c.h"
#include "onnx_tensor.h"

#define MAX_PROTO_DEPTH 200       /* message nesting the wire scanner lets protobuf-c recurse into */
#define MAX_SUBGRAPH_DEPTH 60     /* If/Loop nesting */
#define MAX_INLINE_DEPTH 256      /* nested function calls */
#define MAX_FLAT_NODES (1 << 24)  /* nodes of one graph after inlining (guards exponential fan-out) */
#define MAX_MODEL_BYTES ((size_t)1 << 32)
#define FUNCTION_ATTRIBUTE_PROTO_FIELD 11 /* FunctionProto.attribute_proto (IR 9), unknown to older protos */

/* --- small helpers ------------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static const char *norm_domain(const char *d)
{
    return !d || strcmp(d, "ai.onnx") == 0 ? "" : d;
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

/* --- wire-format depth scan ----------------------------------------------------------------------- */

static bool read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*i >= n) return false;
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *out = v; return true; }
    }
    return false;
}

/* False when messages nest deeper than MAX_PROTO_DEPTH (protobuf-c would recurse without limit).
 * Malformed input returns true: the real parser reports it. */
static bool scan_depth(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth)
{
    if (depth > MAX_PROTO_DEPTH) return false;
    size_t i = 0;
    while (i < n) {
        uint64_t key, v;
        if (!read_varint(p, n, &i, &key)) return true;
        switch (key & 7) {
        case 0: if (!read_varint(p, n, &i, &v)) return true; break;
        case 1: if (n - i < 8) return true; i += 8; break;
        case 5: if (n - i < 4) return true; i += 4; break;
        case 2: {
            if (!read_varint(p, n, &i, &v) || v > n - i) return true;
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && !scan_depth(f->descriptor, p + i, (size_t)v, depth + 1))
                return false;
            i += (size_t)v;
            break;
        }
        default: return true;
        }
    }
    return true;
}

/* --- import state ------------------------------------------------------------------------------- */

typedef struct fn_entry {
    const Onnx__FunctionProto *fp;
    Onnx__AttributeProto **defaults; /* FunctionProto.attribute_proto, unpacked from unknown fields */
    size_t n_defaults;
    bool active;                     /* being inlined: a call now would recurse */
    bool used;                       /* inlined at least once */
} fn_entry;

/*
 * A frame says how to read the text of a node list:
 *   - a function frame (fn != NULL) renames the body's names (formal → actual, internal → unique) and
 *     resolves attribute references from the call;
 *   - a graph frame (fn == NULL) renames nothing; attribute references and opsets go to `outer` (the
 *     frame the subgraph's text appears in), or to the model at top level.
 */
typedef struct frame {
    const fn_entry *fn;
    const Onnx__NodeProto *call;
    char **act_in, **act_out; /* the call's input / output names, final */
    size_t n_act_in, n_act_out;
    char *prefix;             /* unique prefix for the body's internal names */
    const struct frame *caller; /* function frame: where the call node was read */
    const struct frame *outer;  /* graph frame: enclosing frame, NULL at top level */
    weft_graph *home;         /* the graph that receives this frame's nodes */
} frame;

typedef struct import_ctx {
    weft_model *m;
    const char *base_dir;
    fn_entry *fns;
    size_t n_fns;
    int inline_count;
} import_ctx;

/* A node after flattening: names final, attributes still protos read in `fr`. */
typedef struct pnode {
    const Onnx__NodeProto *np;
    const frame *fr;
    char *name;
    char **in, **out;
    size_t n_in, n_out;
    int *out_idx;
} pnode;

typedef struct plist {
    pnode *v;
    size_t n, cap;
    frame **frames; /* owned function frames */
    size_t n_frames, cap_frames;
} plist;

static void frame_free(frame *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_act_in; i++) free(f->act_in[i]);
    for (size_t i = 0; i < f->n_act_out; i++) free(f->act_out[i]);
    free(f->act_in);
    free(f->act_out);
    free(f->prefix);
    free(f);
}

static void plist_free(plist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        pnode *p = &l->v[i];
        free(p->name);
        for (size_t k = 0; k < p->n_in; k++) free(p->in[k]);
        for (size_t k = 0; k < p->n_out; k++) free(p->out[k]);
        free(p->in);
        free(p->out);
        free(p->out_idx);
    }
    free(l->v);
    for (size_t i = 0; i < l->n_frames; i++) frame_free(l->frames[i]);
    free(l->frames);
    memset(l, 0, sizeof *l);
}

static const fn_entry *find_function(const import_ctx *c, const char *domain, const char *op_type)
{
    for (size_t i = 0; i < c->n_fns; i++) {
        const Onnx__FunctionProto *fp = c->fns[i].fp;
        if (strcmp(norm_domain(fp->domain), norm_domain(domain)) == 0 && strcmp(str_or_empty(fp->name), op_type) == 0)
            return &c->fns[i];
    }
    return NULL;
}

/* The nearest function frame around fr, following graph frames outwards. */
static const frame *function_frame(const frame *fr)
{
    while (fr && !fr->fn) fr = fr->outer;
    return fr;
}

/* The final name of `name` as written in the text of frame fr. NULL on allocation failure. */
static char *rename_in(const frame *fr, const char *name)
{
    if (!name || !name[0]) return xstrdup("");
    if (!fr || !fr->fn) return xstrdup(name);
    const Onnx__FunctionProto *fp = fr->fn->fp;
    for (size_t i = 0; i < fp->n_input; i++)
        if (fp->input[i] && strcmp(fp->input[i], name) == 0)
            return xstrdup(i < fr->n_act_in ? fr->act_in[i] : ""); /* missing optional input: absent */
    for (size_t i = 0; i < fp->n_output; i++)
        if (fp->output[i] && strcmp(fp->output[i], name) == 0 && i < fr->n_act_out && fr->act_out[i][0])
            return xstrdup(fr->act_out[i]);
    size_t n = strlen(fr->prefix) + strlen(name) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", fr->prefix, name);
    return p;
}

/* The opset version for `domain` as seen from frame fr: the innermost function's imports, then the
 * model's. 0 when nobody imports the domain. */
static int64_t opset_for(const import_ctx *c, const frame *fr, const char *domain)
{
    domain = norm_domain(domain);
    for (const frame *f = fr; f; f = f->fn ? f->caller : f->outer) {
        if (!f->fn) continue;
        const Onnx__FunctionProto *fp = f->fn->fp;
        for (size_t i = 0; i < fp->n_opset_import; i++) {
            const Onnx__OperatorSetIdProto *o = fp->opset_import[i];
            if (o && strcmp(norm_domain(o->domain), domain) == 0 && o->has_version) return o->version;
        }
    }
    return weft_model_opset(c->m, domain);
}

/* Resolves an attribute reference (ref_attr_name) seen in frame fr. Sets *out (NULL: the caller did not
 * give it and there is no default, so the attribute is absent) and *where (the frame the returned proto
 * must be read in). */
static weft_status resolve_ref(const frame *fr, const Onnx__AttributeProto *ap, const char *node_name,
                               const Onnx__AttributeProto **out, const frame **where)
{
    for (int hops = 0; hops < MAX_INLINE_DEPTH + 1; hops++) {
        const frame *ff = function_frame(fr);
        if (!ff)
            return weft_error(WEFT_ERR_INVALID_MODEL, "node '%s': attribute '%s' refers to '%s' outside a function",
                              node_name, str_or_empty(ap->name), ap->ref_attr_name);
        const char *want = ap->ref_attr_name;
        const Onnx__AttributeProto *found = NULL;
        for (size_t i = 0; i < ff->call->n_attribute; i++)
            if (ff->call->attribute[i] && strcmp(str_or_empty(ff->call->attribute[i]->name), want) == 0)
                found = ff->call->attribute[i];
        if (found) {
            if (found->ref_attr_name && found->ref_attr_name[0]) { fr = ff->caller; ap = found; continue; }
            *out = found;
            *where = ff->caller;
            return WEFT_OK;
        }
        for (size_t i = 0; i < ff->fn->n_defaults; i++)
            if (strcmp(str_or_empty(ff->fn->defaults[i]->name), want) == 0) {
                *out = ff->fn->defaults[i];
                *where = ff;
                return WEFT_OK;
            }
        *out = NULL;
        *where = NULL;
        return WEFT_OK;
    }
    return weft_error(WEFT_ERR_INVALID_MODEL, "node '%s': attribute references nest too deeply", node_name);
}

/* --- types -------------------------------------------------------------------------------------- */

static weft_status apply_type(import_ctx *c, weft_value *v, const Onnx__TypeProto *tp)
{
    if (!tp) return WEFT_OK;
    switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE: break;
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
        return weft_error(WEFT_ERR_UNSUPPORTED, "value '%s': sequence types are not supported", v->name);
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
        return weft_error(WEFT_ERR_UNSUPPORTED, "value '%s': map types are not supported", v->name);
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
        return weft_error(WEFT_ERR_UNSUPPORTED, "value '%s': optional types are not supported", v->name);
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
        return weft_error(WEFT_ERR_UNSUPPORTED, "value '%s': sparse tensor values are not supported", v->name);
    default: return WEFT_OK; /* no type, or a kind newer than this proto: leave it to inference */
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (!tt) return WEFT_OK;
    char what[300];
    snprintf(what, sizeof what, "value '%.256s'", v->name);
    weft_dtype dt = WEFT_UNDEFINED;
    if (tt->has_elem_type && tt->elem_type != 0) {
        weft_status s = weft_onnx_dtype(tt->elem_type, &dt, what);
        if (s != WEFT_OK) return s;
    }
    weft_shape sh = {.rank = -1};
    if (tt->shape) {
        if (tt->shape->n_dim > WEFT_MAX_RANK)
            return weft_error(WEFT_ERR_UNSUPPORTED, "%s: rank %zu exceeds weft's maximum of %d", what,
                              tt->shape->n_dim, WEFT_MAX_RANK);
        sh.rank = (int)tt->shape->n_dim;
        for (int i = 0; i < sh.rank; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            int32_t sym;
            if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                if (d->dim_value < 0)
                    return weft_error(WEFT_ERR_INVALID_MODEL, "%s: dimension %d is negative (%lld)", what, i,
                                      (long long)d->dim_value);
                sh.d[i] = weft_dim_num(d->dim_value);
                continue;
            }
            if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
                d->dim_param[0])
                sym = weft_sym_intern(&c->m->syms, d->dim_param);
            else
                sym = weft_sym_fresh(&c->m->syms);
            if (sym < 0) return weft_error(WEFT_ERR_NOMEM, "%s: out of memory", what);
            sh.d[i].v = 0;
            sh.d[i].sym = sym;
        }
    }
    v->dtype = dt;
    v->shape = sh;
    if (dt != WEFT_UNDEFINED && sh.rank >= 0) v->flags |= WEFT_VALUE_TYPED;
    else v->flags &= ~(unsigned)WEFT_VALUE_TYPED;
    return WEFT_OK;
}

static weft_status set_const(weft_value *v, weft_tensor *t)
{
    weft_shape sh = {.rank = t->rank};
    for (int i = 0; i < t->rank; i++) sh.d[i] = weft_dim_num(t->dims[i]);
    /* take the buffer over rather than copying a possibly large weight */
    free(v->data);
    v->data = t->data;
    v->nbytes = t->nbytes;
    v->dtype = t->dtype;
    v->shape = sh;
    v->flags |= WEFT_VALUE_CONST | WEFT_VALUE_TYPED;
    t->data = NULL;
    free((char *)t->name);
    t->name = NULL;
    return WEFT_OK;
}

/* --- attributes --------------------------------------------------------------------------------- */

static weft_status convert_graph(import_ctx *c, const Onnx__GraphProto *gp, weft_graph *parent, const frame *outer,
                                 int depth, weft_graph **out);

static weft_attr_type infer_attr_type(const Onnx__AttributeProto *ap)
{
    if (ap->has_type && ap->type != 0) return (weft_attr_type)ap->type;
    /* IR < 2 has no type field: tell by which field is set */
    if (ap->has_f) return WEFT_ATTR_FLOAT;
    if (ap->has_i) return WEFT_ATTR_INT;
    if (ap->has_s) return WEFT_ATTR_STRING;
    if (ap->t) return WEFT_ATTR_TENSOR;
    if (ap->g) return WEFT_ATTR_GRAPH;
    if (ap->sparse_tensor) return WEFT_ATTR_SPARSE_TENSOR;
    if (ap->tp) return WEFT_ATTR_TYPE_PROTO;
    if (ap->n_floats) return WEFT_ATTR_FLOATS;
    if (ap->n_ints) return WEFT_ATTR_INTS;
    if (ap->n_strings) return WEFT_ATTR_STRINGS;
    if (ap->n_tensors) return WEFT_ATTR_TENSORS;
    if (ap->n_graphs) return WEFT_ATTR_GRAPHS;
    if (ap->n_sparse_tensors) return WEFT_ATTR_SPARSE_TENSORS;
    if (ap->n_type_protos) return WEFT_ATTR_TYPE_PROTOS;
    return WEFT_ATTR_UNDEFINED;
}

static char *dup_bytes(const ProtobufCBinaryData *b)
{
    char *p = malloc(b->len + 1);
    if (!p) return NULL;
    if (b->len) memcpy(p, b->data, b->len);
    p[b->len] = '\0';
    return p;
}

/* Converts `ap` (read in frame fr, inside graph g) into `a`. `what` names node and attribute. */
static weft_status convert_attr(import_ctx *c, const Onnx__AttributeProto *ap, const char *name, const frame *fr,
                                weft_graph *g, int depth, const char *what, weft_attr *a)
{
    memset(a, 0, sizeof *a);
    weft_status s = WEFT_OK;
    weft_attr_type ty = infer_attr_type(ap);
    if (!(a->name = xstrdup(name))) return weft_error(WEFT_ERR_NOMEM, "%s: out of memory", what);
    a->type = ty;
    size_t count = 0;
    switch (ty) {
    case WEFT_ATTR_FLOATS: count = ap->n_floats; break;
    case WEFT_ATTR_INTS: count = ap->n_ints; break;
    case WEFT_ATTR_STRINGS: count = ap->n_strings; break;
    case WEFT_ATTR_TENSORS: count = ap->n_tensors; break;
    case WEFT_ATTR_GRAPHS: count = ap->n_graphs; break;
    case WEFT_ATTR_SPARSE_TENSORS: count = ap->n_sparse_tensors; break;
    default: break;
    }
    if (count > (size_t)INT_MAX / 16) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: too many elements (%zu)", what, count);
        goto fail;
    }
    a->n = (int)count;
    char sub[400];
    switch (ty) {
    case WEFT_ATTR_FLOAT: a->f = ap->f; break;
    case WEFT_ATTR_INT: a->i = ap->i; break;
    case WEFT_ATTR_STRING:
        if (!(a->s = dup_bytes(&ap->s))) goto nomem;
        a->s_len = ap->s.len;
        break;
    case WEFT_ATTR_TENSOR:
    case WEFT_ATTR_SPARSE_TENSOR:
        if (!(a->t = calloc(1, sizeof *a->t))) goto nomem;
        if (ty == WEFT_ATTR_TENSOR) s = weft_onnx_tensor_decode(ap->t, c->base_dir, what, a->t);
        else s = weft_onnx_sparse_decode(ap->sparse_tensor, c->base_dir, what, a->t);
        if (s != WEFT_OK) goto fail;
        a->type = WEFT_ATTR_TENSOR; /* sparse tensors are densified: ops see one kind */
        break;
    case WEFT_ATTR_GRAPH:
        if (!ap->g) { s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: graph attribute without a graph", what); goto fail; }
        s = convert_graph(c, ap->g, g, fr, depth + 1, &a->g);
        if (s != WEFT_OK) goto fail;
        break;
    case WEFT_ATTR_FLOATS:
        if (!(a->floats = malloc((count ? count : 1) * sizeof(float)))) goto nomem;
        if (count) memcpy(a->floats, ap->floats, count * sizeof(float));
        break;
    case WEFT_ATTR_INTS:
        if (!(a->ints = malloc((count ? count : 1) * sizeof(int64_t)))) goto nomem;
        if (count) memcpy(a->ints, ap->ints, count * sizeof(int64_t));
        break;
    case WEFT_ATTR_STRINGS:
        if (!(a->strings = calloc(count + 1, sizeof(char *)))) goto nomem;
        for (size_t i = 0; i < count; i++)
            if (!(a->strings[i] = dup_bytes(&ap->strings[i]))) goto nomem;
        break;
    case WEFT_ATTR_TENSORS:
    case WEFT_ATTR_SPARSE_TENSORS:
        if (!(a->t = calloc(count ? count : 1, sizeof *a->t))) goto nomem;
        for (size_t i = 0; i < count; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", what, i);
            if (ty == WEFT_ATTR_TENSORS) s = weft_onnx_tensor_decode(ap->tensors[i], c->base_dir, sub, &a->t[i]);
            else s = weft_onnx_sparse_decode(ap->sparse_tensors[i], c->base_dir, sub, &a->t[i]);
            if (s != WEFT_OK) goto fail;
        }
        a->type = WEFT_ATTR_TENSORS;
        break;
    case WEFT_ATTR_GRAPHS:
        if (!(a->gs = calloc(count ? count : 1, sizeof *a->gs))) goto nomem;
        for (size_t i = 0; i < count; i++) {
            if (!ap->graphs[i]) { s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: empty graph", what); goto fail; }
            s = convert_graph(c, ap->graphs[i], g, fr, depth + 1, &a->gs[i]);
            if (s != WEFT_OK) goto fail;
        }
        break;
    case WEFT_ATTR_TYPE_PROTO:
    case WEFT_ATTR_TYPE_PROTOS:
        break; /* kept as a type only: no op weft runs reads one */
    default:
        s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: attribute has no value (or unknown type %d)", what, (int)ap->type);
        goto fail;
    }
    return WEFT_OK;
nomem:
    s = weft_error(WEFT_ERR_NOMEM, "%s: out of memory", what);
fail:
    weft_attr_clear(a);
    return s;
}

/* Converts every attribute of pending node p (attribute references resolved) into node n. */
static weft_status convert_node_attrs(import_ctx *c, const pnode *p, weft_graph *g, int node_idx, int depth)
{
    const Onnx__NodeProto *np = p->np;
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = np->attribute[i];
        if (!ap) continue;
        const char *aname = str_or_empty(ap->name);
        char what[400];
        snprintf(what, sizeof what, "node '%.128s' (%.64s): attribute '%.128s'", p->name, str_or_empty(np->op_type),
                 aname);
        if (!aname[0]) return weft_error(WEFT_ERR_INVALID_MODEL, "%s: attribute without a name", what);
        for (int k = 0; k < g->nodes[node_idx].n_attrs; k++)
            if (strcmp(g->nodes[node_idx].attrs[k].name, aname) == 0)
                return weft_error(WEFT_ERR_INVALID_MODEL, "%s: the attribute is given twice", what);
        const Onnx__AttributeProto *src = ap;
        const frame *where = p->fr;
        if (ap->ref_attr_name && ap->ref_attr_name[0]) {
            weft_status s = resolve_ref(p->fr, ap, p->name, &src, &where);
            if (s != WEFT_OK) return s;
            if (!src) continue; /* not given by the call and no default: the attribute is absent */
        }
        weft_attr a;
        weft_status s = convert_attr(c, src, aname, where, g, depth, what, &a);
        if (s != WEFT_OK) return s;
        s = weft_node_add_attr(&g->nodes[node_idx], &a);
        if (s != WEFT_OK) { weft_attr_clear(&a); return s; }
    }
    return WEFT_OK;
}

/* --- Constant nodes ----------------------------------------------------------------------------- */

static weft_status constant_value(import_ctx *c, const pnode *p, weft_graph *g, int depth, weft_tensor *t)
{
    /* convert the attributes on a scratch node, then read the one that carries the value */
    weft_node tmp = {0};
    weft_status s = WEFT_OK;
    const Onnx__NodeProto *np = p->np;
    for (size_t i = 0; i < np->n_attribute && s == WEFT_OK; i++) {
        const Onnx__AttributeProto *ap = np->attribute[i];
        if (!ap) continue;
        const Onnx__AttributeProto *src = ap;
        const frame *where = p->fr;
        if (ap->ref_attr_name && ap->ref_attr_name[0]) {
            s = resolve_ref(p->fr, ap, p->name, &src, &where);
            if (s != WEFT_OK || !src) continue;
        }
        char what[400];
        snprintf(what, sizeof what, "Constant node '%.128s': attribute '%.128s'", p->name, str_or_empty(ap->name));
        weft_attr a;
        s = convert_attr(c, src, str_or_empty(ap->name), where, g, depth, what, &a);
        if (s == WEFT_OK && (s = weft_node_add_attr(&tmp, &a)) != WEFT_OK) weft_attr_clear(&a);
    }
    if (s != WEFT_OK) goto done;
    const weft_attr *val = NULL;
    int n_val = 0;
    for (int i = 0; i < tmp.n_attrs; i++) {
        const char *an = tmp.attrs[i].name;
        if (strcmp(an, "value_string") == 0 || strcmp(an, "value_strings") == 0) {
            s = weft_error(WEFT_ERR_UNSUPPORTED, "Constant node '%s': string constants are not supported", p->name);
            goto done;
        }
        if (!strcmp(an, "value") || !strcmp(an, "sparse_value") || !strcmp(an, "value_float") ||
            !strcmp(an, "value_floats") || !strcmp(an, "value_int") || !strcmp(an, "value_ints")) {
            val = &tmp.attrs[i];
            n_val++;
        }
    }
    if (n_val != 1) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "Constant node '%s': needs exactly one value attribute (has %d)",
                       p->name, n_val);
        goto done;
    }
    memset(t, 0, sizeof *t);
    const char *an = val->name;
    bool want_tensor = !strcmp(an, "value") || !strcmp(an, "sparse_value");
    bool is_float = !strcmp(an, "value_float"), is_floats = !strcmp(an, "value_floats");
    bool is_int = !strcmp(an, "value_int");
    weft_attr_type need = want_tensor ? WEFT_ATTR_TENSOR
                          : is_float  ? WEFT_ATTR_FLOAT
                          : is_floats ? WEFT_ATTR_FLOATS
                          : is_int    ? WEFT_ATTR_INT
                                      : WEFT_ATTR_INTS;
    if (val->type != need) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "Constant node '%s': attribute '%s' has the wrong type (%d)", p->name,
                       an, (int)val->type);
        goto done;
    }
    if (want_tensor) {
        *t = val->t[0];
        t->name = NULL;
        val->t[0].data = NULL; /* moved */
    } else {
        size_t es = is_float || is_floats ? sizeof(float) : sizeof(int64_t);
        size_t n = is_float || is_int ? 1 : (size_t)val->n;
        t->dtype = is_float || is_floats ? WEFT_FLOAT32 : WEFT_INT64;
        t->rank = is_float || is_int ? 0 : 1;
        t->dims[0] = (int64_t)n;
        t->nbytes = n * es;
        if (!(t->data = malloc(n ? n * es : 1))) { s = weft_error(WEFT_ERR_NOMEM, "out of memory"); goto done; }
        if (is_float) memcpy(t->data, &val->f, es);
        else if (is_int) memcpy(t->data, &val->i, es);
        else if (n) memcpy(t->data, is_floats ? (const void *)val->floats : (const void *)val->ints, n * es);
    }
done:
    for (int i = 0; i < tmp.n_attrs; i++) weft_attr_clear(&tmp.attrs[i]);
    free(tmp.attrs);
    return s;
}

/* --- flattening (function inlining) ------------------------------------------------------------- */

static weft_status plist_push(plist *l, pnode *p)
{
    if (l->n >= MAX_FLAT_NODES)
        return weft_error(WEFT_ERR_UNSUPPORTED, "the graph has more than %d nodes after inlining functions",
                          MAX_FLAT_NODES);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        pnode *v = realloc(l->v, cap * sizeof *v);
        if (!v) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *p;
    return WEFT_OK;
}

static weft_status plist_keep_frame(plist *l, frame *f)
{
    if (l->n_frames == l->cap_frames) {
        size_t cap = l->cap_frames ? l->cap_frames * 2 : 16;
        frame **v = realloc(l->frames, cap * sizeof *v);
        if (!v) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        l->frames = v;
        l->cap_frames = cap;
    }
    l->frames[l->n_frames++] = f;
    return WEFT_OK;
}

static weft_status rename_list(const frame *fr, char *const *names, size_t n, char ***out)
{
    *out = calloc(n ? n : 1, sizeof(char *));
    if (!*out) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!((*out)[i] = rename_in(fr, names[i]))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    return WEFT_OK;
}

static void free_list(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static weft_status flatten(import_ctx *c, plist *l, Onnx__NodeProto *const *nodes, size_t n, const frame *fr,
                           weft_graph *home, int inline_depth)
{
    for (size_t k = 0; k < n; k++) {
        const Onnx__NodeProto *np = nodes[k];
        if (!np) continue;
        if (!np->op_type || !np->op_type[0])
            return weft_error(WEFT_ERR_INVALID_MODEL, "node %zu ('%s') has no op_type", k, str_or_empty(np->name));
        char **in = NULL, **out = NULL;
        weft_status s = rename_list(fr, np->input, np->n_input, &in);
        if (s == WEFT_OK) s = rename_list(fr, np->output, np->n_output, &out);
        if (s != WEFT_OK) { free_list(in, np->n_input); free_list(out, np->n_output); return s; }

        /* the node's name: its own, or "<op>_<index>"; inlined nodes get the call's prefix */
        char base[200], *name;
        if (np->name && np->name[0]) snprintf(base, sizeof base, "%.190s", np->name);
        else snprintf(base, sizeof base, "%.64s_%zu", np->op_type, l->n);
        size_t nl = strlen(base) + (fr && fr->fn ? strlen(fr->prefix) : 0) + 1;
        name = malloc(nl);
        if (!name) { free_list(in, np->n_input); free_list(out, np->n_output); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
        snprintf(name, nl, "%s%s", fr && fr->fn ? fr->prefix : "", base);

        const fn_entry *fnc = find_function(c, np->domain, np->op_type);
        if (!fnc) {
            pnode p = {np, fr, name, in, out, np->n_input, np->n_output, NULL};
            s = plist_push(l, &p);
            if (s != WEFT_OK) { free(name); free_list(in, np->n_input); free_list(out, np->n_output); }
            if (s != WEFT_OK) return s;
            continue;
        }
        /* a call to a model-local function: inline its body in a new frame */
        fn_entry *fe = (fn_entry *)fnc;
        if (fe->active || inline_depth >= MAX_INLINE_DEPTH) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "node '%s': function '%s' calls itself (directly or indirectly)",
                           name, np->op_type);
            free(name); free_list(in, np->n_input); free_list(out, np->n_output);
            return s;
        }
        frame *f = calloc(1, sizeof *f);
        char pre[300];
        snprintf(pre, sizeof pre, "%.200s/%.64s#%d/", name, np->op_type, c->inline_count++);
        free(name);
        if (!f || !(f->prefix = xstrdup(pre))) {
            free(f); free_list(in, np->n_input); free_list(out, np->n_output);
            return weft_error(WEFT_ERR_NOMEM, "out of memory");
        }
        f->fn = fe;
        f->call = np;
        f->act_in = in;
        f->n_act_in = np->n_input;
        f->act_out = out;
        f->n_act_out = np->n_output;
        f->caller = fr;
        f->home = home;
        s = plist_keep_frame(l, f);
        if (s != WEFT_OK) { frame_free(f); return s; }
        fe->used = true;
        fe->active = true;
        s = flatten(c, l, fe->fp->node, fe->fp->n_node, f, home, inline_depth + 1);
        fe->active = false;
        if (s != WEFT_OK) return s;
    }
    return WEFT_OK;
}

/* --- graphs ------------------------------------------------------------------------------------- */

/* The value a subgraph's text means by `name` when the subgraph itself does not define it: names that
 * an enclosing subgraph (inside the same function body) defines stay as written; others are renamed by
 * the innermost function frame. */
static char *outer_name(const weft_graph *g, const frame *fr, const char *name)
{
    const frame *ff = function_frame(fr);
    if (!ff) return xstrdup(name);
    for (const weft_graph *p = g->parent; p && p != ff->home; p = p->parent)
        if (weft_graph_find_value(p, name) >= 0) return xstrdup(name);
    return rename_in(ff, name);
}

/* The value `name` read by graph g: its own, or (in a subgraph) an OUTER value created on first use.
 * *idx = -1 for an absent optional function input. Names no graph defines are an error at top level
 * (subgraph references are checked once the whole model exists, by check_outer). */
static weft_status resolve_read(weft_graph *g, const frame *fr, const char *name, const char *who, int *idx)
{
    *idx = weft_graph_find_value(g, name);
    if (*idx >= 0) return WEFT_OK;
    if (!g->parent)
        return weft_error(WEFT_ERR_INVALID_MODEL, "%s reads '%s', which no node, input or initializer defines", who,
                          name);
    char *on = outer_name(g, fr, name);
    if (!on) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    weft_status s = WEFT_OK;
    if (on[0]) {
        int v = weft_graph_find_value(g, on);
        if (v < 0 && (v = weft_graph_add_value(g, on)) >= 0) g->values[v].flags |= WEFT_VALUE_OUTER;
        if (v < 0) s = WEFT_ERR_NOMEM;
        *idx = v;
    }
    free(on);
    return s;
}

static weft_status add_index(int **arr, int *n, int v)
{
    int *p = realloc(*arr, (size_t)(*n + 1) * sizeof(int));
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p[(*n)++] = v;
    *arr = p;
    return WEFT_OK;
}

static weft_status convert_graph_into(import_ctx *c, const Onnx__GraphProto *gp, weft_graph *g, const frame *outer,
                                      int depth)
{
    weft_status s = WEFT_OK;
    plist l = {0};
    const char *gname = g->name;
    char what[400];

    /* graph frame for the subgraph text: no renaming, references and opsets go outward */
    frame gf = {0};
    gf.outer = outer;
    gf.home = g;
    const frame *fr = outer ? &gf : NULL;

    /* 1. initializers (dense and sparse) */
    for (size_t i = 0; i < gp->n_initializer + gp->n_sparse_initializer; i++) {
        bool sparse = i >= gp->n_initializer;
        const Onnx__TensorProto *tp = sparse ? NULL : gp->initializer[i];
        const Onnx__SparseTensorProto *sp = sparse ? gp->sparse_initializer[i - gp->n_initializer] : NULL;
        const char *name = sparse ? (sp && sp->values ? sp->values->name : NULL) : (tp ? tp->name : NULL);
        if (!name || !name[0])
            return weft_error(WEFT_ERR_INVALID_MODEL, "graph '%s': %sinitializer %zu has no name", gname,
                              sparse ? "sparse " : "", i);
        snprintf(what, sizeof what, "%sinitializer '%.256s'", sparse ? "sparse " : "", name);
        if (weft_graph_find_value(g, name) >= 0)
            return weft_error(WEFT_ERR_INVALID_MODEL, "%s is defined twice", what);
        weft_tensor t;
        s = sparse ? weft_onnx_sparse_decode(sp, c->base_dir, what, &t)
                   : weft_onnx_tensor_decode(tp, c->base_dir, what, &t);
        if (s != WEFT_OK) return s;
        int v = weft_graph_add_value(g, name);
        if (v < 0) { free(t.data); free((char *)t.name); return WEFT_ERR_NOMEM; }
        set_const(&g->values[v], &t);
        g->values[v].flags |= WEFT_VALUE_INITIALIZER;
    }

    /* 2. inputs (an input that has an initializer is a constant, not an input) */
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi || !vi->name || !vi->name[0])
            return weft_error(WEFT_ERR_INVALID_MODEL, "graph '%s': input %zu has no name", gname, i);
        int v = weft_graph_find_value(g, vi->name);
        if (v >= 0) {
            if (g->values[v].flags & WEFT_VALUE_INITIALIZER) continue;
            return weft_error(WEFT_ERR_INVALID_MODEL, "graph '%s': input '%s' is declared twice", gname, vi->name);
        }
        if ((v = weft_graph_add_value(g, vi->name)) < 0) return WEFT_ERR_NOMEM;
        g->values[v].flags |= WEFT_VALUE_INPUT;
        if ((s = apply_type(c, &g->values[v], vi->type)) != WEFT_OK) return s;
        if ((s = add_index(&g->inputs, &g->n_inputs, v)) != WEFT_OK) return s;
    }

    /* 3. flatten the nodes (functions inlined) */
    s = flatten(c, &l, gp->node, gp->n_node, fr, g, 0);
    if (s != WEFT_OK) goto done;

    /* 4. a value for every node output; Constant nodes become constants */
    for (size_t k = 0; k < l.n; k++) {
        pnode *p = &l.v[k];
        if (!(p->out_idx = malloc((p->n_out ? p->n_out : 1) * sizeof(int)))) {
            s = weft_error(WEFT_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t o = 0; o < p->n_out; o++) {
            p->out_idx[o] = -1;
            const char *on = p->out[o];
            if (!on[0]) continue;
            int v = weft_graph_find_value(g, on);
            if (v >= 0) {
                const weft_value *x = &g->values[v];
                const char *kind = x->flags & WEFT_VALUE_INPUT         ? "a graph input"
                                   : x->flags & WEFT_VALUE_INITIALIZER ? "an initializer"
                                                                       : "the output of another node";
                s = weft_error(WEFT_ERR_INVALID_MODEL, "node '%s' (%s) writes '%s', which is already %s", p->name,
                               p->np->op_type, on, kind);
                goto done;
            }
            if ((v = weft_graph_add_value(g, on)) < 0) { s = WEFT_ERR_NOMEM; goto done; }
            p->out_idx[o] = v;
        }
        if (strcmp(norm_domain(p->np->domain), "") == 0 && strcmp(p->np->op_type, "Constant") == 0) {
            if (p->n_out != 1 || p->out_idx[0] < 0) {
                s = weft_error(WEFT_ERR_INVALID_MODEL, "Constant node '%s' must have exactly one output", p->name);
                goto done;
            }
            weft_tensor t;
            s = constant_value(c, p, g, depth, &t);
            if (s != WEFT_OK) goto done;
            set_const(&g->values[p->out_idx[0]], &t);
        }
    }

    /* 5. declared types of intermediate values */
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        if (!vi || !vi->name) continue;
        int v = weft_graph_find_value(g, vi->name);
        if (v < 0 || (g->values[v].flags & (WEFT_VALUE_CONST | WEFT_VALUE_INPUT))) continue;
        if ((s = apply_type(c, &g->values[v], vi->type)) != WEFT_OK) goto done;
    }

    /* 6. nodes */
    for (size_t k = 0; k < l.n; k++) {
        pnode *p = &l.v[k];
        const Onnx__NodeProto *np = p->np;
        const char *dom = norm_domain(np->domain);
        if (!dom[0] && strcmp(np->op_type, "Constant") == 0) continue;
        int64_t opset = opset_for(c, p->fr, dom);
        if (opset <= 0) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "node '%s' (%s) uses domain '%s', which the model does not import",
                           p->name, np->op_type, dom[0] ? dom : "ai.onnx");
            goto done;
        }
        if (p->n_in > INT_MAX / 2 || p->n_out > INT_MAX / 2) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "node '%s': too many inputs or outputs", p->name);
            goto done;
        }
        int ni = weft_graph_add_node(g, np->op_type, dom, p->name, (int)p->n_in, (int)p->n_out);
        if (ni < 0) { s = WEFT_ERR_NOMEM; goto done; }
        g->nodes[ni].opset = opset > INT_MAX ? INT_MAX : (int)opset;
        for (size_t o = 0; o < p->n_out; o++) {
            g->nodes[ni].outputs[o] = p->out_idx[o];
            if (p->out_idx[o] >= 0) g->values[p->out_idx[o]].producer = ni;
        }
        char who[300];
        snprintf(who, sizeof who, "node '%.200s' (%.64s)", p->name, np->op_type);
        for (size_t i = 0; i < p->n_in; i++) {
            if (!p->in[i][0]) continue;
            /* names are final at this graph's level: outer references resolve through the graph frame */
            int v;
            if ((s = resolve_read(g, fr, p->in[i], who, &v)) != WEFT_OK) goto done;
            g->nodes[ni].inputs[i] = v;
        }
        s = convert_node_attrs(c, p, g, ni, depth);
        if (s != WEFT_OK) goto done;
    }

    /* 7. outputs */
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi || !vi->name || !vi->name[0]) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "graph '%s': output %zu has no name", gname, i);
            goto done;
        }
        snprintf(what, sizeof what, "graph '%.128s': output", gname);
        int v;
        if ((s = resolve_read(g, fr, vi->name, what, &v)) != WEFT_OK) goto done;
        if (v < 0) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "graph '%s': output '%s' is an absent function input", gname, vi->name);
            goto done;
        }
        weft_value *x = &g->values[v];
        x->flags |= WEFT_VALUE_OUTPUT;
        if (!(x->flags & (WEFT_VALUE_CONST | WEFT_VALUE_INPUT | WEFT_VALUE_OUTER))) {
            if ((s = apply_type(c, x, vi->type)) != WEFT_OK) goto done;
        } else if (vi->type && vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
                   vi->type->value_case != ONNX__TYPE_PROTO__VALUE__NOT_SET) {
            weft_value tmp = {.name = x->name};
            if ((s = apply_type(c, &tmp, vi->type)) != WEFT_OK) goto done;
        }
        if ((s = add_index(&g->outputs, &g->n_outputs, v)) != WEFT_OK) goto done;
    }
done:
    plist_free(&l);
    return s;
}

static weft_status convert_graph(import_ctx *c, const Onnx__GraphProto *gp, weft_graph *parent, const frame *outer,
                                 int depth, weft_graph **out)
{
    *out = NULL;
    if (depth > MAX_SUBGRAPH_DEPTH)
        return weft_error(WEFT_ERR_UNSUPPORTED, "subgraphs nest deeper than %d levels", MAX_SUBGRAPH_DEPTH);
    weft_graph *g = weft_graph_new(parent, &c->m->syms);
    if (!g) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    free(g->name);
    if (!(g->name = xstrdup(gp->name))) { weft_graph_free(g); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    weft_status s = convert_graph_into(c, gp, g, outer, depth);
    if (s != WEFT_OK) {
        if (parent) weft_error_wrap(s, "subgraph '%s'", g->name);
        weft_graph_free(g);
        return s;
    }
    *out = g;
    return WEFT_OK;
}

/* Every OUTER value of every subgraph must name something an enclosing graph defines. */
static weft_status check_outer(const weft_graph *g)
{
    for (int i = 0; g->parent && i < g->n_values; i++)
        if ((g->values[i].flags & WEFT_VALUE_OUTER) && !weft_graph_lookup_scoped(g->parent, g->values[i].name, NULL))
            return weft_error(WEFT_ERR_INVALID_MODEL, "subgraph '%s' reads '%s', which no enclosing graph defines",
                              g->name, g->values[i].name);
    for (int n = 0; n < g->n_nodes; n++)
        for (int a = 0; a < g->nodes[n].n_attrs; a++) {
            const weft_attr *at = &g->nodes[n].attrs[a];
            weft_status s;
            if (at->g && (s = check_outer(at->g)) != WEFT_OK) return s;
            for (int k = 0; at->gs && k < at->n; k++)
                if ((s = check_outer(at->gs[k])) != WEFT_OK) return s;
        }
    return WEFT_OK;
}

/* --- the model ---------------------------------------------------------------------------------- */

const char *weft_model_metadata(const weft_model *m, const char *key)
{
    if (!m || !key) return NULL;
    for (int i = m->n_meta - 1; i >= 0; i--) /* the last of repeated keys, as a map reads them */
        if (strcmp(m->meta_keys[i], key) == 0) return m->meta_values[i];
    return NULL;
}

int weft_model_metadata_count(const weft_model *m) { return m ? m->n_meta : 0; }

weft_status weft_model_metadata_entry(const weft_model *m, int i, const char **key, const char **value)
{
    if (!m || !key || !value || i < 0 || i >= m->n_meta)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_metadata_entry: no entry %d", i);
    *key = m->meta_keys[i];
    *value = m->meta_values[i];
    return WEFT_OK;
}

void weft_model_free(weft_model *m)
{
    if (!m) return;
    weft_graph_free(m->graph);
    free(m->producer_name);
    free(m->producer_version);
    free(m->domain);
    free(m->doc_string);
    for (int i = 0; i < m->n_meta; i++) free(m->meta_keys[i]), free(m->meta_values[i]);
    free(m->meta_keys);
    free(m->meta_values);
    for (int i = 0; i < m->n_opsets; i++) free(m->opsets[i].domain);
    free(m->opsets);
    weft_symtab_free(&m->syms);
    free(m->path);
    free(m);
}

static weft_status unpack_function_defaults(fn_entry *fe)
{
    const ProtobufCMessage *b = &fe->fp->base;
    size_t n = 0;
    for (unsigned i = 0; i < b->n_unknown_fields; i++)
        if (b->unknown_fields[i].tag == FUNCTION_ATTRIBUTE_PROTO_FIELD) n++;
    if (!n) return WEFT_OK;
    if (!(fe->defaults = calloc(n, sizeof *fe->defaults))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (unsigned i = 0; i < b->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &b->unknown_fields[i];
        if (u->tag != FUNCTION_ATTRIBUTE_PROTO_FIELD) continue;
        /* protobuf-c keeps a length-prefixed unknown field with its length varint */
        size_t at = 0;
        uint64_t body = 0;
        if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED || !read_varint(u->data, u->len, &at, &body) ||
            body != u->len - at || !scan_depth(&onnx__attribute_proto__descriptor, u->data + at, (size_t)body, 0))
            return weft_error(WEFT_ERR_PARSE, "function '%s': malformed attribute default", str_or_empty(fe->fp->name));
        Onnx__AttributeProto *ap = onnx__attribute_proto__unpack(NULL, (size_t)body, u->data + at);
        if (!ap || !ap->name) {
            /* a default without a name decodes but is no default: it is not kept, so free it here */
            if (ap) onnx__attribute_proto__free_unpacked(ap, NULL);
            return weft_error(WEFT_ERR_PARSE, "function '%s': malformed attribute default", str_or_empty(fe->fp->name));
        }
        fe->defaults[fe->n_defaults++] = ap;
    }
    return WEFT_OK;
}

static weft_status import_model(const Onnx__ModelProto *mp, weft_model *m, const char *base_dir)
{
    if (!mp->has_ir_version)
        return weft_error(WEFT_ERR_PARSE, "not a valid ONNX model: no ir_version");
    m->ir_version = mp->ir_version;
    if (mp->ir_version < 3)
        return weft_error(WEFT_ERR_UNSUPPORTED, "IR version %lld is too old (weft reads IR version 3 and later)",
                          (long long)mp->ir_version);
    if (!(m->producer_name = xstrdup(mp->producer_name)) || !(m->producer_version = xstrdup(mp->producer_version)) ||
        !(m->domain = xstrdup(mp->domain)) || !(m->doc_string = xstrdup(mp->doc_string)))
        return weft_error(WEFT_ERR_NOMEM, "out of memory");
    m->model_version = mp->has_model_version ? mp->model_version : 0;
    /* metadata_props: what a trained model carries (class names, feature scaling, graph options) */
    if (mp->n_metadata_props > INT_MAX / 2) return weft_error(WEFT_ERR_INVALID_MODEL, "too many metadata_props");
    if (mp->n_metadata_props) {
        m->meta_keys = calloc(mp->n_metadata_props, sizeof *m->meta_keys);
        m->meta_values = calloc(mp->n_metadata_props, sizeof *m->meta_values);
        if (!m->meta_keys || !m->meta_values) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < mp->n_metadata_props; i++) {
            const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
            if (!e || !e->key) continue;
            char *k = xstrdup(e->key), *v = xstrdup(e->value);
            if (!k || !v) {
                free(k), free(v);
                return weft_error(WEFT_ERR_NOMEM, "out of memory");
            }
            m->meta_keys[m->n_meta] = k;
            m->meta_values[m->n_meta++] = v;
        }
    }

    if (mp->n_opset_import > INT_MAX / 2) return weft_error(WEFT_ERR_INVALID_MODEL, "too many opset imports");
    m->opsets = calloc(mp->n_opset_import ? mp->n_opset_import : 1, sizeof *m->opsets);
    if (!m->opsets) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o) continue;
        const char *d = norm_domain(o->domain);
        if (!o->has_version || o->version < 1)
            return weft_error(WEFT_ERR_INVALID_MODEL, "opset import for domain '%s' has no valid version",
                              d[0] ? d : "ai.onnx");
        if (weft_model_opset(m, d) != 0)
            return weft_error(WEFT_ERR_INVALID_MODEL, "domain '%s' is imported twice", d[0] ? d : "ai.onnx");
        if (!(m->opsets[m->n_opsets].domain = xstrdup(d))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        m->opsets[m->n_opsets++].version = o->version;
    }
    if (!mp->graph) return weft_error(WEFT_ERR_INVALID_MODEL, "the model has no graph");

    import_ctx c = {.m = m, .base_dir = base_dir};
    weft_status s = WEFT_OK;
    if (mp->n_functions) {
        if (!(c.fns = calloc(mp->n_functions, sizeof *c.fns))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < mp->n_functions && s == WEFT_OK; i++) {
            const Onnx__FunctionProto *fp = mp->functions[i];
            if (!fp || !fp->name || !fp->name[0]) {
                s = weft_error(WEFT_ERR_INVALID_MODEL, "function %zu has no name", i);
                break;
            }
            if (find_function(&c, fp->domain, fp->name)) {
                s = weft_error(WEFT_ERR_INVALID_MODEL, "function '%s' (domain '%s') is defined twice", fp->name,
                               str_or_empty(fp->domain));
                break;
            }
            c.fns[c.n_fns].fp = fp;
            s = unpack_function_defaults(&c.fns[c.n_fns]);
            c.n_fns++;
        }
    }
    if (s == WEFT_OK) s = convert_graph(&c, mp->graph, NULL, NULL, 0, &m->graph);
    if (s == WEFT_OK) s = check_outer(m->graph);
    for (size_t i = 0; i < c.n_fns; i++) {
        m->n_functions += c.fns[i].used;
        for (size_t k = 0; k < c.fns[i].n_defaults; k++) onnx__attribute_proto__free_unpacked(c.fns[i].defaults[k], NULL);
        free(c.fns[i].defaults);
    }
    free(c.fns);
    return s;
}

static weft_status load_buffer(const void *buf, size_t len, const char *base_dir, const char *label,
                               const char *path, weft_model **out)
{
    *out = NULL;
    weft_error_clear();
    if (!buf && len) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "%s: NULL buffer", label);
    if (len == 0) return weft_error(WEFT_ERR_PARSE, "%s: not a valid ONNX model: the file is empty", label);
    if (!scan_depth(&onnx__model_proto__descriptor, buf, len, 0))
        return weft_error(WEFT_ERR_PARSE, "%s: not a valid ONNX model: messages nest deeper than %d levels", label,
                          MAX_PROTO_DEPTH);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp)
        return weft_error(WEFT_ERR_PARSE, "%s: not a valid ONNX model: protobuf decoding failed (truncated or "
                          "corrupted)", label);
    weft_model *m = calloc(1, sizeof *m);
    weft_status s = WEFT_OK;
    if (!m) s = weft_error(WEFT_ERR_NOMEM, "%s: out of memory", label);
    if (s == WEFT_OK && path && !(m->path = xstrdup(path))) s = weft_error(WEFT_ERR_NOMEM, "%s: out of memory", label);
    if (s == WEFT_OK) {
        s = import_model(mp, m, base_dir);
        if (s != WEFT_OK) weft_error_wrap(s, "%s", label);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s != WEFT_OK) { weft_model_free(m); return s; }
    *out = m;
    return WEFT_OK;
}

weft_status weft_model_load_from_buffer(const void *buf, size_t len, const char *base_dir, weft_model **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_load_from_buffer: out is NULL");
    return load_buffer(buf, len, base_dir, "<buffer>", NULL, out);
}

weft_status weft_model_load(const char *path, weft_model **out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_load: out is NULL");
    *out = NULL;
    if (!path) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_model_load: path is NULL");
    uint8_t *buf;
    size_t len;
    weft_status s = weft_read_whole_file(path, MAX_MODEL_BYTES, &buf, &len);
    if (s != WEFT_OK) return s;
    /* external data lives next to the model */
    char *dir = xstrdup(path);
    if (!dir) { free(buf); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    s = load_buffer(buf, len, dir, path, path, out);
    free(dir);
    free(buf);
    return s;
}
