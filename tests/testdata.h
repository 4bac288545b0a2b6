// Where the shared test data lives, and small helpers for reading reference files.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace testdata {

inline std::string dir() { return RWKVRT_TESTDATA; }

inline bool available() { return std::filesystem::is_directory(dir()); }

// Path of a file under ../shared/testdata. A test that needs the folder calls REQUIRE_TESTDATA().
inline std::string path(const std::string &rel) { return dir() + "/" + rel; }

inline std::vector<char> read_bytes(const std::string &file) {
    std::ifstream in(file, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open ", file);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<float> read_floats(const std::string &file) {
    std::vector<char> bytes = read_bytes(file);
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

// A scratch directory unique to this test process, removed when it exits.
inline std::string scratch_dir() {
    struct Dir {
        std::filesystem::path path = std::filesystem::temp_directory_path() / ("rwkvrt-tests-" + std::to_string(::getpid()));
        Dir() { std::filesystem::create_directories(path); }
        ~Dir() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static Dir d;
    return d.path.string();
}

} // namespace testdata

// Skips (with a message saying why) when ../shared/testdata is absent; CI always has it.
#define REQUIRE_TESTDATA()                                                                        \
    do {                                                                                          \
        if (!testdata::available()) {                                                             \
            MESSAGE("skipped: test data folder " << testdata::dir() << " is absent");             \
            return;                                                                               \
        }                                                                                         \
    } while (0)
