// Diagnostics go to the application's callback (rwkvrt_log_set); the library never prints.
#pragma once

#include <string>

namespace rwkvrt {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3 };

void log_set(void (*callback)(int, const char *, void *), void *user_data);
void log(LogLevel level, const std::string &message);

} // namespace rwkvrt
