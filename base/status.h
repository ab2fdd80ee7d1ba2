/*
 * base/status.h — errors as values: a status code plus a thread-local message naming what failed.
 */
#ifndef WEFT_BASE_STATUS_H
#define WEFT_BASE_STATUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

/* --- errors (base/status.c) ----------------------------------------------------------------------- */

/* Records a formatted message as this thread's last error and returns `st`. */
weft_status weft_error(weft_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
weft_status weft_error_v(weft_status st, const char *fmt, va_list ap);
/* Prefixes the current message with context: "ctx: <old message>". Returns st. */
weft_status weft_error_wrap(weft_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void weft_error_clear(void);

#endif
