/*
 * traffic/features.h — node features of the traffic graph (schemas/traffic_graph.md).
 *
 * `con` nodes: 24 statistics of the flow, each min-max scaled between the 3% and 97% quantiles of the
 * training flows and clipped to [0, 1]; protocol one-hot (TCP, UDP, ICMP/ICMPv6, other); IP-version
 * one-hot (4, 6); a 30-dim sinusoidal encoding of the flow's order within its slice: 60 floats.
 * `ip` nodes: 1.0, then the encoding of the slice index within the graph: 31 floats.
 */
#ifndef WEFT_TRAFFIC_FEATURES_H
#define WEFT_TRAFFIC_FEATURES_H

#include <stddef.h>

#include "flow.h"

#define WEFT_FEAT_NSTATS 24
#define WEFT_FEAT_PE_DIM 30
#define WEFT_FEAT_CON_DIM 60 /* 24 + 4 + 2 + 30 */
#define WEFT_FEAT_IP_DIM 31  /* 1 + 30 */
/* Offsets inside a con row. */
#define WEFT_FEAT_PROTO 24   /* TCP, UDP, ICMP (1 or 58), other */
#define WEFT_FEAT_IPVER 28   /* 4, 6 */
#define WEFT_FEAT_CON_PE 30

/* Names of the 24 statistics, in feature order (also the row names of a saved scaler). */
extern const char *const weft_feat_stat_names[WEFT_FEAT_NSTATS];

/* The raw (unscaled) statistics of a flow, in the order of the contract:
 *  0 duration;
 *  1-6 bidirectional packets, bytes, min size, max size, mean size, mean inter-arrival time;
 *  7-12 the same src->dst; 13-18 the same dst->src;
 *  19-21 TCP flags (8-bit OR) bidirectional, src->dst, dst->src;
 *  22 byte rate, 23 packet rate (bidirectional, per second; 0 for zero duration).
 * The bidirectional mean inter-arrival time is duration / (packets - 1) (the mean gap of the merged
 * packet sequence spans the whole flow); a direction without packets contributes nothing to min/max. */
void weft_flow_stats(const weft_flow *f, double out[WEFT_FEAT_NSTATS]);

/* Per-column scaling bounds. */
typedef struct weft_scaler {
    double q_lo, q_hi;               /* quantiles the bounds were fitted at (0.03, 0.97) */
    double lo[WEFT_FEAT_NSTATS];     /* value that maps to 0 */
    double hi[WEFT_FEAT_NSTATS];     /* value that maps to 1 */
} weft_scaler;

/* Quantile q of n sorted values, linearly interpolated between closest ranks (position q * (n - 1);
 * numpy's default). n must be > 0. */
double weft_quantile_sorted(const double *sorted, size_t n, double q);

/* Fits bounds on flows (q_lo, q_hi in [0, 1], q_lo <= q_hi). Returns 0, or -1 with err set (no flows,
 * bad quantiles, out of memory). */
int weft_scaler_fit(weft_scaler *s, const weft_flow *flows, size_t n, double q_lo, double q_hi, char *err,
                    size_t err_n);
/* (v - lo) / (hi - lo) clipped to [0, 1]; a column with hi == lo gives 0 at or below lo and 1 above. */
float weft_scaler_apply(const weft_scaler *s, int col, double v);

/* Text file: "weft-scaler 1", "quantiles Q_LO Q_HI", then one line per statistic "NAME LO HI" (%.17g, so
 * loading gives the same bits). Both return 0, or -1 with err set (load: file, line and reason). */
int weft_scaler_save(const weft_scaler *s, const char *path, char *err, size_t err_n);
int weft_scaler_load(weft_scaler *s, const char *path, char *err, size_t err_n);
/* The same text in memory (a trained model carries it as metadata): malloc'd, NULL when out of memory;
 * and parsed back, `what` naming it in messages. */
char *weft_scaler_to_text(const weft_scaler *s);
int weft_scaler_from_text(weft_scaler *s, const char *text, const char *what, char *err, size_t err_n);

/* pe[2i] = sin(p / 10000^(2i/d)), pe[2i+1] = cos(p / 10000^(2i/d)), computed in double; d even. */
void weft_pos_encoding(double p, int d, float *out);

/* One con row (WEFT_FEAT_CON_DIM floats) for flow f at position `pos` within its slice; pe may be a
 * precomputed encoding of pos (WEFT_FEAT_PE_DIM floats) or NULL. */
void weft_con_features(const weft_scaler *s, const weft_flow *f, size_t pos, const float *pe, float *out);
/* One ip row (WEFT_FEAT_IP_DIM floats) for slice index `slice`. */
void weft_ip_features(size_t slice, float *out);

#endif
