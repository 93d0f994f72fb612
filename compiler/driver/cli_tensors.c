/*
 * cli_tensors.c — reading inputs, writing and printing outputs for attnc run.
 *
 * Inputs come from a safetensors file whose tensor names must be exactly the
 * entry point's input names: a missing input and an unexpected extra tensor
 * are both errors, each reported on its own line together with the list of
 * the entry's inputs. Stored dtypes are widened to the three that programs
 * take: F32/F16/BF16/F64 to f32, the integer types to i64, BOOL/U8 to bool.
 */
#include "cli_tensors.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

enum { PRINT_MAX = 64, PRINT_PER_LINE = 8 };

/* The dtype a stored input of dtype dt is converted to. */
static attn_dtype input_dtype(StDtype dt)
{
    switch (dt) {
    case ST_F16:
    case ST_BF16:
    case ST_F32:
    case ST_F64:
        return ATTN_F32;
    case ST_BOOL:
    case ST_U8:
        return ATTN_BOOL;
    default:
        return ATTN_I64;
    }
}

/* Prints " (inputs of entry E: a, b)" and ends the line. */
static void print_input_list(FILE *errf, const attn_program *p, const char *entry)
{
    int n = attn_program_input_count(p);
    if (n == 0) {
        fprintf(errf, " (entry %s has no inputs)\n", entry);
        return;
    }
    fprintf(errf, " (inputs of entry %s: ", entry);
    for (int i = 0; i < n; i++)
        fprintf(errf, "%s%s", i ? ", " : "", attn_program_input_name(p, i));
    fputs(")\n", errf);
}

static int is_input(const attn_program *p, const char *name)
{
    for (int i = 0; i < attn_program_input_count(p); i++)
        if (!strcmp(attn_program_input_name(p, i), name))
            return 1;
    return 0;
}

/* Reports every input missing from f and every tensor of f that is no input;
 * returns the number of problems. */
static int check_names(const StFile *f, const char *path, const attn_program *p,
                       const char *entry, FILE *errf)
{
    int bad = 0;
    for (int i = 0; i < attn_program_input_count(p); i++) {
        const char *name = attn_program_input_name(p, i);
        if (st_find(f, name))
            continue;
        fprintf(errf, "error: %s: no tensor named '%s'", path, name);
        print_input_list(errf, p, entry);
        bad++;
    }
    for (int i = 0; i < st_count(f); i++) {
        const char *name = st_tensor(f, i)->name;
        if (is_input(p, name))
            continue;
        fprintf(errf, "error: %s: unexpected tensor '%s'", path, name);
        print_input_list(errf, p, entry);
        bad++;
    }
    return bad;
}

/* Fills *t from stored tensor st, converted; returns 0 or -1. */
static int convert_input(const StTensor *st, const char *path, attn_tensor *t, FILE *errf)
{
    char err[512];
    t->dtype = input_dtype(st->dtype);
    t->rank = st->rank;
    memcpy(t->shape, st->shape, sizeof t->shape);
    if (st_convert(st, t->dtype, &t->data, err, sizeof err) == 0)
        return 0;
    fprintf(errf, "error: %s: %s\n", path, err);
    return -1;
}

int cli_load_inputs(const char *path, const attn_program *p, const char *entry, FILE *errf,
                    attn_tensor **out)
{
    char err[512];
    *out = NULL;
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(errf, "error: %s\n", err);
        return -1;
    }
    int n = attn_program_input_count(p);
    attn_tensor *ts = calloc(n > 0 ? (size_t)n : 1, sizeof *ts);
    int rc = ts ? 0 : -1;
    if (!ts)
        fprintf(errf, "error: %s: out of memory\n", path);
    if (!rc && check_names(f, path, p, entry, errf))
        rc = -1;
    for (int i = 0; i < n && !rc; i++) {
        ts[i].name = attn_program_input_name(p, i);
        rc = convert_input(st_find(f, ts[i].name), path, &ts[i], errf);
    }
    st_close(f);
    if (rc) {
        cli_free_inputs(ts, n);
        return -1;
    }
    *out = ts;
    return 0;
}

void cli_free_inputs(attn_tensor *ts, int n)
{
    if (!ts)
        return;
    for (int i = 0; i < n; i++)
        free(ts[i].data);
    free(ts);
}

int cli_write_tensors(const char *path, const attn_tensor *ts, int n, FILE *errf)
{
    char err[512];
    if (st_write(path, ts, n, err, sizeof err) == 0)
        return 0;
    fprintf(errf, "error: %s\n", err);
    return -1;
}

static void print_value(FILE *f, const attn_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ATTN_F32:
        fprintf(f, "%.6g", (double)((const float *)t->data)[i]);
        break;
    case ATTN_I32:
        fprintf(f, "%" PRId32, ((const int32_t *)t->data)[i]);
        break;
    case ATTN_I64:
        fprintf(f, "%" PRId64, ((const int64_t *)t->data)[i]);
        break;
    case ATTN_BOOL:
        fprintf(f, "%u", (unsigned)((const unsigned char *)t->data)[i]);
        break;
    }
}

void cli_print_tensor(FILE *f, const attn_tensor *t)
{
    fprintf(f, "%s: %s[", t->name, attn_dtype_name(t->dtype));
    for (int d = 0; d < t->rank; d++)
        fprintf(f, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    fputs("]\n", f);
    int64_t n = attn_tensor_numel(t);
    int64_t shown = n < 0 ? 0 : n < PRINT_MAX ? n : PRINT_MAX;
    for (int64_t i = 0; i < shown; i++) {
        fputs(i % PRINT_PER_LINE ? " " : "  ", f);
        print_value(f, t, i);
        if (i % PRINT_PER_LINE == PRINT_PER_LINE - 1 || i == shown - 1)
            fputc('\n', f);
    }
    if (n > shown)
        fputs("  ...\n", f);
}

/* ---- attnc heatmap --------------------------------------------------------- */

/* Prints "F32[1, 10, 19]" for t. */
static void print_stored_type(FILE *f, const StTensor *t)
{
    fprintf(f, "%s[", st_dtype_name(t->dtype));
    for (int d = 0; d < t->rank; d++)
        fprintf(f, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    fputc(']', f);
}

/* Prints " (tensors: a, b)" and ends the line. */
static void print_tensor_list(FILE *errf, const StFile *f)
{
    fputs(st_count(f) ? " (tensors: " : " (the file holds no tensors", errf);
    for (int i = 0; i < st_count(f); i++)
        fprintf(errf, "%s%s", i ? ", " : "", st_tensor(f, i)->name);
    fputs(")\n", errf);
}

/* Checks that index[0..nindex) leaves [rows, cols] of t; sets *offset (in
 * elements), *rows and *cols. Returns 0 or -1 after reporting. */
static int select_matrix(const StTensor *t, const char *path, const long *index, int nindex,
                         FILE *errf, int64_t *offset, int *rows, int *cols)
{
    if (t->rank - nindex != 2) {
        fprintf(errf, "error: %s: tensor '%s' is ", path, t->name);
        print_stored_type(errf, t);
        if (t->rank < 2)
            fprintf(errf, ": a heatmap needs a tensor of rank 2 or more\n");
        else if (nindex == 0)
            fprintf(errf, ": give --index for %s leading dim%s to leave [rows, cols]\n",
                    t->rank == 3 ? "its" : "each of its", t->rank == 3 ? "" : "s");
        else
            fprintf(errf, ": %d --index for its %d dims leaves rank %d, not 2 (need %d --index)\n",
                    nindex, t->rank, t->rank - nindex, t->rank - 2);
        return -1;
    }
    int64_t off = 0;
    for (int d = 0; d < nindex; d++) {
        if (index[d] >= t->shape[d]) {
            fprintf(errf, "error: %s: --index %ld is out of range for dim %d of '%s' (", path,
                    index[d], d, t->name);
            print_stored_type(errf, t);
            fputs(")\n", errf);
            return -1;
        }
        off = off * t->shape[d] + index[d];
    }
    int64_t r = t->shape[t->rank - 2], c = t->shape[t->rank - 1];
    if (r == 0 || c == 0 || r > INT32_MAX / (c ? c : 1)) {
        fprintf(errf, "error: %s: tensor '%s' (", path, t->name);
        print_stored_type(errf, t);
        fprintf(errf, ") is %s\n", r == 0 || c == 0 ? "empty" : "too large for a heatmap");
        return -1;
    }
    *offset = off * r * c;
    *rows = (int)r;
    *cols = (int)c;
    return 0;
}

/* The dtype values of stored dtype dt are converted through. */
static attn_dtype matrix_dtype(StDtype dt)
{
    attn_dtype d = input_dtype(dt);
    return d == ATTN_F32 || d == ATTN_BOOL ? d : ATTN_I64;
}

int cli_load_matrix(const char *path, const char *name, const long *index, int nindex,
                    FILE *errf, float **values, int *rows, int *cols)
{
    char err[512];
    *values = NULL;
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        fprintf(errf, "error: %s\n", err);
        return -1;
    }
    const StTensor *t = st_find(f, name);
    int64_t off = 0;
    void *data = NULL;
    int rc = -1;
    if (!t) {
        fprintf(errf, "error: %s: no tensor named '%s'", path, name);
        print_tensor_list(errf, f);
    } else if (select_matrix(t, path, index, nindex, errf, &off, rows, cols) == 0) {
        attn_dtype dt = matrix_dtype(t->dtype);
        size_t n = (size_t)*rows * (size_t)*cols;
        float *v = malloc(n * sizeof *v);
        if (!v)
            fprintf(errf, "error: %s: out of memory\n", path);
        else if (st_convert(t, dt, &data, err, sizeof err))
            fprintf(errf, "error: %s: %s\n", path, err);
        else {
            for (size_t i = 0; i < n; i++) {
                size_t k = (size_t)off + i;
                v[i] = dt == ATTN_F32    ? ((const float *)data)[k]
                       : dt == ATTN_BOOL ? (float)((const unsigned char *)data)[k]
                                         : (float)((const int64_t *)data)[k];
            }
            *values = v;
            v = NULL;
            rc = 0;
        }
        free(v);
    }
    free(data);
    st_close(f);
    return rc;
}
