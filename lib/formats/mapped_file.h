// A file's bytes, memory-mapped (read-only, shared) or read into memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/page_buffer.h"

namespace rwkvrt {

class MappedFile {
public:
    // Throws Error(RWKVRT_ERR_IO) naming the path and the system's reason.
    MappedFile(const std::string &path, bool use_mmap);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }
    const std::string &path() const { return path_; }
    bool mapped() const { return map_ != nullptr; }
    // Whether [p, p + n) lies in the file's bytes; if so, hands the whole pages inside it back to the
    // system. Reading them again gives zeros (the file mapped: its bytes, from the page cache).
    bool give_back(const uint8_t *p, size_t n);

private:
    std::string path_;
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
    void *map_ = nullptr;
    PageBuffer buffer_; // the file read into memory, when not mapped
};

} // namespace rwkvrt
