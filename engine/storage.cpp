#include "engine/storage.h"

#include "kernels/common/registry.h"

namespace shears {

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = backend_for(device_).allocate(bytes_);
}

Storage::~Storage() { backend_for(device_).deallocate(data_, bytes_); }

}  // namespace shears
