/* base/attr.c — reading a node's attributes by name, with defaults. */
#include <string.h>

#include "attr.h"

const weft_attr *weft_attr_find(const weft_node_info *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t weft_attr_int(const weft_node_info *n, const char *name, int64_t def)
{
    const weft_attr *a = weft_attr_find(n, name);
    return a && a->type == WEFT_ATTR_INT ? a->i : def;
}

float weft_attr_float(const weft_node_info *n, const char *name, float def)
{
    const weft_attr *a = weft_attr_find(n, name);
    if (a && a->type == WEFT_ATTR_FLOAT) return a->f;
    if (a && a->type == WEFT_ATTR_INT) return (float)a->i;
    return def;
}

const char *weft_attr_string(const weft_node_info *n, const char *name, const char *def)
{
    const weft_attr *a = weft_attr_find(n, name);
    return a && a->type == WEFT_ATTR_STRING ? a->s : def;
}

int weft_attr_ints(const weft_node_info *n, const char *name, const int64_t **out)
{
    const weft_attr *a = weft_attr_find(n, name);
    if (!a || a->type != WEFT_ATTR_INTS) { *out = NULL; return -1; }
    *out = a->ints;
    return a->n;
}

int weft_attr_floats(const weft_node_info *n, const char *name, const float **out)
{
    const weft_attr *a = weft_attr_find(n, name);
    if (!a || a->type != WEFT_ATTR_FLOATS) { *out = NULL; return -1; }
    *out = a->floats;
    return a->n;
}
