#include "fs/file_objects.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs/guest_files.hpp"
#include "mmu/address_space.hpp"

namespace emu {

namespace {

// A host file as the backing of its page cache: its own descriptor, kept while the object lives.
class HostFileBacking final : public mmu::ObjectBacking {
public:
    HostFileBacking(int fd, bool writable) : fd_(::fcntl(fd, F_DUPFD_CLOEXEC, 3)), writable_(writable) {}
    ~HostFileBacking() override {
        if (fd_ >= 0) ::close(fd_);
    }
    HostFileBacking(const HostFileBacking&) = delete;
    HostFileBacking& operator=(const HostFileBacking&) = delete;

    bool writable() const { return writable_; }
    void read_page(std::uint64_t index, std::byte* page) override {
        for (std::size_t done = 0; done < mmu::kPageSize;) {
            const ssize_t got = ::pread(fd_, page + done, mmu::kPageSize - done,
                                        static_cast<off_t>((index << mmu::kPageShift) + done));
            if (got <= 0) break;  // the end of the file: the rest stays zero
            done += static_cast<std::size_t>(got);
        }
    }
    void write_page(std::uint64_t index, const std::byte* page, std::size_t len) override {
        for (std::size_t done = 0; done < len;) {
            const ssize_t put = ::pwrite(fd_, page + done, len - done,
                                         static_cast<off_t>((index << mmu::kPageShift) + done));
            if (put <= 0) break;
            done += static_cast<std::size_t>(put);
        }
    }
    void sync_data() override { (void)::fdatasync(fd_); }
    void punch_hole(std::uint64_t first, std::uint64_t count) override {
        (void)::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(first << mmu::kPageShift),
                          static_cast<off_t>(count << mmu::kPageShift));
    }

private:
    int fd_;
    bool writable_;
};

bool writable_fd(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_ACCMODE) != O_RDONLY;
}

// The host file's identity, cached in the open file (dev 0, ino 0: not a regular host file).
std::pair<dev_t, ino_t> identity(GuestFile& file) {
    if (file.identity_known) return {file.identity_dev, file.identity_ino};
    file.identity_known = true;
    struct stat st {};
    if (file.kind == GuestFile::Kind::Host && file.host_fd >= 0 && ::fstat(file.host_fd, &st) == 0 &&
        S_ISREG(st.st_mode)) {
        file.identity_dev = st.st_dev;
        file.identity_ino = st.st_ino;
    }
    return {file.identity_dev, file.identity_ino};
}

}  // namespace

std::shared_ptr<mmu::SharedMemoryObject> FileObjects::find(dev_t dev, ino_t ino) {
    if (objects_.empty() || (dev == 0 && ino == 0)) return nullptr;
    auto it = objects_.find({dev, ino});
    if (it == objects_.end()) return nullptr;
    auto object = it->second.object.lock();
    if (!object) objects_.erase(it);
    return object;
}

std::shared_ptr<mmu::SharedMemoryObject> FileObjects::find(GuestFile& file) {
    if (objects_.empty()) return nullptr;
    const auto [dev, ino] = identity(file);
    return find(dev, ino);
}

// A new modification time or size: something wrote the file since the object last looked (the
// guest's own writes count too; re-reading their clean pages gives the same bytes).
void FileObjects::take_in_host_changes(mmu::SharedMemoryObject& object, Entry& entry, const struct stat& st) {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (st.st_mtim.tv_sec == entry.mtime.tv_sec && st.st_mtim.tv_nsec == entry.mtime.tv_nsec && size == entry.size)
        return;
    if (size != object.size) mmu::resize_object(object, size);  // a shrink zaps what is beyond
    object.reread_clean();
    entry.mtime = st.st_mtim;
    entry.size = size;
}

std::shared_ptr<mmu::SharedMemoryObject> FileObjects::get_or_make(GuestFile& file, bool writable) {
    struct stat st {};
    if (::fstat(file.host_fd, &st) != 0) return nullptr;
    const auto [dev, ino] = identity(file);
    auto object = find(dev, ino);
    if (object) take_in_host_changes(*object, objects_[{dev, ino}], st);
    if (!object) {
        std::erase_if(objects_, [](const auto& entry) { return entry.second.object.expired(); });
        object = std::make_shared<mmu::SharedMemoryObject>();
        object->memory = &memory_;
        object->id = st.st_ino;
        object->dev_major = major(st.st_dev);
        object->dev_minor = minor(st.st_dev);
        object->size = static_cast<std::uint64_t>(st.st_size);
        objects_[{dev, ino}] = Entry{object, st.st_mtim, static_cast<std::uint64_t>(st.st_size)};
    }
    const auto* backing = dynamic_cast<const HostFileBacking*>(object->backing.get());
    if (!backing || (writable && !backing->writable()))
        object->backing = std::make_unique<HostFileBacking>(file.host_fd, writable_fd(file.host_fd));
    return object;
}

void FileObjects::before_read(GuestFile& file) {
    if (auto object = find(file)) object->write_back();
}

void FileObjects::after_write(GuestFile& file, std::int64_t offset, const void* bytes, std::size_t n) {
    auto object = find(file);
    if (!object || n == 0) return;
    // write() without an offset (O_APPEND too) ended at the descriptor's new position.
    const std::uint64_t end = offset >= 0 ? static_cast<std::uint64_t>(offset) + n
                                          : static_cast<std::uint64_t>(::lseek(file.host_fd, 0, SEEK_CUR));
    object->absorb(end - n, bytes, n);
    if (end > object->size) object->size = end;
}

void FileObjects::after_truncate(dev_t dev, ino_t ino, std::uint64_t new_size) {
    if (auto object = find(dev, ino)) mmu::resize_object(*object, new_size);
}

}  // namespace emu
