/* traffic/numfmt.c — see numfmt.h.
 *
 * %.17g in one multiplication: the 17 significant digits of v are round(v · 10^(16-e)) for the decimal
 * exponent e of v, computed in long double (64-bit significand: the product is within about 10^-19 of
 * its exact value relative, i.e. within 0.01 of the integer it rounds to). Where the product lies that
 * close to a half, the rounding could differ from the exact one, so printf decides; everywhere else the
 * digits are printf's own. Values outside 1e-290 .. 1e290 (subnormals, where powers of ten lose
 * precision) also go to printf. The layout follows %g: fixed notation for exponents -4 .. 16, otherwise
 * d.ddde±XX, trailing zeros of the fraction dropped. */
#include "traffic/numfmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t weft_fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* 10^k in long double, exact for 0 <= k <= 27 (5^27 < 2^64). */
static long double pow10l_k(int k)
{
    static long double tab[28];
    static int ready;
    if (!ready) {
        long double p = 1.0L;
        for (int i = 0; i < 28; i++, p *= 10.0L) tab[i] = p;
        ready = 1;
    }
    if (k >= 0 && k < 28) return tab[k];
    return powl(10.0L, (long double)k);
}

static size_t fallback(char *out, double v)
{
    char b[40];
    int n = snprintf(b, sizeof b, "%.17g", v);
    memcpy(out, b, (size_t)n);
    return (size_t)n;
}

size_t weft_fmt_g17(char *out, double v)
{
    if (v == 0) {
        if (signbit(v)) {
            memcpy(out, "-0", 2);
            return 2;
        }
        out[0] = '0';
        return 1;
    }
    double a = fabs(v);
    if (!(a >= 1e-290 && a <= 1e290)) return fallback(out, v); /* also NaN and infinities */
    int e = (int)floor(log10(a));
    long double m = (long double)a * pow10l_k(16 - e);
    /* log10 can be off by one near powers of ten: bring m into [1e16, 1e17) */
    if (m >= 1e17L) {
        e++;
        m = (long double)a * pow10l_k(16 - e);
    } else if (m < 1e16L) {
        e--;
        m = (long double)a * pow10l_k(16 - e);
    }
    long double fl = floorl(m), frac = m - fl;
    if (fabsl(frac - 0.5L) < 0.02L) return fallback(out, v); /* too close to call */
    uint64_t d = (uint64_t)fl + (frac > 0.5L);
    if (d >= 100000000000000000ULL) { /* rounded up to 10^17 */
        d /= 10;
        e++;
    }
    char dig[17];
    for (int i = 16; i >= 0; i--) {
        dig[i] = (char)('0' + d % 10);
        d /= 10;
    }
    int nd = 17;
    while (nd > 1 && dig[nd - 1] == '0') nd--; /* significant digits, trailing zeros dropped */
    size_t n = 0;
    if (v < 0) out[n++] = '-';
    if (e >= -4 && e < 17) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++) out[n++] = i < nd ? dig[i] : '0';
            if (nd > e + 1) {
                out[n++] = '.';
                for (int i = e + 1; i < nd; i++) out[n++] = dig[i];
            }
        } else {
            out[n++] = '0';
            out[n++] = '.';
            for (int i = -1; i > e; i--) out[n++] = '0';
            for (int i = 0; i < nd; i++) out[n++] = dig[i];
        }
    } else {
        out[n++] = dig[0];
        if (nd > 1) {
            out[n++] = '.';
            for (int i = 1; i < nd; i++) out[n++] = dig[i];
        }
        out[n++] = 'e';
        out[n++] = e < 0 ? '-' : '+';
        int x = e < 0 ? -e : e;
        if (x >= 100) out[n++] = (char)('0' + x / 100);
        out[n++] = (char)('0' + x / 10 % 10);
        out[n++] = (char)('0' + x % 10);
    }
    return n;
}
