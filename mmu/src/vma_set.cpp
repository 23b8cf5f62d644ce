#include "mmu/vma.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "mmu/physical_memory.hpp"

namespace mmu {

namespace {

// The lowest address a new mapping ending here may reach below `v`: a stack grows down into the
// guard gap below it, so nothing may be placed there (Linux vm_start_gap).
VirtAddr start_gap(const Vma& v) {
    if (!v.has(vma_flag::kGrowsDown)) return v.start;
    return v.start > kStackGuardGap ? v.start - kStackGuardGap : 0;
}

constexpr VirtAddr kAboveAll = ~VirtAddr{0};  // the key of "no VMA" (the gap under `high`)
constexpr std::size_t kMaxCachedLengths = 8;

}  // namespace

bool mergeable(const Vma& a, const Vma& b) {
    using namespace vma_flag;
    if (a.end != b.start || a.prot != b.prot) return false;
    if ((a.flags & ~kMergeIgnored) != (b.flags & ~kMergeIgnored)) return false;
    if (a.shmem != b.shmem || a.name != b.name || a.uffd_ctx != b.uffd_ctx) return false;
    if (a.policy != b.policy) return false;
    if (a.pgoff + pages(a.size()) != b.pgoff) return false;
    if (a.anon_id != 0 && b.anon_id != 0) return a.anon_id == b.anon_id;
    const Vma& with_anon = a.anon_id != 0 ? a : b;
    return with_anon.anon_id == 0 || !with_anon.anon_inherited;
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
    note_freed(end);
}

void VmaSet::extend_down(VirtAddr start, VirtAddr new_start) {
    auto node = map_.extract(start);
    Vma& v = node.mapped();
    v.pgoff -= pages(v.start - new_start);
    v.start = new_start;
    node.key() = new_start;
    map_.insert(std::move(node));  // the gap below shrinks: the search cache stays exact
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
            if (a.anon_id == 0) {
                a.anon_id = next->second.anon_id;
                a.anon_inherited = next->second.anon_inherited;
            }
            a.flags |= next->second.flags & vma_flag::kMergeIgnored;
            map_.erase(next);
        } else {
            it = next;
        }
    }
}

bool VmaSet::range_free(VirtAddr start, std::uint64_t len) const {
    const Vma* v = find_at_or_above(start);
    return !v || start + len <= start_gap(*v);
}

// The gap search cache. A gap is named by the VMA just above it, `upper` (map_.end() for the gap
// under `high` above every VMA, keyed kAboveAll). For the `high` of the searches (cache_high_) its
// size is min(high, start_gap(upper)) - (end of the VMA below, or 0), or 0 when negative: at
// least what a search with any `low` sees. The invariant, for every entry len -> key:
//     every gap whose upper VMA starts above `key` is shorter than len.
// A search that found its gap below the VMA at `key` has just seen it (the gaps it passed lie above
// `low`, so their sizes are the ones it compared). It stays true because insert and split only cut
// gaps (a split adds a gap of size 0), merge_around only drops gaps of size 0, extend_down shrinks
// one, and erase_range grows exactly one, the gap below the first VMA at or above the erased end:
// note_freed() raises the key of every entry that gap breaks to uncover it. Entries form a
// staircase: a longer length has a strictly lower key (an entry that does not adds nothing).
std::uint64_t VmaSet::gap_below(Map::const_iterator upper, VirtAddr high) const {
    const VirtAddr hi = upper == map_.end() ? high : std::min(high, start_gap(upper->second));
    const VirtAddr lo = upper == map_.begin() ? 0 : std::prev(upper)->second.end;
    return hi > lo ? hi - lo : 0;
}

void VmaSet::note_freed(VirtAddr end) {
    if (no_gap_above_.empty()) return;
    const auto upper = map_.lower_bound(end);
    const VirtAddr key = upper == map_.end() ? kAboveAll : upper->first;
    const std::uint64_t size = gap_below(upper, cache_high_);
    for (auto& [len, above] : no_gap_above_)
        if (above < key && size >= len) above = key;
    prune_gap_cache();
}

void VmaSet::remember_no_gap(std::uint64_t len, VirtAddr above) const {
    auto [entry, fresh] = no_gap_above_.try_emplace(len, above);
    if (!fresh) entry->second = std::min(entry->second, above);
    prune_gap_cache();
    while (no_gap_above_.size() > kMaxCachedLengths) no_gap_above_.erase(std::prev(no_gap_above_.end()));
}

// Keeps the staircase: drops entries a shorter length already covers, and those covering nothing.
void VmaSet::prune_gap_cache() const {
    VirtAddr lowest = kAboveAll;
    for (auto it = no_gap_above_.begin(); it != no_gap_above_.end();) {
        if (it->second >= lowest) {
            it = no_gap_above_.erase(it);
        } else {
            lowest = it->second;
            ++it;
        }
    }
}

bool VmaSet::gap_cache_exact() const {
    for (auto upper = map_.begin();; ++upper) {
        const VirtAddr key = upper == map_.end() ? kAboveAll : upper->first;
        const std::uint64_t size = gap_below(upper, cache_high_);
        for (const auto& [len, above] : no_gap_above_)
            if (key > above && size >= len) return false;
        if (upper == map_.end()) return true;
    }
}

// Linux's top-down rule: the highest gap of `len` bytes under `high`. The walk visits the gaps from
// the top, starting below the gaps the cache proves too short: O(log n) while the cache holds.
std::optional<VirtAddr> VmaSet::find_gap_top_down(std::uint64_t len, VirtAddr low,
                                                  VirtAddr high) const {
    if (len > high || high - len < low) return std::nullopt;
    if (high != cache_high_) {
        no_gap_above_.clear();
        cache_high_ = high;
    }
    // `it` is the VMA just above the gap under consideration.
    const auto top = map_.lower_bound(high);
    auto it = top;
    if (auto entry = no_gap_above_.upper_bound(len); entry != no_gap_above_.begin()) {
        // Every gap below a VMA starting above the entry's key is too short: resume below the
        // highest VMA at or under it, as the full walk would reach it (same `low` cut-off).
        const auto first_covered = map_.upper_bound(std::prev(entry)->second);
        if (first_covered == map_.begin()) return std::nullopt;
        const auto resume = std::prev(first_covered);
        if (top == map_.end() || resume->first < top->first) {
            it = resume;
            if (it->second.start <= low) return std::nullopt;
        }
    }
    while (true) {
        const VirtAddr gap_hi = it == map_.end() ? high : std::min(high, start_gap(it->second));
        const VirtAddr gap_lo = it == map_.begin() ? low : std::max(low, std::prev(it)->second.end);
        if (gap_hi > gap_lo && gap_hi - gap_lo >= len) {
            if (it != map_.end()) remember_no_gap(len, it->first);
            return gap_hi - len;
        }
        if (it == map_.begin()) return std::nullopt;
        --it;
        if (it->second.start <= low) return std::nullopt;
    }
}

}  // namespace mmu
