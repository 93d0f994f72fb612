/*
 * safetensors.h — reading and writing weight files in the safetensors format.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON naming each tensor's dtype, shape and [begin, end) byte range, then the
 * raw row-major data. Weights are bound to models from such files, and files
 * come from anywhere, so the reader is strict: every inconsistency is refused
 * with a one-line message instead of being trusted. Data is mmap'd read-only
 * (or read in place from the caller's image in memory) and only copied when
 * st_convert turns it into the dtype a model wants; st_in_place reads it
 * where it lies when no conversion is needed.
 */
#ifndef ATTN_SAFETENSORS_H
#define ATTN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "attn.h"
#include "attn_limits.h"


/* Element types a safetensors file may declare. */
typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64
} StDtype;

/* One tensor of an open file. Valid until st_close. */
typedef struct StTensor {
    char *name;                   /* full key, e.g. "encoder.layer.0.attention.self.query.weight" */
    StDtype dtype;                /* as declared in the file */
    int rank;                     /* number of dims, 0..ATTN_MAX_RANK */
    int64_t shape[ATTN_MAX_RANK]; /* extent of each dim, each <= 2^53 */
    const void *data;             /* points into the mapped file or image (may be unaligned) */
    size_t nbytes;                /* shape product × element size; 0 for empty tensors */
} StTensor;

typedef struct StFile StFile; /* an open, validated file: its mapping and its tensors */

/* Opens and validates `path`. On failure returns NULL and writes a one-line
 * message into err (size errlen), always beginning with the path, e.g.
 * "w.safetensors: header length 123456789 exceeds file size 1000".
 * The file must not be truncated by someone else while it is open (SIGBUS). */
StFile *st_open(const char *path, char *err, size_t errlen);
/* The same for a safetensors image in memory, data[0..len), borrowed: it
 * must stay valid and unchanged until st_close. Messages begin with `name`. */
StFile *st_open_memory(const void *data, size_t len, const char *name, char *err, size_t errlen);
void st_close(StFile *f);

/* Number of tensors (the __metadata__ entry is not one). */
int st_count(const StFile *f);
/* Tensor i, 0 <= i < st_count, in the order of their data offsets (ties between
 * empty tensors broken by name); NULL when i is out of range. */
const StTensor *st_tensor(const StFile *f, int i);
/* Tensor called `name`, or NULL. */
const StTensor *st_find(const StFile *f, const char *name);

/* The file's spelling of dt: "F32", "BF16", ...; "?" for values outside the enum. */
const char *st_dtype_name(StDtype dt);
/* Size in bytes of one element of dt; 0 for values outside the enum. */
size_t st_dtype_size(StDtype dt);

/* Converts t into a newly malloc'd buffer of shape product elements of `want`
 * (free with free()), laid out as attn_tensor data:
 *   ATTN_F32  <- F32, F16, BF16 (exact), F64 (rounded to nearest; finite values
 *                beyond the F32 range are refused, inf and nan pass through);
 *   ATTN_I64  <- any integer dtype; U64 values above INT64_MAX are refused;
 *   ATTN_I32  <- any integer dtype, range-checked;
 *   ATTN_BOOL <- BOOL, U8, values must be 0 or 1.
 * Unaligned data is read with memcpy. Returns 0, or -1 and a message naming the
 * key (and the offending value and element index when there is one). */
int st_convert(const StTensor *t, attn_dtype want, void **out, char *err, size_t errlen);

/* st_convert into pages of their own when the result is at least
 * ATTN_CONVERT_PAGES_BYTES (*mapped: its length; free with munmap), else as
 * st_convert (*mapped 0; free with free()): a large copy freed goes back to
 * the system at once instead of staying in the allocator's heap. */
int st_convert_pages(const StTensor *t, attn_dtype want, void **out, size_t *mapped, char *err, size_t errlen);

/* t's data read in place as `want`, without a copy: non-NULL only when the
 * file stores exactly that layout (F32 for ATTN_F32) at an offset aligned to
 * the element size. The bytes are the mapping's (or the caller's image's):
 * read-only, valid until st_close. */
const void *st_in_place(const StTensor *t, attn_dtype want);
/* Hands the whole pages of [p, p + n) inside f's mapping back to the kernel
 * (madvise MADV_DONTNEED): they are clean file-backed pages of a read-only
 * private mapping, so a later read faults them in again from the file with
 * the same bytes. Nothing happens for an image in memory (st_open_memory),
 * whose pages are the caller's. */
void st_release(const StFile *f, const void *p, size_t n);

/* Writes n tensors (name, dtype, rank, shape, data) as a safetensors file with
 * F32, I32, I64 and BOOL written as such, the header JSON padded with spaces to
 * a multiple of 8 and the data contiguous in the order given. Names must be
 * unique, non-empty, valid UTF-8 and not "__metadata__". The file is written
 * under a temporary name in the same directory and renamed into place, so
 * `path` is never left half written. Returns 0, or -1 with a message. */
int st_write(const char *path, const attn_tensor *ts, int n, char *err, size_t errlen);

#endif
