/* traffic/input.c — plain, gzip and zstd inputs, from files or standard input, as one FILE *.
 *
 * A plain regular file is handed over as it is (fdopen: stdio's own buffering, no copy). Anything else
 * becomes a stdio cookie stream whose read function replays the bytes looked at to tell the format,
 * then decompresses (zlib's inflate with gzip framing, concatenated members included; zstd's streaming
 * API, several frames included) or passes through what the descriptor gives. */
#define _GNU_SOURCE
#include "traffic/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_BUF (1u << 16)

typedef struct in_stream {
    int fd;
    weft_compression comp;
    unsigned char peek[4];
    size_t npeek, ppos; /* magic bytes read to tell the format, replayed first */
    unsigned char *buf; /* compressed bytes read from fd */
    size_t blen, bpos;
    bool eof, broken, ended; /* fd at its end; the stream is damaged; the last frame / member ended */
    z_stream z;
    ZSTD_DCtx *zd;
} in_stream;

const char *weft_compression_name(weft_compression c)
{
    return c == WEFT_COMP_GZIP ? "gzip" : c == WEFT_COMP_ZSTD ? "zstd" : "";
}

static weft_compression sniff(const unsigned char *m, size_t n)
{
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return WEFT_COMP_GZIP;
    if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return WEFT_COMP_ZSTD;
    return WEFT_COMP_NONE;
}

/* read(2) until n bytes or the end; -1 on error. */
static ssize_t read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Raw bytes: the peeked ones first, then the descriptor. */
static ssize_t raw_read(in_stream *s, unsigned char *dst, size_t n)
{
    if (s->ppos < s->npeek) {
        size_t k = s->npeek - s->ppos < n ? s->npeek - s->ppos : n;
        memcpy(dst, s->peek + s->ppos, k);
        s->ppos += k;
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t r = read(s->fd, dst, n);
        if (r < 0 && errno == EINTR) continue;
        return r;
    }
}

/* Refills the compressed buffer when it is used up; false at the end of the input or on error. */
static bool refill(in_stream *s)
{
    if (s->bpos < s->blen) return true;
    if (s->eof) return false;
    ssize_t r = raw_read(s, s->buf, IN_BUF);
    if (r < 0) {
        s->broken = true;
        return false;
    }
    if (r == 0) {
        s->eof = true;
        return false;
    }
    s->blen = (size_t)r;
    s->bpos = 0;
    return true;
}

static ssize_t gz_read(in_stream *s, char *out, size_t n)
{
    size_t done = 0;
    while (done < n) {
        if (s->ended) {
            /* another gzip member may follow (concatenated .gz files are one stream) */
            if (!refill(s)) break;
            if (inflateReset(&s->z) != Z_OK) {
                s->broken = true;
                break;
            }
            s->ended = false;
        }
        if (!refill(s)) {
            if (!s->broken) s->broken = true; /* the input ended inside a member */
            break;
        }
        s->z.next_in = s->buf + s->bpos;
        s->z.avail_in = (uInt)(s->blen - s->bpos);
        s->z.next_out = (Bytef *)out + done;
        s->z.avail_out = (uInt)(n - done > UINT32_MAX ? UINT32_MAX : n - done);
        int rc = inflate(&s->z, Z_NO_FLUSH);
        size_t produced = (size_t)(s->z.next_out - ((Bytef *)out + done));
        s->bpos = s->blen - s->z.avail_in;
        done += produced;
        if (rc == Z_STREAM_END) {
            s->ended = true;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s->broken = true;
            break;
        }
        if (produced == 0 && rc == Z_BUF_ERROR && s->bpos < s->blen) {
            s->broken = true;
            break;
        }
    }
    if (done == 0 && s->broken) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)done;
}

static ssize_t zstd_read(in_stream *s, char *out, size_t n)
{
    size_t done = 0;
    while (done < n) {
        if (!refill(s)) {
            /* the end of the input is clean only right after a frame ended */
            if (!s->eof || !s->ended) s->broken = true;
            break;
        }
        ZSTD_inBuffer in = {s->buf, s->blen, s->bpos};
        ZSTD_outBuffer ob = {out + done, n - done, 0};
        size_t rc = ZSTD_decompressStream(s->zd, &ob, &in);
        s->bpos = in.pos;
        done += ob.pos;
        if (ZSTD_isError(rc)) {
            s->broken = true;
            break;
        }
        s->ended = rc == 0;
        if (ob.pos == 0 && in.pos == in.size && !s->ended) continue; /* needs more input */
    }
    if (s->broken && s->eof && s->ended) s->broken = false;
    if (done == 0 && s->broken) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)done;
}

static ssize_t cookie_read(void *c, char *out, size_t n)
{
    in_stream *s = c;
    switch (s->comp) {
    case WEFT_COMP_GZIP:
        return gz_read(s, out, n);
    case WEFT_COMP_ZSTD:
        return zstd_read(s, out, n);
    default:
        return raw_read(s, (unsigned char *)out, n);
    }
}

static int cookie_close(void *c)
{
    in_stream *s = c;
    if (s->comp == WEFT_COMP_GZIP) inflateEnd(&s->z);
    if (s->zd) ZSTD_freeDCtx(s->zd);
    int rc = close(s->fd);
    free(s->buf);
    free(s);
    return rc;
}

FILE *weft_input_open(const char *path, weft_compression *comp, char *err, size_t errn)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errn, "%s: cannot open: %s", is_stdin ? "standard input" : path, strerror(errno));
        return NULL;
    }
    unsigned char m[4];
    ssize_t got = read_full(fd, m, sizeof m);
    if (got < 0) {
        snprintf(err, errn, "%s: cannot read: %s", is_stdin ? "standard input" : path, strerror(errno));
        close(fd);
        return NULL;
    }
    weft_compression c = sniff(m, (size_t)got);
    if (comp) *comp = c;
    if (c == WEFT_COMP_NONE && lseek(fd, 0, SEEK_SET) == 0) {
        FILE *f = fdopen(fd, "rb");
        if (!f) {
            snprintf(err, errn, "%s: cannot open: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        /* readers take a few bytes at a time (libpcap a record header, then its frame): a large buffer
         * turns that into few system calls; without it reading costs as much as parsing */
        setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
        return f;
    }
    in_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->buf = malloc(IN_BUF))) {
        free(s);
        close(fd);
        snprintf(err, errn, "%s: out of memory", path);
        return NULL;
    }
    s->fd = fd;
    s->comp = c;
    memcpy(s->peek, m, (size_t)got);
    s->npeek = (size_t)got;
    if (c == WEFT_COMP_GZIP && inflateInit2(&s->z, 15 + 16) != Z_OK) {
        free(s->buf);
        free(s);
        close(fd);
        snprintf(err, errn, "%s: cannot start gzip decompression", path);
        return NULL;
    }
    if (c == WEFT_COMP_ZSTD && !(s->zd = ZSTD_createDCtx())) {
        free(s->buf);
        free(s);
        close(fd);
        snprintf(err, errn, "%s: cannot start zstd decompression", path);
        return NULL;
    }
    cookie_io_functions_t io = {.read = cookie_read, .close = cookie_close};
    FILE *f = fopencookie(s, "rb", io);
    if (!f) {
        snprintf(err, errn, "%s: cannot open: %s", path, strerror(errno));
        cookie_close(s);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, (size_t)1 << 18);
    return f;
}

long weft_input_peek(const char *path, void *buf, size_t n, char *err, size_t errn)
{
    if (strcmp(path, "-") == 0) {
        snprintf(err, errn, "standard input can be read only once: its format cannot be looked at first");
        return -1;
    }
    FILE *f = weft_input_open(path, NULL, err, errn);
    if (!f) return -1;
    size_t got = fread(buf, 1, n, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad && got == 0) {
        snprintf(err, errn, "%s: cannot read: damaged compressed data", path);
        return -1;
    }
    return (long)got;
}
