/*
 * cli_tensors.h — tensor files and tensor printing for the attnc driver.
 *
 * `attnc run` reads an entry point's inputs from a safetensors file, matching
 * tensors to inputs by name and converting them to the dtypes programs take
 * (floats to f32, integers to i64, bool/u8 to bool), and either writes the
 * outputs to a safetensors file or prints them. Only the driver uses these;
 * they live in the library because every compiler source but attnc.c does.
 * Failures are reported on `errf` as one line each, starting with the path.
 */
#ifndef ATTN_CLI_TENSORS_H
#define ATTN_CLI_TENSORS_H

#include <stdio.h>

#include "attn.h"

/* Loads the inputs of program `p` (compiled from entry point `entry`) from the
 * safetensors file `path`. Every input must be present and no other tensor may
 * be. On success returns 0 and sets *out to attn_program_input_count(p)
 * tensors, in input order, to free with cli_free_inputs; else returns -1. */
int cli_load_inputs(const char *path, const attn_program *p, const char *entry, FILE *errf,
                    attn_tensor **out);

/* Frees n tensors returned by cli_load_inputs. */
void cli_free_inputs(attn_tensor *ts, int n);

/* Writes n tensors to the safetensors file `path`, under their names. */
int cli_write_tensors(const char *path, const attn_tensor *ts, int n, FILE *errf);

/* Prints "name: f32[2, 3]" and then the first values of t, 8 per line. */
void cli_print_tensor(FILE *f, const attn_tensor *t);

/* For attnc heatmap: loads tensor `name` of the safetensors file `path` (any
 * float, integer or bool dtype) as floats, with its leading dims fixed at
 * index[0..nindex) (each >= 0) so that a [rows, cols] matrix is left. On
 * success returns 0 and sets *values (malloc'd, row-major), *rows and *cols;
 * else returns -1: the file is bad, has no such tensor, the tensor's rank is
 * not nindex + 2, or an index is out of range. */
int cli_load_matrix(const char *path, const char *name, const long *index, int nindex,
                    FILE *errf, float **values, int *rows, int *cols);

#endif
