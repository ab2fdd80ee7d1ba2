/*
 * traffic/pcap_reader.h — pcap and pcapng captures (through libpcap) → flows.
 *
 * Link types: Ethernet (with stacked 802.1Q / 802.1ad VLAN tags, PPPoE session, MPLS), Linux cooked
 * SLL and SLL2, raw IP (DLT_RAW, LINKTYPE_IPV4 / IPV6), BSD loopback (DLT_NULL / DLT_LOOP).
 * Tunnels (unless weft_flow_opts.decap is off): IP-in-IP and IPv6-in-IP (protocols 4 and 41), GRE
 * carrying IP or Ethernet, ERSPAN I / II / III, VXLAN (UDP 4789), Geneve (UDP 6081) and GTP-U T-PDUs
 * (UDP 2152), nested up to 4 deep: the innermost packet makes the flow, the outermost tunnel's type and
 * addresses are kept with it. The VLAN ID of a frame's first 802.1Q / 802.1ad tag is part of its flow
 * key unless weft_flow_opts.ignore_vlan.
 * IPv4 (options skipped; fragments: the first carries the ports, and the later ones of the same
 * datagram (addresses, protocol, identification) join its flow with them; a later fragment whose first
 * was not seen is counted and skipped), IPv6 (extension headers walked). TCP / UDP / SCTP ports, TCP
 * flags and sequence number; ICMP, ICMPv6 and every other protocol (PGM, VRRP, unassigned numbers)
 * make flows of their own with ports 0 and their protocol number.
 * An IP packet whose length field claims more than its frame had on the wire is malformed and skipped
 * (weft_parse_frame_wire; the reader passes pcap's wire length): a capture's snap length cut is not.
 *
 * Frames without IP (ARP, LLDP, STP, ...) are counted apart (report.not_ip): they are no problem.
 * Bad input is counted in the report and skipped, never fatal: unknown link types,
 * short or malformed packets, a capture cut short (what was read before is kept), timestamps that run
 * backwards (reported with the size of the jump; the packet is kept at its own time, or at its flow's
 * latest time when that is later, so no flow's statistics go negative or stretch).
 */
#ifndef WEFT_TRAFFIC_PCAP_READER_H
#define WEFT_TRAFFIC_PCAP_READER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "traffic/flow_builder.h"
#include "traffic/report.h"

/* Result of parsing one frame. */
typedef enum weft_frame_result {
    WEFT_FRAME_OK = 0,
    WEFT_FRAME_NOT_IP,        /* a readable frame that carries no IP packet (ARP, LLDP, ...) */
    WEFT_FRAME_UNKNOWN_LINK,  /* link type not supported */
    WEFT_FRAME_MALFORMED,     /* too short, wrong version, bad header length, ... */
    WEFT_FRAME_FRAGMENT,      /* a non-first IP fragment: no transport header */
} weft_frame_result;

/* Parses one captured frame of link type `dlt` (a DLT_* value as libpcap reports it), opening tunnels
 * when decap_tunnels is set. On WEFT_FRAME_OK fills *p (all but ts). `why` (may be NULL) gets a short
 * static explanation. */
weft_frame_result weft_parse_frame(int dlt, const uint8_t *data, uint32_t caplen, bool decap_tunnels, weft_pkt *p,
                                   const char **why);
/* The same, knowing the frame's length on the wire (pcap's len; caplen is what the snap length kept):
 * an IP packet whose length field claims more bytes than the frame had on the wire is malformed (a
 * damaged or forged header, not a capture cut short) and is skipped. weft_parse_frame cannot tell the
 * two apart and keeps such packets. */
weft_frame_result weft_parse_frame_wire(int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                                        bool decap_tunnels, weft_pkt *p, const char **why);

/* Reads one capture ("-": standard input; gzip or zstd compressed files are decompressed as they are
 * read) and gives each flow to `sink` as it ends, in start order: memory stays bounded by the flows in
 * flight however long the capture. Returns 0, -1 when the capture cannot be read at all (the reason in
 * err and in the report) or memory runs out, or the sink's non-zero value. A capture that breaks off
 * mid-way returns 0 with the flows read so far and a warning in the report. */
int weft_pcap_read(const char *path, const weft_flow_opts *opts, weft_flow_sink sink, void *user,
                   weft_read_report *r, char *err, size_t errn);

/* weft_pcap_read into a table: appends the capture's flows to t. Returns 0, or -1 when the file cannot be read at
 * all (the reason is in err and in the report); a file that breaks off mid-way returns 0 with the
 * flows read so far and a warning in the report. */
int weft_pcap_read_file(const char *path, const weft_flow_opts *opts, weft_flow_table *t,
                        weft_read_report *r, char *err, size_t errn);

/* Live capture (libpcap): what to capture and when to stop. */
typedef struct weft_live_progress {
    double seconds;            /* since the capture started */
    uint64_t packets;          /* frames seen so far */
    double packets_per_second; /* over the last second */
    size_t flows_held;         /* 5-tuples with a flow still running */
    uint64_t kernel_dropped;   /* frames the kernel or interface dropped (pcap_stats) */
} weft_live_progress;

typedef struct weft_live_opts {
    const char *filter;          /* BPF expression (tcpdump syntax) or NULL */
    double duration;             /* stop after this many seconds; 0: no limit */
    uint64_t count;              /* stop after this many frames; 0: no limit */
    int snaplen;                 /* bytes kept per frame; 0: 262144 */
    bool promisc;                /* put the interface in promiscuous mode */
    volatile sig_atomic_t *stop; /* stop when it becomes non-zero (a signal handler sets it); may be NULL */
    void (*progress)(const weft_live_progress *p, void *user); /* about once a second; may be NULL */
    void *progress_user;
} weft_live_opts;

/* Captures from a network interface, giving each flow to `sink` as it ends (flows idle for the idle
 * timeout end while the capture runs, even when no packet arrives); when the capture stops, the flows
 * still running are given too. Timestamps are the kernel's, so flows keep wall-clock times. Returns 0,
 * -1 with err set (no such interface, no permission, a bad filter, out of memory), or the sink's value. */
int weft_pcap_live(const char *iface, const weft_live_opts *lo, const weft_flow_opts *opts, weft_flow_sink sink,
                   void *user, weft_read_report *r, char *err, size_t errn);

/* True if the file starts (once decompressed) with a pcap or pcapng magic number. */
int weft_pcap_is_capture(const char *path);

#endif
