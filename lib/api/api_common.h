// Shared by the C shim files: the boundary where C++ exceptions become status codes.
#pragma once

#include <cstring>
#include <new>
#include <string>

#include "core/error.h"
#include "rwkvrt.h"

namespace rwkvrt::api {

// Records this thread's last error message (read by rwkvrt_last_error()).
void set_error(const std::string &message);
void clear_error();

// Runs fn, mapping every exception to a status and recording its message. No exception escapes.
template <class Fn>
rwkvrt_status guard(Fn &&fn) noexcept {
    try {
        clear_error();
        fn();
        return RWKVRT_OK;
    } catch (const Error &e) {
        set_error(e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        set_error("out of memory");
        return RWKVRT_ERR_NOMEM;
    } catch (const std::exception &e) {
        set_error(std::string("internal error: ") + e.what());
        return RWKVRT_ERR_INTERNAL;
    } catch (...) {
        set_error("internal error: unknown exception");
        return RWKVRT_ERR_INTERNAL;
    }
}

// Throws RWKVRT_ERR_ARGUMENT naming the parameter when p is NULL.
template <class T>
void require(const T *p, const char *name) {
    if (!p) fail(RWKVRT_ERR_ARGUMENT, name, " is NULL");
}

// The caller's options over `defaults`: only the struct_size bytes the caller's struct has are read,
// since it may predate fields appended later. `factory` names the *_default() function in the message.
template <class Options>
Options read_options(const Options &given, Options defaults, const char *factory) {
    if (given.struct_size < sizeof(size_t) || given.struct_size > sizeof defaults)
        fail(RWKVRT_ERR_ARGUMENT, "options->struct_size is ", given.struct_size, "; initialise options with ", factory, "()");
    std::memcpy(&defaults, &given, given.struct_size);
    return defaults;
}

} // namespace rwkvrt::api
