/*
 * tests/fuzz/fuzz_common.c — the scratch file and the sanitizer defaults of every harness.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sanitizer settings baked into every harness, so a reproducer run by hand (./fuzz_x crash-file) behaves
 * as under scripts/fuzz.sh. An absurd size in a file must end in weft's "out of memory" error, not in
 * the process: single allocations over 128 MiB fail (return NULL) instead of being made, as they would on
 * a machine without that much memory; that also keeps libFuzzer's malloc limit from calling a correctly
 * refused size a finding. 128 MiB rather than more: a graph may fill what it allocates (ConstantOfShape,
 * Expand), and filling 512 MiB under ASan and coverage takes seconds, near the harnesses' timeout. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=128:detect_leaks=1:abort_on_error=1";
}
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "print_stacktrace=1:halt_on_error=1"; }

static char scratch_dir[PATH_MAX];
static char scratch_names[8][64]; /* the files made so far, removed at exit */
static int n_scratch;
static char scratch_path[PATH_MAX];

static void scratch_cleanup(void)
{
    char path[PATH_MAX];
    for (int i = 0; i < n_scratch; i++) {
        snprintf(path, sizeof path, "%s/%s", scratch_dir, scratch_names[i]);
        unlink(path);
    }
    if (scratch_dir[0]) rmdir(scratch_dir);
}

const char *fuzz_scratch_file(const char *name, const uint8_t *data, size_t size)
{
    if (!scratch_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch_dir, sizeof scratch_dir, "%s/weft-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(scratch_dir)) {
            scratch_dir[0] = 0;
            return NULL;
        }
        atexit(scratch_cleanup);
    }
    int known = 0;
    for (int i = 0; i < n_scratch && !known; i++) known = strcmp(scratch_names[i], name) == 0;
    if (!known) {
        if (n_scratch == 8 || strlen(name) >= sizeof scratch_names[0] || strchr(name, '/')) return NULL;
        snprintf(scratch_names[n_scratch++], sizeof scratch_names[0], "%s", name);
    }
    snprintf(scratch_path, sizeof scratch_path, "%s/%s", scratch_dir, name);
    int fd = open(scratch_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return NULL;
        }
        done += (size_t)w;
    }
    close(fd);
    return scratch_path;
}

int fuzz_split_line(const uint8_t *data, size_t size, char **head, const uint8_t **rest, size_t *rest_size)
{
    const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
    size_t hn = nl ? (size_t)(nl - data) : size;
    *head = malloc(hn + 1);
    if (!*head) return -1;
    if (hn) memcpy(*head, data, hn);
    (*head)[hn] = 0;
    *rest = nl ? nl + 1 : data + size;
    *rest_size = nl ? size - hn - 1 : 0;
    return 0;
}

uint8_t fuzz_u8(fuzz_bytes *b)
{
    if (!b->n) return 0;
    b->n--;
    return *b->p++;
}

uint16_t fuzz_u16(fuzz_bytes *b)
{
    uint16_t lo = fuzz_u8(b);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(b) << 8);
}
