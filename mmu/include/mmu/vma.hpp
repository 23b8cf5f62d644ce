// Virtual memory areas: what the program asked for (range, protection, flags), kept in an ordered
// interval set with Linux's split and merge rules for anonymous memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmu/memory_object.hpp"
#include "mmu/result.hpp"
#include "mmu/types.hpp"

namespace mmu {

namespace vma_flag {
inline constexpr std::uint32_t kShared = 1u << 0;      // MAP_SHARED (maps the object's frames)
inline constexpr std::uint32_t kLocked = 1u << 1;      // VM_LOCKED (mlock)
inline constexpr std::uint32_t kLockOnFault = 1u << 2; // VM_LOCKONFAULT (mlock2 MLOCK_ONFAULT)
inline constexpr std::uint32_t kWipeOnFork = 1u << 3;  // MADV_WIPEONFORK
inline constexpr std::uint32_t kDontFork = 1u << 4;    // MADV_DONTFORK
inline constexpr std::uint32_t kSealed = 1u << 5;      // mseal
inline constexpr std::uint32_t kGrowsDown = 1u << 6;   // MAP_GROWSDOWN (stacks)
// "May contain guard regions": set by MADV_GUARD_INSTALL, never cleared by remove, ignored by merge.
inline constexpr std::uint32_t kHasGuards = 1u << 7;
inline constexpr std::uint32_t kStack = 1u << 8;       // the main stack, shown as [stack]
inline constexpr std::uint32_t kHeap = 1u << 9;        // brk area, shown as [heap]
inline constexpr std::uint32_t kRandomRead = 1u << 10;  // MADV_RANDOM
inline constexpr std::uint32_t kSeqRead = 1u << 11;     // MADV_SEQUENTIAL
inline constexpr std::uint32_t kDontDump = 1u << 12;    // MADV_DONTDUMP
inline constexpr std::uint32_t kHugePage = 1u << 13;    // MADV_HUGEPAGE
inline constexpr std::uint32_t kNoHugePage = 1u << 14;  // MADV_NOHUGEPAGE
inline constexpr std::uint32_t kMergeable = 1u << 15;   // MADV_MERGEABLE (KSM)
// VM_ACCOUNT: private writable memory charged to the commit limit. Set when a private mapping is
// created writable or made writable by mprotect; cleared only by mprotect to read-only while the
// VMA has no anon_vma yet. It keeps charged VMAs from merging with uncharged ones.
inline constexpr std::uint32_t kAccount = 1u << 16;
inline constexpr std::uint32_t kNoReserve = 1u << 17;  // MAP_NORESERVE: not charged
// A special mapping (VM_PFNMAP/VM_MIXEDMAP: the vDSO and vvar pages): no guard regions, no
// discarding, no population (EINVAL).
inline constexpr std::uint32_t kSpecial = 1u << 18;
// VM_PFNMAP|VM_IO: a special mapping of raw frames (the vvar data pages), where the vDSO's code is
// not: nothing to discard, populate or page out there (EINVAL), and no fork advice.
inline constexpr std::uint32_t kPfnMap = 1u << 19;
// VM_MAYWRITE cleared: a shared mapping of a file opened without write access; mprotect adding
// PROT_WRITE is EACCES.
inline constexpr std::uint32_t kNoMayWrite = 1u << 20;
// Registered with a userfaultfd (VM_UFFD_MISSING, VM_UFFD_WP, VM_UFFD_MINOR): faults of that
// kind go to the descriptor named by Vma::uffd_ctx instead of being resolved.
inline constexpr std::uint32_t kUffdMissing = 1u << 21;
inline constexpr std::uint32_t kUffdWp = 1u << 22;
inline constexpr std::uint32_t kUffdMinor = 1u << 23;
// The registering context's features that change how write-protection works in the VMA (Linux
// reads them through vm_userfaultfd_ctx): UFFD_FEATURE_WP_ASYNC (a write to a write-protected page
// is resolved by the kernel, no event) and UFFD_FEATURE_WP_UNPOPULATED (anonymous pages not mapped
// yet are protected with markers). Set and cleared together with the modes.
inline constexpr std::uint32_t kUffdWpAsync = 1u << 24;
inline constexpr std::uint32_t kUffdWpUnpopulated = 1u << 25;
inline constexpr std::uint32_t kUffdAny = kUffdMissing | kUffdWp | kUffdMinor | kUffdWpAsync | kUffdWpUnpopulated;
inline constexpr std::uint32_t kMergeIgnored = kHasGuards;
}  // namespace vma_flag

// A NUMA memory policy of a range, set by mbind (Linux's vma->vm_policy). Mode 0 is
// MPOL_DEFAULT: the VMA has no policy of its own. VMAs with different policies never merge
// (Linux's mpol_equal: mode, flags, nodes and home node).
struct MemPolicy {
    std::uint16_t mode = 0;       // MPOL_*
    std::uint16_t flags = 0;      // MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING
    std::uint64_t nodes = 0;      // the node mask get_mempolicy reports (nodes 0-63)
    std::int32_t home_node = -1;  // set_mempolicy_home_node; -1 (NUMA_NO_NODE) when never set
    bool operator==(const MemPolicy&) const = default;
};

struct Vma {
    VirtAddr start = 0;
    VirtAddr end = 0;  // exclusive
    std::uint32_t prot = kProtNone;
    std::uint32_t flags = 0;
    // Page offset of `start` in the backing object. For private anonymous memory Linux uses the
    // creation address >> 12, which makes VMAs moved by mremap unmergeable with new neighbours.
    std::uint64_t pgoff = 0;
    // Identity of the anon_vma (0 = none yet). Two private VMAs merge only when at most one of
    // them has an anon_vma or both share it.
    std::uint64_t anon_id = 0;
    // The anon_vma came with fork (Linux: the VMA's anon_vma_chain is not singular, "had uncowed
    // parents"): such a VMA merges only with VMAs of the same anon_vma, and no neighbour reuses it.
    bool anon_inherited = false;
    std::shared_ptr<SharedMemoryObject> shmem;
    // The userfaultfd context this VMA is registered with (0: none). Part of VMA compatibility:
    // VMAs of different contexts never merge (Linux's vm_userfaultfd_ctx rule).
    std::uint64_t uffd_ctx = 0;
    MemPolicy policy;
    std::string name;  // for /proc/self/maps ("[heap]", "[stack]", a file path)

    std::uint64_t size() const { return end - start; }
    bool has(std::uint32_t flag) const { return (flags & flag) != 0; }
    bool shared() const { return has(vma_flag::kShared); }
    // A private mapping of a file: read faults map the page cache, write faults copy it.
    bool file_private() const { return shmem && !shared(); }
    // shmem or memfd (an object without a backing file), shared or private.
    bool shmem_backed() const { return shmem && !shmem->backing && !has(vma_flag::kSpecial); }
    // Linux's userfaultfd_wp_use_markers: write-protection reaches pages not mapped yet (a uffd-wp
    // marker in the empty entry) in shmem and file mappings always, in anonymous memory with
    // WP_UNPOPULATED.
    bool uffd_wp_uses_markers() const {
        return has(vma_flag::kUffdWp) && (shmem != nullptr || has(vma_flag::kUffdWpUnpopulated));
    }
    // Asynchronous write-protection (PAGEMAP_SCAN's PAGE_IS_WPALLOWED): WP_ASYNC and markers.
    bool uffd_wp_async() const { return has(vma_flag::kUffdWpAsync) && uffd_wp_uses_markers(); }
    std::uint64_t pgoff_at(VirtAddr va) const { return pgoff + pages(va - start); }
};

// Whether `a` immediately followed by `b` may be one VMA (Linux's merge rule for anonymous
// memory: same protection and flags, same backing object with contiguous offsets, compatible
// anon_vma: the same one, or only one of them has one and it did not come with fork).
bool mergeable(const Vma& a, const Vma& b);

class VmaSet {
public:
    using Map = std::map<VirtAddr, Vma>;  // keyed by start

    Vma* find(VirtAddr va);  // the VMA containing va
    const Vma* find(VirtAddr va) const;
    // The first VMA that ends above `va` (Linux find_vma), or nullptr.
    Vma* find_at_or_above(VirtAddr va);
    const Vma* find_at_or_above(VirtAddr va) const;
    bool intersects(VirtAddr start, VirtAddr end) const;
    // True when [start, end) is fully covered by VMAs with no hole.
    bool covered(VirtAddr start, VirtAddr end) const;

    // Makes `va` a VMA boundary (splits the VMA containing it, if any).
    void split_at(VirtAddr va);
    // VMAs overlapping [start, end), after splitting at both ends: each pointer covers a piece
    // inside the range.
    std::vector<Vma*> isolate(VirtAddr start, VirtAddr end);
    void insert(Vma vma);
    void erase_range(VirtAddr start, VirtAddr end);  // drops VMAs (splitting at the ends)
    // Merges the VMAs touching [start, end) with their neighbours where Linux would.
    void merge_around(VirtAddr start, VirtAddr end);

    // Moves the start of the VMA at `start` down to `new_start` (a stack growing into free space).
    void extend_down(VirtAddr start, VirtAddr new_start);

    std::size_t count() const { return map_.size(); }
    const Map& all() const { return map_; }
    // For changing VMA attributes in place (flags, protection). Bounds, kGrowsDown and the set of
    // VMAs change only through the members above, which keep the gap search cache exact.
    Map& all() { return map_; }

    // The highest free gap of `len` bytes ending at or below `high`, at or above `low`, keeping
    // Linux's stack guard gap below GROWSDOWN VMAs. std::nullopt when none fits.
    std::optional<VirtAddr> find_gap_top_down(std::uint64_t len, VirtAddr low, VirtAddr high) const;
    // Whether [start, start + len) is free, including the guard gap below a GROWSDOWN VMA.
    bool range_free(VirtAddr start, std::uint64_t len) const;
    // Whether the gap search cache still holds (recomputed from scratch: linear, for tests).
    bool gap_cache_exact() const;

private:
    std::uint64_t gap_below(Map::const_iterator upper, VirtAddr high) const;
    void note_freed(VirtAddr end);
    void remember_no_gap(std::uint64_t len, VirtAddr above) const;
    void prune_gap_cache() const;

    Map map_;
    // The gap search cache (see vma_set.cpp): for the `high` of the last top-down search, entry
    // len -> key says every gap below a VMA starting above `key` is shorter than len.
    mutable VirtAddr cache_high_ = 0;
    mutable std::map<std::uint64_t, VirtAddr> no_gap_above_;
};

inline constexpr std::uint64_t kStackGuardGap = 256 * kPageSize;  // Linux stack_guard_gap

}  // namespace mmu
