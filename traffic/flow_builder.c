/* traffic/flow_builder.c — packets → flows through an open-addressing hash table on the canonical
 * 5-tuple. One entry per 5-tuple with a flow held; it names that 5-tuple's current flow, so a flow
 * replaced by a newer one of its 5-tuple needs no search: it is only marked done. Held flows sit in a
 * ring in the order they started; the oldest leaves (to the sink) once it has ended, which keeps the
 * output in start order with memory bounded by the flows in flight. No allocation per packet (the hash
 * table and the ring grow geometrically). */
#include "traffic/flow_builder.h"

#include <math.h>
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
    uint32_t seq;       /* the flow's sequence number (mod 2^32: fewer than 2^32 flows are ever held) */
    uint8_t state;
} entry;

typedef struct held {
    weft_flow f;
    bool done;          /* a newer flow of its 5-tuple has started: no packet can join it any more */
    uint8_t has_isn;    /* bit 0: isn[0] (the src side's first SYN) is known; bit 1: isn[1] (dst side) */
    uint32_t isn[2];    /* initial sequence numbers: a SYN repeating one is a retransmission */
} held;

struct weft_flow_builder {
    weft_flow_opts opts;
    weft_flow_sink sink;
    void *user;
    held *ring;
    size_t ring_cap;    /* a power of two */
    uint64_t head, tail; /* flows head .. tail-1 are held, in start order */
    size_t peak;
    double now;         /* the latest packet time seen */
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

int weft_flow_table_sink(const weft_flow *f, void *user)
{
    return weft_flow_table_push((weft_flow_table *)user, f);
}

weft_flow_builder *weft_flow_builder_new(const weft_flow_opts *opts, weft_flow_sink sink, void *user)
{
    weft_flow_builder *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (opts)
        b->opts = *opts;
    else
        weft_flow_opts_default(&b->opts);
    b->sink = sink;
    b->user = user;
    b->now = -INFINITY;
    b->cap = 1u << 12;
    b->ring_cap = 1u << 10;
    b->slots = calloc(b->cap, sizeof *b->slots);
    b->ring = malloc(b->ring_cap * sizeof *b->ring);
    if (!b->slots || !b->ring) {
        weft_flow_builder_free(b);
        return NULL;
    }
    return b;
}

void weft_flow_builder_free(weft_flow_builder *b)
{
    if (!b) return;
    free(b->slots);
    free(b->ring);
    free(b);
}

size_t weft_flow_builder_keys(const weft_flow_builder *b)
{
    return b->used;
}

size_t weft_flow_builder_peak(const weft_flow_builder *b)
{
    return b->peak;
}

static inline held *ring_at(const weft_flow_builder *b, uint64_t seq)
{
    return &b->ring[seq & (b->ring_cap - 1)];
}

/* The held flow an entry names: the one of the held sequence numbers that equals it mod 2^32. */
static inline held *entry_flow(const weft_flow_builder *b, const entry *e)
{
    uint64_t seq = b->head + (uint32_t)(e->seq - (uint32_t)b->head);
    return ring_at(b, seq);
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
    h = mix64(h ^ ((uint64_t)k->vlan << 40 | (uint64_t)k->pa << 24 | (uint64_t)k->pb << 8 | k->proto));
    return h ? h : 1; /* 0 marks an empty slot */
}

static inline int end_cmp(const weft_ip *ia, uint16_t pa, const weft_ip *ib, uint16_t pb)
{
    int c = memcmp(ia->b, ib->b, 16);
    if (c) return c;
    return (pa > pb) - (pa < pb);
}

/* The canonical key of a conversation between (s, sp) and (d, dp). */
static void make_key(fkey *k, const weft_ip *s, uint16_t sp, const weft_ip *d, uint16_t dp, uint8_t proto,
                     uint16_t vlan, bool ignore_vlan)
{
    memset(k, 0, sizeof *k);
    if (end_cmp(s, sp, d, dp) <= 0) {
        k->a = *s, k->pa = sp, k->b = *d, k->pb = dp;
    } else {
        k->a = *d, k->pa = dp, k->b = *s, k->pb = sp;
    }
    k->proto = proto;
    k->vlan = ignore_vlan ? 0 : vlan;
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

/* Removes the entry of held flow `seq` (linear probing: later entries of the run shift back so that no
 * lookup stops early at the hole). */
static void remove_entry(weft_flow_builder *b, const weft_flow *f, uint64_t seq)
{
    fkey k;
    make_key(&k, &f->src, f->sport, &f->dst, f->dport, f->proto, f->vlan, b->opts.ignore_vlan);
    uint64_t h = key_hash(&k);
    size_t mask = b->cap - 1, i = h & mask;
    while (b->slots[i].hash && !(b->slots[i].hash == h && b->slots[i].seq == (uint32_t)seq)) i = (i + 1) & mask;
    if (!b->slots[i].hash) return; /* not there: nothing names this flow */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!b->slots[j].hash) break;
        size_t home = b->slots[j].hash & mask;
        /* the entry at j may fill the hole at i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            b->slots[i] = b->slots[j];
            i = j;
        }
    }
    b->slots[i].hash = 0;
    b->used--;
}

static int ring_grow(weft_flow_builder *b)
{
    size_t cap = b->ring_cap * 2;
    if (cap < b->ring_cap || cap > SIZE_MAX / sizeof(held) || cap > ((size_t)1 << 32)) return -1;
    held *r = malloc(cap * sizeof *r);
    if (!r) return -1;
    for (uint64_t s = b->head; s < b->tail; s++) r[s & (cap - 1)] = b->ring[s & (b->ring_cap - 1)];
    free(b->ring);
    b->ring = r;
    b->ring_cap = cap;
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

/* Whether the packet was sent by the flow's src (its first packet's sender). */
static inline bool is_fwd(const weft_flow *f, const weft_pkt *p)
{
    return memcmp(p->src.b, f->src.b, 16) == 0 && p->sport == f->sport;
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

/* Whether a TCP packet on a closed flow opens a new connection: a SYN without ACK, RST or FIN (a
 * SYN-ACK answers a SYN: in the new flow if that SYN opened one, else it belongs with the old) whose
 * sequence number is not the one its side's first SYN had (that would be the same SYN sent again). */
static bool reopens(const held *h, const weft_pkt *p)
{
    if ((p->tcp_flags & (WEFT_TCP_SYN | WEFT_TCP_ACK | WEFT_TCP_RST | WEFT_TCP_FIN)) != WEFT_TCP_SYN) return false;
    int side = is_fwd(&h->f, p) ? 0 : 1;
    return !((h->has_isn >> side & 1) && h->isn[side] == p->tcp_seq);
}

static int start_flow(weft_flow_builder *b, entry *e, const weft_pkt *p)
{
    if (b->tail - b->head == b->ring_cap && ring_grow(b) != 0) return -1;
    held *h = ring_at(b, b->tail);
    memset(h, 0, sizeof *h);
    weft_flow *f = &h->f;
    f->src = p->src;
    f->dst = p->dst;
    f->sport = p->sport;
    f->dport = p->dport;
    f->proto = p->proto;
    f->ip_version = p->ip_version;
    f->start = p->ts;
    f->has_stats = true;
    f->tunnel = p->tunnel;
    f->vlan = p->vlan;
    f->outer_src = p->outer_src;
    f->outer_dst = p->outer_dst;
    e->seq = (uint32_t)b->tail;
    e->state = 0;
    b->tail++;
    if (b->tail - b->head > b->peak) b->peak = (size_t)(b->tail - b->head);
    return 0;
}

int weft_flow_builder_add(weft_flow_builder *b, const weft_pkt *pin)
{
    weft_pkt pk = *pin; /* its time may be moved into its flow's order below */
    const weft_pkt *p = &pk;
    if ((b->used + 1) * 2 > b->cap && grow(b) != 0) return -1;
    fkey k;
    make_key(&k, &p->src, p->sport, &p->dst, p->dport, p->proto, p->vlan, b->opts.ignore_vlan);
    uint64_t h = key_hash(&k);
    size_t i = h & (b->cap - 1);
    entry *e;
    for (;;) {
        e = &b->slots[i];
        if (!e->hash) break;
        if (e->hash == h && same_tuple(&entry_flow(b, e)->f, p, b->opts.ignore_vlan)) break;
        i = (i + 1) & (b->cap - 1);
    }
    if (!e->hash) {
        if (start_flow(b, e, p) != 0) return -1;
        e->hash = h;
        b->used++;
    } else {
        held *cur = entry_flow(b, e);
        /* A packet stamped before its flow's latest (a capture whose clock stepped back) is taken at
         * that latest time: the flow's own packets stay in order, so its duration and inter-arrival
         * times are neither negative nor stretched by other flows' times. */
        double last = flow_last(&cur->f);
        if (pk.ts < last) pk.ts = last;
        bool expired = p->ts - last > b->opts.idle_timeout || p->ts - cur->f.start > b->opts.active_timeout ||
                       ((e->state & ST_CLOSED) && reopens(cur, p));
        if (expired) {
            cur->done = true;
            if (start_flow(b, e, p) != 0) {
                cur->done = false;
                return -1;
            }
        }
    }
    held *hf = entry_flow(b, e);
    weft_flow *f = &hf->f;
    bool fwd = is_fwd(f, p);
    dir_add(fwd ? &f->fwd : &f->bwd, p);
    if (p->proto == 6) {
        int side = fwd ? 0 : 1;
        if ((p->tcp_flags & WEFT_TCP_SYN) && !(hf->has_isn >> side & 1)) {
            hf->isn[side] = p->tcp_seq;
            hf->has_isn |= (uint8_t)(1u << side);
        }
        if (p->tcp_flags & WEFT_TCP_FIN) e->state |= fwd ? ST_FIN_FWD : ST_FIN_BWD;
        if ((p->tcp_flags & WEFT_TCP_RST) || (e->state & (ST_FIN_FWD | ST_FIN_BWD)) == (ST_FIN_FWD | ST_FIN_BWD))
            e->state |= ST_CLOSED;
    }
    if (pk.ts > b->now) b->now = pk.ts;
    return weft_flow_builder_expire(b, b->now);
}

static void dir_finish(weft_flow_dir *d)
{
    d->mean_iat = d->packets >= 2 ? (d->last - d->first) / (double)(d->packets - 1) : 0.0;
}

static void finish_stats(weft_flow *f)
{
    dir_finish(&f->fwd);
    dir_finish(&f->bwd);
    f->duration = flow_last(f) - f->start;
}

/* Writes the oldest held flow: copied out first, so the sink sees a flow the builder no longer holds. */
static int write_head(weft_flow_builder *b)
{
    held *h = ring_at(b, b->head);
    if (!h->done) remove_entry(b, &h->f, b->head);
    weft_flow f = h->f;
    b->head++;
    finish_stats(&f);
    return b->sink ? b->sink(&f, b->user) : 0;
}

int weft_flow_builder_expire(weft_flow_builder *b, double now)
{
    /* Only the oldest flow is looked at: a younger one that has ended waits for it, which keeps the
     * start order. A flow has ended when it is done or when a packet at `now` would start a new flow. */
    while (b->head < b->tail) {
        const held *h = ring_at(b, b->head);
        if (!h->done && !(now - flow_last(&h->f) > b->opts.idle_timeout) &&
            !(now - h->f.start > b->opts.active_timeout))
            break;
        int rc = write_head(b);
        if (rc) return rc;
    }
    return 0;
}

int weft_flow_builder_finish(weft_flow_builder *b)
{
    while (b->head < b->tail) {
        int rc = write_head(b);
        if (rc) return rc;
    }
    return 0;
}
