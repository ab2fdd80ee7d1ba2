/* traffic/netflow_pkt.c — captures of NetFlow v5 / v9 / IPFIX export datagrams → flows. Every length
 * read from the wire (datagram, set, template, field, variable-length field) is checked against what is
 * left before anything is read: a short or lying datagram is reported, never read past. */
#include "traffic/netflow_pkt.h"

#include "traffic/input.h"

#include <errno.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traffic/dlt.h"

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
/* Big-endian unsigned of 1..8 bytes (IPFIX reduced-size encoding sends counters in fewer bytes). */
static uint64_t rdn(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* ---- templates ---- */

enum { PEN_REVERSE = 29305 }; /* RFC 5103: reverse-direction information elements */
#define MAX_TEMPLATES 4096    /* per file: a flood of template IDs cannot grow memory without bound */
#define VARLEN 65535          /* IPFIX: the field's length is in the record */

typedef struct nf_field {
    uint16_t id, len;
    uint32_t pen; /* enterprise number, 0 for IANA elements */
    bool use;     /* an element this reader maps, with a length that fits its type */
} nf_field;

typedef struct nf_template {
    weft_ip exporter;
    uint32_t domain; /* v9 source ID / IPFIX observation domain */
    uint16_t id;
    uint8_t version;
    bool options; /* options template: its data records are not flows */
    uint16_t nfields;
    nf_field *fields;
    size_t min_len; /* fixed lengths + 1 byte per variable-length field: shorter leftovers are padding */
} nf_template;

struct weft_export_state {
    nf_template *t;
    size_t n, cap;
    bool warned_full, warned_no_time;
};

weft_export_state *weft_export_state_new(void)
{
    return calloc(1, sizeof(weft_export_state));
}

void weft_export_state_free(weft_export_state *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->t[i].fields);
    free(s->t);
    free(s);
}

static nf_template *find_template(weft_export_state *s, const weft_ip *ex, uint8_t version, uint32_t domain,
                                  uint16_t id)
{
    for (size_t i = 0; i < s->n; i++) {
        nf_template *t = &s->t[i];
        if (t->id == id && t->domain == domain && t->version == version && memcmp(t->exporter.b, ex->b, 16) == 0)
            return t;
    }
    return NULL;
}

static void drop_template(weft_export_state *s, nf_template *t)
{
    free(t->fields);
    *t = s->t[--s->n];
}

/* The length an element of ours must have; false when `len` does not fit its type. Elements we do not
 * map are walked by their length and not checked. */
static bool element_known(uint32_t pen, uint16_t id, uint16_t len, bool *fits)
{
    *fits = true;
    if (pen != 0 && pen != PEN_REVERSE) return false;
    if (pen == PEN_REVERSE) {
        switch (id) {
        case 1: case 2: case 85: case 86: *fits = len >= 1 && len <= 8; return true;
        case 6: *fits = len == 1 || len == 2; return true;
        default: return false;
        }
    }
    switch (id) {
    case 1: case 2: case 23: case 24: case 85: case 86: *fits = len >= 1 && len <= 8; return true;
    case 4: *fits = len == 1; return true;
    case 6: *fits = len == 1 || len == 2; return true; /* IPFIX widened tcpControlBits to 2 bytes */
    case 7: case 11: *fits = len == 2; return true;
    case 8: case 12: *fits = len == 4; return true;
    case 27: case 28: *fits = len == 16; return true;
    case 21: case 22: case 150: case 151: *fits = len == 4; return true;
    case 152: case 153: case 154: case 155: case 156: case 157: case 160: *fits = len == 8; return true;
    default: return false;
    }
}

/* ---- one datagram ---- */

typedef struct ctx {
    weft_export_state *s;
    const weft_ip *exporter;
    weft_flow_table *t;
    weft_read_report *r;
    const char *file;
    uint64_t pkt;
    uint8_t version;
    uint32_t domain;
    uint32_t uptime_ms;  /* v5 / v9 header: the exporter's uptime when it sent the datagram */
    double export_time;  /* header clock, seconds since the epoch */
} ctx;

/* BAD drops records (counted among them); a bad template drops nothing by itself (the data sets that
 * needed it are skipped later, each counted), so it is a warning. */
#define BAD(reason, ...) weft_report_skip(c->r, reason, c->file, "packet", c->pkt, __VA_ARGS__)
#define BAD_TEMPLATE(...) weft_report_warn(c->r, "bad template", c->file, "packet", c->pkt, __VA_ARGS__)

/* What one flow record said. */
typedef struct rec {
    bool s4, d4, s6, d6;
    uint8_t src4[4], dst4[4], src6[16], dst6[16];
    uint16_t sport, dport;
    uint8_t proto, flags, rflags;
    bool has_pkts, has_bytes, has_rpkts, has_rbytes;
    uint64_t pkts, bytes, rpkts, rbytes, tot_pkts, tot_bytes, rtot_pkts, rtot_bytes;
    bool has_first_up, has_last_up, has_init, has_start, has_end;
    uint32_t first_up, last_up;
    double init_ms, start, end;
} rec;

static double ntp_time(const uint8_t *p)
{
    /* NTP era 0: seconds since 1900 and a 32-bit fraction */
    return (double)rd32(p) - 2208988800.0 + (double)rd32(p + 4) / 4294967296.0;
}

static void apply_field(const ctx *c, rec *x, const nf_field *f, const uint8_t *v)
{
    uint16_t len = f->len;
    if (f->pen == PEN_REVERSE) {
        switch (f->id) {
        case 1: x->rbytes = rdn(v, len), x->has_rbytes = true; break;
        case 2: x->rpkts = rdn(v, len), x->has_rpkts = true; break;
        case 85: x->rtot_bytes = rdn(v, len); break;
        case 86: x->rtot_pkts = rdn(v, len); break;
        case 6: x->rflags = v[len - 1]; break;
        default: break;
        }
        return;
    }
    switch (f->id) {
    case 1: x->bytes = rdn(v, len), x->has_bytes = true; break;
    case 2: x->pkts = rdn(v, len), x->has_pkts = true; break;
    case 85: x->tot_bytes = rdn(v, len); break;
    case 86: x->tot_pkts = rdn(v, len); break;
    case 23: if (c->version == 9) x->rbytes = rdn(v, len), x->has_rbytes = true; break;
    case 24: if (c->version == 9) x->rpkts = rdn(v, len), x->has_rpkts = true; break;
    case 4: x->proto = v[0]; break;
    case 6: x->flags = v[len - 1]; break; /* the low byte holds FIN..CWR */
    case 7: x->sport = rd16(v); break;
    case 11: x->dport = rd16(v); break;
    case 8: memcpy(x->src4, v, 4), x->s4 = true; break;
    case 12: memcpy(x->dst4, v, 4), x->d4 = true; break;
    case 27: memcpy(x->src6, v, 16), x->s6 = true; break;
    case 28: memcpy(x->dst6, v, 16), x->d6 = true; break;
    case 22: x->first_up = rd32(v), x->has_first_up = true; break;
    case 21: x->last_up = rd32(v), x->has_last_up = true; break;
    case 160: x->init_ms = (double)rdn(v, 8), x->has_init = true; break;
    case 150: x->start = rd32(v), x->has_start = true; break;
    case 151: x->end = rd32(v), x->has_end = true; break;
    case 152: x->start = (double)rdn(v, 8) / 1e3, x->has_start = true; break;
    case 153: x->end = (double)rdn(v, 8) / 1e3, x->has_end = true; break;
    case 154: case 156: x->start = ntp_time(v), x->has_start = true; break;
    case 155: case 157: x->end = ntp_time(v), x->has_end = true; break;
    default: break;
    }
}

/* A time in the exporter's uptime (ms) as seconds since the epoch, from the header's uptime and clock.
 * The difference is taken as a signed 32-bit number: uptime counters wrap after 49.7 days. */
static double uptime_to_time(const ctx *c, uint32_t up)
{
    return c->export_time - (double)(int32_t)(c->uptime_ms - up) / 1000.0;
}

static bool port_protocol(uint8_t p)
{
    return p == 6 || p == 17 || p == 132 || p == 136;
}

/* A decoded record → one flow. Returns 0 (kept or skipped) or -1 on allocation failure. */
static int emit(ctx *c, rec *x)
{
    c->r->records++;
    weft_flow f;
    memset(&f, 0, sizeof f);
    if (x->s4 && x->d4) {
        weft_ip_from_v4(&f.src, rd32(x->src4));
        weft_ip_from_v4(&f.dst, rd32(x->dst4));
        f.ip_version = 4;
    } else if (x->s6 && x->d6) {
        memcpy(f.src.b, x->src6, 16);
        memcpy(f.dst.b, x->dst6, 16);
        f.ip_version = weft_ip_is_v4(&f.src) && weft_ip_is_v4(&f.dst) ? 4 : 6;
    } else {
        BAD("record without addresses", "%s template has no source and destination address",
            c->version == 5 ? "v5" : c->version == 9 ? "v9" : "IPFIX");
        return 0;
    }
    f.proto = x->proto;
    if (port_protocol(x->proto)) f.sport = x->sport, f.dport = x->dport;

    double start, end;
    if (x->has_start) {
        start = x->start;
        end = x->has_end ? x->end : start;
    } else if (x->has_first_up && (c->version != 10 || x->has_init)) {
        if (c->version == 10) {
            start = (x->init_ms + x->first_up) / 1000.0;
            end = x->has_last_up ? (x->init_ms + x->last_up) / 1000.0 : start;
        } else {
            start = uptime_to_time(c, x->first_up);
            end = x->has_last_up ? uptime_to_time(c, x->last_up) : start;
        }
    } else {
        start = end = c->export_time;
        if (!c->s->warned_no_time) {
            c->s->warned_no_time = true;
            weft_report_warn(c->r, "record without flow times (export time used)", c->file, "packet", c->pkt,
                             "the template has no absolute start / end times");
        }
    }
    if (!isfinite(start) || !isfinite(end) || end < start) {
        BAD("negative duration", "record ends %.3f s before it starts", start - end);
        return 0;
    }
    f.start = start;
    f.duration = end - start;
    f.fwd.packets = x->has_pkts ? x->pkts : x->tot_pkts;
    f.fwd.bytes = x->has_bytes ? x->bytes : x->tot_bytes;
    f.bwd.packets = x->has_rpkts ? x->rpkts : x->rtot_pkts;
    f.bwd.bytes = x->has_rbytes ? x->rbytes : x->rtot_bytes;
    if (x->proto == 6) f.fwd.flags = x->flags, f.bwd.flags = x->rflags;
    if (f.fwd.packets) f.fwd.first = start, f.fwd.last = end;
    if (f.bwd.packets) f.bwd.first = start, f.bwd.last = end;
    f.has_stats = false;
    return weft_flow_table_push(c->t, &f);
}

/* NetFlow v5: a 24-byte header and `count` fixed 48-byte records. */
static int read_v5(ctx *c, const uint8_t *d, size_t n)
{
    unsigned count = rd16(d + 2);
    c->uptime_ms = rd32(d + 4);
    c->export_time = (double)rd32(d + 8) + (double)rd32(d + 12) / 1e9;
    size_t have = (n - 24) / 48;
    if (have < count) {
        c->r->records += count - have;
        weft_report_skip(c->r, "export datagram cut short", c->file, "packet", c->pkt,
                         "v5 header counts %u records, %zu bytes hold %zu", count, n, have);
        count = (unsigned)have;
    }
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *p = d + 24 + 48 * (size_t)i;
        rec x;
        memset(&x, 0, sizeof x);
        memcpy(x.src4, p, 4), memcpy(x.dst4, p + 4, 4), x.s4 = x.d4 = true;
        x.pkts = rd32(p + 16), x.has_pkts = true;
        x.bytes = rd32(p + 20), x.has_bytes = true;
        x.first_up = rd32(p + 24), x.has_first_up = true;
        x.last_up = rd32(p + 28), x.has_last_up = true;
        x.sport = rd16(p + 32), x.dport = rd16(p + 34);
        x.flags = p[37];
        x.proto = p[38];
        if (emit(c, &x) != 0) return -1;
    }
    return 1;
}

/* Template records of one v9 (id 0 / 1) or IPFIX (id 2 / 3) template set. */
static int read_templates(ctx *c, const uint8_t *p, size_t n, bool options)
{
    bool ipfix = c->version == 10;
    while (n >= 4) {
        uint16_t id = rd16(p), count = rd16(p + 2);
        size_t hl = 4;
        if (!ipfix && id == 0 && count == 0) break; /* zero padding to the set's end */
        uint16_t scope = 0;
        if (options) {
            if (ipfix) {
                /* IPFIX options template: ID, field count, scope field count */
                if (count == 0) { /* withdrawal of an options template */
                    nf_template *old = find_template(c->s, c->exporter, c->version, c->domain, id);
                    if (old) drop_template(c->s, old);
                    p += 4, n -= 4;
                    continue;
                }
                if (n < 6) break;
                hl = 6;
            } else {
                /* v9 options template: ID, scope length, option length, both in bytes of field specifiers */
                if (n < 6) break;
                scope = rd16(p + 2);
                uint16_t optlen = rd16(p + 4);
                if (scope % 4 || optlen % 4) {
                    BAD_TEMPLATE("v9 options template %u: scope / option lengths %u / %u are not whole "
                        "field specifiers", id, scope, optlen);
                    return 0;
                }
                count = (uint16_t)((scope + optlen) / 4);
                hl = 6;
            }
        } else if (ipfix && count == 0) { /* RFC 7011 8.1: a template withdrawal */
            nf_template *old = find_template(c->s, c->exporter, c->version, c->domain, id);
            if (old) drop_template(c->s, old);
            p += 4, n -= 4;
            continue;
        }
        if (id < 256) {
            BAD_TEMPLATE("template ID %u (data set IDs start at 256)", id);
            return 0;
        }
        if (count == 0) {
            BAD_TEMPLATE("template %u has no fields", id);
            return 0;
        }
        /* field specifiers: 4 bytes each, 8 with an IPFIX enterprise number */
        size_t need = hl, nf = count;
        const uint8_t *q = p + hl;
        for (size_t i = 0; i < nf; i++) {
            if (need + 4 > n) {
                BAD_TEMPLATE("template %u: %zu fields do not fit in the %zu bytes left of its set", id, nf, n);
                return 0;
            }
            bool ent = ipfix && (rd16(q) & 0x8000);
            need += ent ? 8 : 4;
            q += ent ? 8 : 4;
            if (need > n) {
                BAD_TEMPLATE("template %u: %zu fields do not fit in the %zu bytes left of its set", id, nf, n);
                return 0;
            }
        }
        nf_field *fields = calloc(nf, sizeof *fields);
        if (!fields) return -1;
        size_t min_len = 0;
        bool ok = true, warned = false;
        q = p + hl;
        for (size_t i = 0; i < nf && ok; i++) {
            nf_field *f = &fields[i];
            f->id = rd16(q) & (ipfix ? 0x7fff : 0xffff);
            f->len = rd16(q + 2);
            f->pen = ipfix && (rd16(q) & 0x8000) ? rd32(q + 4) : 0;
            q += ipfix && (rd16(q) & 0x8000) ? 8 : 4;
            if (f->len == 0 || (f->len == VARLEN && !ipfix)) {
                BAD_TEMPLATE("template %u: field %zu (element %u) has length %u", id, i + 1, f->id, f->len);
                ok = false;
                break;
            }
            min_len += f->len == VARLEN ? 1 : f->len;
            bool fits;
            f->use = element_known(f->pen, f->id, f->len, &fits) && fits;
            if (!fits && !warned) {
                warned = true;
                weft_report_warn(c->r, "element length does not fit its type (field ignored)", c->file, "packet",
                                 c->pkt, "template %u: element %u%s with length %u", id, f->id,
                                 f->pen == PEN_REVERSE ? " (reverse)" : "", f->len);
            }
        }
        if (!ok) {
            free(fields);
            return 0;
        }
        nf_template *t = find_template(c->s, c->exporter, c->version, c->domain, id);
        if (t) {
            free(t->fields);
        } else if (c->s->n == MAX_TEMPLATES) {
            free(fields);
            if (!c->s->warned_full) {
                c->s->warned_full = true;
                weft_report_warn(c->r, "too many templates (later ones ignored)", c->file, "packet", c->pkt,
                                 "%d templates", MAX_TEMPLATES);
            }
            p += need, n -= need;
            continue;
        } else {
            if (c->s->n == c->s->cap) {
                size_t cap = c->s->cap ? c->s->cap * 2 : 16;
                nf_template *nt = realloc(c->s->t, cap * sizeof *nt);
                if (!nt) {
                    free(fields);
                    return -1;
                }
                c->s->t = nt, c->s->cap = cap;
            }
            t = &c->s->t[c->s->n++];
        }
        t->exporter = *c->exporter;
        t->domain = c->domain;
        t->id = id;
        t->version = c->version;
        t->options = options;
        t->nfields = (uint16_t)nf;
        t->fields = fields;
        t->min_len = min_len;
        p += need, n -= need;
    }
    return 0;
}

/* Data records of one set under template t. */
static int read_data(ctx *c, const nf_template *t, const uint8_t *p, size_t n)
{
    /* records follow each other until what is left is shorter than the shortest record: padding */
    while (n >= t->min_len) {
        rec x;
        memset(&x, 0, sizeof x);
        size_t off = 0;
        for (uint16_t i = 0; i < t->nfields; i++) {
            const nf_field *f = &t->fields[i];
            size_t len = f->len;
            if (len == VARLEN) {
                /* RFC 7011 7: one length byte, or 255 and two more */
                if (off + 1 > n) goto cut;
                len = p[off++];
                if (len == 255) {
                    if (off + 2 > n) goto cut;
                    len = rd16(p + off);
                    off += 2;
                }
            }
            if (len > n - off) goto cut;
            if (f->use) apply_field(c, &x, f, p + off);
            off += len;
        }
        if (off == 0) return 0; /* cannot happen (min_len >= 1): no endless loop on a lying template */
        if (!t->options && emit(c, &x) != 0) return -1;
        p += off, n -= off;
    }
    return 0;
cut:
    c->r->records++;
    BAD("export datagram cut short", "template %u: a record runs past the end of its set", t->id);
    return 0;
}

/* v9 (20-byte header) and IPFIX (16-byte header): sets / FlowSets of 4-byte header (ID, length). */
static int read_sets(ctx *c, const uint8_t *d, size_t n, size_t hdr)
{
    const uint8_t *p = d + hdr;
    size_t left = n - hdr;
    bool ipfix = c->version == 10;
    while (left >= 4) {
        uint16_t id = rd16(p), len = rd16(p + 2);
        if (len < 4) {
            c->r->records++;
            BAD("malformed export datagram", "set ID %u with length %u (the rest of the datagram is lost)", id, len);
            return 1;
        }
        if (len > left) {
            c->r->records++;
            BAD("export datagram cut short", "set ID %u of %u bytes, %zu left in the datagram", id, len, left);
            return 1;
        }
        const uint8_t *body = p + 4;
        size_t bn = len - 4u;
        int rc = 0;
        if (id == (ipfix ? 2 : 0)) {
            rc = read_templates(c, body, bn, false);
        } else if (id == (ipfix ? 3 : 1)) {
            rc = read_templates(c, body, bn, true);
        } else if (id >= 256) {
            const nf_template *t = find_template(c->s, c->exporter, c->version, c->domain, id);
            if (!t) {
                c->r->records++;
                BAD("data set before its template", "template %u of %s %u not seen yet (%u bytes of records)", id,
                    ipfix ? "observation domain" : "source ID", c->domain, len);
            } else {
                rc = read_data(c, t, body, bn);
            }
        } /* other IDs are reserved: passed over by their length */
        if (rc < 0) return -1;
        p += len, left -= len;
    }
    return 1;
}

/* The first set of a v9 / IPFIX datagram must look like one: a template, options template or data set
 * ID and a length that fits. This keeps other UDP traffic that happens to start with 9 or 10 out. */
static bool first_set_sane(const uint8_t *d, size_t n, size_t hdr, bool ipfix)
{
    if (n < hdr + 4) return n == hdr; /* an empty export is allowed */
    uint16_t id = rd16(d + hdr), len = rd16(d + hdr + 2);
    bool id_ok = ipfix ? (id == 2 || id == 3 || id >= 256) : (id == 0 || id == 1 || id >= 256);
    return id_ok && len >= 4;
}

int weft_export_datagram(weft_export_state *s, const weft_ip *exporter, const uint8_t *d, size_t n,
                         weft_flow_table *t, weft_read_report *r, const char *file, uint64_t pkt_no)
{
    if (n < 4) return 0;
    ctx c = {.s = s, .exporter = exporter, .t = t, .r = r, .file = file, .pkt = pkt_no};
    uint16_t version = rd16(d);
    if (version == 5) {
        unsigned count = rd16(d + 2);
        if (n < 24 || count < 1 || count > 30) return 0;
        c.version = 5;
        return read_v5(&c, d, n);
    }
    if (version == 9) {
        if (n < 20 || !first_set_sane(d, n, 20, false)) return 0;
        c.version = 9;
        c.uptime_ms = rd32(d + 4);
        c.export_time = rd32(d + 8);
        c.domain = rd32(d + 16);
        return read_sets(&c, d, n, 20);
    }
    if (version == 10) {
        size_t len = rd16(d + 2);
        if (len < 16 || n < 16 || !first_set_sane(d, len < n ? len : n, 16, true)) return 0;
        c.version = 10;
        c.export_time = rd32(d + 4);
        c.domain = rd32(d + 12);
        if (len > n) {
            /* the capture kept less than the message: read the sets that are whole */
            weft_report_warn(r, "IPFIX message longer than its datagram", file, "packet", pkt_no,
                             "IPFIX message of %zu bytes, %zu captured", len, n);
            len = n;
        }
        return read_sets(&c, d, len, 16);
    }
    return 0;
}

/* ---- the capture around the datagrams ---- */

typedef enum udp_result { UDP_OK, UDP_NOT_IP, UDP_NOT_UDP, UDP_FRAGMENT, UDP_MALFORMED, UDP_UNKNOWN_LINK } udp_result;

static udp_result udp_from_ip(const uint8_t *d, size_t n, weft_ip *src, const uint8_t **pl, size_t *pn)
{
    if (n < 1) return UDP_MALFORMED;
    const uint8_t *l4;
    size_t l4n;
    if (d[0] >> 4 == 4) {
        if (n < 20) return UDP_MALFORMED;
        size_t hl = (size_t)(d[0] & 15) * 4, tot = rd16(d + 2);
        if (hl < 20 || hl > n || tot < hl) return UDP_MALFORMED;
        if (tot < n) n = tot; /* Ethernet padding after the packet */
        uint16_t frag = rd16(d + 6);
        if (d[9] != 17) return UDP_NOT_UDP;
        if (frag & 0x3fff) return UDP_FRAGMENT; /* more fragments, or a later one */
        weft_ip_from_v4(src, rd32(d + 12));
        l4 = d + hl, l4n = n - hl;
    } else if (d[0] >> 4 == 6) {
        if (n < 40) return UDP_MALFORMED;
        size_t tot = 40 + (size_t)rd16(d + 4);
        if (tot < n) n = tot;
        memcpy(src->b, d + 8, 16);
        uint8_t nh = d[6];
        size_t off = 40;
        for (int i = 0; i < 8 && (nh == 0 || nh == 43 || nh == 60 || nh == 44); i++) {
            if (nh == 44) return UDP_FRAGMENT;
            if (off + 2 > n) return UDP_MALFORMED;
            size_t el = ((size_t)d[off + 1] + 1) * 8;
            if (off + el > n) return UDP_MALFORMED;
            nh = d[off];
            off += el;
        }
        if (nh != 17) return UDP_NOT_UDP;
        l4 = d + off, l4n = n - off;
    } else {
        return UDP_MALFORMED;
    }
    if (l4n < 8) return UDP_MALFORMED;
    size_t ulen = rd16(l4 + 4);
    if (ulen >= 8 && ulen < l4n) l4n = ulen; /* a longer UDP length: the capture was cut, read what is there */
    *pl = l4 + 8;
    *pn = l4n - 8;
    return UDP_OK;
}

static udp_result udp_from_frame(int dlt, const uint8_t *d, size_t n, weft_ip *src, const uint8_t **pl, size_t *pn)
{
    uint16_t type;
    switch (dlt) {
    case DLT_EN10MB: {
        if (n < 14) return UDP_MALFORMED;
        size_t off = 12;
        type = rd16(d + off);
        for (int tags = 0; (type == 0x8100 || type == 0x88a8 || type == 0x9100) && tags < 4; tags++) {
            off += 4;
            if (off + 2 > n) return UDP_MALFORMED;
            type = rd16(d + off);
        }
        off += 2;
        d += off, n -= off;
        break;
    }
    case DLT_LINUX_SLL:
        if (n < 16) return UDP_MALFORMED;
        type = rd16(d + 14), d += 16, n -= 16;
        break;
    case DLT_LINUX_SLL2:
        if (n < 20) return UDP_MALFORMED;
        type = rd16(d), d += 20, n -= 20;
        break;
    case DLT_NULL:
    case DLT_LOOP: {
        if (n < 4) return UDP_MALFORMED;
        /* the address family in the writer's byte order (DLT_NULL) or big-endian (DLT_LOOP) */
        uint32_t be = rd32(d), le = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
        uint32_t fam = dlt == DLT_LOOP || be < 256 ? be : le;
        type = fam == 2 ? 0x0800 : (fam == 24 || fam == 28 || fam == 30) ? 0x86dd : 0;
        d += 4, n -= 4;
        break;
    }
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return udp_from_ip(d, n, src, pl, pn);
    default:
        return UDP_UNKNOWN_LINK;
    }
    if (type != 0x0800 && type != 0x86dd) return UDP_NOT_IP;
    return udp_from_ip(d, n, src, pl, pn);
}

int weft_export_read_file(const char *path, weft_flow_table *t, weft_read_report *r, char *err, size_t errn)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    FILE *in = weft_input_open(path, NULL, err, errn); /* "-", gzip and zstd too */
    if (!in) {
        weft_report_skip(r, "unreadable file", path, NULL, 0, "%s", err);
        return -1;
    }
    pcap_t *pc = pcap_fopen_offline(in, ebuf); /* owns `in` from here */
    if (!pc) {
        fclose(in);
        snprintf(err, errn, "%s: not a capture of export datagrams (pcap / pcapng): %s", path, ebuf);
        weft_report_skip(r, "unreadable file", path, NULL, 0, "%s", ebuf);
        return -1;
    }
    weft_export_state *s = weft_export_state_new();
    if (!s) {
        pcap_close(pc);
        snprintf(err, errn, "%s: out of memory", path);
        return -1;
    }
    r->files++;
    int dlt = pcap_datalink(pc), rc = 0;
    uint64_t pkt = 0, exports = 0;
    struct pcap_pkthdr *h;
    const u_char *data;
    int res;
    while ((res = pcap_next_ex(pc, &h, &data)) == 1) {
        pkt++;
        weft_ip src;
        const uint8_t *pl = NULL;
        size_t pn = 0;
        udp_result ur = udp_from_frame(dlt, data, h->caplen, &src, &pl, &pn);
        if (ur == UDP_NOT_IP) {
            r->records++;
            weft_report_not_ip(r);
            continue;
        }
        int e = ur == UDP_OK ? weft_export_datagram(s, &src, pl, pn, t, r, path, pkt) : 0;
        if (e < 0) {
            snprintf(err, errn, "%s: out of memory at packet %llu", path, (unsigned long long)pkt);
            rc = -1;
            break;
        }
        if (e > 0) {
            exports++;
            continue;
        }
        r->records++;
        if (ur == UDP_UNKNOWN_LINK)
            weft_report_skip(r, "unknown link type", path, "packet", pkt, "link type %d", dlt);
        else if (ur == UDP_FRAGMENT)
            weft_report_skip(r, "fragmented export datagram (not reassembled)", path, "packet", pkt, "IP fragment");
        else if (ur == UDP_MALFORMED)
            weft_report_skip(r, "malformed packet", path, "packet", pkt, "IP / UDP header cut short or wrong");
        else
            weft_report_skip(r, "not an export datagram", path, "packet", pkt, "%s",
                             ur == UDP_NOT_UDP ? "not UDP" : "no NetFlow v5 / v9 / IPFIX header");
    }
    if (rc == 0 && res == -1)
        weft_report_warn(r, "capture cut short", path, "packet", pkt + 1, "%s", pcap_geterr(pc));
    if (rc == 0 && pkt > 0 && exports == 0)
        weft_report_warn(r, "no export datagrams in the capture", path, NULL, 0,
                         "%llu packets, none NetFlow v5 / v9 / IPFIX (is this an ordinary capture? then leave "
                         "out --format export-pcap)", (unsigned long long)pkt);
    weft_export_state_free(s);
    pcap_close(pc);
    return rc;
}
