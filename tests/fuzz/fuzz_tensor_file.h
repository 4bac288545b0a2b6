// The model-format fuzz targets: a reader on any bytes must give a TensorFile whose every tensor lies
// in memory it owns, or an Error with a documented status. The file is read into an exact-size heap
// buffer (no mmap), so ASan sees any read past its end.
#pragma once

#include <memory>

#include "core/error.h"
#include "formats/tensor_file.h"
#include "fuzz_common.h"

namespace fuzz {

using Reader = std::unique_ptr<rwkvrt::TensorFile> (*)(std::unique_ptr<rwkvrt::MappedFile>);

inline int read_tensor_file(Reader reader, const uint8_t *data, size_t size) {
    const std::string &path = write_input(data, size);
    try {
        const auto file = reader(std::make_unique<rwkvrt::MappedFile>(path, false));
        for (const rwkvrt::TensorView &t : file->tensors()) {
            touch(t.data, t.nbytes);
            if (t.numel() < 0) die("negative element count for", t.name.c_str());
        }
    } catch (const rwkvrt::Error &e) {
        expect_documented(e.status(), e.what());
    }
    return 0;
}

} // namespace fuzz
