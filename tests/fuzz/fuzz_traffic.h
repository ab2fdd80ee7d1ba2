/*
 * tests/fuzz/fuzz_traffic.h — what the traffic harnesses share: the flow-CSV round trip.
 *
 * Every flow a reader makes can be written by `weft flows` and must read back, unchanged, in
 * `weft graph` (traffic/flow_csv.h: %.17g doubles, RFC 4180 text). A reader that accepts a value the
 * CSV cannot carry (a NaN time, a label the quoting breaks) is a finding: the harness aborts.
 */
#ifndef WEFT_FUZZ_TRAFFIC_H
#define WEFT_FUZZ_TRAFFIC_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "traffic/flow.h"
#include "traffic/flow_csv.h"
#include "traffic/report.h"

static int fuzz_same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static int fuzz_same_text(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int fuzz_same_dir(const weft_flow_dir *a, const weft_flow_dir *b)
{
    return a->packets == b->packets && a->bytes == b->bytes && a->min_size == b->min_size &&
           a->max_size == b->max_size && fuzz_same_double(a->mean_iat, b->mean_iat) && a->flags == b->flags &&
           fuzz_same_double(a->first, b->first) && fuzz_same_double(a->last, b->last);
}

static int fuzz_same_flow(const weft_flow *a, const weft_flow *b)
{
    return memcmp(&a->src, &b->src, sizeof a->src) == 0 && memcmp(&a->dst, &b->dst, sizeof a->dst) == 0 &&
           a->sport == b->sport && a->dport == b->dport && a->proto == b->proto && a->ip_version == b->ip_version &&
           fuzz_same_double(a->start, b->start) && fuzz_same_double(a->duration, b->duration) &&
           fuzz_same_dir(&a->fwd, &b->fwd) && fuzz_same_dir(&a->bwd, &b->bwd) && a->has_stats == b->has_stats &&
           fuzz_same_text(a->label, b->label) && fuzz_same_text(a->detail, b->detail) &&
           fuzz_same_text(a->category, b->category) && a->tunnel == b->tunnel && a->vlan == b->vlan &&
           (!a->tunnel || (memcmp(&a->outer_src, &b->outer_src, sizeof a->outer_src) == 0 &&
                           memcmp(&a->outer_dst, &b->outer_dst, sizeof a->outer_dst) == 0));
}

/* Writes t as a flow CSV, reads it back, aborts when a flow does not come back as it was. */
static void fuzz_flow_csv_roundtrip(const weft_flow_table *t)
{
    if (!t->n) return;
    const char *p = fuzz_scratch_file("roundtrip.csv", NULL, 0);
    if (!p) return;
    char path[4096];
    snprintf(path, sizeof path, "%s", p);
    FILE *f = fopen(path, "w");
    if (!f) return;
    int wr = weft_flow_csv_write(f, t);
    if (fclose(f) != 0 || wr != 0) return; /* a full disk is not a finding */
    weft_flow_table u;
    weft_flow_table_init(&u);
    weft_read_report rep;
    weft_report_init(&rep);
    char err[512];
    if (weft_flow_csv_read(path, &u, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "round trip: the flow CSV written does not read back: %s\n", err);
        abort();
    }
    if (u.n != t->n) {
        fprintf(stderr, "round trip: %zu flows written, %zu read back\n", t->n, u.n);
        weft_report_print(stderr, &rep);
        abort();
    }
    for (size_t i = 0; i < t->n; i++)
        if (!fuzz_same_flow(&t->flows[i], &u.flows[i])) {
            fprintf(stderr, "round trip: flow %zu differs after writing and reading the flow CSV\n", i);
            abort();
        }
    weft_flow_table_free(&u);
}

#endif
