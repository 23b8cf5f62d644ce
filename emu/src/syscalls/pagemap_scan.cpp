// ioctl on /proc/PID/pagemap: PAGEMAP_SCAN (mmu/pagemap_scan.hpp does the walk); any other
// request is EINVAL, as Linux's pagemap answers.
#include <cerrno>
#include <cstdint>

#include "machine/process.hpp"
#include "mmu/pagemap_scan.hpp"
#include "syscalls/syscall_support.hpp"
#include "syscalls/syscalls.hpp"

namespace emu::sys {

namespace {

// struct pm_scan_arg (include/uapi/linux/fs.h), 96 bytes.
struct PmScanArg {
    std::uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    std::uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
static_assert(sizeof(PmScanArg) == 96);
constexpr std::uint64_t kPagemapScan = 0xc0606610;  // _IOWR('f', 16, struct pm_scan_arg)

// access_ok: [addr, addr + size) lies in user space and does not wrap.
bool user_range(std::uint64_t addr, std::uint64_t size) {
    const std::uint64_t sum = addr + size;
    return sum >= addr && sum <= mmu::kTaskSize;
}

}  // namespace

std::int64_t pagemap_ioctl(Process& p, GuestFile& f, std::uint64_t cmd, std::uint64_t arg_addr) {
    if (cmd != kPagemapScan) return err(EINVAL);
    auto group = p.find_group(f.memory_of);
    if (!group || group->state != GroupState::Alive || !group->mm) return err(ESRCH);
    PmScanArg arg{};
    if (!p.as().copy_from_user(&arg, arg_addr, sizeof arg)) return err(EFAULT);
    if (arg.size != sizeof arg) return err(EINVAL);
    mmu::PagemapScanRequest r;
    r.flags = arg.flags;
    r.start = arg.start;
    r.end = arg.end;
    r.has_vector = arg.vec != 0;
    r.vec_len = arg.vec_len;
    r.max_pages = arg.max_pages;
    r.category_inverted = arg.category_inverted;
    r.category_mask = arg.category_mask;
    r.category_anyof_mask = arg.category_anyof_mask;
    r.return_mask = arg.return_mask;
    // Linux's order: flags and categories, then the start's alignment (EINVAL), the range
    // (EFAULT), a length without a vector (EINVAL), the vector's range (EFAULT).
    constexpr std::uint64_t kRegion = 24;
    const bool known = !(arg.flags & ~(mmu::kScanWpMatching | mmu::kScanCheckWpAsync)) &&
                       !((arg.category_inverted | arg.category_mask | arg.category_anyof_mask | arg.return_mask) &
                         ~mmu::page_is::kAll);
    if (known && !(arg.start & (mmu::kPageSize - 1))) {
        if (!user_range(arg.start, arg.end - arg.start)) return err(EFAULT);
        if (arg.vec || !arg.vec_len) {
            const std::uint64_t bytes = arg.vec_len > ~0ull / kRegion ? ~0ull : arg.vec_len * kRegion;
            if (arg.vec && !user_range(arg.vec, bytes)) return err(EFAULT);
        }
    }
    auto outcome = mmu::pagemap_scan_with_wp(*group->mm, r);
    if (!outcome) return err(outcome.error());
    std::int64_t result = static_cast<std::int64_t>(outcome.value().regions.size());
    std::uint64_t at = arg.vec;
    for (const mmu::PageRegion& region : outcome.value().regions) {
        const std::uint64_t words[3] = {region.start, region.end, region.categories};
        if (!p.as().copy_to_user(at, words, sizeof words)) {
            result = err(EFAULT);
            break;
        }
        at += sizeof words;
    }
    const std::uint64_t walk_end = outcome.value().walk_end;
    if (put(p, arg_addr + offsetof(PmScanArg, walk_end), walk_end) != 0) return err(EFAULT);
    return result;
}

}  // namespace emu::sys
