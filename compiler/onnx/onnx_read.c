/*
 * onnx_read.c — reading an .onnx file: the nesting check before protobuf-c
 * parses it, and tensors (initializers, Constant values) checked against
 * their dims before their bytes are used.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx_imp.h"

/* protobuf-c parses nested messages recursively with no limit of its own, so
 * a file of a million nested graphs would exhaust the stack. This walks the
 * wire format with the generated descriptors (linear in the size) and refuses
 * messages nested deeper than ATTN_LIMIT_ONNX_NESTING before the parse. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

static void check_nesting(Imp *im, const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                          int depth) {
    if (depth > ATTN_LIMIT_ONNX_NESTING)
        imp_fail(im, "messages are nested more than %d deep (a %s inside %d others)", ATTN_LIMIT_ONNX_NESTING,
                 d->short_name, depth - 1);
    while (p < end) {
        uint64_t key, v;
        if (!read_varint(&p, end, &key))
            imp_fail(im, "not an ONNX model: malformed protobuf (a field key runs past its message)");
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &v))
                imp_fail(im, "not an ONNX model: malformed protobuf (a varint runs past its message)");
            break;
        case 1:
        case 5: {
            size_t w = (key & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                imp_fail(im, "not an ONNX model: malformed protobuf (a fixed-size field is cut off)");
            p += w;
            break;
        }
        case 2: {
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                imp_fail(im, "not an ONNX model: malformed protobuf (a field's length runs past its message)");
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
                check_nesting(im, f->descriptor, p, p + v, depth + 1);
            p += v;
            break;
        }
        default:
            imp_fail(im, "not an ONNX model: malformed protobuf (wire type %d)", (int)(key & 7));
        }
    }
}

void imp_check_wire(Imp *im, const uint8_t *data, size_t len) {
    check_nesting(im, &onnx__model_proto__descriptor, data, data + len, 1);
}

/* ---- tensors ---- */
static size_t elem_size(int32_t t) {
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return 1;
    default: return 0;
    }
}

/* An external-data file: a relative path inside the model's directory, no
 * symlink leading out of it; returns its bytes [offset, offset+length). */
static void *read_external(Imp *im, const Onnx__TensorProto *t, const char *what, size_t want) {
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key || !e->value)
            imp_fail(im, "%s: external_data entry without key or value", what);
        char *endp;
        if (!strcmp(e->key, "location"))
            location = e->value;
        else if (!strcmp(e->key, "offset") || !strcmp(e->key, "length")) {
            errno = 0;
            long long v = strtoll(e->value, &endp, 10);
            if (errno || *endp || endp == e->value || v < 0)
                imp_fail(im, "%s: external_data %s '%.40s' is not a byte count", what, e->key, e->value);
            *(!strcmp(e->key, "offset") ? &offset : &length) = v;
        } else if (strcmp(e->key, "checksum"))
            imp_fail(im, "%s: unknown external_data key '%.60s'", what, e->key);
    }
    if (!location)
        imp_fail(im, "%s: external data without a location", what);
    if (!im->dir)
        imp_fail(im, "%s: external data '%.120s' needs the model's directory (import the file by its path)", what,
                 location);
    if (location[0] == '/' || strstr(location, ".."))
        imp_fail(im, "%s: external data path '%.120s' is outside the model's directory", what, location);
    char *full = imp_fmt(im, "%s/%s", im->dir, location);
    char real[PATH_MAX];
    if (!realpath(full, real))
        imp_fail(im, "%s: cannot open external data '%.200s': %s", what, full, strerror(errno));
    size_t dl = strlen(im->dir);
    if (strncmp(real, im->dir, dl) || real[dl] != '/')
        imp_fail(im, "%s: external data '%.120s' resolves to '%.200s', outside the model's directory", what,
                 location, real);
    if (length >= 0 && (unsigned long long)length != want)
        imp_fail(im, "%s: external data length %lld, but its dims need %zu bytes", what, length, want);
    int fd = open(real, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        imp_fail(im, "%s: cannot read external data '%.200s'", what, real);
    }
    if ((unsigned long long)offset > (unsigned long long)st.st_size ||
        want > (unsigned long long)st.st_size - (unsigned long long)offset) {
        close(fd);
        imp_fail(im, "%s: external data '%.120s' holds %lld bytes; offset %lld + %zu is past its end", what,
                 location, (long long)st.st_size, offset, want);
    }
    void *buf = malloc(want ? want : 1); /* (not the arena: fd must be closed on failure) */
    if (!buf) {
        close(fd);
        imp_fail(im, "out of memory");
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, (char *)buf + got, want - got, (off_t)offset + (off_t)got);
        if (r <= 0) {
            free(buf);
            close(fd);
            imp_fail(im, "%s: cannot read external data '%.200s'", what, real);
        }
        got += (size_t)r;
    }
    close(fd);
    void *kept = imp_alloc(im, want + 1);
    memcpy(kept, buf, want);
    free(buf);
    return kept;
}

/* Elements of t as its ONNX dtype's little-endian bytes, in an arena buffer of
 * numel × size bytes: from raw_data, the typed field or external data. */
static void *tensor_bytes(Imp *im, const Onnx__TensorProto *t, const char *what, int64_t numel, size_t esize) {
    size_t want = (size_t)numel * esize;
    bool external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external)
        return read_external(im, t, what, want);
    if (t->n_external_data)
        imp_fail(im, "%s: external_data given but data_location is not EXTERNAL", what);
    size_t typed = t->n_float_data + t->n_int32_data + t->n_int64_data + t->n_double_data + t->n_uint64_data +
                   t->n_string_data;
    if (t->has_raw_data && typed)
        imp_fail(im, "%s: holds both raw_data and typed data", what);
    if (t->has_raw_data && t->raw_data.len != want)
        imp_fail(im, "%s: raw_data has %zu bytes, but its dims need %zu", what, t->raw_data.len, want);
    void *buf = imp_alloc(im, want + 1); /* the arena's: freed with everything on failure */
    if (t->has_raw_data) {
        if (want)
            memcpy(buf, t->raw_data.data, want);
        return buf;
    }
    size_t have = 0;
    switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        have = t->n_float_data;
        if (have == (size_t)numel && want)
            memcpy(buf, t->float_data, want);
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        have = t->n_double_data;
        if (have == (size_t)numel && want)
            memcpy(buf, t->double_data, want);
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        have = t->n_int64_data;
        if (have == (size_t)numel && want)
            memcpy(buf, t->int64_data, want);
        break;
    default: /* INT32, BOOL, INT8, UINT8 travel in int32_data */
        have = t->n_int32_data;
        if (have == (size_t)numel)
            for (int64_t i = 0; i < numel; i++) {
                int32_t v = t->int32_data[i];
                if (esize == 4)
                    memcpy((char *)buf + 4 * i, &v, 4);
                else
                    ((uint8_t *)buf)[i] = (uint8_t)v;
            }
    }
    if (have != (size_t)numel) {
        imp_fail(im, "%s: holds %zu elements, but its dims need %lld", what, have, (long long)numel);
    }
    return buf;
}

void imp_tensor_read(Imp *im, const Onnx__TensorProto *t, const char *what, attn_tensor *out) {
    if (!t->has_data_type)
        imp_fail(im, "%s: no data_type", what);
    if (t->segment)
        imp_fail(im, "%s: segmented tensors are not supported", what);
    if (t->n_dims > ATTN_MAX_RANK)
        imp_fail(im, "%s: rank %zu; attn tensors have at most %d dims", what, t->n_dims, ATTN_MAX_RANK);
    int64_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            imp_fail(im, "%s: negative dim %lld", what, (long long)t->dims[i]);
        if (t->dims[i] && numel > ((int64_t)1 << ATTN_LIMIT_TENSOR_BYTES_SHIFT) / 8 / t->dims[i])
            imp_fail(im, "%s: more than 2^%d bytes", what, ATTN_LIMIT_TENSOR_BYTES_SHIFT);
        numel *= t->dims[i];
        out->shape[i] = t->dims[i];
    }
    out->rank = (int)t->n_dims;
    size_t es = elem_size(t->data_type);
    bool is_double = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    bool is_byte = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 || t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    if (!es || is_byte)
        imp_fail(im, "%s: element type %s (%d); attn imports FLOAT, DOUBLE (as FLOAT), INT64, INT32 and BOOL", what,
                 imp_onnx_type_name(t->data_type), (int)t->data_type);
    void *bytes = tensor_bytes(im, t, what, numel, es);
    if (is_double) { /* initializers of DOUBLE become f32: attn computes in f32 */
        float *f = imp_alloc(im, (size_t)numel * 4 + 1);
        for (int64_t i = 0; i < numel; i++) {
            double d;
            memcpy(&d, (char *)bytes + 8 * i, 8);
            f[i] = (float)d;
        }
        bytes = f;
        out->dtype = ATTN_F32;
    } else if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL) {
        for (int64_t i = 0; i < numel; i++)
            if (((uint8_t *)bytes)[i] > 1) {
                imp_fail(im, "%s: bool element %lld is %d, not 0 or 1", what, (long long)i, ((uint8_t *)bytes)[i]);
            }
        out->dtype = ATTN_BOOL;
    } else
        out->dtype = imp_dtype_of_onnx(im, t->data_type, what);
    out->data = bytes;
}

/* A known Val: f32 elements stay as they are, integers and bools become
 * dims (constants) when few enough to fold, else stay bytes for a weight. */
Val *imp_tensor_val(Imp *im, const Onnx__TensorProto *t, const char *name) {
    attn_tensor a = {0};
    const char *what = imp_fmt(im, "tensor '%.120s'", name);
    imp_tensor_read(im, t, what, &a);
    int64_t numel = attn_tensor_numel(&a);
    void *copy = a.data; /* in the arena */
    Dim dims[ATTN_MAX_RANK];
    for (int i = 0; i < a.rank; i++)
        dims[i] = odim_const(a.shape[i]);
    Val *v = imp_new_val(im, name, a.dtype, a.rank, dims);
    if (a.dtype == ATTN_F32) {
        v->fval = copy;
        return v;
    }
    if (numel > ATTN_LIMIT_ONNX_FOLD)
        imp_fail(im, "%s: an integer tensor of %lld elements (the limit is %d)", what, (long long)numel,
                 ATTN_LIMIT_ONNX_FOLD);
    v->ival = imp_alloc(im, (size_t)(numel ? numel : 1) * sizeof(Dim));
    for (int64_t i = 0; i < numel; i++) {
        int64_t x = a.dtype == ATTN_I64 ? ((int64_t *)copy)[i]
                  : a.dtype == ATTN_I32 ? ((int32_t *)copy)[i]
                                        : ((uint8_t *)copy)[i];
        v->ival[i] = odim_const(x);
    }
    return v;
}
