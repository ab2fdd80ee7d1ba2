/*
 * compiler/strbuf.h — a growing string for the reports weft writes (model and plan descriptions). On
 * allocation failure it remembers and stops growing: check `failed` once at the end.
 */
#ifndef WEFT_COMPILER_STRBUF_H
#define WEFT_COMPILER_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct weft_sb {
    char *s;
    size_t len, cap;
    bool failed;
} weft_sb;

bool weft_sb_reserve(weft_sb *b, size_t extra);
void weft_sb_putn(weft_sb *b, const char *s, size_t n);
void weft_sb_puts(weft_sb *b, const char *s);
void weft_sb_printf(weft_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal: control characters escaped, bytes that are not UTF-8 become U+FFFD. */
void weft_sb_json_str(weft_sb *b, const char *s);
/* Text for a terminal: control characters shown as \xNN. */
void weft_sb_text_str(weft_sb *b, const char *s);

#endif
