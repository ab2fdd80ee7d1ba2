/*
 * traffic/flow_builder.h — packets → bidirectional 5-tuple flows.
 *
 * Both directions of a conversation map to one flow through a canonical key (the lower (address, port)
 * end first, the protocol, and the VLAN ID unless ignore_vlan); the flow's src is the sender of its
 * first packet. A flow ends
 *   - when no packet arrived for idle_timeout seconds (default 120),
 *   - when it has lasted active_timeout seconds (default 1800),
 *   - for TCP, after a FIN from both sides or a RST: a later packet of the same 5-tuple that carries a
 *     SYN starts a new flow; the closing ACKs and retransmissions without SYN stay with the old flow
 *     (otherwise every normal close would leave a one-packet flow behind).
 * The next packet of the same 5-tuple after an idle or active timeout starts a new flow.
 *
 * Flows are appended to the table in the order they start (the table slot is taken when the first
 * packet arrives), so the output is deterministic and ordered by start time. Statistics are completed
 * (duration, mean inter-arrival time) by weft_flow_builder_finish.
 */
#ifndef WEFT_TRAFFIC_FLOW_BUILDER_H
#define WEFT_TRAFFIC_FLOW_BUILDER_H

#include "traffic/flow.h"

#define WEFT_FLOW_IDLE_TIMEOUT_DEFAULT 120.0
#define WEFT_FLOW_ACTIVE_TIMEOUT_DEFAULT 1800.0

typedef struct weft_flow_opts {
    double idle_timeout;   /* seconds; > 0 */
    double active_timeout; /* seconds; > 0 */
    bool decap;            /* report tunnelled packets by their inner flow (default true) */
    bool ignore_vlan;      /* merge flows that differ only by VLAN ID (default false: the VLAN is part
                            * of the key, so one address plan reused on two VLANs stays two flows) */
} weft_flow_opts;

void weft_flow_opts_default(weft_flow_opts *o);

/* One parsed packet: what the builder needs. */
typedef struct weft_pkt {
    double ts;           /* seconds since the epoch; a packet earlier than its flow's latest is counted
                          * at that latest time (captures whose clock steps back) */
    weft_ip src, dst;
    uint16_t sport, dport; /* 0 for protocols without ports */
    uint8_t proto;
    uint8_t ip_version;
    uint8_t tcp_flags;
    uint32_t ip_len;     /* IP length: header + payload */
    /* IP fragmentation, filled by the packet parser for its fragment cache (the builder ignores it):
     * 0 not a fragment, 1 a first fragment with more to come, 2 a later fragment (no transport header) */
    uint8_t frag;
    uint32_t frag_id;
    /* The outermost tunnel that carried the packet (weft_tunnel) and its addresses; src/dst/ports are
     * the innermost packet's. tunnel_depth counts the tunnels opened (the parser stops at a limit). */
    uint8_t tunnel, tunnel_depth;
    weft_ip outer_src, outer_dst;
    bool decap; /* parser setting: open tunnels (weft_parse_frame's decap_tunnels) */
    uint16_t vlan; /* VLAN ID of the frame's first 802.1Q / 802.1ad tag (0: untagged or priority only) */
} weft_pkt;

typedef struct weft_flow_builder weft_flow_builder;

/* Flows go to `out` (appended). Returns NULL on allocation failure. */
weft_flow_builder *weft_flow_builder_new(const weft_flow_opts *opts, weft_flow_table *out);
/* Adds one packet; 0, or -1 on allocation failure (the packet is then not counted). */
int weft_flow_builder_add(weft_flow_builder *b, const weft_pkt *p);
/* Completes the statistics of every flow this builder made. Call once, before reading the table. */
void weft_flow_builder_finish(weft_flow_builder *b);
void weft_flow_builder_free(weft_flow_builder *b);

/* Number of distinct 5-tuples seen (for tests and reports). */
size_t weft_flow_builder_keys(const weft_flow_builder *b);

#endif
