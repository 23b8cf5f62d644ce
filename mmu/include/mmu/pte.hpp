// The x86-64 page-table entry, and Linux-style software entries stored in non-present PTEs.
//
// Present entries use the architectural layout (Intel SDM Vol. 3, 4-level paging):
//   bit 0 P, 1 RW, 2 US, 3 PWT, 4 PCD, 5 A, 6 D, 7 PS (PAT in a 4K PTE), 8 G,
//   bits 12-51 the frame number, bit 63 NX.
// Non-present entries are free for software. As Linux does on x86, we keep:
//   * none: all zero;
//   * PROT_NONE: P clear, bit 8 set, the frame number kept (a mapped page made inaccessible);
//   * swap entries: P and bit 8 clear, a 5-bit type in bits 1-5, a 40-bit offset in bits 12-51;
//   * markers: swap entries of the reserved type kMarkerSwapType whose offset holds marker bits.
// One software bit of present (and PROT_NONE) entries is used, as Linux does on x86:
//   * bit 10 (the CPU ignores bits 9-11; Linux's _PAGE_SOFTW2) is userfaultfd write-protect
//     (kUffdWp): the page is mapped read-only and a write to it in a VMA registered with
//     UFFDIO_REGISTER_MODE_WP is a userfaultfd event, not a copy-on-write or write-enable
//     fault. An entry with kUffdWp is never writable. Non-present entries carry the same state
//     as the kUffdWp marker bit (shmem pages not mapped yet when UFFDIO_WRITEPROTECT ran).
#pragma once

#include <cstdint>
#include <string>

#include "mmu/types.hpp"

namespace mmu {

enum class PteKind : std::uint8_t { None, Present, ProtNone, Swap, Marker };

// Marker bits, as Linux numbers them. A guard marker makes every access SIGSEGV/SEGV_MAPERR, like
// an unmapped address, survives DONTNEED/FREE/mprotect, and is copied by fork unless WIPEONFORK.
namespace marker {
inline constexpr std::uint64_t kUffdWp = 1u << 0;   // userfaultfd write-protect of an unmapped page
// UFFDIO_POISON: every access is SIGBUS (BUS_MCEERR_AR on kernels built with memory-failure
// handling, BUS_ADRERR otherwise, as on the reference host); UFFDIO_COPY may replace it.
inline constexpr std::uint64_t kPoisoned = 1u << 1;
inline constexpr std::uint64_t kGuard = 1u << 2;    // MADV_GUARD_INSTALL
}  // namespace marker

class Pte {
public:
    static constexpr std::uint64_t kPresent = 1ull << 0;
    static constexpr std::uint64_t kWritable = 1ull << 1;
    static constexpr std::uint64_t kUser = 1ull << 2;
    static constexpr std::uint64_t kWriteThrough = 1ull << 3;
    static constexpr std::uint64_t kCacheDisable = 1ull << 4;
    static constexpr std::uint64_t kAccessed = 1ull << 5;
    static constexpr std::uint64_t kDirty = 1ull << 6;
    static constexpr std::uint64_t kHuge = 1ull << 7;  // PS in PDE/PDPTE, PAT in a 4K PTE
    static constexpr std::uint64_t kGlobal = 1ull << 8;
    static constexpr std::uint64_t kProtNoneBit = 1ull << 8;  // only meaningful when P is clear
    static constexpr std::uint64_t kUffdWp = 1ull << 10;      // software: userfaultfd write-protect
    static constexpr std::uint64_t kNoExecute = 1ull << 63;
    static constexpr std::uint64_t kPfnMask = ((1ull << 52) - 1) & ~0xfffull;
    static constexpr unsigned kSwapTypeShift = 1;
    static constexpr std::uint64_t kSwapTypeMask = 0x1full << kSwapTypeShift;
    static constexpr unsigned kMarkerSwapType = 31;

    constexpr Pte() = default;
    constexpr explicit Pte(std::uint64_t raw) : raw_(raw) {}

    // --- constructors for each kind ---
    static constexpr Pte none() { return Pte{}; }
    static constexpr Pte table(Pfn pfn) {
        return Pte{kPresent | kWritable | kUser | kAccessed | (pfn << kPageShift)};
    }
    // A present user page; `prot` decides RW and NX (x86 cannot express write-only or exec-only).
    static constexpr Pte page(Pfn pfn, bool writable, bool executable) {
        std::uint64_t raw = kPresent | kUser | (pfn << kPageShift);
        if (writable) raw |= kWritable;
        if (!executable) raw |= kNoExecute;
        return Pte{raw};
    }
    static constexpr Pte prot_none(Pfn pfn) { return Pte{kProtNoneBit | (pfn << kPageShift)}; }
    static constexpr Pte swap(unsigned type, std::uint64_t offset) {
        return Pte{(std::uint64_t{type} << kSwapTypeShift) | (offset << kPageShift)};
    }
    static constexpr Pte make_marker(std::uint64_t marker_bits) {
        return swap(kMarkerSwapType, marker_bits);
    }
    static constexpr Pte guard() { return make_marker(marker::kGuard); }
    static constexpr Pte poisoned() { return make_marker(marker::kPoisoned); }

    // --- classification ---
    constexpr PteKind kind() const {
        if (raw_ == 0) return PteKind::None;
        if (raw_ & kPresent) return PteKind::Present;
        if (raw_ & kProtNoneBit) return PteKind::ProtNone;
        return swap_type() == kMarkerSwapType ? PteKind::Marker : PteKind::Swap;
    }
    constexpr bool is_none() const { return raw_ == 0; }
    constexpr bool present() const { return raw_ & kPresent; }
    // Present or PROT_NONE: a frame is mapped here (counts for RSS, refcounts).
    constexpr bool maps_frame() const {
        return kind() == PteKind::Present || kind() == PteKind::ProtNone;
    }
    constexpr bool is_guard() const {
        return kind() == PteKind::Marker && (marker_bits() & marker::kGuard);
    }

    constexpr bool is_poisoned() const {
        return kind() == PteKind::Marker && (marker_bits() & marker::kPoisoned);
    }
    // A frame-mapping entry write-protected by userfaultfd.
    constexpr bool uffd_wp() const { return maps_frame() && (raw_ & kUffdWp); }

    // --- field accessors ---
    constexpr std::uint64_t raw() const { return raw_; }
    constexpr Pfn pfn() const { return (raw_ & kPfnMask) >> kPageShift; }
    constexpr bool writable() const { return raw_ & kWritable; }
    constexpr bool user() const { return raw_ & kUser; }
    constexpr bool accessed() const { return raw_ & kAccessed; }
    constexpr bool dirty() const { return raw_ & kDirty; }
    constexpr bool huge() const { return raw_ & kHuge; }
    constexpr bool global() const { return raw_ & kGlobal; }
    constexpr bool executable() const { return !(raw_ & kNoExecute); }
    constexpr unsigned swap_type() const {
        return static_cast<unsigned>((raw_ & kSwapTypeMask) >> kSwapTypeShift);
    }
    constexpr std::uint64_t swap_offset() const { return (raw_ & kPfnMask) >> kPageShift; }
    constexpr std::uint64_t marker_bits() const { return swap_offset(); }

    constexpr Pte with(std::uint64_t bits) const { return Pte{raw_ | bits}; }
    constexpr Pte without(std::uint64_t bits) const { return Pte{raw_ & ~bits}; }

    friend constexpr bool operator==(Pte, Pte) = default;

private:
    std::uint64_t raw_ = 0;
};
static_assert(sizeof(Pte) == 8, "a PTE is one 64-bit word");

// Compile-time round trips of every kind.
static_assert(Pte::none().kind() == PteKind::None);
static_assert(Pte::page(0x1a2, true, false).kind() == PteKind::Present);
static_assert(Pte::page(0x1a2, true, false).pfn() == 0x1a2);
static_assert(Pte::page(0x1a2, true, false).writable());
static_assert(!Pte::page(0x1a2, true, false).executable());
static_assert(Pte::page(0xfffffffffull, false, true).pfn() == 0xfffffffffull);
static_assert(Pte::prot_none(0x55).kind() == PteKind::ProtNone && Pte::prot_none(0x55).pfn() == 0x55);
static_assert(Pte::guard().kind() == PteKind::Marker && Pte::guard().is_guard());
static_assert(!Pte::guard().present());
static_assert(Pte::make_marker(marker::kUffdWp).kind() == PteKind::Marker);
static_assert(!Pte::make_marker(marker::kUffdWp).is_guard());
static_assert(Pte::poisoned().kind() == PteKind::Marker && Pte::poisoned().is_poisoned());
static_assert(!Pte::poisoned().is_guard() && !Pte::guard().is_poisoned());
static_assert(Pte::page(0x1a2, false, false).with(Pte::kUffdWp).kind() == PteKind::Present);
static_assert(Pte::page(0x1a2, false, false).with(Pte::kUffdWp).uffd_wp());
static_assert(Pte::prot_none(0x55).with(Pte::kUffdWp).kind() == PteKind::ProtNone);
static_assert(!Pte::guard().uffd_wp());
static_assert(Pte::swap(3, 0x1234).kind() == PteKind::Swap && Pte::swap(3, 0x1234).swap_type() == 3);
static_assert(Pte::swap(3, 0x1234).swap_offset() == 0x1234);
static_assert(Pte::table(7).present() && Pte::table(7).pfn() == 7);

// Renders an entry for humans, e.g. "present rw- user pfn 0x1a2 A D" or "guard marker".
// `level` is 1 for a PTE, 2 for a PDE, 3 for a PDPTE, 4 for a PML4E.
std::string describe(Pte entry, int level = 1);

}  // namespace mmu
