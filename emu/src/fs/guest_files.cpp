#include "fs/guest_files.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <climits>

namespace emu {

// dup shares one GuestFile between descriptors: the host descriptor closes with the last one.
GuestFile::~GuestFile() {
    if (host_fd > 2) ::close(host_fd);
}

bool is_null_device(int host_fd) {
    struct stat st;
    return ::fstat(host_fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

GuestFiles::GuestFiles() {
    for (int fd = 0; fd < 3; ++fd) {
        auto f = std::make_shared<GuestFile>();
        f->host_fd = fd;
        f->null_device = is_null_device(fd);
        table_[fd] = f;
    }
}

GuestFiles::~GuestFiles() = default;

// The lowest free descriptor at or above `min`: the scan starts at next_free_ when it can (every
// descriptor below it is in use, as Linux's next_fd hint), so opening many files stays
// O(log n) per open instead of walking the whole table.
int GuestFiles::install(std::shared_ptr<GuestFile> file, int min, bool cloexec, int limit) {
    const bool from_hint = min <= next_free_;
    int fd = from_hint ? next_free_ : min;
    for (auto it = table_.lower_bound(fd); it != table_.end() && it->first == fd; ++it) ++fd;
    if (fd >= limit) return -EMFILE;
    table_[fd] = std::move(file);
    set_cloexec(fd, cloexec);
    if (from_hint) next_free_ = fd + 1;
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
    copy->next_free_ = next_free_;
    return copy;
}

void GuestFiles::close_on_exec() {
    for (int fd : cloexec_) {
        table_.erase(fd);
        next_free_ = std::min(next_free_, fd);
    }
    cloexec_.clear();
}

bool GuestFiles::close(int fd) {
    cloexec_.erase(fd);
    if (table_.erase(fd) == 0) return false;
    next_free_ = std::min(next_free_, fd);
    return true;
}

}  // namespace emu
