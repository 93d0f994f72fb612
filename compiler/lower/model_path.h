/*
 * model_path.h — the installed model library's directory (model_path.c).
 */
#ifndef ATTN_MODEL_PATH_H
#define ATTN_MODEL_PATH_H

#include <stdbool.h>

/* The directory holding the model zoo and std/ (share/attn of the installation
 * this code belongs to, or of the build tree), or NULL when there is none. */
const char *model_std_dir(void);

#endif
