// Opening files by path with their type checked first, so that a FIFO, a device or a directory given
// by mistake gets an error naming what it is instead of blocking or being replaced.
#pragma once

#include <string>
#include <sys/types.h>

namespace rwkvrt {

// "a FIFO", "a directory", "a character device", ... for the type bits of st_mode.
const char *file_type_name(mode_t mode);

// Opens a regular file for reading (following symbolic links) and returns its descriptor, which the
// caller closes. A FIFO is never waited on: the type is checked before and after a non-blocking open.
// Throws Error(RWKVRT_ERR_ARGUMENT) for an empty path, Error(RWKVRT_ERR_IO) naming the path and the
// reason (missing, permission, or the type of a file that is not regular).
int open_regular_file(const std::string &path);

// Throws Error(RWKVRT_ERR_IO) unless path names nothing or a regular file, i.e. something a save may
// replace: never a FIFO, a device, a directory or a symbolic link (which is not followed). `action`
// starts the message, e.g. "cannot save". Throws Error(RWKVRT_ERR_ARGUMENT) for an empty path.
void check_replaceable(const std::string &path, const char *action);

} // namespace rwkvrt
