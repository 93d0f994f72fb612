/*
 * diag.h — source files, locations and user diagnostics.
 *
 * Every AST and graph node carries a SrcLoc. A diagnostic is printed as
 *     file:line:col: error: message
 *         the source line
 *              ^
 * and collected in a Diag buffer, so a run can report several errors and the
 * library can hand the text to its caller instead of printing it. Broken
 * invariants of the compiler itself are not diagnostics: they abort through
 * ATTN_UNREACHABLE, naming the compiler's own file and line.
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

/* Collected diagnostic text of one operation. */
typedef struct Diag {
    char *text;   /* all messages, NUL-terminated; NULL while empty */
    size_t len;   /* bytes used in text */
    size_t cap;   /* bytes allocated */
    int errors;   /* number of errors reported */
} Diag;

/* Caps the number of errors kept per operation; more are counted, not printed. */
#define DIAG_MAX_ERRORS 50

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_verror(Diag *d, SrcLoc loc, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* A note attached to the previous error ("note: dim H was bound here"). */
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_clear(Diag *d);
void diag_free(Diag *d);
const char *diag_text(const Diag *d);

/* Aborts with the compiler's own file and line: for broken invariants only. */
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
