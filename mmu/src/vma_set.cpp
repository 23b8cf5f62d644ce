#include "mmu/vma.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "mmu/physical_memory.hpp"

namespace mmu {

bool mergeable(const Vma& a, const Vma& b) {
    using namespace vma_flag;
    if (a.end != b.start || a.prot != b.prot) return false;
    if ((a.flags & ~kMergeIgnored) != (b.flags & ~kMergeIgnored)) return false;
    if (a.shmem != b.shmem || a.name != b.name) return false;
    if (a.pgoff + pages(a.size()) != b.pgoff) return false;
    return a.anon_id == 0 || b.anon_id == 0 || a.anon_id == b.anon_id;
}

Vma* VmaSet::find(VirtAddr va) {
    Vma* v = find_at_or_above(va);
    return v && v->start <= va ? v : nullptr;
}

const Vma* VmaSet::find(VirtAddr va) const { return const_cast<VmaSet*>(this)->find(va); }

Vma* VmaSet::find_at_or_above(VirtAddr va) {
    auto it = map_.upper_bound(va);
    if (it != map_.begin()) {
        auto prev = std::prev(it);
        if (prev->second.end > va) return &prev->second;
    }
    return it == map_.end() ? nullptr : &it->second;
}

const Vma* VmaSet::find_at_or_above(VirtAddr va) const {
    return const_cast<VmaSet*>(this)->find_at_or_above(va);
}

bool VmaSet::intersects(VirtAddr start, VirtAddr end) const {
    const Vma* v = find_at_or_above(start);
    return v && v->start < end;
}

bool VmaSet::covered(VirtAddr start, VirtAddr end) const {
    VirtAddr at = start;
    while (at < end) {
        const Vma* v = find(at);
        if (!v) return false;
        at = v->end;
    }
    return true;
}

void VmaSet::split_at(VirtAddr va) {
    Vma* v = find(va);
    if (!v || v->start == va) return;
    Vma upper = *v;
    upper.pgoff = v->pgoff_at(va);
    upper.start = va;
    v->end = va;
    map_.emplace(va, std::move(upper));
}

std::vector<Vma*> VmaSet::isolate(VirtAddr start, VirtAddr end) {
    split_at(start);
    split_at(end);
    std::vector<Vma*> out;
    for (auto it = map_.lower_bound(start); it != map_.end() && it->first < end; ++it)
        out.push_back(&it->second);
    return out;
}

void VmaSet::insert(Vma vma) {
    const VirtAddr key = vma.start;
    map_.emplace(key, std::move(vma));
}

void VmaSet::erase_range(VirtAddr start, VirtAddr end) {
    split_at(start);
    split_at(end);
    map_.erase(map_.lower_bound(start), map_.lower_bound(end));
}

void VmaSet::merge_around(VirtAddr start, VirtAddr end) {
    auto it = map_.lower_bound(start);
    if (it != map_.begin()) --it;
    while (it != map_.end() && it->first <= end) {
        auto next = std::next(it);
        if (next == map_.end()) break;
        if (mergeable(it->second, next->second)) {
            Vma& a = it->second;
            a.end = next->second.end;
            if (a.anon_id == 0) a.anon_id = next->second.anon_id;
            a.flags |= next->second.flags & vma_flag::kMergeIgnored;
            map_.erase(next);
        } else {
            it = next;
        }
    }
}

// The lowest address a new mapping ending here may reach below `v`: a stack grows down into the
// guard gap below it, so nothing may be placed there (Linux vm_start_gap).
static VirtAddr start_gap(const Vma& v) {
    if (!v.has(vma_flag::kGrowsDown)) return v.start;
    return v.start > kStackGuardGap ? v.start - kStackGuardGap : 0;
}

bool VmaSet::range_free(VirtAddr start, std::uint64_t len) const {
    const Vma* v = find_at_or_above(start);
    return !v || start + len <= start_gap(*v);
}

std::optional<VirtAddr> VmaSet::find_gap_top_down(std::uint64_t len, VirtAddr low,
                                                  VirtAddr high) const {
    if (len > high || high - len < low) return std::nullopt;
    // Visit the gaps from the top; `it` is the VMA just above the gap under consideration.
    auto it = map_.lower_bound(high);
    while (true) {
        const VirtAddr gap_hi = it == map_.end() ? high : std::min(high, start_gap(it->second));
        const VirtAddr gap_lo = it == map_.begin() ? low : std::max(low, std::prev(it)->second.end);
        if (gap_hi > gap_lo && gap_hi - gap_lo >= len) return gap_hi - len;
        if (it == map_.begin()) return std::nullopt;
        --it;
        if (it->second.start <= low) return std::nullopt;
    }
}

}  // namespace mmu
