/*
 * st_testfiles.h — helpers for unit tests that need safetensors files on disk,
 * hostile ones included: a scratch directory under /tmp, and a raw writer that
 * takes the header length, header bytes and data bytes separately so that a
 * test can make them disagree. Header-only (static inline) so that any test
 * program can include it without a library of its own.
 */
#ifndef ST_TESTFILES_H
#define ST_TESTFILES_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A scratch directory: "/tmp/attn_st_XXXXXX" made unique, malloc'd; NULL on failure. */
static inline char *stf_mkdir(void)
{
    char *dir = strdup("/tmp/attn_st_XXXXXX");
    if (dir && !mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* Removes the plain files in dir, then dir itself, and frees the name. */
static inline void stf_rmdir(char *dir)
{
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d) {
        closedir(d);
        rmdir(dir);
    }
    free(dir);
}

/* The scratch directory of a cmocka group and the file of the current test:
 * pass stf_group_setup/stf_group_teardown to cmocka_run_group_tests. */
static char *stf_dir;
static char stf_path[4200];

static inline int stf_group_setup(void **state)
{
    (void)state;
    stf_dir = stf_mkdir();
    return stf_dir ? 0 : -1;
}

static inline int stf_group_teardown(void **state)
{
    (void)state;
    stf_rmdir(stf_dir);
    return 0;
}

/* Sets stf_path to stf_dir/name and returns it. */
static inline const char *stf_at(const char *name)
{
    snprintf(stf_path, sizeof stf_path, "%s/%s", stf_dir, name);
    return stf_path;
}

/* Writes path: the 8-byte little-endian `hlen`, then nheader header bytes, then
 * ndata data bytes. Returns 0 or -1. */
static inline int stf_write_raw(const char *path, uint64_t hlen, const void *header, size_t nheader,
                                const void *data, size_t ndata)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(hlen >> (8 * i));
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int bad = fwrite(len, 1, 8, f) != 8 || (nheader && fwrite(header, 1, nheader, f) != nheader) ||
              (ndata && fwrite(data, 1, ndata, f) != ndata);
    return fclose(f) || bad ? -1 : 0;
}

/* Writes path with the JSON text `json` as header (its true length) and the data. */
static inline int stf_write_json(const char *path, const char *json, const void *data, size_t ndata)
{
    return stf_write_raw(path, strlen(json), json, strlen(json), data, ndata);
}

#endif
