/*
 * safetensors.c — a strict reader and an atomic writer of safetensors files.
 *
 * st_open maps the file read-only, checks the 8-byte header length against the
 * file size and the 100 MB limit of the reference implementation, checks that
 * the header is UTF-8 without raw control bytes, parses it as JSON and then
 * validates every entry: known dtype, shape of at most ATTN_MAX_RANK exact
 * integers in [0, 2^53], data_offsets inside the data section, byte count equal
 * to shape product × element size (computed without overflow), and byte ranges
 * that tile the data section exactly — no overlaps and, as in the reference
 * implementation, no holes. Nothing is read before it has been bounds-checked,
 * and memory use is bounded by a small multiple of the (≤ 100 MB) header.
 *
 * The header is parsed with libcjson rather than by hand: JSON string escapes,
 * surrogate pairs and number syntax are easy to get subtly wrong, and cJSON is
 * small, already a dependency, and limits nesting depth. Its leniencies are
 * closed here: raw control bytes (which cJSON would skip as whitespace) and
 * invalid UTF-8 are refused before parsing, and duplicate keys (which cJSON
 * keeps) are looked for after. It still accepts a few non-standard number
 * spellings ("01", "+1", "1."), which are harmless once the values are checked.
 *
 * Data stays in the mapping; an aligned tensor already in the dtype a model
 * wants is read there (st_in_place), and st_convert copies any other into it,
 * using memcpy per element so that unaligned offsets (legal in the format) are
 * safe. st_release hands pages of the mapping back once nothing needs them in
 * memory: they are clean and file-backed, so reading them again is correct. st_write builds the header with cJSON, pads it with spaces to a multiple
 * of 8, and writes via a temporary file renamed into place.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors data is little-endian and is read in host byte order");
_Static_assert(SIZE_MAX >= UINT64_MAX, "file offsets are held in size_t");

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: the largest dim or offset accepted */

struct StFile {
    char *path;         /* as given to st_open, for messages */
    const void *map;    /* the whole file: a read-only mapping, or the caller's image */
    size_t mapsize;     /* its length in bytes */
    bool mapped;        /* map is a mapping of ours (st_open), not borrowed (st_open_memory) */
    StTensor *tensors;  /* the n tensors, sorted by data offset */
    StTensor **by_name; /* the same tensors sorted by name, for st_find */
    int n;              /* number of tensors */
};

/* Where messages go, and (when reading) the data section being validated. */
typedef struct Ctx {
    const char *path;          /* prefix of every message */
    char *err;                 /* message buffer, may be NULL */
    size_t errlen;             /* its size */
    const unsigned char *data; /* start of the data section */
    uint64_t datasize;         /* its length in bytes */
} Ctx;

/* Spelling and element size of each StDtype. */
static const struct { const char *name; size_t size; } st_types[] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},
    [ST_I16] = {"I16", 2},   [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},   [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},
};
#define ST_NTYPES ((int)(sizeof st_types / sizeof st_types[0]))

/* For each attn_dtype: the safetensors dtype with the same layout. */
static const StDtype attn_to_st[] = {
    [ATTN_F32] = ST_F32, [ATTN_I32] = ST_I32, [ATTN_I64] = ST_I64, [ATTN_BOOL] = ST_BOOL,
};
#define ATTN_NTYPES ((int)(sizeof attn_to_st / sizeof attn_to_st[0]))

const char *st_dtype_name(StDtype dt)
{
    return (unsigned)dt < (unsigned)ST_NTYPES ? st_types[dt].name : "?";
}

size_t st_dtype_size(StDtype dt)
{
    return (unsigned)dt < (unsigned)ST_NTYPES ? st_types[dt].size : 0;
}

/* Writes "prefix: message" into err, with control characters replaced so that
 * the message stays on one line. Returns -1 for the caller to return. */
__attribute__((format(printf, 4, 5)))
static int set_err(char *err, size_t errlen, const char *prefix, const char *fmt, ...)
{
    if (!err || !errlen)
        return -1;
    int k = snprintf(err, errlen, "%s: ", prefix);
    if (k >= 0 && (size_t)k < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    for (char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return -1;
}

#define FAIL(ctx, ...) set_err((ctx)->err, (ctx)->errlen, (ctx)->path, __VA_ARGS__)

/* ---- header bytes and JSON ---------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp, min;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, cp = s[0] & 0x1Fu, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, cp = s[0] & 0x0Fu, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, cp = s[0] & 0x07u, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

/* Offset of the first byte of s[0..n) that is not valid UTF-8, or n. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n && (k = utf8_len(s + i, n - i)))
        i += k;
    return i;
}

/* Refuses invalid UTF-8 and raw control bytes (JSON allows neither outside whitespace). */
static int check_header_bytes(const Ctx *c, const unsigned char *h, size_t n)
{
    size_t bad = utf8_check(h, n);
    if (bad < n)
        return FAIL(c, "header is not valid UTF-8 (byte %zu)", bad);
    for (size_t i = 0; i < n; i++)
        if (h[i] < 0x20 && h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r')
            return FAIL(c, "header contains control byte 0x%02x at byte %zu", h[i], i);
    return 0;
}

/* Bounds what parsing the header may build before cJSON builds it: nesting
 * and array lengths, so that a tree costs a small multiple of the header's
 * bytes (a valid header nests an array in an object in the root object, and
 * its arrays are shapes and offsets). Strings are skipped; syntax is left to
 * the parser. */
static int check_header_shape(const Ctx *c, const unsigned char *h, size_t n)
{
    int depth = 0;
    uint64_t items[ATTN_LIMIT_ST_JSON_DEPTH + 1] = {0}; /* items of each open array so far; 0 for objects */
    bool array[ATTN_LIMIT_ST_JSON_DEPTH + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = h[i];
        if (ch == '"') {
            for (i++; i < n && h[i] != '"'; i++)
                i += h[i] == '\\';
        } else if (ch == '[' || ch == '{') {
            if (depth > 0 && array[depth] && items[depth] == 0)
                items[depth] = 1;
            if (++depth > ATTN_LIMIT_ST_JSON_DEPTH)
                return FAIL(c, "header nests JSON more than %d deep at byte %zu (ATTN_LIMIT_ST_JSON_DEPTH)",
                            ATTN_LIMIT_ST_JSON_DEPTH, i);
            array[depth] = ch == '[';
            items[depth] = 0;
        } else if (ch == ']' || ch == '}') {
            depth -= depth > 0;
        } else if (depth > 0 && array[depth] && (ch == ',' || (items[depth] == 0 && ch > ' '))) {
            /* the first item's first byte and each comma start an item */
            if (++items[depth] > ATTN_LIMIT_ST_JSON_ARRAY)
                return FAIL(c, "header has a JSON array of more than %d items at byte %zu (ATTN_LIMIT_ST_JSON_ARRAY)",
                            ATTN_LIMIT_ST_JSON_ARRAY, i);
        }
    }
    return 0;
}

/* Parses the n header bytes at h; NULL (and a message) unless they are a JSON object. */
static cJSON *parse_header(const Ctx *c, const unsigned char *h, size_t n)
{
    char *text = malloc(n + 1);
    if (!text) {
        FAIL(c, "out of memory for a %zu-byte header", n);
        return NULL;
    }
    memcpy(text, h, n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        FAIL(c, "header is not valid JSON (error near byte %td)", end ? end - text : (ptrdiff_t)0);
    } else if (!cJSON_IsObject(root)) {
        FAIL(c, "header is not a JSON object");
        cJSON_Delete(root);
        root = NULL;
    }
    free(text);
    return root;
}

static int cmp_item_names(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Refuses two members of obj with one name: cJSON keeps both in its child list. */
static int check_unique(const Ctx *c, const cJSON *obj)
{
    int n = cJSON_GetArraySize(obj), i = 0;
    if (n < 2)
        return 0;
    const cJSON **items = malloc((size_t)n * sizeof *items);
    if (!items)
        return FAIL(c, "out of memory for %d header keys", n);
    for (const cJSON *m = obj->child; m; m = m->next)
        items[i++] = m;
    qsort(items, (size_t)n, sizeof *items, cmp_item_names);
    int rc = 0;
    for (i = 1; i < n && !rc; i++)
        if (!strcmp(items[i - 1]->string, items[i]->string))
            rc = FAIL(c, "duplicate key \"%s\"", items[i]->string);
    free(items);
    return rc;
}

/* __metadata__ carries free-form strings; they are checked for form, then ignored. */
static int check_metadata(const Ctx *c, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return FAIL(c, "__metadata__ is not an object");
    for (const cJSON *m = meta->child; m; m = m->next)
        if (!cJSON_IsString(m))
            return FAIL(c, "__metadata__ value \"%s\" is not a string", m->string);
    return 0;
}

/* ---- entries ------------------------------------------------------------ */

/* Reads v, which must be an exact integer in [0, 2^53], into *out. */
static int get_uint(const Ctx *c, const cJSON *v, const char *key, const char *what, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return FAIL(c, "\"%s\": %s is not a number", key, what);
    double d = v->valuedouble;
    if (d < 0)
        return FAIL(c, "\"%s\": %s is negative (%g)", key, what, d);
    if (d > MAX_EXACT_INT)
        return FAIL(c, "\"%s\": %s is larger than 2^53 (%g)", key, what, d);
    *out = (uint64_t)d;
    if ((double)*out != d)
        return FAIL(c, "\"%s\": %s is not an integer (%g)", key, what, d);
    return 0;
}

static int parse_dtype(const Ctx *c, const char *key, const cJSON *v, StDtype *out)
{
    if (!cJSON_IsString(v))
        return FAIL(c, "\"%s\": dtype is not a string", key);
    for (int i = 0; i < ST_NTYPES; i++)
        if (!strcmp(v->valuestring, st_types[i].name)) {
            *out = (StDtype)i;
            return 0;
        }
    return FAIL(c, "\"%s\": unknown dtype \"%s\"", key, v->valuestring);
}

static int parse_shape(const Ctx *c, const char *key, const cJSON *v, StTensor *t)
{
    if (!cJSON_IsArray(v))
        return FAIL(c, "\"%s\": shape is not an array", key);
    int rank = cJSON_GetArraySize(v);
    if (rank > ATTN_MAX_RANK)
        return FAIL(c, "\"%s\": rank %d exceeds the maximum %d", key, rank, ATTN_MAX_RANK);
    t->rank = 0;
    for (const cJSON *d = v->child; d; d = d->next) {
        char what[32];
        uint64_t dim;
        snprintf(what, sizeof what, "dimension %d", t->rank);
        if (get_uint(c, d, key, what, &dim))
            return -1;
        t->shape[t->rank++] = (int64_t)dim;
    }
    return 0;
}

static int parse_offsets(const Ctx *c, const char *key, const cJSON *v, uint64_t off[2])
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return FAIL(c, "\"%s\": data_offsets is not an array [begin, end]", key);
    if (get_uint(c, v->child, key, "data_offsets begin", &off[0]) ||
        get_uint(c, v->child->next, key, "data_offsets end", &off[1]))
        return -1;
    if (off[0] > off[1])
        return FAIL(c, "\"%s\": data_offsets begin %" PRIu64 " > end %" PRIu64, key, off[0], off[1]);
    if (off[1] > c->datasize)
        return FAIL(c, "\"%s\": data_offsets end %" PRIu64 " exceeds the data section size %" PRIu64,
                    key, off[1], c->datasize);
    return 0;
}

/* Writes t's shape as "[2, 3]" into buf (large enough for ATTN_MAX_RANK dims). */
static void format_shape(char *buf, size_t len, const StTensor *t)
{
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
}

/* Sets *bytes to the product of the rank dims (each >= 0) × esize, or returns -1
 * when that overflows 64 bits. A zero dim makes 0 bytes, whatever the others. */
static int shape_bytes(int rank, const int64_t *shape, uint64_t esize, uint64_t *bytes)
{
    *bytes = esize;
    for (int i = 0; i < rank; i++)
        if (!shape[i]) {
            *bytes = 0;
            return 0;
        }
    for (int i = 0; i < rank; i++) {
        if (*bytes > UINT64_MAX / (uint64_t)shape[i])
            return -1;
        *bytes *= (uint64_t)shape[i];
    }
    return 0;
}

/* Checks that shape product × element size equals end - begin. */
static int check_size(const Ctx *c, const char *key, const StTensor *t, const uint64_t off[2])
{
    char shape[ATTN_MAX_RANK * 24 + 4];
    uint64_t bytes;
    format_shape(shape, sizeof shape, t);
    if (shape_bytes(t->rank, t->shape, st_dtype_size(t->dtype), &bytes))
        return FAIL(c, "\"%s\": size of shape %s of %s overflows 64 bits", key, shape,
                    st_dtype_name(t->dtype));
    if (bytes != off[1] - off[0])
        return FAIL(c, "\"%s\": shape %s of %s needs %" PRIu64 " bytes but data_offsets span %" PRIu64,
                    key, shape, st_dtype_name(t->dtype), bytes, off[1] - off[0]);
    return 0;
}

/* Fills t (all but its name) from header entry e. */
static int parse_entry(const Ctx *c, const cJSON *e, StTensor *t)
{
    const char *key = e->string;
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    if (!cJSON_IsObject(e))
        return FAIL(c, "\"%s\": entry is not an object", key);
    for (const cJSON *m = e->child; m; m = m->next) {
        const cJSON **slot = !strcmp(m->string, "dtype") ? &dtype
                             : !strcmp(m->string, "shape") ? &shape
                             : !strcmp(m->string, "data_offsets") ? &offs : NULL;
        if (!slot)
            return FAIL(c, "\"%s\": unexpected member \"%s\"", key, m->string);
        if (*slot)
            return FAIL(c, "\"%s\": duplicate member \"%s\"", key, m->string);
        *slot = m;
    }
    if (!dtype || !shape || !offs)
        return FAIL(c, "\"%s\": missing \"%s\"", key,
                    !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    uint64_t off[2];
    if (parse_dtype(c, key, dtype, &t->dtype) || parse_shape(c, key, shape, t) ||
        parse_offsets(c, key, offs, off) || check_size(c, key, t, off))
        return -1;
    t->data = c->data + off[0];
    t->nbytes = (size_t)(off[1] - off[0]);
    return 0;
}

/* ---- the file ----------------------------------------------------------- */

static int cmp_by_offset(const void *a, const void *b)
{
    const StTensor *x = a, *y = b;
    if (x->data != y->data)
        return (const char *)x->data < (const char *)y->data ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp((*(StTensor *const *)a)->name, (*(StTensor *const *)b)->name);
}

/* Builds f's tensors from the entries of the header object root. */
static int build_tensors(const Ctx *c, StFile *f, const cJSON *root)
{
    int count = cJSON_GetArraySize(root);
    f->tensors = calloc(count ? (size_t)count : 1, sizeof *f->tensors);
    f->by_name = malloc((count ? (size_t)count : 1) * sizeof *f->by_name);
    if (!f->tensors || !f->by_name)
        return FAIL(c, "out of memory for %d tensors", count);
    for (const cJSON *e = root->child; e; e = e->next) {
        StTensor *t = &f->tensors[f->n];
        if (!strcmp(e->string, "__metadata__")) {
            if (check_metadata(c, e))
                return -1;
            continue;
        }
        if (parse_entry(c, e, t))
            return -1;
        if (!(t->name = strdup(e->string)))
            return FAIL(c, "out of memory");
        f->n++;
    }
    qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_by_offset);
    for (int i = 0; i < f->n; i++)
        f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_by_name);
    return 0;
}

/* The tensors, sorted by offset, must tile the data section: no overlap, no hole. */
static int check_layout(const Ctx *c, const StFile *f)
{
    uint64_t covered = 0;
    for (int i = 0; i < f->n; i++) {
        const StTensor *t = &f->tensors[i];
        uint64_t begin = (uint64_t)((const unsigned char *)t->data - c->data);
        if (begin < covered) {
            const StTensor *p = &f->tensors[i - 1];
            uint64_t pbegin = (uint64_t)((const unsigned char *)p->data - c->data);
            return FAIL(c, "\"%s\" (bytes %" PRIu64 "..%" PRIu64 ") overlaps \"%s\" (bytes %" PRIu64
                           "..%" PRIu64 ")", t->name, begin, begin + t->nbytes, p->name,
                        pbegin, covered);
        }
        if (begin > covered)
            return FAIL(c, "bytes %" PRIu64 "..%" PRIu64 " of the data section belong to no tensor",
                        covered, begin);
        covered = begin + t->nbytes;
    }
    if (covered < c->datasize)
        return FAIL(c, "bytes %" PRIu64 "..%" PRIu64 " of the data section belong to no tensor",
                    covered, c->datasize);
    return 0;
}

/* Opens and maps c->path, refusing what cannot be a safetensors file. */
static int map_file(const Ctx *c, StFile *f)
{
    int fd = open(c->path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return FAIL(c, "cannot open: %s", strerror(errno));
    struct stat sb;
    int rc = -1;
    if (fstat(fd, &sb))
        FAIL(c, "cannot stat: %s", strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        FAIL(c, "is a directory");
    else if (!S_ISREG(sb.st_mode))
        FAIL(c, "is not a regular file");
    else if (sb.st_size == 0)
        FAIL(c, "file is empty");
    else if (sb.st_size < 8)
        FAIL(c, "file is %lld bytes, too short for the 8-byte header length", (long long)sb.st_size);
    else {
        void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            FAIL(c, "cannot map: %s", strerror(errno));
        } else {
            f->map = map;
            f->mapsize = (size_t)sb.st_size;
            f->mapped = true;
            rc = 0;
        }
    }
    close(fd);
    return rc;
}

/* Checks the header length, then parses and validates the header. */
static int read_header(Ctx *c, StFile *f)
{
    const unsigned char *p = f->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | p[i];
    if (n > f->mapsize - 8)
        return FAIL(c, "header length %" PRIu64 " exceeds file size %zu less the 8-byte length field", n, f->mapsize);
    if (n > ATTN_LIMIT_ST_HEADER_BYTES)
        return FAIL(c, "header length %" PRIu64 " exceeds the limit of %llu bytes (ATTN_LIMIT_ST_HEADER_BYTES)", n,
                    ATTN_LIMIT_ST_HEADER_BYTES);
    c->data = p + 8 + n;
    c->datasize = f->mapsize - 8 - n;
    if (check_header_bytes(c, p + 8, (size_t)n) || check_header_shape(c, p + 8, (size_t)n))
        return -1;
    cJSON *root = parse_header(c, p + 8, (size_t)n);
    if (!root)
        return -1;
    int rc = check_unique(c, root) || build_tensors(c, f, root) || check_layout(c, f) ? -1 : 0;
    cJSON_Delete(root);
    return rc;
}

StFile *st_open(const char *path, char *err, size_t errlen)
{
    Ctx c = {.path = path ? path : "(null)", .err = err, .errlen = errlen};
    StFile *f = calloc(1, sizeof *f);
    if (!path || !f || !(f->path = strdup(path))) {
        FAIL(&c, "%s", path ? "out of memory" : "no path given");
        free(f);
        return NULL;
    }
    if (map_file(&c, f) || read_header(&c, f)) {
        st_close(f);
        return NULL;
    }
    return f;
}

StFile *st_open_memory(const void *data, size_t len, const char *name, char *err, size_t errlen)
{
    Ctx c = {.path = name ? name : "(null)", .err = err, .errlen = errlen};
    StFile *f = calloc(1, sizeof *f);
    if (!name || !f || !(f->path = strdup(name))) {
        FAIL(&c, "%s", name ? "out of memory" : "no name given");
        free(f);
        return NULL;
    }
    if (!data || len < 8) {
        FAIL(&c, "%s", !data ? "no data given" : "image is shorter than the 8-byte header length");
        st_close(f);
        return NULL;
    }
    f->map = data;
    f->mapsize = len;
    if (read_header(&c, f)) {
        st_close(f);
        return NULL;
    }
    return f;
}

void st_close(StFile *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->by_name);
    if (f->mapped)
        munmap((void *)f->map, f->mapsize);
    free(f->path);
    free(f);
}

int st_count(const StFile *f)
{
    return f ? f->n : 0;
}

const StTensor *st_tensor(const StFile *f, int i)
{
    return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

static int cmp_name_key(const void *key, const void *elem)
{
    return strcmp(key, (*(StTensor *const *)elem)->name);
}

const StTensor *st_find(const StFile *f, const char *name)
{
    if (!f || !name || !f->n)
        return NULL;
    StTensor *const *hit = bsearch(name, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name_key);
    return hit ? *hit : NULL;
}

/* ---- conversion --------------------------------------------------------- */

/* IEEE half to single precision, exactly (subnormals, ±0, inf and nan payloads). */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = h >> 10 & 0x1Fu, mant = h & 0x3FFu, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | mant << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | mant << 13; /* rebias 15 -> 127 */
    } else if (!mant) {
        bits = sign;
    } else { /* subnormal: mant × 2^-24, normalised */
        exp = 113;
        while (!(mant & 0x400u))
            mant <<= 1, exp--;
        bits = sign | exp << 23 | (mant & 0x3FFu) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int to_f32(const StTensor *t, float *dst, size_t n, char *err, size_t errlen)
{
    const unsigned char *src = t->data;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        double d;
        if (t->dtype == ST_F16) {
            memcpy(&h, src + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        } else if (t->dtype == ST_BF16) {
            memcpy(&h, src + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, 4);
        } else {
            memcpy(&d, src + 8 * i, 8);
            if (!isinf(d) && (d > FLT_MAX || d < -FLT_MAX))
                return set_err(err, errlen, t->name, "value %g at element %zu does not fit F32", d, i);
            dst[i] = (float)d;
        }
    }
    return 0;
}

#define LOAD_AS(T) do { T x_; memcpy(&x_, p, sizeof x_); return x_; } while (0)

/* Element at p of integer dtype dt. A U64 above INT64_MAX is stored in *huge instead. */
static int64_t load_int(const unsigned char *p, StDtype dt, uint64_t *huge)
{
    switch (dt) {
    case ST_U8: LOAD_AS(uint8_t);
    case ST_I8: LOAD_AS(int8_t);
    case ST_I16: LOAD_AS(int16_t);
    case ST_U16: LOAD_AS(uint16_t);
    case ST_I32: LOAD_AS(int32_t);
    case ST_U32: LOAD_AS(uint32_t);
    case ST_I64: LOAD_AS(int64_t);
    default: {
        uint64_t x;
        memcpy(&x, p, sizeof x);
        if (x > INT64_MAX)
            *huge = x;
        return (int64_t)(x & INT64_MAX);
    }
    }
}

static int to_int(const StTensor *t, attn_dtype want, unsigned char *dst, size_t n, char *err,
                  size_t errlen)
{
    const unsigned char *src = t->data;
    size_t es = st_dtype_size(t->dtype);
    const char *wname = st_dtype_name(attn_to_st[want]);
    for (size_t i = 0; i < n; i++) {
        uint64_t huge = 0;
        int64_t v = load_int(src + i * es, t->dtype, &huge);
        if (huge)
            return set_err(err, errlen, t->name, "value %" PRIu64 " at element %zu does not fit %s",
                           huge, i, wname);
        if (want == ATTN_I64) {
            memcpy(dst + 8 * i, &v, 8);
            continue;
        }
        if (v < INT32_MIN || v > INT32_MAX)
            return set_err(err, errlen, t->name, "value %" PRId64 " at element %zu does not fit %s",
                           v, i, wname);
        int32_t x = (int32_t)v;
        memcpy(dst + 4 * i, &x, 4);
    }
    return 0;
}

static int to_bool(const StTensor *t, unsigned char *dst, size_t n, char *err, size_t errlen)
{
    const unsigned char *src = t->data;
    for (size_t i = 0; i < n; i++) {
        if (src[i] > 1)
            return set_err(err, errlen, t->name, "value %u at element %zu is not 0 or 1", src[i], i);
        dst[i] = src[i];
    }
    return 0;
}

/* Whether st_convert turns dtype `from` into `want`. */
static int convertible(StDtype from, attn_dtype want)
{
    int is_int = from != ST_BOOL && from != ST_F16 && from != ST_BF16 && from != ST_F32 &&
                 from != ST_F64;
    switch (want) {
    case ATTN_F32: return from == ST_F32 || from == ST_F16 || from == ST_BF16 || from == ST_F64;
    case ATTN_I32:
    case ATTN_I64: return is_int;
    case ATTN_BOOL: return from == ST_BOOL || from == ST_U8;
    }
    return 0;
}

/* The element count of t and the byte size of t converted to want; -1 with a
 * message when it cannot be. */
static int converted_size(const StTensor *t, attn_dtype want, size_t *n, size_t *bytes, char *err, size_t errlen)
{
    if ((unsigned)want >= (unsigned)ATTN_NTYPES || !st_dtype_size(t->dtype))
        return set_err(err, errlen, t->name, "invalid dtype (%d to attn dtype %d)", (int)t->dtype,
                       (int)want);
    StDtype same = attn_to_st[want];
    if (!convertible(t->dtype, want))
        return set_err(err, errlen, t->name, "cannot convert %s to %s", st_dtype_name(t->dtype),
                       st_dtype_name(same));
    size_t osize = st_dtype_size(same);
    *n = t->nbytes / st_dtype_size(t->dtype);
    if (*n > SIZE_MAX / osize)
        return set_err(err, errlen, t->name, "too many elements (%zu)", *n);
    *bytes = *n * osize;
    return 0;
}

/* Converts the n elements of t into buf (room for them as want). */
static int convert(const StTensor *t, attn_dtype want, unsigned char *buf, size_t n, char *err, size_t errlen)
{
    if (t->dtype == attn_to_st[want] && want != ATTN_BOOL) {
        memcpy(buf, t->data, t->nbytes);
        return 0;
    }
    if (want == ATTN_F32)
        return to_f32(t, (float *)buf, n, err, errlen);
    if (want == ATTN_BOOL)
        return to_bool(t, buf, n, err, errlen);
    return to_int(t, want, buf, n, err, errlen);
}

int st_convert(const StTensor *t, attn_dtype want, void **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t n, bytes;
    if (converted_size(t, want, &n, &bytes, err, errlen))
        return -1;
    unsigned char *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        return set_err(err, errlen, t->name, "out of memory for %zu elements", n);
    if (convert(t, want, buf, n, err, errlen)) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

int st_convert_pages(const StTensor *t, attn_dtype want, void **out, size_t *mapped, char *err, size_t errlen)
{
    *out = NULL;
    *mapped = 0;
    size_t n, bytes;
    if (converted_size(t, want, &n, &bytes, err, errlen))
        return -1;
    if (bytes < ATTN_CONVERT_PAGES_BYTES)
        return st_convert(t, want, out, err, errlen);
    void *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return set_err(err, errlen, t->name, "out of memory for %zu elements", n);
    if (convert(t, want, buf, n, err, errlen)) {
        munmap(buf, bytes);
        return -1;
    }
    *out = buf;
    *mapped = bytes;
    return 0;
}

const void *st_in_place(const StTensor *t, attn_dtype want)
{
    if (want != ATTN_F32 || t->dtype != ST_F32 || (uintptr_t)t->data % sizeof(float))
        return NULL;
    return t->data;
}

void st_release(const StFile *f, const void *p, size_t n)
{
    if (!f || !f->mapped || !n)
        return;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t size = page > 0 ? (uintptr_t)page : 4096, lo = (uintptr_t)p, hi = lo + n;
    uintptr_t first = (lo + size - 1) / size * size, end = hi / size * size; /* whole pages only */
    uintptr_t mlo = (uintptr_t)f->map, mhi = mlo + f->mapsize;
    if (first < end && lo >= mlo && hi <= mhi)
        madvise((void *)first, end - first, MADV_DONTNEED); /* advice: a failure changes nothing */
}

/* ---- writing ------------------------------------------------------------ */

/* Adds the decimal integer v to JSON array arr, exactly (cJSON prints doubles). */
static int add_int(cJSON *arr, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON *item = cJSON_CreateRaw(buf);
    return item && cJSON_AddItemToArray(arr, item) ? 0 : -1;
}

/* Checks tensor t for writing and sets *bytes to its data size. */
static int check_out_tensor(const Ctx *c, const attn_tensor *t, int i, uint64_t *bytes)
{
    if (!t->name || !*t->name || !strcmp(t->name, "__metadata__"))
        return FAIL(c, "tensor %d has no usable name", i);
    if (utf8_check((const unsigned char *)t->name, strlen(t->name)) < strlen(t->name))
        return FAIL(c, "tensor %d: name is not valid UTF-8", i);
    if ((unsigned)t->dtype >= (unsigned)ATTN_NTYPES || t->rank < 0 || t->rank > ATTN_MAX_RANK)
        return FAIL(c, "\"%s\": invalid dtype or rank", t->name);
    for (int d = 0; d < t->rank; d++)
        if (t->shape[d] < 0 || (double)t->shape[d] > MAX_EXACT_INT)
            return FAIL(c, "\"%s\": dimension %d is %" PRId64, t->name, d, t->shape[d]);
    if (shape_bytes(t->rank, t->shape, st_dtype_size(attn_to_st[t->dtype]), bytes))
        return FAIL(c, "\"%s\": size overflows 64 bits", t->name);
    if (*bytes && !t->data)
        return FAIL(c, "\"%s\": no data", t->name);
    return 0;
}

/* Adds t's entry, at data offset *off, to header object root. */
static int add_entry(const Ctx *c, cJSON *root, const attn_tensor *t, uint64_t *off, uint64_t bytes)
{
    cJSON *e = cJSON_AddObjectToObject(root, t->name);
    cJSON *shape = e && cJSON_AddStringToObject(e, "dtype", st_dtype_name(attn_to_st[t->dtype]))
                       ? cJSON_AddArrayToObject(e, "shape") : NULL;
    cJSON *offs = shape ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
    int bad = !offs;
    for (int d = 0; d < t->rank && !bad; d++)
        bad = add_int(shape, (uint64_t)t->shape[d]);
    bad = bad || add_int(offs, *off) || add_int(offs, *off + bytes);
    *off += bytes;
    return bad ? FAIL(c, "out of memory") : 0;
}

/* Writes all n bytes of p to fd. */
static int write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        s += k, n -= (size_t)k;
    }
    return 0;
}

/* Writes the length, the padded header and the data to fd. */
static int write_body(int fd, const char *json, const attn_tensor *ts, const uint64_t *bytes, int n)
{
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    unsigned char head[8];
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    if (write_all(fd, head, 8) || write_all(fd, json, len) || write_all(fd, "       ", padded - len))
        return -1;
    for (int i = 0; i < n; i++)
        if (write_all(fd, ts[i].data, (size_t)bytes[i]))
            return -1;
    return fsync(fd);
}

/* Writes the file under a temporary name next to c->path, then renames it. */
static int write_file(const Ctx *c, const char *json, const attn_tensor *ts, const uint64_t *bytes, int n)
{
    size_t len = strlen(c->path);
    char *tmp = malloc(len + 8);
    if (!tmp)
        return FAIL(c, "out of memory");
    memcpy(tmp, c->path, len);
    memcpy(tmp + len, ".XXXXXX", 8);
    int fd = mkstemp(tmp), rc = -1;
    if (fd < 0) {
        FAIL(c, "cannot create a temporary file: %s", strerror(errno));
    } else if (fchmod(fd, 0644) || write_body(fd, json, ts, bytes, n)) {
        FAIL(c, "cannot write: %s", strerror(errno));
        close(fd);
    } else if (close(fd) || rename(tmp, c->path)) {
        FAIL(c, "cannot write: %s", strerror(errno));
    } else {
        rc = 0;
    }
    if (fd >= 0 && rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

int st_write(const char *path, const attn_tensor *ts, int n, char *err, size_t errlen)
{
    Ctx c = {.path = path ? path : "(null)", .err = err, .errlen = errlen};
    if (!path || n < 0 || (n && !ts))
        return FAIL(&c, "invalid arguments");
    cJSON *root = cJSON_CreateObject();
    uint64_t *bytes = malloc((n ? (size_t)n : 1) * sizeof *bytes), off = 0;
    char *json = NULL;
    int rc = root && bytes ? 0 : FAIL(&c, "out of memory");
    for (int i = 0; i < n && !rc; i++)
        rc = check_out_tensor(&c, &ts[i], i, &bytes[i]) || add_entry(&c, root, &ts[i], &off, bytes[i]);
    rc = rc || check_unique(&c, root);
    if (!rc && !(json = cJSON_PrintUnformatted(root)))
        rc = FAIL(&c, "out of memory");
    rc = rc || write_file(&c, json, ts, bytes, n);
    free(json);
    free(bytes);
    cJSON_Delete(root);
    return rc ? -1 : 0;
}
