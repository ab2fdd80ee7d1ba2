/*
 * traffic/labels.h — labels joined onto flows.
 *
 * nDPI `.out` files (ndpiReader's test output): every flow line
 *   "\t<n>\t<PROTO> <addr>:<port> <-> <addr>:<port> [proto: <id>/<App>][...][cat: <Category>/<id>]..."
 * (IPv6 addresses in brackets, "->" for one-way flows, PROTO a name (TCP, UDP, ICMP, ICMPV6, IGMP, ...)
 * or a number) gives the application and the category of that 5-tuple. They are matched to flows on
 * the 5-tuple in either direction and stored as flow.detail (application) and flow.category.
 *
 * File names as ustc-tfc2016 names them: `Benign_<App>_<L4>.csv` / `Malware_<Family>_<L4>.csv`
 * → label "Benign" / "Malware", detail <App> / <Family>, protocol <L4>.
 */
#ifndef WEFT_TRAFFIC_LABELS_H
#define WEFT_TRAFFIC_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include "traffic/flow.h"
#include "traffic/report.h"

typedef struct weft_labels weft_labels;

weft_labels *weft_labels_new(void);
void weft_labels_free(weft_labels *L);

/* Adds every flow line of an nDPI .out file. Returns the number of flow lines read, or -1 when the
 * file cannot be opened or memory runs out (message in err). Lines that look like flow lines but do not
 * parse are counted in the report and skipped. */
long weft_labels_load_ndpi(weft_labels *L, const char *path, weft_read_report *r, char *err, size_t errn);

/* Number of 5-tuples held. */
size_t weft_labels_count(const weft_labels *L);

/* Sets detail and category on flows [from, to) of t whose 5-tuple (either direction) has a label.
 * Returns the number of flows labelled, or -1 on allocation failure. */
long weft_labels_apply(weft_labels *L, weft_flow_table *t, size_t from, size_t to);

/* Flow lines whose 5-tuple no flow passed to weft_labels_apply so far had. */
size_t weft_labels_unmatched(const weft_labels *L);

/* Parses a ustc-tfc2016 style file name (any folder; extension ignored). Returns true and fills
 * label ("Benign"/"Malware"), detail (the application or family) and *proto (6, 17, or 0 when the
 * last part is not TCP/UDP) when the name has that form. */
bool weft_label_from_filename(const char *path, char *label, size_t label_n, char *detail, size_t detail_n,
                              unsigned *proto);

/* IP protocol number of a name used by nDPI, Zeek or Argus ("tcp", "UDP", "icmp", "ipv6-icmp",
 * "ICMPV6", "igmp", "gre", "esp", "sctp", ... or a decimal number); -1 if unknown. */
int weft_proto_from_name(const char *s);

#endif
