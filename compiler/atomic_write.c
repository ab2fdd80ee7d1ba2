/*
 * compiler/atomic_write.c — temporary file in the target's folder (rename is atomic only within one
 * file system), every byte written, fsync, rename over the target, then fsync of the folder so the
 * rename itself survives a crash.
 */
#define _POSIX_C_SOURCE 200809L
#include "atomic_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/status.h"

static void sync_folder(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return; /* best effort: the data itself is already synced */
    (void)fsync(fd);
    close(fd);
}

weft_status weft_write_file_atomic(const char *path, const void *const *parts, const size_t *lens, int n)
{
    if (!path || !path[0]) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "no file name to write");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 64);
    if (!tmp) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    static unsigned counter;
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(tmp, plen + 64, "%s.tmp.%ld.%u", path, (long)getpid(),
                 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        weft_status st = weft_error(WEFT_ERR_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    const char *what = NULL;
    int err = 0;
    for (int i = 0; i < n && !what; i++) {
        const unsigned char *p = parts[i];
        size_t left = lens[i];
        while (left) {
            ssize_t w = write(fd, p, left > ((size_t)1 << 30) ? ((size_t)1 << 30) : left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { what = "cannot write"; err = w < 0 ? errno : EIO; break; }
            p += w;
            left -= (size_t)w;
        }
    }
    if (!what && fsync(fd) != 0) { what = "cannot flush it to disk"; err = errno; }
    if (close(fd) != 0 && !what) { what = "cannot write"; err = errno; }
    if (!what && rename(tmp, path) != 0) { what = "cannot replace it"; err = errno; }
    if (what) {
        unlink(tmp);
        free(tmp);
        return weft_error(WEFT_ERR_IO, "%s: %s: %s", path, what, strerror(err));
    }
    free(tmp);
    sync_folder(path);
    return WEFT_OK;
}
