/* base/status.c — errors as values: a status code plus a thread-local message. */
#include <stdio.h>
#include <string.h>

#include "status.h"

#define WEFT_ERRMSG_MAX 1024

static _Thread_local char last_error[WEFT_ERRMSG_MAX];

const char *weft_last_error(void) { return last_error; }

void weft_error_clear(void) { last_error[0] = '\0'; }

weft_status weft_error_v(weft_status st, const char *fmt, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return st;
}

weft_status weft_error(weft_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    weft_error_v(st, fmt, ap);
    va_end(ap);
    return st;
}

weft_status weft_error_wrap(weft_status st, const char *fmt, ...)
{
    char prefix[WEFT_ERRMSG_MAX], old[WEFT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    snprintf(last_error, sizeof last_error, "%s: %s", prefix, old);
    return st;
}

const char *weft_status_name(weft_status s)
{
    switch (s) {
    case WEFT_OK: return "WEFT_OK";
    case WEFT_ERR_INVALID_ARGUMENT: return "WEFT_ERR_INVALID_ARGUMENT";
    case WEFT_ERR_IO: return "WEFT_ERR_IO";
    case WEFT_ERR_PARSE: return "WEFT_ERR_PARSE";
    case WEFT_ERR_INVALID_MODEL: return "WEFT_ERR_INVALID_MODEL";
    case WEFT_ERR_UNSUPPORTED: return "WEFT_ERR_UNSUPPORTED";
    case WEFT_ERR_SHAPE: return "WEFT_ERR_SHAPE";
    case WEFT_ERR_TYPE: return "WEFT_ERR_TYPE";
    case WEFT_ERR_INDEX: return "WEFT_ERR_INDEX";
    case WEFT_ERR_NOMEM: return "WEFT_ERR_NOMEM";
    case WEFT_ERR_SECURITY: return "WEFT_ERR_SECURITY";
    case WEFT_ERR_INTERNAL: return "WEFT_ERR_INTERNAL";
    }
    return "WEFT_ERR_UNKNOWN";
}

