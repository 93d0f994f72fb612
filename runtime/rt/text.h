/*
 * text.h — message helpers shared by the interpreter, the runner of compiled
 * code and the code generator.
 */
#ifndef ATTN_TEXT_H
#define ATTN_TEXT_H

#include "attn.h"

#include <stdarg.h>

/* A malloc'd printf-style string; NULL when out of memory. */
char *attn_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
char *attn_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Errors of code generation, the JIT, the runners and the safetensors reader
 * travel as messages (to the C API's `char **error`); after an optional
 * "file:line:col: " or "PATH: " they begin with ATTN_MSG_NOMEM,
 * ATTN_MSG_INTERNAL, "error: cannot write" or "cannot open" (and read, stat,
 * map: a file), and any other "error: ..." is wrong input.
 * attn_message_status gives a message's status; NULL (a message that could not
 * be allocated) is out of memory. */
#define ATTN_MSG_NOMEM "error: out of memory"
#define ATTN_MSG_INTERNAL "internal error: "
attn_status attn_message_status(const char *msg);

/* The API's way to fail: sets *error (when error is non-NULL) to the
 * printf-style message, to free with attn_string_free, and returns status. */
attn_status attn_error_out(char **error, attn_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes t's shape as "[2, 3]" into buf (at most ATTN_MAX_RANK dims); returns buf. */
const char *attn_shape_text(const attn_tensor *t, char *buf, size_t len);

#endif
