/* compiler/strbuf.c — a growing string for reports (text and JSON); see strbuf.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

bool weft_sb_reserve(weft_sb *b, size_t extra)
{
    if (b->failed) return false;
    if (extra > SIZE_MAX / 2 - b->len) { b->failed = true; return false; }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) { b->failed = true; return false; }
    b->s = s;
    b->cap = cap;
    return true;
}

void weft_sb_putn(weft_sb *b, const char *s, size_t n)
{
    if (!weft_sb_reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void weft_sb_puts(weft_sb *b, const char *s) { weft_sb_putn(b, s, strlen(s)); }

void weft_sb_printf(weft_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { b->failed = true; return; }
    if (!weft_sb_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most `left` bytes), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { n = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8. */
    if (c < min || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) return 0;
    return n;
}

/* A JSON string literal. Names come from the model file, so anything may be in them: control
 * characters are escaped and bytes that are not UTF-8 become U+FFFD, so the output always parses. */
void weft_sb_json_str(weft_sb *b, const char *s)
{
    weft_sb_putn(b, "\"", 1);
    if (!s) s = "";
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            weft_sb_putn(b, e, 2);
            p++, left--;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            weft_sb_puts(b, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r");
            p++, left--;
        } else if (c < 0x20 || c == 0x7F) {
            weft_sb_printf(b, "\\u%04x", c);
            p++, left--;
        } else {
            size_t n = utf8_len(p, left);
            if (n == 0) {
                weft_sb_puts(b, "\\ufffd");
                p++, left--;
            } else {
                weft_sb_putn(b, (const char *)p, n);
                p += n, left -= n;
            }
        }
    }
    weft_sb_putn(b, "\"", 1);
}

/* Text output: names are printed as they are, except control characters, which would let a model
 * file rewrite the user's terminal. */
void weft_sb_text_str(weft_sb *b, const char *s)
{
    if (!s) return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7F) weft_sb_printf(b, "\\x%02x", *p);
        else weft_sb_putn(b, (const char *)p, 1);
    }
}

