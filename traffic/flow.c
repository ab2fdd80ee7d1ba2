/* traffic/flow.c — the flow table: growth, string interning, address helpers. */
#include "traffic/flow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void weft_flow_table_init(weft_flow_table *t)
{
    memset(t, 0, sizeof *t);
}

void weft_flow_table_free(weft_flow_table *t)
{
    free(t->flows);
    for (size_t i = 0; i < t->n_strings; i++) free(t->strings[i]);
    free(t->strings);
    memset(t, 0, sizeof *t);
}

int weft_flow_table_push(weft_flow_table *t, const weft_flow *f)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        if (cap < t->cap || cap > SIZE_MAX / sizeof *t->flows) return -1;
        weft_flow *p = realloc(t->flows, cap * sizeof *p);
        if (!p) return -1;
        t->flows = p;
        t->cap = cap;
    }
    t->flows[t->n++] = *f;
    return 0;
}

/* Label sets are small (tens of distinct strings), so a linear search is enough and keeps the
 * pointers stable (each string is its own allocation). */
const char *weft_flow_table_intern(weft_flow_table *t, const char *s)
{
    if (!s) return NULL;
    for (size_t i = 0; i < t->n_strings; i++)
        if (strcmp(t->strings[i], s) == 0) return t->strings[i];
    if (t->n_strings == t->cap_strings) {
        size_t cap = t->cap_strings ? t->cap_strings * 2 : 16;
        char **p = realloc(t->strings, cap * sizeof *p);
        if (!p) return NULL;
        t->strings = p;
        t->cap_strings = cap;
    }
    size_t len = strlen(s);
    char *c = malloc(len + 1);
    if (!c) return NULL;
    memcpy(c, s, len + 1);
    t->strings[t->n_strings++] = c;
    return c;
}

void weft_ip_from_v4(weft_ip *ip, uint32_t a)
{
    memset(ip->b, 0, 10);
    ip->b[10] = 0xff;
    ip->b[11] = 0xff;
    ip->b[12] = (uint8_t)(a >> 24);
    ip->b[13] = (uint8_t)(a >> 16);
    ip->b[14] = (uint8_t)(a >> 8);
    ip->b[15] = (uint8_t)a;
}

bool weft_ip_is_v4(const weft_ip *ip)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(ip->b, prefix, 12) == 0;
}

bool weft_ip_parse(const char *s, weft_ip *out)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        weft_ip_from_v4(out, ntohl(a4.s_addr));
        return true;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        memcpy(out->b, a6.s6_addr, 16);
        return true;
    }
    return false;
}

void weft_ip_format(const weft_ip *ip, char *buf, size_t n)
{
    if (n == 0) return;
    char tmp[INET6_ADDRSTRLEN];
    const char *r;
    if (weft_ip_is_v4(ip))
        r = inet_ntop(AF_INET, ip->b + 12, tmp, sizeof tmp);
    else
        r = inet_ntop(AF_INET6, ip->b, tmp, sizeof tmp);
    snprintf(buf, n, "%s", r ? r : "?");
}

static const char *const tunnel_names[WEFT_TUNNEL_COUNT] = {"", "ipip", "ip6ip", "gre", "erspan", "vxlan", "geneve", "gtp-u"};

const char *weft_tunnel_name(int tunnel)
{
    return tunnel > 0 && tunnel < WEFT_TUNNEL_COUNT ? tunnel_names[tunnel] : "";
}

int weft_tunnel_parse(const char *name)
{
    for (int i = 0; i < WEFT_TUNNEL_COUNT; i++)
        if (strcmp(name, tunnel_names[i]) == 0) return i;
    return -1;
}
