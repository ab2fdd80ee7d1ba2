/* traffic/labels.c — nDPI .out flow lines and ustc-tfc2016 file names → labels. */
#include "traffic/labels.h"

#include "traffic/input.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Canonical 5-tuple: the lower (address, port) end first, so both directions give the same key. */
typedef struct lkey {
    weft_ip a, b;
    uint16_t pa, pb;
    uint8_t proto;
} lkey;

typedef struct lentry {
    lkey k;
    const char *app, *cat;
    size_t order; /* file order: the first line of a repeated 5-tuple wins */
    bool used;    /* some flow had this 5-tuple */
} lentry;

struct weft_labels {
    lentry *e;
    size_t n, cap;
    bool sorted;
    weft_flow_table strings; /* only its string interning is used */
};

weft_labels *weft_labels_new(void)
{
    weft_labels *L = calloc(1, sizeof *L);
    if (L) weft_flow_table_init(&L->strings);
    return L;
}

void weft_labels_free(weft_labels *L)
{
    if (!L) return;
    free(L->e);
    weft_flow_table_free(&L->strings);
    free(L);
}

size_t weft_labels_count(const weft_labels *L)
{
    return L->n;
}

static int key_cmp(const lkey *x, const lkey *y)
{
    int c = memcmp(x->a.b, y->a.b, 16);
    if (c) return c;
    if (x->pa != y->pa) return x->pa < y->pa ? -1 : 1;
    c = memcmp(x->b.b, y->b.b, 16);
    if (c) return c;
    if (x->pb != y->pb) return x->pb < y->pb ? -1 : 1;
    return (x->proto > y->proto) - (x->proto < y->proto);
}

static int entry_cmp(const void *a, const void *b)
{
    const lentry *x = a, *y = b;
    int c = key_cmp(&x->k, &y->k);
    if (c) return c;
    return (x->order > y->order) - (x->order < y->order);
}

static void make_key(lkey *k, const weft_ip *s, uint16_t sp, const weft_ip *d, uint16_t dp, uint8_t proto)
{
    memset(k, 0, sizeof *k);
    int c = memcmp(s->b, d->b, 16);
    if (c < 0 || (c == 0 && sp <= dp)) {
        k->a = *s, k->pa = sp, k->b = *d, k->pb = dp;
    } else {
        k->a = *d, k->pa = dp, k->b = *s, k->pb = sp;
    }
    k->proto = proto;
}

int weft_proto_from_name(const char *s)
{
    static const struct {
        const char *name;
        int num;
    } names[] = {
        {"tcp", 6},   {"udp", 17},   {"icmp", 1},  {"icmpv6", 58}, {"ipv6-icmp", 58}, {"icmp6", 58},
        {"igmp", 2},  {"gre", 47},   {"esp", 50},  {"ah", 51},     {"sctp", 132},     {"pim", 103},
        {"ospf", 89}, {"ospfigp", 89}, {"vrrp", 112}, {"ipv6", 41}, {"ipip", 4},       {"ipnip", 4},
        {"udt", 17},  {"rtp", 17},   {"rtcp", 17}, {"l2tp", 115},  {"egp", 8},        {"ipx/spx", -1},
    };
    if (!s || !*s) return -1;
    if (isdigit((unsigned char)s[0])) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (*end || errno || v < 0 || v > 255) return -1;
        return (int)v;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) return names[i].num;
    return -1;
}

/* "a.b.c.d:port" or "[v6]:port" at *pp, ending at a space; advances *pp past it. */
static bool parse_endpoint(const char **pp, weft_ip *ip, uint16_t *port)
{
    const char *p = *pp;
    char addr[64];
    const char *colon;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close || close[1] != ':' || (size_t)(close - p - 1) >= sizeof addr) return false;
        memcpy(addr, p + 1, (size_t)(close - p - 1));
        addr[close - p - 1] = 0;
        colon = close + 1;
    } else {
        colon = p;
        while (*colon && *colon != ':' && *colon != ' ') colon++;
        if (*colon != ':' || (size_t)(colon - p) >= sizeof addr) return false;
        memcpy(addr, p, (size_t)(colon - p));
        addr[colon - p] = 0;
    }
    if (!weft_ip_parse(addr, ip)) return false;
    const char *q = colon + 1;
    unsigned long v = 0;
    if (!isdigit((unsigned char)*q)) return false;
    while (isdigit((unsigned char)*q)) {
        v = v * 10 + (unsigned long)(*q - '0');
        if (v > 65535) return false;
        q++;
    }
    *port = (uint16_t)v;
    *pp = q;
    return true;
}

/* Copies the text of "[<tag>..." up to ']' into buf (after `skip_to`, if given, the part after it). */
static bool bracket_field(const char *line, const char *tag, char sep_after, bool take_after, char *buf,
                          size_t n)
{
    const char *p = strstr(line, tag);
    if (!p) return false;
    p += strlen(tag);
    const char *end = strchr(p, ']');
    if (!end) return false;
    const char *sep = memchr(p, sep_after, (size_t)(end - p));
    const char *s = p, *e = end;
    if (sep) {
        if (take_after)
            s = sep + 1;
        else
            e = sep;
    }
    size_t len = (size_t)(e - s);
    if (len >= n) len = n - 1;
    memcpy(buf, s, len);
    buf[len] = 0;
    return len > 0;
}

static int push_entry(weft_labels *L, const lentry *e)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        lentry *p = realloc(L->e, cap * sizeof *p);
        if (!p) return -1;
        L->e = p;
        L->cap = cap;
    }
    L->e[L->n++] = *e;
    L->sorted = false;
    return 0;
}

long weft_labels_load_ndpi(weft_labels *L, const char *path, weft_read_report *r, char *err, size_t errn)
{
    FILE *f = weft_input_open(path, NULL, err, errn);
    if (!f) return -1;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    long got = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        /* Flow lines: TAB, a number, TAB, then the protocol. Everything else is statistics. */
        const char *p = line;
        if (*p != '\t' || !isdigit((unsigned char)p[1])) continue;
        p++;
        while (isdigit((unsigned char)*p)) p++;
        if (*p != '\t') continue;
        p++;
        if (!strstr(p, "[proto:")) continue; /* the JA3 / host tables share the TAB-number start */
        r->records++;
        char pname[32];
        size_t k = 0;
        while (*p && *p != ' ' && k + 1 < sizeof pname) pname[k++] = *p++;
        pname[k] = 0;
        int proto = weft_proto_from_name(pname);
        weft_ip s, d;
        uint16_t sp, dp;
        if (proto < 0 || *p != ' ') {
            weft_report_skip(r, "nDPI line: unknown protocol", path, "line", lineno, "'%s'", pname);
            continue;
        }
        p++;
        if (!parse_endpoint(&p, &s, &sp)) {
            weft_report_skip(r, "nDPI line: bad address", path, "line", lineno, "first endpoint");
            continue;
        }
        if (strncmp(p, " <-> ", 5) == 0)
            p += 5;
        else if (strncmp(p, " -> ", 4) == 0)
            p += 4;
        else {
            weft_report_skip(r, "nDPI line: bad address", path, "line", lineno, "no '<->' or '->'");
            continue;
        }
        if (!parse_endpoint(&p, &d, &dp)) {
            weft_report_skip(r, "nDPI line: bad address", path, "line", lineno, "second endpoint");
            continue;
        }
        char app[96] = "", cat[96] = "";
        bracket_field(p, "[proto: ", '/', true, app, sizeof app);
        bracket_field(p, "[cat: ", '/', false, cat, sizeof cat);
        lentry e;
        make_key(&e.k, &s, sp, &d, dp, (uint8_t)proto);
        e.app = app[0] ? weft_flow_table_intern(&L->strings, app) : NULL;
        e.cat = cat[0] ? weft_flow_table_intern(&L->strings, cat) : NULL;
        e.order = L->n;
        e.used = false;
        if ((app[0] && !e.app) || (cat[0] && !e.cat) || push_entry(L, &e) != 0) {
            free(line);
            fclose(f);
            snprintf(err, errn, "%s: out of memory", path);
            return -1;
        }
        got++;
    }
    free(line);
    fclose(f);
    return got;
}

/* The first entry (the earliest line) of key k, or L->n when there is none. */
static size_t find_first(const weft_labels *L, const lkey *k)
{
    size_t lo = 0, hi = L->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(&L->e[mid].k, k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < L->n && key_cmp(&L->e[lo].k, k) == 0 ? lo : L->n;
}

long weft_labels_apply(weft_labels *L, weft_flow_table *t, size_t from, size_t to)
{
    if (!L->sorted) {
        if (L->n) qsort(L->e, L->n, sizeof *L->e, entry_cmp);
        L->sorted = true;
    }
    long hits = 0;
    if (to > t->n) to = t->n;
    for (size_t i = from; i < to; i++) {
        weft_flow *f = &t->flows[i];
        lkey k;
        make_key(&k, &f->src, f->sport, &f->dst, f->dport, f->proto);
        size_t lo = find_first(L, &k);
        /* nDPI gives ports for TCP and UDP only: its lines for SCTP (and any other protocol with
         * ports) say port 0, so such a flow takes the label of its addresses and protocol. */
        if (lo == L->n && f->proto != 6 && f->proto != 17 && (f->sport || f->dport)) {
            make_key(&k, &f->src, 0, &f->dst, 0, f->proto);
            lo = find_first(L, &k);
        }
        if (lo == L->n) continue;
        for (size_t j = lo; j < L->n && key_cmp(&L->e[j].k, &k) == 0 && !L->e[j].used; j++) L->e[j].used = true;
        const lentry *e = &L->e[lo];
        if (e->app) {
            f->detail = weft_flow_table_intern(t, e->app);
            if (!f->detail) return -1;
        }
        if (e->cat) {
            f->category = weft_flow_table_intern(t, e->cat);
            if (!f->category) return -1;
        }
        hits++;
    }
    return hits;
}

size_t weft_labels_unmatched(const weft_labels *L)
{
    size_t n = 0;
    for (size_t i = 0; i < L->n; i++) n += !L->e[i].used;
    return n;
}

bool weft_label_from_filename(const char *path, char *label, size_t label_n, char *detail, size_t detail_n,
                              unsigned *proto)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[256];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot) *dot = 0;
    const char *kind;
    if (strncmp(name, "Benign_", 7) == 0)
        kind = "Benign";
    else if (strncmp(name, "Malware_", 8) == 0)
        kind = "Malware";
    else
        return false;
    char *rest = strchr(name, '_') + 1;
    char *last = strrchr(rest, '_');
    unsigned pr = 0;
    if (last && (strcasecmp(last + 1, "TCP") == 0 || strcasecmp(last + 1, "UDP") == 0)) {
        pr = strcasecmp(last + 1, "TCP") == 0 ? 6 : 17;
        *last = 0;
    }
    if (!*rest) return false;
    snprintf(label, label_n, "%s", kind);
    snprintf(detail, detail_n, "%s", rest);
    *proto = pr;
    return true;
}
