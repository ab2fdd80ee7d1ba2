/*
 * traffic/flow.h — the flow table: what every reader produces and the graph builder consumes.
 *
 * A flow is one bidirectional conversation (5-tuple; "src" is the side that sent the first packet, or
 * the originator a flow log names). Per-direction statistics follow the seed model's notes
 * (../shared/seeds/model-notes.md). traffic/ knows nothing of ONNX or of the rest of weft.
 */
#ifndef WEFT_TRAFFIC_FLOW_H
#define WEFT_TRAFFIC_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IPv4 address is stored IPv4-mapped (::ffff:a.b.c.d) so one type serves both families. */
typedef struct weft_ip {
    uint8_t b[16];
} weft_ip;

enum {
    WEFT_TCP_FIN = 0x01,
    WEFT_TCP_SYN = 0x02,
    WEFT_TCP_RST = 0x04,
    WEFT_TCP_PSH = 0x08,
    WEFT_TCP_ACK = 0x10,
    WEFT_TCP_URG = 0x20,
    WEFT_TCP_ECE = 0x40,
    WEFT_TCP_CWR = 0x80,
};

/* One direction's statistics. Sizes are IP packet lengths in bytes (or whatever the source counts). */
typedef struct weft_flow_dir {
    uint64_t packets;
    uint64_t bytes;
    uint32_t min_size, max_size; /* 0 when packets == 0 */
    double mean_iat;             /* mean inter-arrival time in seconds (0 with < 2 packets) */
    uint8_t flags;               /* OR of the TCP flags seen (WEFT_TCP_*) */
    double first, last;          /* timestamps of the first and last packet (seconds since epoch) */
} weft_flow_dir;

/* The tunnel a flow was carried in (the outermost one, when tunnels nest); its inner packets are the flow. */
typedef enum weft_tunnel {
    WEFT_TUNNEL_NONE = 0,
    WEFT_TUNNEL_IPIP,   /* IPv4 in IPv4 / IPv6 (IP protocol 4) */
    WEFT_TUNNEL_IP6IP,  /* IPv6 in IPv4 / IPv6 (IP protocol 41: 6in4, 6in6) */
    WEFT_TUNNEL_GRE,    /* GRE (IP protocol 47) carrying IP or Ethernet */
    WEFT_TUNNEL_ERSPAN, /* ERSPAN type I / II / III over GRE */
    WEFT_TUNNEL_VXLAN,  /* UDP port 4789 */
    WEFT_TUNNEL_GENEVE, /* UDP port 6081 */
    WEFT_TUNNEL_GTPU,   /* GTP-U, UDP port 2152 */
    WEFT_TUNNEL_COUNT
} weft_tunnel;

/* "" for none, else "ipip", "ip6ip", "gre", "erspan", "vxlan", "geneve", "gtp-u". */
const char *weft_tunnel_name(int tunnel);
/* The tunnel of a name (as weft_tunnel_name writes it; "" is none), or -1. */
int weft_tunnel_parse(const char *name);

typedef struct weft_flow {
    weft_ip src, dst;
    uint16_t sport, dport;
    uint8_t proto;        /* IP protocol number: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ... */
    uint8_t ip_version;   /* 4 or 6 */
    double start;         /* seconds since the epoch (or since the capture start for relative sources) */
    double duration;      /* seconds */
    weft_flow_dir fwd;    /* src -> dst */
    weft_flow_dir bwd;    /* dst -> src */
    /* Labels: NULL when unknown. Strings are interned in the table (weft_flow_table_intern). */
    const char *label;        /* e.g. "Benign", "Malicious", or a class name */
    const char *detail;       /* detailed label / application protocol */
    const char *category;     /* nDPI category */
    bool has_stats;           /* false for sources without per-direction sizes/iat (e.g. conversation CSV) */
    uint8_t tunnel;           /* weft_tunnel: what carried the flow's first packet */
    uint16_t vlan;            /* VLAN ID of the flow's first packet (0: none) */
    weft_ip outer_src, outer_dst; /* the outermost tunnel's addresses (zero without a tunnel) */
} weft_flow;

typedef struct weft_flow_table {
    weft_flow *flows;
    size_t n, cap;
    /* interned strings */
    char **strings;
    size_t n_strings, cap_strings;
} weft_flow_table;

void weft_flow_table_init(weft_flow_table *t);
void weft_flow_table_free(weft_flow_table *t);
/* Appends a flow (copied); returns 0 or -1 on allocation failure. */
int weft_flow_table_push(weft_flow_table *t, const weft_flow *f);
/* Returns a copy of s owned by the table (the same pointer for equal strings), or NULL on failure. */
const char *weft_flow_table_intern(weft_flow_table *t, const char *s);

/* Address helpers. */
void weft_ip_from_v4(weft_ip *ip, uint32_t host_order_addr);
bool weft_ip_is_v4(const weft_ip *ip);
/* Parses dotted IPv4 or IPv6 text; returns false if it is neither. */
bool weft_ip_parse(const char *s, weft_ip *out);
/* Formats into buf (at least 46 bytes). */
void weft_ip_format(const weft_ip *ip, char *buf, size_t n);

#endif
