/*
 * fuzz_safetensors.c — bytes as a safetensors file: st_open on a scratch file
 * holding them, then every tensor looked up by index and by name and
 * converted to each attn dtype: its natural one (floats to f32, BOOL to bool,
 * integers to i64) and the others, which st_convert either does with range
 * checks (integers to i32, U8 to bool) or refuses. A failure must come with a
 * message (for st_open one that begins with the path) and leave nothing.
 */
#include "fuzz_util.h"
#include "safetensors.h"

static void convert(const StTensor *t, attn_dtype want)
{
    char err[512] = "";
    void *out = NULL;
    if (st_convert(t, want, &out, err, sizeof err) == 0) {
        int64_t n = 1;
        for (int d = 0; d < t->rank; d++)
            n *= t->shape[d];
        if (n && !out)
            abort();
        /* touch every converted byte so that a short buffer shows */
        volatile unsigned char sum = 0;
        for (size_t i = 0; i < (size_t)n * attn_dtype_size(want); i++)
            sum += ((unsigned char *)out)[i];
        (void)sum;
        free(out);
    } else if (!err[0] || out)
        abort(); /* a failure says why and leaves nothing behind */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    char err[512] = "";
    StFile *f = st_open(path, err, sizeof err);
    if (!f) {
        if (strncmp(err, path, strlen(path)) != 0)
            abort(); /* messages begin with the path */
        return 0;
    }
    int n = st_count(f);
    if (n < 0 || st_tensor(f, -1) || st_tensor(f, n))
        abort();
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        if (!t || st_find(f, t->name) != t || t->rank < 0 || t->rank > ATTN_MAX_RANK)
            abort();
        (void)st_dtype_name(t->dtype);
        /* every target dtype: the natural one converts, the others are refused cleanly */
        for (int want = ATTN_F32; want <= ATTN_BOOL; want++)
            convert(t, (attn_dtype)want);
    }
    (void)st_find(f, "");
    if (st_find(f, "__metadata__"))
        abort();
    st_close(f);
    return 0;
}
