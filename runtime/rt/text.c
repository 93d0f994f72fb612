/*
 * text.c — message helpers (see text.h).
 */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>

char *attn_vformat(const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *attn_format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = attn_vformat(fmt, ap);
    va_end(ap);
    return s;
}

const char *attn_shape_text(const attn_tensor *t, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->rank && d < ATTN_MAX_RANK && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
    return buf;
}
