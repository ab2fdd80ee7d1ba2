/*
 * traffic/numfmt.h — numbers to text for the flow CSV, fast and exact: the rows of a capture's flows
 * are written as fast as its packets are read only if formatting costs less than printf does.
 */
#ifndef WEFT_TRAFFIC_NUMFMT_H
#define WEFT_TRAFFIC_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Decimal digits of v at out; returns the length (at most 20). No terminator. */
size_t weft_fmt_u64(char *out, uint64_t v);

/* Exactly what printf's "%.17g" writes for v (so reading it back gives the same bits), at out; returns
 * the length (at most 32). No terminator. */
size_t weft_fmt_g17(char *out, double v);

#endif
