/*
 * ops/backends.c — the backends of this build, in the default priority order, and the host buffer
 * type the CPU backends share. A backend is compiled in when CMake found its library
 * (WEFT_HAVE_<NAME>); this list is the only place that knows which.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/mem.h"
#include "backend.h"

static weft_status host_alloc(void *ctx, size_t bytes, void **out)
{
    (void)ctx;
    *out = weft_mem_alloc(bytes);
    return *out ? WEFT_OK : weft_error(WEFT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
}

static void host_free(void *ctx, void *p)
{
    (void)ctx;
    weft_mem_free(p);
}

static weft_status host_copy(void *ctx, void *queue, void *dst, const void *src, size_t n, int direction)
{
    (void)ctx;
    (void)direction;
    if (n) memmove(dst, src, n);
    return WEFT_OK;
}

const weft_buffer_type weft_buffer_host = {"host", true, 64, host_alloc, host_free, host_copy, NULL};

#ifdef WEFT_HAVE_CUDA
extern const weft_backend weft_backend_cuda;
#endif
#ifdef WEFT_HAVE_ONEDNN
extern const weft_backend weft_backend_onednn;
#endif
#ifdef WEFT_HAVE_OPENBLAS
extern const weft_backend weft_backend_openblas;
#endif

static const weft_backend *const all[] = {
#ifdef WEFT_HAVE_CUDA
    &weft_backend_cuda,
#endif
#ifdef WEFT_HAVE_ONEDNN
    &weft_backend_onednn,
#endif
#ifdef WEFT_HAVE_OPENBLAS
    &weft_backend_openblas,
#endif
    &weft_backend_ref,
};

int weft_backend_count(void) { return (int)(sizeof all / sizeof all[0]); }

const weft_backend *weft_backend_at(int i) { return i >= 0 && i < weft_backend_count() ? all[i] : NULL; }

const weft_backend *weft_backend_find(const char *name)
{
    for (int i = 0; i < weft_backend_count(); i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

const char *weft_backends(void)
{
    static char list[128];
    if (!list[0]) {
        size_t len = 0;
        for (int i = 0; i < weft_backend_count() && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? "," : "", all[i]->name);
    }
    return list;
}

const char *weft_backends_usable(void)
{
    static char list[128];
    if (!list[0]) {
        size_t len = 0;
        for (int i = 0; i < weft_backend_count() && len < sizeof list; i++)
            if (!all[i]->unavailable || !all[i]->unavailable())
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? "," : "", all[i]->name);
    }
    return list;
}

const char *weft_backend_unavailable(const char *name)
{
    const weft_backend *b = name ? weft_backend_find(name) : NULL;
    if (!b) return "not in this build";
    return b->unavailable ? b->unavailable() : NULL;
}

weft_status weft_backend_parse_list(const char *list, const weft_backend **out, int max, int *n)
{
    *n = 0;
    if (!list || !list[0] || strcmp(list, "auto") == 0) {
        for (int i = 0; i < weft_backend_count() && *n < max; i++)
            if (!all[i]->unavailable || !all[i]->unavailable()) out[(*n)++] = all[i];
        return WEFT_OK;
    }
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[32];
        if (len == 0 || len >= sizeof name)
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "backend list '%s': empty or overlong name", list);
        memcpy(name, p, len);
        name[len] = '\0';
        const weft_backend *b = weft_backend_find(name);
        if (!b) return weft_error(WEFT_ERR_UNSUPPORTED, "backend '%s' is not available (this build has: %s)", name, weft_backends());
        bool dup = false;
        for (int i = 0; i < *n; i++) dup |= out[i] == b;
        if (!dup) {
            if (*n >= max - 1) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "backend list '%s' is too long", list);
            out[(*n)++] = b;
        }
        p += len;
        if (*p == ',') p++;
    }
    bool has_ref = false, has_device = false, has_host = false;
    for (int i = 0; i < *n; i++) {
        has_ref |= out[i] == &weft_backend_ref;
        has_device |= !out[i]->buft->is_host;
        has_host |= out[i]->buft->is_host;
    }
    /* a device backend named alone: its host steps go to the fast CPU backends, not straight to ref (a
     * list that names ref or another host backend is taken as written) */
    for (int i = 0; has_device && !has_host && i < weft_backend_count(); i++) {
        if (!all[i]->buft->is_host || all[i] == &weft_backend_ref) continue;
        if (*n >= max - 1) break;
        int at = *n;
        for (int j = 0; j < *n; j++)
            if (out[j] == &weft_backend_ref) { at = j; break; }
        memmove(&out[at + 1], &out[at], (size_t)(*n - at) * sizeof *out);
        out[at] = all[i];
        (*n)++;
    }
    if (!has_ref) out[(*n)++] = &weft_backend_ref;
    return WEFT_OK;
}
