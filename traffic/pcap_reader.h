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
 * IPv4 (options skipped; fragments: the first carries the ports, later ones are counted and skipped
 * because they carry no transport header), IPv6 (extension headers walked). TCP / UDP / SCTP ports and
 * TCP flags; ICMP, ICMPv6 and every other protocol make flows with ports 0.
 *
 * Frames without IP (ARP, LLDP, STP, ...) are counted apart (report.not_ip): they are no problem.
 * Bad input is counted in the report and skipped, never fatal: unknown link types,
 * short or malformed packets, a capture cut short (what was read before is kept), timestamps that run
 * backwards (reported with the size of the jump; the packet is kept at its own time, or at its flow's
 * latest time when that is later, so no flow's statistics go negative or stretch).
 */
#ifndef WEFT_TRAFFIC_PCAP_READER_H
#define WEFT_TRAFFIC_PCAP_READER_H

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

/* True if the file starts (once decompressed) with a pcap or pcapng magic number. */
int weft_pcap_is_capture(const char *path);

#endif
