/*
 * diag.c — diagnostics with source line and caret, and the growable string
 * buffer they are written into. See diag.h.
 */
#include "diag.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_vprintf(StrBuf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return; /* out of memory: the message is lost, never the process */
        b->s = s;
        b->cap = cap;
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sb_printf(StrBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

const char *sb_str(const StrBuf *b) { return b->s ? b->s : ""; }

void sb_free(StrBuf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

/* Appends the source line of loc and a caret under its column. */
static void print_caret(StrBuf *b, SrcLoc loc) {
    if (!loc.file || loc.line < 1)
        return;
    const char *p = loc.file->text, *end = p + loc.file->len;
    for (int line = 1; line < loc.line && p < end; p++)
        if (*p == '\n')
            line++;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    int width = (int)(eol - p);
    if (width > 200)
        width = 200; /* keep absurd lines readable */
    sb_printf(b, "    %.*s\n    ", width, p);
    for (int i = 1; i < loc.col && i <= width; i++)
        sb_printf(b, "%c", p[i - 1] == '\t' ? '\t' : ' ');
    sb_printf(b, "^\n");
}

__attribute__((format(printf, 4, 0)))
static void report(Diag *d, SrcLoc loc, const char *kind, const char *fmt, va_list ap) {
    StrBuf b = {d->text, d->len, d->cap};
    if (loc.file)
        sb_printf(&b, "%s:%d:%d: %s: ", loc.file->path, loc.line, loc.col, kind);
    else
        sb_printf(&b, "%s: ", kind);
    sb_vprintf(&b, fmt, ap);
    sb_printf(&b, "\n");
    print_caret(&b, loc);
    d->text = b.s;
    d->len = b.len;
    d->cap = b.cap;
}

__attribute__((format(printf, 4, 0)))
static void vfail(Diag *d, DiagKind kind, SrcLoc loc, const char *fmt, va_list ap) {
    d->errors++;
    if (kind > d->kind)
        d->kind = kind;
    if (d->errors <= DIAG_MAX_ERRORS)
        report(d, loc, kind == DIAG_INTERNAL ? "internal error" : "error", fmt, ap);
}

void diag_verror(Diag *d, SrcLoc loc, const char *fmt, va_list ap) { vfail(d, DIAG_INPUT, loc, fmt, ap); }

void diag_fail(Diag *d, DiagKind kind, SrcLoc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(d, kind, loc, fmt, ap);
    va_end(ap);
}

void diag_nomem(Diag *d, const char *what) {
    if (d->kind == DIAG_NOMEM && d->errors)
        return; /* one failed allocation is enough to say */
    diag_fail(d, DIAG_NOMEM, (SrcLoc){0}, "out of memory%s%s", what && *what ? " " : "", what ? what : "");
}

/* The sentence every internal error ends with. */
#define BUG_NOTE "this is a bug in attn; please report it"

void diag_internal_at(Diag *d, SrcLoc loc, const char *fmt, ...) {
    StrBuf msg = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&msg, fmt, ap);
    va_end(ap);
    diag_fail(d, DIAG_INTERNAL, loc, "%s; " BUG_NOTE, msg.s ? msg.s : "(no memory for the message)");
    sb_free(&msg);
}

void diag_message(Diag *d, const char *msg) {
    static const DiagKind kinds[] = {[ATTN_ERR_INPUT] = DIAG_INPUT, [ATTN_ERR_USAGE] = DIAG_USAGE,
                                     [ATTN_ERR_NOMEM] = DIAG_NOMEM, [ATTN_ERR_IO] = DIAG_IO,
                                     [ATTN_ERR_INTERNAL] = DIAG_INTERNAL};
    DiagKind kind = kinds[attn_message_status(msg)];
    if (!msg) {
        diag_nomem(d, NULL);
        return;
    }
    if (strncmp(msg, "error: ", 7) == 0)
        msg += 7; /* the diagnostic adds its own */
    else if (strncmp(msg, ATTN_MSG_INTERNAL, strlen(ATTN_MSG_INTERNAL)) == 0)
        msg += strlen(ATTN_MSG_INTERNAL);
    if (kind == DIAG_INTERNAL)
        diag_fail(d, kind, (SrcLoc){0}, "%s; " BUG_NOTE, msg);
    else
        diag_fail(d, kind, (SrcLoc){0}, "%s", msg);
}

void diag_take(Diag *d, char *msg) {
    diag_message(d, msg);
    free(msg);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, loc, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) {
    if (d->errors > DIAG_MAX_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "note", fmt, ap);
    va_end(ap);
}

void diag_clear(Diag *d) {
    if (d->text)
        d->text[0] = '\0';
    d->len = 0;
    d->errors = 0;
    d->kind = DIAG_INPUT;
}

void diag_free(Diag *d) {
    free(d->text);
    *d = (Diag){0};
}

const char *diag_text(const Diag *d) { return d->text ? d->text : ""; }

_Noreturn void attn_internal_error(const char *file, int line, const char *msg) {
    fprintf(stderr, "attn: internal error at %s:%d: %s\n", file, line, msg);
    abort();
}
