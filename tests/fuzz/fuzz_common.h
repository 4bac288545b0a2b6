// What the fuzz targets share: the input as a file (the readers take paths), the statuses a parser may
// return, and a read of every byte a parsed tensor claims, so that ASan sees a view past its buffer.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "rwkvrt.h"

namespace fuzz {

[[noreturn]] inline void die(const char *what, const char *detail = "") {
    std::fprintf(stderr, "fuzz target: %s %s\n", what, detail);
    std::abort();
}

// Bad bytes may only ever give these; anything else (INTERNAL, NOMEM, an escaped exception) is a bug.
inline bool documented(rwkvrt_status st) {
    return st == RWKVRT_OK || st == RWKVRT_ERR_FORMAT || st == RWKVRT_ERR_CORRUPT || st == RWKVRT_ERR_UNSUPPORTED ||
           st == RWKVRT_ERR_MISMATCH;
}

inline void expect_documented(rwkvrt_status st, const char *message) {
    if (!documented(st)) die("undocumented status for bad input:", message);
}

// Writes the input to this process's scratch file (removed at exit) and returns its path.
inline const std::string &write_input(const uint8_t *data, size_t size) {
    static const std::string path = [] {
        const char *tmp = std::getenv("TMPDIR");
        std::string p = std::string(tmp ? tmp : "/tmp") + "/rwkvrt-fuzz." + std::to_string(::getpid());
        static std::string to_remove = p;
        std::atexit([] { std::remove(to_remove.c_str()); });
        return p;
    }();
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) die("cannot write", path.c_str());
    return path;
}

// Reads n bytes at p so that an out-of-bounds view is reported where it is made.
inline void touch(const uint8_t *p, size_t n) {
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; ++i) sink = sink ^ p[i];
    (void)sink;
}

} // namespace fuzz
