/*
 * dtype.c — element sizes and names of attn dtypes, tensor element counts,
 * and freeing tensors and strings: the small part of the public API in attn.h
 * that kernels rely on and that the runtime library (libattnrt) provides to
 * ahead-of-time compiled programs.
 */
#include "attn.h"

#include <stdlib.h>

size_t attn_dtype_size(attn_dtype dt)
{
    switch (dt) {
    case ATTN_F32: return 4;
    case ATTN_I32: return 4;
    case ATTN_I64: return 8;
    case ATTN_BOOL: return 1;
    }
    return 0;
}

const char *attn_dtype_name(attn_dtype dt)
{
    switch (dt) {
    case ATTN_F32: return "f32";
    case ATTN_I32: return "i32";
    case ATTN_I64: return "i64";
    case ATTN_BOOL: return "bool";
    }
    return "?";
}

int64_t attn_tensor_numel(const attn_tensor *t)
{
    if (!t)
        return 0;
    int64_t n = 1;
    for (int d = 0; d < t->rank && d < ATTN_MAX_RANK; d++)
        if (t->shape[d] < 0 || __builtin_mul_overflow(n, t->shape[d], &n))
            return -1;
    return n;
}

void attn_tensors_free(attn_tensor *ts, int n)
{
    for (int i = 0; ts && i < n; i++)
        free(ts[i].data);
    free(ts);
}

void attn_string_free(char *s) { free(s); }

const char *attn_weights_dtype_name(attn_weights_dtype dt)
{
    switch (dt) {
    case ATTN_WEIGHTS_F32: return "f32";
    case ATTN_WEIGHTS_BF16: return "bf16";
    case ATTN_WEIGHTS_INT8: return "int8";
    }
    return "?";
}
