/* cli/cli.h — what the subcommands of the `weft` command share. */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "weft.h"

/* Exit statuses: 0 success, 1 the work failed, 2 the command line was wrong. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

int cmd_inspect(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* "weft: <what>: <weft_last_error()>" on stderr, one line; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "weft: <what>" plus a hint to use --help, on stderr; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s as a JSON string literal (escaped; bytes that are not UTF-8 become U+FFFD). */
void cli_json_str(FILE *f, const char *s);
/* Writes s for a human, with control characters shown as \xNN. */
void cli_text_str(FILE *f, const char *s);

/* A file name made from a tensor name: keeps [A-Za-z0-9._-], replaces the rest with '_'; never empty,
 * never "." or "..". Writes at most n bytes (NUL included). */
void cli_safe_name(const char *name, char *buf, size_t n);
/* mkdir -p; 0 on success, -1 with errno set. */
int cli_mkdir_p(const char *path);

/* "[2,3]" */
void cli_format_dims(const int64_t *dims, int rank, char *buf, size_t n);
/* Number of elements, or -1 when a dim is negative or the product overflows. */
int64_t cli_numel(const int64_t *dims, int rank);
/* Element i of a tensor, formatted exactly enough to read ("%.9g" for float, exact for integers). */
void cli_format_elem(weft_dtype t, const void *data, int64_t i, char *buf, size_t n);
/* Element i as JSON (numbers; NaN and infinities as strings, booleans as true/false). */
void cli_json_elem(FILE *f, weft_dtype t, const void *data, int64_t i);
/* Element i as a double (any numeric type) or as an int64 (integer types and bool). */
double cli_elem_f64(weft_dtype t, const void *data, int64_t i);
int64_t cli_elem_i64(weft_dtype t, const void *data, int64_t i);
/* float16, bfloat16, float32 or float64. */
bool cli_dtype_is_float(weft_dtype t);

/* Parses a whole decimal integer in [lo, hi]; false if it is not one. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);

/* True when the file at `path` starts with the magic of a `.weftplan` file (the name does not matter). */
bool cli_is_plan_file(const char *path);
/* A plan from an ONNX model (compiled for `backend` at -O `opt_level`) or from a `.weftplan` file (told
 * apart by content). A plan file keeps its own backends and -O level: a `backend` other than NULL that
 * names a different priority list is an error (the message says which list the file has). Errors as
 * weft_status with weft_last_error() set; the message names the file. */
weft_status cli_load_plan(const char *path, const char *backend, int opt_level, weft_plan **out);
/* The backends a plan was lowered for, in priority order, comma-separated ("onednn,ref"), into buf. */
void cli_plan_backends(const weft_plan *p, char *buf, size_t n);

#endif
