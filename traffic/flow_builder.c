/* traffic/flow_builder.c — packets → flows through an open-addressing hash table on the canonical
 * 5-tuple. One entry per distinct 5-tuple; it points at the table slot of that 5-tuple's current flow,
 * so an ended flow needs no deletion: the next flow of the same 5-tuple just takes over the entry.
 * No allocation per packet (the hash table and the flow table grow geometrically). */
#include "traffic/flow_builder.h"

#include <stdlib.h>
#include <string.h>

typedef struct fkey {
    weft_ip a, b;       /* a <= b in (address, port) order */
    uint16_t pa, pb;
    uint8_t proto;
    uint8_t pad;
    uint16_t vlan;      /* 0 when the VLAN is not part of the key (untagged, or ignore_vlan) */
} fkey;

enum { ST_FIN_FWD = 1, ST_FIN_BWD = 2, ST_CLOSED = 4 };

/* 16 bytes: the key itself lives in the flow (its addresses, ports and protocol), so a lookup touches
 * one small slot and the flow it points at — the two cache misses a packet costs on a big table. */
typedef struct entry {
    uint64_t hash;      /* 0 = empty slot */
    uint32_t flow;      /* index into the output table, from the builder's first flow */
    uint8_t state;
} entry;

struct weft_flow_builder {
    weft_flow_opts opts;
    weft_flow_table *out;
    size_t first;       /* first table index this builder made */
    entry *slots;
    size_t cap, used;   /* cap is a power of two */
};

void weft_flow_opts_default(weft_flow_opts *o)
{
    o->idle_timeout = WEFT_FLOW_IDLE_TIMEOUT_DEFAULT;
    o->active_timeout = WEFT_FLOW_ACTIVE_TIMEOUT_DEFAULT;
    o->decap = true;
    o->ignore_vlan = false;
}

weft_flow_builder *weft_flow_builder_new(const weft_flow_opts *opts, weft_flow_table *out)
{
    weft_flow_builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (opts)
        b->opts = *opts;
    else
        weft_flow_opts_default(&b->opts);
    b->out = out;
    b->first = out->n;
    b->cap = 1u << 12;
    b->slots = calloc(b->cap, sizeof *b->slots);
    if (!b->slots) {
        free(b);
        return NULL;
    }
    return b;
}

void weft_flow_builder_free(weft_flow_builder *b)
{
    if (!b) return;
    free(b->slots);
    free(b);
}

size_t weft_flow_builder_keys(const weft_flow_builder *b)
{
    return b->used;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t key_hash(const fkey *k)
{
    uint64_t w[4];
    memcpy(w, k->a.b, 16);
    memcpy(w + 2, k->b.b, 16);
    uint64_t h = mix64(w[0] ^ 0x9e3779b97f4a7c15ULL);
    h = mix64(h ^ w[1]);
    h = mix64(h ^ w[2]);
    h = mix64(h ^ w[3]);
    h = mix64(h ^ ((uint64_t)k->pa << 24 | (uint64_t)k->pb << 8 | k->proto));
    return h ? h : 1; /* 0 marks an empty slot */
}

static inline int end_cmp(const weft_ip *ia, uint16_t pa, const weft_ip *ib, uint16_t pb)
{
    int c = memcmp(ia->b, ib->b, 16);
    if (c) return c;
    return (pa > pb) - (pa < pb);
}

static int grow(weft_flow_builder *b)
{
    size_t cap = b->cap * 2;
    if (cap < b->cap || cap > SIZE_MAX / sizeof(entry)) return -1;
    entry *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < b->cap; i++) {
        entry *e = &b->slots[i];
        if (!e->hash) continue;
        size_t j = e->hash & (cap - 1);
        while (s[j].hash) j = (j + 1) & (cap - 1);
        s[j] = *e;
    }
    free(b->slots);
    b->slots = s;
    b->cap = cap;
    return 0;
}

static void dir_add(weft_flow_dir *d, const weft_pkt *p)
{
    if (d->packets == 0) {
        d->first = p->ts;
        d->min_size = p->ip_len;
        d->max_size = p->ip_len;
    } else {
        if (p->ip_len < d->min_size) d->min_size = p->ip_len;
        if (p->ip_len > d->max_size) d->max_size = p->ip_len;
    }
    d->packets++;
    d->bytes += p->ip_len;
    d->last = p->ts;
    d->flags |= p->tcp_flags;
}

static double flow_last(const weft_flow *f)
{
    double l = f->fwd.packets ? f->fwd.last : f->start;
    if (f->bwd.packets && f->bwd.last > l) l = f->bwd.last;
    return l;
}

/* Whether flow f has the packet's 5-tuple (and VLAN, unless ignored), in either direction. */
static inline bool same_tuple(const weft_flow *f, const weft_pkt *p, bool ignore_vlan)
{
    if (f->proto != p->proto || (!ignore_vlan && f->vlan != p->vlan)) return false;
    if (f->sport == p->sport && f->dport == p->dport && memcmp(f->src.b, p->src.b, 16) == 0 &&
        memcmp(f->dst.b, p->dst.b, 16) == 0)
        return true;
    return f->sport == p->dport && f->dport == p->sport && memcmp(f->src.b, p->dst.b, 16) == 0 &&
           memcmp(f->dst.b, p->src.b, 16) == 0;
}

static int start_flow(weft_flow_builder *b, entry *e, const weft_pkt *p)
{
    if (b->out->n - b->first >= UINT32_MAX) return -1; /* slots hold 32-bit flow numbers */
    weft_flow f;
    memset(&f, 0, sizeof f);
    f.src = p->src;
    f.dst = p->dst;
    f.sport = p->sport;
    f.dport = p->dport;
    f.proto = p->proto;
    f.ip_version = p->ip_version;
    f.start = p->ts;
    f.has_stats = true;
    f.tunnel = p->tunnel;
    f.vlan = p->vlan;
    f.outer_src = p->outer_src;
    f.outer_dst = p->outer_dst;
    if (weft_flow_table_push(b->out, &f) != 0) return -1;
    e->flow = (uint32_t)(b->out->n - 1 - b->first);
    e->state = 0;
    return 0;
}

int weft_flow_builder_add(weft_flow_builder *b, const weft_pkt *pin)
{
    weft_pkt pk = *pin; /* its time may be moved into its flow's order below */
    const weft_pkt *p = &pk;
    if ((b->used + 1) * 2 > b->cap && grow(b) != 0) return -1;
    fkey k;
    memset(&k, 0, sizeof k);
    if (end_cmp(&p->src, p->sport, &p->dst, p->dport) <= 0) {
        k.a = p->src, k.pa = p->sport, k.b = p->dst, k.pb = p->dport;
    } else {
        k.a = p->dst, k.pa = p->dport, k.b = p->src, k.pb = p->sport;
    }
    k.proto = p->proto;
    k.vlan = b->opts.ignore_vlan ? 0 : p->vlan;
    uint64_t h = key_hash(&k);
    size_t i = h & (b->cap - 1);
    entry *e;
    for (;;) {
        e = &b->slots[i];
        if (!e->hash) break;
        /* indexed only when a slot is taken: the table is still NULL before the first flow */
        if (e->hash == h && same_tuple(&b->out->flows[b->first + e->flow], p, b->opts.ignore_vlan)) break;
        i = (i + 1) & (b->cap - 1);
    }
    bool is_new = !e->hash;
    if (is_new) {
        if (start_flow(b, e, p) != 0) return -1;
        e->hash = h;
        b->used++;
    } else {
        const weft_flow *cur = &b->out->flows[b->first + e->flow];
        /* A packet stamped before its flow's latest (a capture whose clock stepped back) is taken at
         * that latest time: the flow's own packets stay in order, so its duration and inter-arrival
         * times are neither negative nor stretched by other flows' times. */
        if (pk.ts < flow_last(cur)) pk.ts = flow_last(cur);
        bool expired = p->ts - flow_last(cur) > b->opts.idle_timeout ||
                       p->ts - cur->start > b->opts.active_timeout ||
                       ((e->state & ST_CLOSED) && (p->tcp_flags & WEFT_TCP_SYN));
        if (expired && start_flow(b, e, p) != 0) return -1;
    }
    weft_flow *f = &b->out->flows[b->first + e->flow];
    bool fwd = memcmp(p->src.b, f->src.b, 16) == 0 && p->sport == f->sport;
    dir_add(fwd ? &f->fwd : &f->bwd, p);
    if (p->proto == 6) {
        if (p->tcp_flags & WEFT_TCP_FIN) e->state |= fwd ? ST_FIN_FWD : ST_FIN_BWD;
        if ((p->tcp_flags & WEFT_TCP_RST) || (e->state & (ST_FIN_FWD | ST_FIN_BWD)) == (ST_FIN_FWD | ST_FIN_BWD))
            e->state |= ST_CLOSED;
    }
    return 0;
}

static void dir_finish(weft_flow_dir *d)
{
    d->mean_iat = d->packets >= 2 ? (d->last - d->first) / (double)(d->packets - 1) : 0.0;
}

void weft_flow_builder_finish(weft_flow_builder *b)
{
    for (size_t i = b->first; i < b->out->n; i++) {
        weft_flow *f = &b->out->flows[i];
        dir_finish(&f->fwd);
        dir_finish(&f->bwd);
        f->duration = flow_last(f) - f->start;
    }
}
