/*
 * gen_onnx.h — crafted .onnx files for the error table (tests/errors/cases/onnx_*.attn).
 */
#ifndef ATTN_GEN_ONNX_H
#define ATTN_GEN_ONNX_H

/* Writes the bad models into dir; returns 0, or -1 after a message. */
int gen_onnx_files(const char *dir);

#endif
