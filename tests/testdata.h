// Where the shared test data lives, and small helpers for reading reference files.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace testdata {

// RWKVRT_TESTDATA in the environment overrides the built-in folder (the tests of REQUIRE_TESTDATA
// itself point it at a folder that does not exist).
inline std::string dir() {
    const char *env = std::getenv("RWKVRT_TESTDATA");
    return env && *env ? env : RWKVRT_TESTDATA;
}

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

// Whether this run is CI's, where missing test data is a failure rather than a reason to skip.
inline bool in_ci() {
    const char *ci = std::getenv("CI");
    return ci && *ci && std::strcmp(ci, "0") != 0 && std::strcmp(ci, "false") != 0;
}

} // namespace testdata

// A test that needs ../shared/testdata starts with this. Under CI (CI set) a missing folder fails the
// test. Elsewhere the test returns after printing a line that ctest reports as a skip (the tests'
// SKIP_REGULAR_EXPRESSION), so a clone without the data never reports model tests as passed.
#define REQUIRE_TESTDATA()                                                                        \
    do {                                                                                          \
        if (!testdata::available()) {                                                             \
            if (testdata::in_ci()) FAIL("test data folder ", testdata::dir(), " is absent under CI"); \
            std::printf("rwkvrt-test-skipped: test data folder %s is absent\n", testdata::dir().c_str()); \
            return;                                                                               \
        }                                                                                         \
    } while (0)
