#include "fs/guest_files.hpp"

#include <unistd.h>

#include <cerrno>
#include <climits>

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

int GuestFiles::install(std::shared_ptr<GuestFile> file, int min, bool cloexec, int limit) {
    int fd = min;
    while (table_.count(fd)) ++fd;
    if (fd >= limit) return -EMFILE;
    table_[fd] = std::move(file);
    set_cloexec(fd, cloexec);
    return fd;
}

bool GuestFiles::install_at(int fd, std::shared_ptr<GuestFile> file, bool cloexec) {
    table_[fd] = std::move(file);
    set_cloexec(fd, cloexec);
    return true;
}

void GuestFiles::set_cloexec(int fd, bool on) {
    if (on) cloexec_.insert(fd);
    else cloexec_.erase(fd);
}

std::shared_ptr<GuestFile> GuestFiles::get(int fd) const {
    auto it = table_.find(fd);
    return it == table_.end() ? nullptr : it->second;
}

std::shared_ptr<GuestFiles> GuestFiles::clone() const {
    auto copy = std::make_shared<GuestFiles>();
    copy->table_ = table_;
    copy->cloexec_ = cloexec_;
    return copy;
}

void GuestFiles::close_on_exec() {
    for (int fd : cloexec_) table_.erase(fd);
    cloexec_.clear();
}

bool GuestFiles::close(int fd) {
    cloexec_.erase(fd);
    return table_.erase(fd) != 0;
}

}  // namespace emu
