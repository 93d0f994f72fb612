/*
 * heatmap.c — a [rows, cols] matrix as a terminal heatmap or an SVG image.
 *
 * The terminal heatmap draws each cell two columns wide: either a shade
 * character ("·░▒▓█", from low to high) or, with colour, two spaces on a
 * 256-colour ANSI background from a viridis-like ramp. Column labels go above
 * the cells, on one line when each is at most two characters wide, else
 * written downwards; row labels go to the left. The SVG has one <rect> per
 * cell (with a <title> tooltip naming the cell and its value), the labels as
 * <text>, and a colour scale under the cells.
 */
#include "heatmap.h"
#include "text.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    TEXT_ROW_LABEL_MAX = 24, /* code points of a row label in the terminal, "…" included */
    TEXT_COL_LABEL_MAX = 12, /* lines of downward column labels */
    SVG_LABEL_MAX = 64,      /* code points of a label in the SVG */
    LABEL_BUF = 4 * SVG_LABEL_MAX + 8,
};

static const char *const shades[HEATMAP_SHADES] = {"\u00b7", "\u2591", "\u2592", "\u2593",
                                                   "\u2588"};

/* xterm-256 colours approximating viridis, from low to high. */
static const int ansi_ramp[] = {53, 54, 60, 24, 30, 36, 72, 77, 148, 220};
#define ANSI_LEVELS ((int)(sizeof ansi_ramp / sizeof ansi_ramp[0]))

/* viridis at 0, 1/9, ..., 1 for the SVG, interpolated linearly. */
static const unsigned char viridis[][3] = {
    {68, 1, 84},    {72, 40, 120},  {62, 74, 137},  {49, 104, 142}, {38, 130, 142},
    {31, 158, 137}, {53, 183, 121}, {109, 205, 89}, {180, 222, 44}, {253, 231, 37},
};
#define VIRIDIS_STOPS ((int)(sizeof viridis / sizeof viridis[0]))

/* ---- scale --------------------------------------------------------------- */

void heatmap_range(const float *values, long n, float *lo, float *hi)
{
    float mn = INFINITY, mx = -INFINITY;
    for (long i = 0; i < n; i++) {
        float v = values[i];
        if (!isfinite(v))
            continue;
        if (v < mn)
            mn = v;
        if (v > mx)
            mx = v;
    }
    if (mn > mx) { /* nothing finite */
        *lo = *hi = 0;
        return;
    }
    *lo = mn > 0 ? 0 : mn;
    *hi = mx;
}

/* Position of v on [lo, hi] in [0, 1]; NaN for NaN. */
static double scale01(float v, float lo, float hi)
{
    if (isnan(v))
        return NAN;
    if (v == INFINITY)
        return 1;
    if (v == -INFINITY || !(hi > lo))
        return 0;
    double t = ((double)v - lo) / ((double)hi - lo);
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

int heatmap_level(float v, float lo, float hi, int levels)
{
    double t = scale01(v, lo, hi);
    if (isnan(t))
        return -1;
    int k = (int)(t * levels);
    return k >= levels ? levels - 1 : k;
}

/* ---- labels -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (NUL-terminated), 0 if invalid;
 * *cp gets its code point. */
static int utf8_seq(const unsigned char *s, uint32_t *cp)
{
    uint32_t c, min;
    int len;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, c = s[0] & 0x1Fu, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, c = s[0] & 0x0Fu, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, c = s[0] & 0x07u, min = 0x10000;
    else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        c = c << 6 | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* A label made safe to print: at most `max` code points ("…" ending a cut one),
 * invalid UTF-8, control characters and XML's non-characters replaced by '?'. */
typedef struct {
    char text[LABEL_BUF];
    int width; /* code points */
} Label;

/* Copies the code point at *p (invalid, control or non-characters as '?') to
 * buf; returns its bytes in buf and advances *p. */
static int safe_code_point(const unsigned char **p, char *buf)
{
    uint32_t cp;
    int k = utf8_seq(*p, &cp);
    if (k == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0xFFFE || cp == 0xFFFF) {
        *p += k ? k : 1;
        buf[0] = '?';
        return 1;
    }
    memcpy(buf, *p, (size_t)k);
    *p += k;
    return k;
}

/* Label i of labels (its index when labels is NULL, "" when labels[i] is). */
static void label_make(Label *l, const char *const *labels, int i, int max)
{
    char num[24], tmp[4];
    const char *s = labels ? labels[i] : num;
    if (!labels)
        snprintf(num, sizeof num, "%d", i);
    if (!s)
        s = "";
    int total = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; total++)
        safe_code_point(&p, tmp);
    int keep = total <= max ? total : max - 1;
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (int k = 0; k < keep; k++)
        n += (size_t)safe_code_point(&p, l->text + n);
    if (keep < total) {
        memcpy(l->text + n, "\u2026", 3);
        n += 3;
    }
    l->text[n] = '\0';
    l->width = keep < total ? keep + 1 : total;
}

/* Byte offset in l->text of code point k (or of the end). */
static size_t label_offset(const Label *l, int k)
{
    size_t off = 0;
    for (int i = 0; i < k && l->text[off]; i++) {
        off++;
        while (((unsigned char)l->text[off] & 0xC0) == 0x80)
            off++;
    }
    return off;
}

static void put_spaces(FILE *out, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', out);
}

/* ---- terminal ------------------------------------------------------------ */

static int check_args(const void *out, const float *values, int rows, int cols)
{
    if (!out || !values || rows <= 0 || cols <= 0) {
        errno = EINVAL;
        return -1;
    }
    if (rows > INT_MAX / cols) {
        errno = EOVERFLOW;
        return -1;
    }
    return 0;
}

/* Ends a write on `out`: 0, or -1 with errno set when the stream failed. */
static int finish(FILE *out)
{
    if (fflush(out) == 0 && !ferror(out))
        return 0;
    if (errno == 0)
        errno = EIO;
    return -1;
}

static void text_header(FILE *out, int indent, const char *const *col_labels, int cols)
{
    Label l;
    int lines = 0;
    for (int c = 0; c < cols; c++) {
        label_make(&l, col_labels, c, TEXT_COL_LABEL_MAX);
        if (l.width > lines)
            lines = l.width;
    }
    if (lines <= 2) { /* one line, each label in its cell's two columns */
        put_spaces(out, indent);
        for (int c = 0; c < cols; c++) {
            label_make(&l, col_labels, c, 2);
            fputs(l.text, out);
            if (c + 1 < cols)
                put_spaces(out, 2 - l.width);
        }
        fputc('\n', out);
        return;
    }
    /* downwards, the labels' last characters on the line above the cells */
    for (int k = 0; k < lines; k++) {
        put_spaces(out, indent);
        int pending = 0; /* spaces owed before the next character */
        for (int c = 0; c < cols; c++) {
            label_make(&l, col_labels, c, TEXT_COL_LABEL_MAX);
            int i = k - (lines - l.width);
            if (i >= 0) {
                put_spaces(out, pending);
                size_t a = label_offset(&l, i), b = label_offset(&l, i + 1);
                fwrite(l.text + a, 1, b - a, out);
                pending = 1;
            } else {
                pending += 2;
                continue;
            }
        }
        fputc('\n', out);
    }
}

/* The text heatmap on `out`: 0, or -1 with errno set (as heatmap_svg_write). */
static int heatmap_text_write(FILE *out, const float *values, int rows, int cols,
                              const char *const *row_labels, const char *const *col_labels, bool color)
{
    float lo, hi;
    heatmap_range(values, (long)rows * cols, &lo, &hi);
    Label l;
    int width = 0; /* of the row labels */
    for (int r = 0; r < rows; r++) {
        label_make(&l, row_labels, r, TEXT_ROW_LABEL_MAX);
        if (l.width > width)
            width = l.width;
    }
    errno = 0;
    text_header(out, width + 1, col_labels, cols);
    for (int r = 0; r < rows; r++) {
        label_make(&l, row_labels, r, TEXT_ROW_LABEL_MAX);
        put_spaces(out, width - l.width);
        fprintf(out, "%s ", l.text);
        for (int c = 0; c < cols; c++) {
            float v = values[(long)r * cols + c];
            if (color) {
                int k = heatmap_level(v, lo, hi, ANSI_LEVELS);
                if (k < 0)
                    fputs("\x1b[0m??", out);
                else
                    fprintf(out, "\x1b[48;5;%dm  ", ansi_ramp[k]);
            } else {
                int k = heatmap_level(v, lo, hi, HEATMAP_SHADES);
                if (k < 0)
                    fputs("??", out);
                else
                    fprintf(out, "%s%s", shades[k], shades[k]);
            }
        }
        fputs(color ? "\x1b[0m\n" : "\n", out);
    }
    /* the scale */
    put_spaces(out, width + 1);
    if (color) {
        for (int k = 0; k < ANSI_LEVELS; k++)
            fprintf(out, "\x1b[48;5;%dm ", ansi_ramp[k]);
        fputs("\x1b[0m", out);
    } else {
        for (int k = 0; k < HEATMAP_SHADES; k++)
            fputs(shades[k], out);
    }
    fprintf(out, "  %.3g \u2026 %.3g\n", lo, hi);
    return finish(out);
}

/* ---- SVG ----------------------------------------------------------------- */

enum { CELL = 22, FONT = 12, GAP = 6, SCALE_W = 120 };
#define CHAR_W 7.5 /* advance of a monospace character at FONT px, roughly */

static void xml_put(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default: fputc(*s, out);
        }
    }
}

static void svg_color(char buf[8], double t)
{
    if (isnan(t)) {
        memcpy(buf, "#bbbbbb", 8);
        return;
    }
    double x = t * (VIRIDIS_STOPS - 1);
    int i = (int)x;
    if (i >= VIRIDIS_STOPS - 1)
        i = VIRIDIS_STOPS - 2;
    double f = x - i;
    int rgb[3];
    for (int k = 0; k < 3; k++)
        rgb[k] = (int)lround(viridis[i][k] + f * (viridis[i + 1][k] - viridis[i][k]));
    snprintf(buf, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

int heatmap_svg_write(FILE *out, const float *values, int rows, int cols,
                      const char *const *row_labels, const char *const *col_labels)
{
    if (check_args(out, values, rows, cols))
        return -1;
    float lo, hi;
    heatmap_range(values, (long)rows * cols, &lo, &hi);
    Label l;
    int rw = 0, cw = 0;
    for (int r = 0; r < rows; r++) {
        label_make(&l, row_labels, r, SVG_LABEL_MAX);
        rw = l.width > rw ? l.width : rw;
    }
    for (int c = 0; c < cols; c++) {
        label_make(&l, col_labels, c, SVG_LABEL_MAX);
        cw = l.width > cw ? l.width : cw;
    }
    int rotate = cw > 2; /* column labels written upwards */
    long left = GAP + (long)(rw * CHAR_W) + GAP;
    long top = GAP + (rotate ? (long)(cw * CHAR_W) : FONT) + GAP;
    long width = left + (long)cols * CELL + GAP;
    long scale_y = top + (long)rows * CELL + 2 * GAP;
    long height = scale_y + 2 * FONT + GAP;
    long min_width = left + SCALE_W + 2 * GAP + (long)(24 * CHAR_W);
    if (width < min_width)
        width = min_width;

    errno = 0;
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%ld\" height=\"%ld\" "
            "viewBox=\"0 0 %ld %ld\" font-family=\"monospace\" font-size=\"%d\">\n",
            width, height, width, height, FONT);
    fprintf(out, "<g fill=\"#000\" text-anchor=\"%s\">\n", rotate ? "start" : "middle");
    for (int c = 0; c < cols; c++) {
        label_make(&l, col_labels, c, SVG_LABEL_MAX);
        long x = left + (long)c * CELL + CELL / 2;
        if (rotate)
            fprintf(out, "<text transform=\"translate(%ld %ld) rotate(-90)\" dy=\"0.35em\">",
                    x, top - GAP);
        else
            fprintf(out, "<text x=\"%ld\" y=\"%ld\">", x, top - GAP);
        xml_put(out, l.text);
        fputs("</text>\n", out);
    }
    fputs("</g>\n<g fill=\"#000\" text-anchor=\"end\">\n", out);
    for (int r = 0; r < rows; r++) {
        label_make(&l, row_labels, r, SVG_LABEL_MAX);
        fprintf(out, "<text x=\"%ld\" y=\"%ld\" dy=\"0.35em\">", left - GAP,
                top + (long)r * CELL + CELL / 2);
        xml_put(out, l.text);
        fputs("</text>\n", out);
    }
    fputs("</g>\n<g stroke=\"#fff\" stroke-width=\"0.5\">\n", out);
    for (int r = 0; r < rows; r++) {
        Label rl;
        label_make(&rl, row_labels, r, SVG_LABEL_MAX);
        for (int c = 0; c < cols; c++) {
            float v = values[(long)r * cols + c];
            char fill[8];
            svg_color(fill, scale01(v, lo, hi));
            label_make(&l, col_labels, c, SVG_LABEL_MAX);
            fprintf(out, "<rect x=\"%ld\" y=\"%ld\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>",
                    left + (long)c * CELL, top + (long)r * CELL, CELL, CELL, fill);
            xml_put(out, rl.text);
            fputs(" / ", out);
            xml_put(out, l.text);
            fprintf(out, ": %.4g</title></rect>\n", v);
        }
    }
    fputs("</g>\n", out);
    /* the colour scale: a line stroked with the ramp, and its ends' values */
    fputs("<defs><linearGradient id=\"scale\" gradientUnits=\"userSpaceOnUse\" ", out);
    fprintf(out, "x1=\"%ld\" y1=\"0\" x2=\"%ld\" y2=\"0\">\n", left, left + SCALE_W);
    for (int k = 0; k < VIRIDIS_STOPS; k++) {
        char c[8];
        svg_color(c, (double)k / (VIRIDIS_STOPS - 1));
        fprintf(out, "<stop offset=\"%.3f\" stop-color=\"%s\"/>\n",
                (double)k / (VIRIDIS_STOPS - 1), c);
    }
    fputs("</linearGradient></defs>\n", out);
    fprintf(out, "<line x1=\"%ld\" y1=\"%ld\" x2=\"%ld\" y2=\"%ld\" stroke=\"url(#scale)\" "
                 "stroke-width=\"%d\"/>\n",
            left, scale_y + FONT / 2, left + SCALE_W, scale_y + FONT / 2, FONT);
    fprintf(out, "<text x=\"%ld\" y=\"%ld\" dy=\"0.35em\" text-anchor=\"end\">%.3g</text>\n",
            left - GAP, scale_y + FONT / 2, lo);
    fprintf(out, "<text x=\"%ld\" y=\"%ld\" dy=\"0.35em\">%.3g</text>\n", left + SCALE_W + GAP,
            scale_y + FONT / 2, hi);
    fputs("</svg>\n", out);
    return finish(out);
}

/* The status and message of a refused call (errno from check_args). */
static attn_status refused(const char *fn, char **error)
{
    return attn_error_out(error, ATTN_ERR_USAGE,
                          errno == EOVERFLOW ? "error: %s: rows × cols is more than INT_MAX cells"
                                             : "error: %s: NULL stream, path or values, or no rows or columns",
                          fn);
}

attn_status attn_heatmap_text(FILE *out, const float *values, int rows, int cols,
                              const char *const *row_labels, const char *const *col_labels, bool color,
                              char **error)
{
    if (error)
        *error = NULL;
    if (check_args(out, values, rows, cols))
        return refused("attn_heatmap_text", error);
    if (heatmap_text_write(out, values, rows, cols, row_labels, col_labels, color))
        return attn_error_out(error, ATTN_ERR_IO, "error: cannot write the heatmap: %s", strerror(errno));
    return ATTN_OK;
}

attn_status attn_heatmap_svg(const char *path, const float *values, int rows, int cols,
                             const char *const *row_labels, const char *const *col_labels, char **error)
{
    if (error)
        *error = NULL;
    if (check_args(path, values, rows, cols))
        return refused("attn_heatmap_svg", error);
    FILE *f = fopen(path, "w");
    if (!f)
        return attn_error_out(error, ATTN_ERR_IO, "error: cannot open %s: %s", path, strerror(errno));
    int rc = heatmap_svg_write(f, values, rows, cols, row_labels, col_labels);
    int saved = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        saved = errno ? errno : EIO;
    }
    if (rc) {
        remove(path);
        return attn_error_out(error, ATTN_ERR_IO, "error: cannot write %s: %s", path, strerror(saved));
    }
    return ATTN_OK;
}
