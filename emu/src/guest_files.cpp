#include "guest_files.hpp"

#include <unistd.h>

namespace emu {

// dup shares one GuestFile between descriptors: the host descriptor closes with the last one.
GuestFile::~GuestFile() {
    if (host_fd > 2) ::close(host_fd);
}

GuestFiles::GuestFiles() {
    for (int fd = 0; fd < 3; ++fd) {
        auto f = std::make_shared<GuestFile>();
        f->host_fd = fd;
        table_[fd] = f;
    }
}

GuestFiles::~GuestFiles() = default;

int GuestFiles::install(std::shared_ptr<GuestFile> file, int min) {
    int fd = min;
    while (table_.count(fd)) ++fd;
    table_[fd] = std::move(file);
    return fd;
}

bool GuestFiles::install_at(int fd, std::shared_ptr<GuestFile> file) {
    table_[fd] = std::move(file);
    return true;
}

std::shared_ptr<GuestFile> GuestFiles::get(int fd) const {
    auto it = table_.find(fd);
    return it == table_.end() ? nullptr : it->second;
}

bool GuestFiles::close(int fd) { return table_.erase(fd) != 0; }

}  // namespace emu
