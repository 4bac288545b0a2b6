// Errors inside the library: one exception type carrying the C status it maps to.
// The C shim (lib/api) is the only place that catches; everything else throws with a message
// that names the problem (file, tensor, offset) so rwkvrt_last_error() is useful on its own.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "rwkvrt.h"

namespace rwkvrt {

class Error : public std::runtime_error {
public:
    Error(rwkvrt_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    rwkvrt_status status() const noexcept { return status_; }

private:
    rwkvrt_status status_;
};

// Concatenates anything streamable: cat("tensor ", name, " has ", n, " elements").
template <class... Parts>
std::string cat(Parts &&...parts) {
    std::ostringstream out;
    (out << ... << std::forward<Parts>(parts));
    return out.str();
}

template <class... Parts>
[[noreturn]] void fail(rwkvrt_status status, Parts &&...parts) {
    throw Error(status, cat(std::forward<Parts>(parts)...));
}

} // namespace rwkvrt
