/*
 * heatmap.h — drawing a [rows, cols] matrix of floats (an attention alignment,
 * typically) as a terminal heatmap or as an SVG image.
 *
 * The public entry points, attn_heatmap_text and attn_heatmap_svg, are
 * declared in attn.h. This header adds what they are built from, for the unit
 * tests and for callers that write SVG to a stream of their own.
 *
 * Values are scaled to [lo, hi] where hi is the largest finite value and lo the
 * smallest, or 0 when every finite value is positive (so that weights in
 * [0, 1] keep 0 as "nothing"). NaN cells are drawn as "??" (grey in SVG).
 * Labels are UTF-8 strings; bytes that are no valid UTF-8 and control
 * characters are shown as '?', so a label can neither break the XML nor send
 * escape sequences to the terminal.
 */
#ifndef ATTN_HEATMAP_H
#define ATTN_HEATMAP_H

#include <stdbool.h>
#include <stdio.h>

#include "attn.h"

/* Number of shades of the terminal heatmap without colour ("·░▒▓█"). */
#define HEATMAP_SHADES 5

/* The scale of values[0..n): *lo and *hi as described above (0 and 0 when no
 * value is finite). */
void heatmap_range(const float *values, long n, float *lo, float *hi);

/* Level 0..levels-1 of v on the scale [lo, hi] (levels - 1 for +inf, 0 for
 * -inf and for everything when hi <= lo); -1 for NaN. */
int heatmap_level(float v, float lo, float hi, int levels);

/* Writes the SVG image of attn_heatmap_svg to the stream `out`. Returns 0, or
 * -1 with errno set (EINVAL for bad arguments, EIO or the stream's errno for
 * a failed write). */
int heatmap_svg_write(FILE *out, const float *values, int rows, int cols,
                      const char *const *row_labels, const char *const *col_labels);

#endif
