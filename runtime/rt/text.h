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
/* Writes t's shape as "[2, 3]" into buf (at most ATTN_MAX_RANK dims); returns buf. */
const char *attn_shape_text(const attn_tensor *t, char *buf, size_t len);

#endif
