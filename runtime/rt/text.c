/*
 * text.c — message helpers (see text.h).
 */
#include "text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

attn_status attn_error_out(char **error, attn_status status, const char *fmt, ...) {
    if (error) {
        va_list ap;
        va_start(ap, fmt);
        *error = attn_vformat(fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *attn_shape_text(const attn_tensor *t, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->rank && d < ATTN_MAX_RANK && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < len)
        snprintf(buf + k, len - k, "]");
    return buf;
}

static bool starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* The status a message body names, or ATTN_OK when it names none. */
static attn_status body_status(const char *body) {
    static const char *const io[] = {"cannot open", "cannot read", "cannot stat", "cannot map", "cannot write"};
    if (starts(body, "error: "))
        body += strlen("error: ");
    else if (starts(body, ATTN_MSG_INTERNAL))
        return ATTN_ERR_INTERNAL;
    if (starts(body, &ATTN_MSG_NOMEM[sizeof "error: " - 1])) /* "out of memory" */
        return ATTN_ERR_NOMEM;
    for (size_t i = 0; i < sizeof io / sizeof *io; i++)
        if (starts(body, io[i]))
            return ATTN_ERR_IO;
    return ATTN_OK;
}

attn_status attn_message_status(const char *msg) {
    if (!msg)
        return ATTN_ERR_NOMEM;
    /* the kind follows the location or path: at the start or after a ": " */
    for (const char *p = msg; p; p = strstr(p, ": ")) {
        p += p == msg ? 0 : 2;
        attn_status st = body_status(p);
        if (st != ATTN_OK)
            return st;
        if (starts(p, "error: "))
            break; /* "error: " without a kind after it: wrong input */
    }
    return ATTN_ERR_INPUT;
}
