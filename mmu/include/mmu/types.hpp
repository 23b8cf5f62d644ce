// Basic vocabulary of the MMU: addresses, page geometry, protections, access kinds and the Linux
// ABI constants the address-space operations accept.
#pragma once

#include <cstdint>

namespace mmu {

using VirtAddr = std::uint64_t;
using PhysAddr = std::uint64_t;
using Pfn = std::uint64_t;

inline constexpr std::uint64_t kPageShift = 12;
inline constexpr std::uint64_t kPageSize = 1ull << kPageShift;
inline constexpr std::uint64_t kPageMask = ~(kPageSize - 1);
inline constexpr std::uint64_t kHugePageSize = 2ull << 20;  // a PMD mapping
// x86-64 with 4-level paging: user space ends one page below 2^47 (Linux TASK_SIZE_MAX).
inline constexpr VirtAddr kTaskSize = (1ull << 47) - kPageSize;

constexpr bool page_aligned(std::uint64_t v) { return (v & (kPageSize - 1)) == 0; }
constexpr std::uint64_t page_down(std::uint64_t v) { return v & kPageMask; }
// Rounds up; wraps to 0 on overflow exactly like the kernel's PAGE_ALIGN.
constexpr std::uint64_t page_up(std::uint64_t v) { return (v + kPageSize - 1) & kPageMask; }
constexpr std::uint64_t pages(std::uint64_t bytes) { return bytes >> kPageShift; }

// PROT_* bits as in <sys/mman.h>.
enum Prot : std::uint32_t {
    kProtNone = 0,
    kProtRead = 1,
    kProtWrite = 2,
    kProtExec = 4,
    kProtRwx = 7,
};

enum class Access : std::uint8_t { Read, Write, Execute };

const char* access_name(Access access);

// mmap flags (Linux x86-64 values).
namespace map {
inline constexpr std::uint32_t kShared = 0x01;
inline constexpr std::uint32_t kPrivate = 0x02;
inline constexpr std::uint32_t kSharedValidate = 0x03;
inline constexpr std::uint32_t kType = 0x0f;
inline constexpr std::uint32_t kFixed = 0x10;
inline constexpr std::uint32_t kAnonymous = 0x20;
inline constexpr std::uint32_t k32Bit = 0x40;
inline constexpr std::uint32_t kGrowsDown = 0x100;
inline constexpr std::uint32_t kDenyWrite = 0x800;
inline constexpr std::uint32_t kExecutable = 0x1000;
inline constexpr std::uint32_t kLocked = 0x2000;
inline constexpr std::uint32_t kNoReserve = 0x4000;
inline constexpr std::uint32_t kPopulate = 0x8000;
inline constexpr std::uint32_t kNonBlock = 0x10000;
inline constexpr std::uint32_t kStack = 0x20000;
inline constexpr std::uint32_t kHugeTlb = 0x40000;
inline constexpr std::uint32_t kSync = 0x80000;
inline constexpr std::uint32_t kFixedNoReplace = 0x100000;
inline constexpr std::uint32_t kUninitialized = 0x4000000;
}  // namespace map

// madvise advice values (Linux uapi).
namespace madv {
inline constexpr int kNormal = 0;
inline constexpr int kRandom = 1;
inline constexpr int kSequential = 2;
inline constexpr int kWillNeed = 3;
inline constexpr int kDontNeed = 4;
inline constexpr int kFree = 8;
inline constexpr int kRemove = 9;
inline constexpr int kDontFork = 10;
inline constexpr int kDoFork = 11;
inline constexpr int kMergeable = 12;
inline constexpr int kUnmergeable = 13;
inline constexpr int kHugePage = 14;
inline constexpr int kNoHugePage = 15;
inline constexpr int kDontDump = 16;
inline constexpr int kDoDump = 17;
inline constexpr int kWipeOnFork = 18;
inline constexpr int kKeepOnFork = 19;
inline constexpr int kCold = 20;
inline constexpr int kPageOut = 21;
inline constexpr int kPopulateRead = 22;
inline constexpr int kPopulateWrite = 23;
inline constexpr int kDontNeedLocked = 24;
inline constexpr int kCollapse = 25;
// MADV_HWPOISON and MADV_SOFT_OFFLINE need CONFIG_MEMORY_FAILURE: EINVAL on the 6.18 host, as here.
inline constexpr int kHwPoison = 100;
inline constexpr int kSoftOffline = 101;
inline constexpr int kGuardInstall = 102;  // first published as MADV_GUARD_POISON
inline constexpr int kGuardRemove = 103;   // first published as MADV_GUARD_UNPOISON
}  // namespace madv

// Name <-> value for the advice names users type (CLI, traces); accepts the POISON/UNPOISON aliases.
const char* advice_name(int advice);
int advice_from_name(const char* name);  // -1 when unknown

namespace mremap_flags {
inline constexpr std::uint32_t kMayMove = 1;
inline constexpr std::uint32_t kFixed = 2;
inline constexpr std::uint32_t kDontUnmap = 4;
}  // namespace mremap_flags

namespace mlock_flags {
inline constexpr std::uint32_t kOnFault = 1;          // mlock2
inline constexpr std::uint32_t kMclCurrent = 1;       // mlockall
inline constexpr std::uint32_t kMclFuture = 2;
inline constexpr std::uint32_t kMclOnFault = 4;
}  // namespace mlock_flags

// Signals and si_codes a fault can turn into.
inline constexpr int kSigSegv = 11;
inline constexpr int kSigBus = 7;
inline constexpr int kSegvMapErr = 1;
inline constexpr int kSegvAccErr = 2;
inline constexpr int kSegvPkuErr = 4;

}  // namespace mmu
