// The guest's file descriptors: host descriptors opened under --root, plus files the emulator
// generates (/proc/self/maps, status, pagemap).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace emu {

struct GuestFile {
    GuestFile() = default;
    GuestFile(const GuestFile&) = delete;
    GuestFile& operator=(const GuestFile&) = delete;
    ~GuestFile();  // closes the host descriptor (never the emulator's own 0, 1, 2)

    int host_fd = -1;            // a real host descriptor, or -1 for generated content
    std::string generated;       // contents of a generated file (snapshot taken at open)
    std::uint64_t offset = 0;    // for generated files
    bool pagemap = false;        // /proc/self/pagemap: read through the MMU at the offset
    bool cloexec = false;
    int open_flags = 0;
    std::string path;
};

class GuestFiles {
public:
    GuestFiles();  // 0, 1, 2 are the emulator's own stdin/stdout/stderr
    ~GuestFiles();
    GuestFiles(const GuestFiles&) = delete;
    GuestFiles& operator=(const GuestFiles&) = delete;

    // The lowest free descriptor at or above `min`.
    int install(std::shared_ptr<GuestFile> file, int min = 0);
    std::shared_ptr<GuestFile> get(int fd) const;
    bool close(int fd);
    bool install_at(int fd, std::shared_ptr<GuestFile> file);
    std::size_t count() const { return table_.size(); }

private:
    std::map<int, std::shared_ptr<GuestFile>> table_;
};

}  // namespace emu
