/*
 * traffic/flow_builder.h — packets → bidirectional 5-tuple flows.
 *
 * Both directions of a conversation map to one flow through a canonical key (the lower (address, port)
 * end first, the protocol, and the VLAN ID unless ignore_vlan); the flow's src is the sender of its
 * first packet. A flow ends
 *   - when no packet arrived for idle_timeout seconds (default 120),
 *   - when it has lasted active_timeout seconds (default 1800),
 *   - for TCP, after a FIN from both sides or a RST: a later packet of the same 5-tuple that carries a
 *     SYN (and no ACK, RST or FIN: what opens a connection) starts a new flow; the closing ACKs and
 *     retransmissions without SYN stay with the old flow (otherwise every normal close would leave a
 *     one-packet flow behind). A SYN that repeats the initial sequence number its side opened the flow
 *     with is that same connection attempt sent again (a client retrying a SYN that was answered by
 *     RST keeps its port and ISN), not a new connection: it stays, and so does the SYN-ACK answering it.
 *     A SYN-ACK never opens a flow on a closed one, nor does a SYN that also carries RST or FIN.
 * The next packet of the same 5-tuple after an idle or active timeout starts a new flow.
 *
 * Flows are written as they end, so memory is bounded by the flows in flight, not by the length of
 * the capture: a flow leaves the builder once it has ended (timed out, or replaced by a new flow of its
 * 5-tuple) and every flow that started before it has left too. Flows therefore reach the sink in the
 * order they started (the order of their first packets), the same order as if the whole capture had
 * been read first; what the builder holds at any time is the flows started since the oldest flow still
 * running — at most active_timeout seconds of them. A packet whose flow was already written (a capture
 * whose clock stepped back by more than the idle timeout) starts a new flow.
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
    uint32_t tcp_seq;    /* TCP sequence number (0 for other protocols): tells a retransmitted SYN from a
                          * new connection's */
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
    uint32_t uncaptured; /* parser setting: bytes of the frame on the wire beyond those captured (a
                          * snap length cut them); UINT32_MAX when the wire length is not known */
    uint16_t vlan; /* VLAN ID of the frame's first 802.1Q / 802.1ad tag (0: untagged or priority only) */
} weft_pkt;

typedef struct weft_flow_builder weft_flow_builder;

/* Receives each flow once it has ended, statistics complete. Return non-zero to stop: the builder call
 * that was writing returns that value. */
typedef int (*weft_flow_sink)(const weft_flow *f, void *user);

/* A sink that appends to the weft_flow_table `user`. */
int weft_flow_table_sink(const weft_flow *f, void *user);

/* Returns NULL on allocation failure. */
weft_flow_builder *weft_flow_builder_new(const weft_flow_opts *opts, weft_flow_sink sink, void *user);
/* Adds one packet and writes the flows that have ended by its time. Returns 0, -1 on allocation
 * failure (the packet is then not counted), or the sink's non-zero value. */
int weft_flow_builder_add(weft_flow_builder *b, const weft_pkt *p);
/* Writes the flows that have ended by time `now` (for live capture: time passes without packets).
 * Returns 0 or the sink's non-zero value. */
int weft_flow_builder_expire(weft_flow_builder *b, double now);
/* Writes every flow still held (the end of the input). Returns 0 or the sink's non-zero value. */
int weft_flow_builder_finish(weft_flow_builder *b);
void weft_flow_builder_free(weft_flow_builder *b);

/* 5-tuples with a flow still held, and the most flows held at once (for tests and reports). */
size_t weft_flow_builder_keys(const weft_flow_builder *b);
size_t weft_flow_builder_peak(const weft_flow_builder *b);

#endif
