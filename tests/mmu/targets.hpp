// The same memory-management scenario, run on two targets: the host kernel (real system calls in
// a private window of this test process) and the mmu library. Differential tests compare them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mmu/address_space.hpp"

namespace mmu::testing {

// What a user access did: the byte, or the signal and si_code it raised.
struct Probe {
    bool ok = false;
    std::uint8_t value = 0;
    int si_code = 0;
    friend bool operator==(const Probe&, const Probe&) = default;
};
std::string to_string(const Probe& p);

// All offsets are relative to the target's window; results are 0 / an offset, or -errno.
class Target {
public:
    virtual ~Target() = default;
    virtual std::int64_t mmap(std::uint64_t off, std::uint64_t len, int prot, int flags) = 0;
    // A mapping of the target's test file (kFilePages pages, opened read-write, page i holding
    // the byte i + 1 after reset()) at file offset `off`, so that a window page always maps the
    // same file page.
    virtual std::int64_t mmap_file(std::uint64_t off, std::uint64_t len, int prot, int flags) = 0;
    virtual std::int64_t munmap(std::uint64_t off, std::uint64_t len) = 0;
    virtual std::int64_t mprotect(std::uint64_t off, std::uint64_t len, int prot) = 0;
    virtual std::int64_t madvise(std::uint64_t off, std::uint64_t len, int advice) = 0;
    virtual std::int64_t mremap(std::uint64_t off, std::uint64_t old_len, std::uint64_t new_len,
                                int flags, std::uint64_t new_off) = 0;
    virtual std::int64_t mlock(std::uint64_t off, std::uint64_t len, int flags) = 0;
    virtual std::int64_t munlock(std::uint64_t off, std::uint64_t len) = 0;
    virtual std::int64_t mseal(std::uint64_t off, std::uint64_t len) = 0;
    // mbind with `mode` (MPOL_*) and node 0 (no nodes for MPOL_DEFAULT and MPOL_LOCAL).
    virtual std::int64_t mbind(std::uint64_t off, std::uint64_t len, int mode) = 0;
    virtual std::int64_t mincore(std::uint64_t off, std::uint64_t len, std::vector<std::uint8_t>& vec) = 0;
    virtual Probe read(std::uint64_t off) = 0;
    virtual Probe write(std::uint64_t off, std::uint8_t value) = 0;
    virtual bool guard(std::uint64_t off) = 0;
    virtual bool present(std::uint64_t off) = 0;
    virtual int vma_count() = 0;
    // The VMAs in the scratch half, one "start-end perms flags" line each (offsets), for messages.
    virtual std::string describe_vmas() = 0;  // VMAs intersecting the scratch half of the window
    // Forks, reads `offsets` in the child, and returns what the child saw.
    virtual std::vector<Probe> fork_and_read(const std::vector<std::uint64_t>& offsets) = 0;
    // Removes everything in the window (sealed mappings cannot be removed: avoid them at the end).
    virtual void reset() = 0;
};

inline constexpr std::uint64_t kWindowBytes = 64ull << 20;
inline constexpr std::uint64_t kFilePages = 16;
// reset() and vma_count() cover the scratch half of the window; sealed mappings cannot be removed
// from the host process, so tests that seal use unique offsets in the upper half.
inline constexpr std::uint64_t kScratchBytes = 32ull << 20;

// The host kernel, on a window at a fixed address far from anything else in this process.
std::unique_ptr<Target> make_host_target();
// The mmu library, on the same window addresses.
std::unique_ptr<Target> make_mmu_target();

}  // namespace mmu::testing
