// The public operations: each runs its implementation and, when called from outside (not nested
// in another operation), reports itself to the observer with its result.
#include "mmu/address_space.hpp"

namespace mmu {

namespace {
template <class T>
std::int64_t outcome(const Result<T>& r) {
    return r ? static_cast<std::int64_t>(r.value()) : -static_cast<std::int64_t>(r.error());
}
std::int64_t outcome(const Status& s) { return s ? 0 : -static_cast<std::int64_t>(s.error()); }
}  // namespace

Result<VirtAddr> AddressSpace::mmap(VirtAddr addr, std::uint64_t len, std::uint32_t prot,
                                    std::uint32_t flags, std::string name) {
    auto r = mmap_file_impl(addr, len, prot, flags, nullptr, 0, std::move(name), true);
    record({Operation::Mmap, {addr, len, prot, flags}, outcome(r), {}, nullptr});
    return r;
}

Result<VirtAddr> AddressSpace::mmap_file(VirtAddr addr, std::uint64_t len, std::uint32_t prot,
                                         std::uint32_t flags, std::shared_ptr<SharedMemoryObject> pages,
                                         std::uint64_t pgoff, std::string name, bool may_write) {
    const std::uint64_t object_pages = pages ? pages->frames.size() : 0;
    auto r = mmap_file_impl(addr, len, prot, flags, std::move(pages), pgoff, name, may_write);
    record({Operation::MmapFile, {addr, len, prot, flags, pgoff, object_pages}, outcome(r), name, nullptr});
    return r;
}

Status AddressSpace::map_special(VirtAddr addr, std::uint32_t prot, const void* contents,
                                 std::size_t size, std::string name) {
    auto r = map_special_impl(addr, prot, contents, size, name);
    record({Operation::MapSpecial, {addr, prot, size}, outcome(r), name, nullptr});
    return r;
}

Status AddressSpace::map_special(VirtAddr addr, std::uint32_t prot, std::shared_ptr<SharedMemoryObject> pages,
                                 std::size_t size, std::string name) {
    auto r = map_special_impl(addr, prot, std::move(pages), size, name);
    record({Operation::MapSpecial, {addr, prot, size}, outcome(r), name, nullptr});
    return r;
}

Status AddressSpace::munmap(VirtAddr addr, std::uint64_t len) {
    auto r = munmap_impl(addr, len);
    record({Operation::Munmap, {addr, len}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::mprotect(VirtAddr addr, std::uint64_t len, std::uint32_t prot) {
    auto r = mprotect_impl(addr, len, prot);
    record({Operation::Mprotect, {addr, len, prot}, outcome(r), {}, nullptr});
    return r;
}

Result<VirtAddr> AddressSpace::mremap(VirtAddr old_addr, std::uint64_t old_len, std::uint64_t new_len,
                                      std::uint32_t flags, VirtAddr new_addr) {
    auto r = mremap_impl(old_addr, old_len, new_len, flags, new_addr);
    record({Operation::Mremap, {old_addr, old_len, new_len, flags, new_addr}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::madvise(VirtAddr addr, std::uint64_t len, int advice) {
    auto r = madvise_impl(addr, len, advice);
    record({Operation::Madvise, {addr, len, static_cast<std::uint64_t>(advice)}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::mlock(VirtAddr addr, std::uint64_t len, std::uint32_t flags) {
    auto r = mlock_impl(addr, len, flags);
    record({Operation::Mlock, {addr, len, flags}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::munlock(VirtAddr addr, std::uint64_t len) {
    auto r = munlock_impl(addr, len);
    record({Operation::Munlock, {addr, len}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::mlockall(std::uint32_t flags) {
    auto r = mlockall_impl(flags);
    record({Operation::Mlockall, {flags}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::munlockall() {
    auto r = munlockall_impl();
    record({Operation::Munlockall, {}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::mseal(VirtAddr addr, std::uint64_t len, std::uint64_t flags) {
    auto r = mseal_impl(addr, len, flags);
    record({Operation::Mseal, {addr, len, flags}, outcome(r), {}, nullptr});
    return r;
}

VirtAddr AddressSpace::brk(VirtAddr requested) {
    const VirtAddr r = brk_impl(requested);
    record({Operation::Brk, {requested}, static_cast<std::int64_t>(r), {}, nullptr});
    return r;
}

void AddressSpace::set_brk_base(VirtAddr base) {
    set_brk_base_impl(base);
    record({Operation::BrkBase, {base}, 0, {}, nullptr});
}

Result<std::unique_ptr<AddressSpace>> AddressSpace::fork() {
    auto r = fork_impl();
    record({Operation::Fork, {}, r ? 0 : -static_cast<std::int64_t>(r.error()), {}, r ? r.value().get() : nullptr});
    return r;
}

Status AddressSpace::poke(VirtAddr dst, const void* src, std::size_t n) {
    auto r = poke_impl(dst, src, n);
    record({Operation::Poke, {dst, n}, outcome(r), {}, nullptr});
    return r;
}

Fault AddressSpace::handle_fault(VirtAddr va, Access access) {
    const Fault f = handle_fault_impl(va, access);
    const std::int64_t result = f.signo ? (static_cast<std::int64_t>(f.signo) << 8) | f.si_code
                                : f.reason == FaultReason::UserFault ? -1 : 0;
    record({Operation::Fault, {va, static_cast<std::uint64_t>(access)}, result, {}, nullptr});
    return f;
}

namespace {
std::int64_t fill_outcome(const UffdFill& f) { return -static_cast<std::int64_t>(f.error); }
}  // namespace

Status AddressSpace::set_policy(VirtAddr start, VirtAddr end, const MemPolicy& policy) {
    auto r = set_policy_impl(start, end, policy);
    const std::uint64_t mode = policy.mode | static_cast<std::uint64_t>(policy.flags) << 16;
    record({Operation::SetPolicy, {start, end, mode, policy.nodes, static_cast<std::uint64_t>(policy.home_node)},
            outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::set_home_node(VirtAddr start, VirtAddr end, int node) {
    auto r = set_home_node_impl(start, end, node);
    record({Operation::SetHomeNode, {start, end, static_cast<std::uint64_t>(node)}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::uffd_register(VirtAddr start, std::uint64_t len, std::uint32_t modes, std::uint64_t ctx) {
    auto r = uffd_register_impl(start, len, modes, ctx);
    record({Operation::UffdRegister, {start, len, modes, ctx}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::uffd_unregister(VirtAddr start, std::uint64_t len) {
    auto r = uffd_unregister_impl(start, len);
    record({Operation::UffdUnregister, {start, len}, outcome(r), {}, nullptr});
    return r;
}

UffdFill AddressSpace::uffd_copy(VirtAddr dst, VirtAddr src, std::uint64_t len, bool wp, std::uint64_t ctx) {
    const UffdFill f = uffd_copy_impl(dst, src, len, wp, ctx);
    record({Operation::UffdCopy, {dst, src, len, wp, ctx, f.done}, fill_outcome(f), {}, nullptr});
    return f;
}

UffdFill AddressSpace::uffd_zeropage(VirtAddr dst, std::uint64_t len, std::uint64_t ctx) {
    const UffdFill f = uffd_zeropage_impl(dst, len, ctx);
    record({Operation::UffdZeropage, {dst, len, ctx, 0, 0, f.done}, fill_outcome(f), {}, nullptr});
    return f;
}

UffdFill AddressSpace::uffd_continue(VirtAddr dst, std::uint64_t len, bool wp, std::uint64_t ctx) {
    const UffdFill f = uffd_continue_impl(dst, len, wp, ctx);
    record({Operation::UffdContinue, {dst, len, wp, ctx, 0, f.done}, fill_outcome(f), {}, nullptr});
    return f;
}

UffdFill AddressSpace::uffd_poison(VirtAddr dst, std::uint64_t len, std::uint64_t ctx) {
    const UffdFill f = uffd_poison_impl(dst, len, ctx);
    record({Operation::UffdPoison, {dst, len, ctx, 0, 0, f.done}, fill_outcome(f), {}, nullptr});
    return f;
}

Status AddressSpace::uffd_writeprotect(VirtAddr start, std::uint64_t len, bool protect) {
    auto r = uffd_writeprotect_impl(start, len, protect);
    record({Operation::UffdWriteprotect, {start, len, protect}, outcome(r), {}, nullptr});
    return r;
}

Status AddressSpace::uffd_wp_range(VirtAddr start, std::uint64_t len) {
    auto r = uffd_wp_range_impl(start, len);
    record({Operation::UffdWpRange, {start, len}, outcome(r), {}, nullptr});
    return r;
}

void AddressSpace::uffd_release(std::uint64_t ctx) {
    uffd_release_impl(ctx);
    record({Operation::UffdRelease, {ctx}, 0, {}, nullptr});
}

}  // namespace mmu
