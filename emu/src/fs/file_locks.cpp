#include "fs/file_locks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace emu {

namespace {

bool conflicts(const RecordLock& held, const RecordLock& request) {
    if (held.owner == request.owner || !held.overlaps(request)) return false;
    return held.type == F_WRLCK || request.type == F_WRLCK;
}

// The owner's locks with `request` applied: the range is cut out of every lock, the new lock
// goes in, and locks of the same type that touch merge (Linux posix_lock_inode).
std::vector<RecordLock> replace_range(std::vector<RecordLock> mine, const RecordLock& request) {
    std::vector<RecordLock> out;
    for (const RecordLock& l : mine) {
        if (!l.overlaps(request)) {
            out.push_back(l);
            continue;
        }
        if (l.start < request.start) out.push_back({l.owner, l.type, l.start, request.start - 1});
        if (l.end > request.end) out.push_back({l.owner, l.type, request.end + 1, l.end});
    }
    if (request.type != F_UNLCK) out.push_back(request);
    std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.start < y.start; });
    std::vector<RecordLock> merged;
    for (const RecordLock& l : out) {
        if (!merged.empty() && merged.back().type == l.type && merged.back().end + 1 == l.start) {
            merged.back().end = l.end;
            continue;
        }
        merged.push_back(l);
    }
    return merged;
}

}  // namespace

FileLocks::~FileLocks() {
    for (const auto& [key, fd] : mirrors_) ::close(fd);
}

std::optional<RecordLock> FileLocks::conflict(FileKey file, const RecordLock& request) const {
    auto it = locks_.find(file);
    if (it == locks_.end() || request.type == F_UNLCK) return std::nullopt;
    for (const RecordLock& l : it->second)
        if (conflicts(l, request)) return l;
    return std::nullopt;
}

// The owner's locks are one run in the file's list, placed where its first lock went.
void FileLocks::apply(FileKey file, const RecordLock& request) {
    auto& all = locks_[file];
    const auto first = std::find_if(all.begin(), all.end(), [&](const auto& l) { return l.owner == request.owner; });
    const auto at = first - all.begin();
    std::vector<RecordLock> mine;
    std::copy_if(all.begin(), all.end(), std::back_inserter(mine), [&](const auto& l) { return l.owner == request.owner; });
    std::erase_if(all, [&](const auto& l) { return l.owner == request.owner; });
    const auto updated = replace_range(std::move(mine), request);
    all.insert(all.begin() + std::min<std::ptrdiff_t>(at, static_cast<std::ptrdiff_t>(all.size())), updated.begin(),
               updated.end());
    drop_if_unused(file, request.owner);
}

bool FileLocks::holds_any(FileKey file, int owner) const {
    auto it = locks_.find(file);
    return it != locks_.end() &&
           std::any_of(it->second.begin(), it->second.end(), [&](const auto& l) { return l.owner == owner; });
}

void FileLocks::release(FileKey file, int owner) {
    if (auto it = locks_.find(file); it != locks_.end())
        std::erase_if(it->second, [&](const auto& l) { return l.owner == owner; });
    drop_if_unused(file, owner);
}

void FileLocks::release_owner(int owner) {
    std::vector<FileKey> files;
    for (const auto& [file, list] : locks_) files.push_back(file);
    for (const auto& [key, fd] : mirrors_)
        if (key.second == owner) files.push_back(key.first);
    for (FileKey file : files) release(file, owner);
    waiting_.erase(owner);
}

// An owner without locks on a file closes its mirror (which drops its host locks).
void FileLocks::drop_if_unused(FileKey file, int owner) {
    if (holds_any(file, owner)) return;
    if (auto it = locks_.find(file); it != locks_.end() && it->second.empty()) locks_.erase(it);
    if (auto m = mirrors_.find({file, owner}); m != mirrors_.end()) {
        if (m->second >= 0) ::close(m->second);
        mirrors_.erase(m);
    }
}

int FileLocks::mirror(FileKey file, int owner, int host_fd) {
    if (auto m = mirrors_.find({file, owner}); m != mirrors_.end()) return m->second;
    // A new open file description of the same file: read and write when allowed (OFD locks
    // need read access for F_RDLCK and write access for F_WRLCK).
    const std::string path = "/proc/self/fd/" + std::to_string(host_fd);
    int fd = -1;
    for (int mode : {O_RDWR, O_RDONLY, O_WRONLY})
        if ((fd = ::open(path.c_str(), mode | O_CLOEXEC | O_NOCTTY)) >= 0) break;
    if (fd >= 0 && fd < 3) {  // never one of the emulator's own 0, 1, 2
        const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ::close(fd);
        fd = moved;
    }
    mirrors_[{file, owner}] = fd;
    return fd;
}

}  // namespace emu
