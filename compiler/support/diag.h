/*
 * diag.h — source files, locations and user diagnostics.
 *
 * Every AST and graph node carries a SrcLoc. A diagnostic is printed as
 *     file:line:col: error: message
 *         the source line
 *              ^
 * and collected in a Diag buffer, so a run can report several errors and the
 * library can hand the text to its caller instead of printing it.
 *
 * A Diag is the one error path from where a failure happens to the API
 * boundary: besides the text it keeps the kind of the failure (DiagKind),
 * which runtime/api.c returns as the attn_status. Wrong input is an error
 * (diag_error); a failed allocation is diag_nomem; a broken invariant of attn
 * itself is diag_internal_at (a bug in attn: the message asks to report it).
 * Nothing in the library exits or aborts on a condition its caller can cause.
 * Code generation, the JIT and the runner report through malloc'd message
 * strings instead (their callers pass them to the C API's `char **error`),
 * whose kind their prefix tells (runtime/text.h); diag_take moves one into a
 * Diag at the API boundary.
 */
#ifndef ATTN_DIAG_H
#define ATTN_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* One loaded source file; text is NUL-terminated and kept for carets. */
typedef struct SrcFile {
    char *path;          /* path as given (used in messages) */
    char *text;          /* whole file contents */
    size_t len;          /* bytes in text */
    struct SrcFile *next;/* next loaded file (list owned by the model) */
} SrcFile;

/* A position in a source file; file NULL means "no location" (command line, API). */
typedef struct SrcLoc {
    const SrcFile *file; /* the file, or NULL */
    int line, col;       /* 1-based */
} SrcLoc;

/* What failed, from the least to the most severe: the attn_status of a Diag
 * is that of its most severe error. */
typedef enum DiagKind {
    DIAG_INPUT,    /* the user's source, weights, shapes or inputs are wrong */
    DIAG_USAGE,    /* the API was called wrongly */
    DIAG_IO,       /* a file could not be read or written */
    DIAG_NOMEM,    /* an allocation failed */
    DIAG_INTERNAL, /* a broken invariant: a bug in attn */
} DiagKind;

/* Collected diagnostic text of one operation. */
typedef struct Diag {
    char *text;    /* all messages, NUL-terminated; NULL while empty */
    size_t len;    /* bytes used in text */
    size_t cap;    /* bytes allocated */
    int errors;    /* number of errors reported */
    DiagKind kind; /* the most severe kind reported (DIAG_INPUT while none) */
} Diag;

/* Caps the number of errors kept per operation; more are counted, not printed. */
#define DIAG_MAX_ERRORS 50

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_verror(Diag *d, SrcLoc loc, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* A note attached to the previous error ("note: dim H was bound here"). */
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error of the given kind. */
void diag_fail(Diag *d, DiagKind kind, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "out of memory WHAT": counted and kept as DIAG_NOMEM even when its text cannot be. */
void diag_nomem(Diag *d, const char *what);
/* A broken invariant found in data attn built (a graph node: ir_verify),
 * reported at the source that data came from, as a bug in attn. */
void diag_internal_at(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_clear(Diag *d);
void diag_free(Diag *d);
const char *diag_text(const Diag *d);

/* Records a message of code generation, the JIT, a runner or the safetensors
 * reader (runtime/text.h) into d with its kind: diag_take frees it (NULL: out
 * of memory), diag_message does not. */
void diag_take(Diag *d, char *msg);
void diag_message(Diag *d, const char *msg);

/* Aborts with attn's own file and line: only where no caller can be told
 * (the invariant's breach leaves no state to unwind). Everything that has a
 * Diag reports through diag_internal_at instead. */
_Noreturn void attn_internal_error(const char *file, int line, const char *msg);
#define ATTN_UNREACHABLE(msg) attn_internal_error(__FILE__, __LINE__, msg)

/* Growable string used across the compiler for messages and dumps. */
typedef struct StrBuf {
    char *s;     /* NUL-terminated contents (NULL while empty) */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
} StrBuf;

void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(StrBuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
const char *sb_str(const StrBuf *b);
void sb_free(StrBuf *b);

#endif
