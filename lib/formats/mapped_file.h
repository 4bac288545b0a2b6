// A file's bytes, memory-mapped (read-only, shared) or read into memory.
//
// Read into memory, the file is still mapped first, for its format's reader to parse; its tensors are
// then read one by one into the memory that holds them from then on (read_bytes, memory_for), each
// checked and hashed while it is in cache (model/load_pass.h), and finish_reading() drops the mapping.
// So every byte crosses memory once, where reading the file whole and then checking it took three passes.
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

    // The bytes as they can be read now: the mapping, until a file read into memory has finished reading.
    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }
    const std::string &path() const { return path_; }
    // Whether the bytes stay mapped for the model's life (use_mmap), so are shared and read-only.
    bool mapped() const { return map_ != nullptr && !reading(); }
    // Whether the bytes are still to be read into memory (read_bytes), then finish_reading().
    bool reading() const { return fd_ >= 0; }
    bool contains(const uint8_t *p) const { return data_ && p >= data_ && p < data_ + size_; }
    // Where the byte now readable at p (inside data()) lies once the file is read: p itself unless reading.
    uint8_t *memory_for(const uint8_t *p) const;
    // Reads the n bytes of the file now readable at p into dst: 0, the errno of a failed read, or -1 at
    // an unexpected end of file (read_failure words either). Thread-safe; never throws.
    int read_bytes(const uint8_t *p, size_t n, uint8_t *dst) const;
    static const char *read_failure(int error);
    // Drops the mapping: data() is the memory the bytes were read into (those never read are zeros).
    void finish_reading();
    // Whether [p, p + n) lies in the file's bytes; if so, hands the whole pages inside it back to the
    // system. Reading them again gives zeros (the file mapped: its bytes, from the page cache).
    bool give_back(const uint8_t *p, size_t n);

private:
    std::string path_;
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
    void *map_ = nullptr;
    int fd_ = -1;       // open while reading
    PageBuffer buffer_; // the file read into memory, when not mapped
};

} // namespace rwkvrt
