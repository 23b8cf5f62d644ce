// One process's address space: the VMA set (what was asked for), the page table (what backs it),
// and the Linux memory-management calls that edit both, each returning Linux's result and errno.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmu/observer.hpp"
#include "mmu/page_table.hpp"
#include "mmu/physical_memory.hpp"
#include "mmu/result.hpp"
#include "mmu/tlb.hpp"
#include "mmu/types.hpp"
#include "mmu/vma.hpp"

namespace mmu {

struct Layout {
    VirtAddr mmap_base = 0x7ffff7fff000;  // top-down placement starts below this address
    VirtAddr mmap_min_addr = 0x10000;     // vm.mmap_min_addr
    VirtAddr task_size = kTaskSize;
    std::size_t max_map_count = 65530;    // vm.max_map_count
    std::uint64_t stack_limit = 8ull << 20;  // RLIMIT_STACK: how far a GROWSDOWN VMA may grow
    std::uint64_t address_space_limit = ~0ull;  // RLIMIT_AS: the most total_vm may reach
    std::uint64_t data_limit = ~0ull;           // RLIMIT_DATA: private writable memory
    std::uint64_t memlock_limit = ~0ull;        // RLIMIT_MEMLOCK (~0: CAP_IPC_LOCK or unlimited)
    // vm.overcommit_memory = 0's heuristic: a new charged (VM_ACCOUNT) mapping or heap growth
    // larger than this (RAM + swap) fails with ENOMEM. 0: no limit (overcommit_memory = 1).
    std::uint64_t overcommit_limit = 0;
};

// Why an access could not be translated.
enum class FaultReason : std::uint8_t {
    None,
    NoVma,        // no mapping at the address: SEGV_MAPERR
    Protection,   // the VMA forbids this access: SEGV_ACCERR
    GuardMarker,  // a guard region: SEGV_MAPERR
    OutOfMemory,  // no frame left for demand paging: SIGBUS (the emulator reports it)
    BeyondEnd,    // a page of a memory object beyond its (page-rounded) size: SIGBUS/BUS_ADRERR
    NotPresent,   // translate() only: the walk found no usable entry (a fault would resolve it)
    // A fault in a range registered with a userfaultfd that the descriptor's reader must
    // resolve (no signal: the faulting thread waits, then retries the access).
    UserFault,
    Poisoned,     // a UFFDIO_POISON marker: SIGBUS
};
const char* fault_reason_name(FaultReason reason);

// Why a fault goes to userfaultfd: UFFD_PAGEFAULT_FLAG_* as the uffd_msg reports them.
namespace uffd_flag {
inline constexpr std::uint32_t kWrite = 1u << 0;
inline constexpr std::uint32_t kWp = 1u << 1;
inline constexpr std::uint32_t kMinor = 1u << 2;
}  // namespace uffd_flag

// UFFDIO_REGISTER_MODE_*.
namespace uffd_mode {
inline constexpr std::uint32_t kMissing = 1u << 0;
inline constexpr std::uint32_t kWp = 1u << 1;
inline constexpr std::uint32_t kMinor = 1u << 2;
inline constexpr std::uint32_t kAll = kMissing | kWp | kMinor;
// Not modes the guest passes: the registering context's features (vma_flag::kUffdWpAsync,
// kUffdWpUnpopulated), added by the caller after checking the guest's modes.
inline constexpr std::uint32_t kCtxWpAsync = 1u << 8;
inline constexpr std::uint32_t kCtxWpUnpopulated = 1u << 9;
inline constexpr std::uint32_t kCtxFeatures = kCtxWpAsync | kCtxWpUnpopulated;
}  // namespace uffd_mode

struct Fault {
    VirtAddr addr = 0;
    Access access = Access::Read;
    FaultReason reason = FaultReason::None;
    int signo = 0;    // SIGSEGV or SIGBUS
    int si_code = 0;  // SEGV_MAPERR / SEGV_ACCERR / BUS_ADRERR
    // FaultReason::UserFault: the context to report to and the uffd_msg flags.
    std::uint64_t uffd_ctx = 0;
    std::uint32_t uffd_flags = 0;
};

// The result of a UFFDIO_COPY, ZEROPAGE, CONTINUE or POISON: bytes done before the first error,
// and that error (0: the whole range was done).
struct UffdFill {
    std::uint64_t done = 0;
    int error = 0;
};

struct Translation {
    PhysAddr paddr = 0;
    bool writable = false;
    bool executable = false;
};

// A translation or the fault that prevents it.
struct Translated {
    bool ok = false;
    Translation translation;
    Fault fault;
};

struct FaultCounters {
    std::uint64_t faults = 0;
    std::uint64_t demand_zero = 0;     // fresh zeroed frame
    std::uint64_t zero_page_maps = 0;  // read fault mapped the shared zero page
    std::uint64_t cow_copies = 0;      // write to a shared frame: copied
    std::uint64_t write_enables = 0;   // write to an exclusively owned read-only PTE
    std::uint64_t signals = 0;
    std::uint64_t guard_faults = 0;
    std::uint64_t guard_install_zaps = 0;  // guard install walks that met pages and retried
};

// /proc/self/pagemap bits for one page.
struct PagemapEntry {
    bool present = false;   // bit 63 (a PROT_NONE page is present too)
    bool swap = false;      // bit 62: a swap entry or a marker
    bool file = false;      // bit 61: a page of a file or of shmem, not an anonymous one
    bool guard = false;     // bit 58, PM_GUARD_REGION
    bool uffd_wp = false;   // bit 57, PM_UFFD_WP: write-protected by userfaultfd
    bool exclusive = false; // bit 56, PM_MMAP_EXCLUSIVE: mapped exactly once
    Pfn pfn = 0;
    std::uint64_t raw() const;
};

// What /proc/PID/smaps reports of one VMA's pages (Linux fs/proc/task_mmu.c, smaps_account), in
// bytes. The Pss sums are fixed point with kPssShift fractional bits, as Linux keeps them.
struct VmaUsage {
    static constexpr unsigned kPssShift = 12;
    std::uint64_t resident = 0, referenced = 0, anonymous = 0;
    std::uint64_t shared_clean = 0, shared_dirty = 0, private_clean = 0, private_dirty = 0;
    std::uint64_t pss = 0, pss_dirty = 0, pss_anon = 0, pss_file = 0, pss_shmem = 0, pss_locked = 0;
    VmaUsage& operator+=(const VmaUsage& other);
};

// The /proc/self/maps line of one VMA (with its newline).
std::string maps_line(const Vma& v);
// The VmFlags of smaps: Linux's two-letter names of the VMA's flags, in Linux's bit order, each
// followed by a space.
std::string vm_flag_names(const Vma& v);

// How to fault pages in: as MADV_POPULATE_READ, as MADV_POPULATE_WRITE, or as mm_populate does
// for MAP_POPULATE and mlock (write faults for private writable memory, read faults otherwise).
enum class Populate : std::uint8_t { Read, Write, Lock };

class AddressSpace {
public:
    AddressSpace(PhysicalMemory& memory, Tlb& tlb, Layout layout = {});
    ~AddressSpace();  // process exit: every mapping, marker and table is released
    AddressSpace(const AddressSpace&) = delete;
    AddressSpace& operator=(const AddressSpace&) = delete;

    // --- the system calls (anonymous memory) ---
    Result<VirtAddr> mmap(VirtAddr addr, std::uint64_t len, std::uint32_t prot, std::uint32_t flags,
                          std::string name = {});
    // mmap of a memory object (a file's page cache, a memfd) from page offset `pgoff`:
    // MAP_PRIVATE copies its pages on write, MAP_SHARED maps them. `name` is what
    // /proc/self/maps shows. The caller checks the descriptor's access mode (EACCES) and sets
    // `may_write` false for a shared mapping of a file opened without write access.
    Result<VirtAddr> mmap_file(VirtAddr addr, std::uint64_t len, std::uint32_t prot,
                               std::uint32_t flags, std::shared_ptr<SharedMemoryObject> pages,
                               std::uint64_t pgoff, std::string name, bool may_write = true);
    // A special mapping made by the kernel itself (vDSO, vvar) at `addr`: read-only contents,
    // never merged, refusing guard regions and discarding advice.
    Status map_special(VirtAddr addr, std::uint32_t prot, const void* contents, std::size_t size,
                       std::string name);
    // The same over pages the caller keeps (the vvar clock data the emulator updates in place):
    // every address space mapping `pages` sees one set of frames.
    Status map_special(VirtAddr addr, std::uint32_t prot, std::shared_ptr<SharedMemoryObject> pages,
                       std::size_t size, std::string name);
    Status munmap(VirtAddr addr, std::uint64_t len);
    Status mprotect(VirtAddr addr, std::uint64_t len, std::uint32_t prot);
    Result<VirtAddr> mremap(VirtAddr old_addr, std::uint64_t old_len, std::uint64_t new_len,
                            std::uint32_t flags, VirtAddr new_addr = 0);
    Status madvise(VirtAddr addr, std::uint64_t len, int advice);
    Status mlock(VirtAddr addr, std::uint64_t len, std::uint32_t flags = 0);
    Status munlock(VirtAddr addr, std::uint64_t len);
    Status mlockall(std::uint32_t flags);
    Status munlockall();
    Status mseal(VirtAddr addr, std::uint64_t len, std::uint64_t flags);
    Result<std::vector<std::uint8_t>> mincore(VirtAddr addr, std::uint64_t len);
    // msync: the dirty pages of shared file mappings in the range go back to their files.
    Status msync(VirtAddr addr, std::uint64_t len, int flags);
    // The truncation of `object` (resize_object, ZapCopies: Linux's even_cows) or a hole punched
    // in it (punch_object, KeepCopies): its pages [first, last) leave every mapping of it here;
    // the TLB is flushed. Guard markers stay.
    void zap_object_pages(const SharedMemoryObject& object, std::uint64_t first, std::uint64_t last,
                          CowPolicy cows);
    // A write-back of `object`'s pages [first, last): their shared mappings here lose write
    // access (TLB flushed) so that the next write faults and marks the page dirty again.
    void write_protect_object_pages(const SharedMemoryObject& object, std::uint64_t first,
                                    std::uint64_t last);
    // --- NUMA memory policies ---
    // mbind's change of [start, end): every VMA piece gets `policy` (mode 0: none), VMAs split
    // and merge as for any VMA attribute. EFAULT when the range has a hole (nothing changes),
    // ENOMEM when a split would pass max_map_count.
    Status set_policy(VirtAddr start, VirtAddr end, const MemPolicy& policy);
    // set_mempolicy_home_node's walk over [start, end): VMAs without a policy are skipped (ENOENT
    // when all are), the first whose mode is not MPOL_BIND or MPOL_PREFERRED_MANY stops it with
    // EOPNOTSUPP, the others get the home node.
    Status set_home_node(VirtAddr start, VirtAddr end, int node);
    // --- userfaultfd (the page-table side; the descriptor and its waiters are the caller's) ---
    // The range check every UFFDIO_* call starts with (EINVAL: unaligned, empty, outside
    // [mmap_min_addr, TASK_SIZE)).
    Status uffd_validate(VirtAddr start, std::uint64_t len) const;
    // UFFDIO_REGISTER of [start, start + len) with `modes` (uffd_mode) for context `ctx`.
    Status uffd_register(VirtAddr start, std::uint64_t len, std::uint32_t modes, std::uint64_t ctx);
    // UFFDIO_UNREGISTER: the range behaves as unregistered again (write-protection dropped).
    Status uffd_unregister(VirtAddr start, std::uint64_t len);
    // UFFDIO_COPY: pages of [dst, dst + len) filled from the bytes at `src` (this address
    // space's memory), installed where nothing is mapped yet (EEXIST otherwise); `wp` maps them
    // write-protected. The range must be inside one VMA registered with `ctx` (ENOENT).
    UffdFill uffd_copy(VirtAddr dst, VirtAddr src, std::uint64_t len, bool wp, std::uint64_t ctx);
    UffdFill uffd_zeropage(VirtAddr dst, std::uint64_t len, std::uint64_t ctx);
    // UFFDIO_CONTINUE: maps the pages the shmem object already holds (minor faults).
    UffdFill uffd_continue(VirtAddr dst, std::uint64_t len, bool wp, std::uint64_t ctx);
    // UFFDIO_POISON: poisoned markers where nothing is mapped.
    UffdFill uffd_poison(VirtAddr dst, std::uint64_t len, std::uint64_t ctx);
    // UFFDIO_WRITEPROTECT: sets or clears userfaultfd write-protection of the mapped pages
    // (setting it flushes the TLB). Every VMA in the range must be registered with MODE_WP.
    Status uffd_writeprotect(VirtAddr start, std::uint64_t len, bool protect);
    // PAGEMAP_SCAN's PM_SCAN_WP_MATCHING on the pages it selected (Linux's make_uffd_wp_pte and
    // uffd_wp_range): mapped pages lose write access (their TLB entries are flushed), empty
    // entries get a uffd-wp marker, guard and poisoned markers the uffd-wp bit too (they stay
    // what they are). Swap entries are left alone.
    Status uffd_wp_range(VirtAddr start, std::uint64_t len);
    // The last descriptor of `ctx` was closed: its VMAs become unregistered.
    void uffd_release(std::uint64_t ctx);
    // brk: sets the program break; returns the new break (or the old one on failure, as Linux).
    VirtAddr brk(VirtAddr requested);
    void set_brk_base(VirtAddr base);
    // fork: a copy of this address space; private pages become copy-on-write in both.
    Result<std::unique_ptr<AddressSpace>> fork();

    // --- the CPU side ---
    // TLB lookup, then a page walk; sets Accessed/Dirty and fills the TLB. Never changes mappings.
    Translated translate(VirtAddr va, Access access);
    // The page-fault handler: resolves what Linux resolves, else returns the signal to deliver.
    Fault handle_fault(VirtAddr va, Access access);
    // What a user access does: translate, fault, retry.
    Translated access(VirtAddr va, Access access);
    // Kernel accesses to user memory (syscall arguments): fault in as needed; EFAULT on a signal.
    // The partial forms return how many bytes were copied before the first faulting byte.
    Status copy_from_user(void* dst, VirtAddr src, std::size_t n);
    Status copy_to_user(VirtAddr dst, const void* src, std::size_t n);
    std::size_t copy_from_user_partial(void* dst, VirtAddr src, std::size_t n);
    std::size_t copy_to_user_partial(VirtAddr dst, const void* src, std::size_t n);
    // A debugger's or loader's write (ptrace/FOLL_FORCE): ignores the VMA's protection, breaks
    // COW as needed, but fails (EFAULT) on guard pages and unmapped addresses.
    Status poke(VirtAddr dst, const void* src, std::size_t n);

    // --- introspection ---
    PageWalk walk(VirtAddr va) const { return table_.walk(va); }
    Pte leaf(VirtAddr va) const { return table_.leaf(va); }
    std::string maps() const;  // /proc/self/maps text
    PagemapEntry pagemap(VirtAddr va) const;
    // A write to /proc/PID/clear_refs (proc(5)): 1, 2 and 3 make every page of all, of anonymous
    // or of file-backed mappings old (Accessed cleared; smaps' Referenced drops until a page
    // walk sets it again). 4 and 5 change nothing here: no page is ever soft-dirty (the host
    // kernel is built without CONFIG_MEM_SOFT_DIRTY) and the peak RSS is kept per machine.
    static constexpr int kClearRefsAll = 1, kClearRefsAnon = 2, kClearRefsMapped = 3;
    void clear_refs(int type);
    // Walks the page table under `v` (read-only): resident pages, sharing and dirtiness.
    VmaUsage usage(const Vma& v) const;
    const VmaSet& vmas() const { return vmas_; }
    std::size_t vma_count() const { return vmas_.count(); }
    std::uint64_t rss_pages() const { return rss_pages_; }
    std::uint64_t total_vm_bytes() const;
    std::uint64_t locked_bytes() const;
    std::uint64_t page_table_pages() const { return table_.table_pages(); }
    const FaultCounters& fault_counters() const { return faults_; }
    Asid asid() const { return asid_; }
    Pfn page_table_root() const { return table_.root(); }
    PhysicalMemory& memory() { return memory_; }
    const PhysicalMemory& memory() const { return memory_; }
    Tlb& tlb() { return tlb_; }
    const Layout& layout() const { return layout_; }
    // setrlimit(RLIMIT_AS) of the process that owns this address space.
    void set_address_space_limit(std::uint64_t bytes) { layout_.address_space_limit = bytes; }
    void set_data_limit(std::uint64_t bytes) { layout_.data_limit = bytes; }
    void set_memlock_limit(std::uint64_t bytes) { layout_.memlock_limit = bytes; }
    // vm.max_map_count as this address space sees it (replay: the limit a trace states).
    void set_max_map_count(std::size_t count) { layout_.max_map_count = count; }
    VirtAddr brk_current() const { return brk_; }
    VirtAddr brk_base() const { return brk_start_; }
    // Throws std::logic_error naming the broken invariant (used by tests and --check).
    void check_invariants() const;
    // The same checks for the one entry that translates `va` (aborts in checked mode).
    void check_entry(VirtAddr va) const;
    // Every operation called from outside (and every fault not taken inside one) is reported to
    // the observer after it completes, with its arguments and result (trace recording).
    void set_observer(Observer* observer) { observer_ = observer; }
    // Checked mode: every operation and fault ends with check_invariants(); a broken invariant
    // aborts with its name (the emulator's --check and every test run with it on).
    void set_checked(bool on) { checked_ = on; }
    bool checked() const { return checked_; }

private:
    Result<VirtAddr> mmap_file_impl(VirtAddr addr, std::uint64_t len, std::uint32_t prot,
                                    std::uint32_t flags, std::shared_ptr<SharedMemoryObject> pages,
                                    std::uint64_t pgoff, std::string name, bool may_write);
    Status map_special_impl(VirtAddr addr, std::uint32_t prot, std::shared_ptr<SharedMemoryObject> pages,
                            std::size_t size, std::string name);
    Status map_special_impl(VirtAddr addr, std::uint32_t prot, const void* contents,
                            std::size_t size, std::string name);
    Status munmap_impl(VirtAddr addr, std::uint64_t len);
    Status mprotect_impl(VirtAddr addr, std::uint64_t len, std::uint32_t prot);
    Result<VirtAddr> mremap_impl(VirtAddr old_addr, std::uint64_t old_len, std::uint64_t new_len,
                                 std::uint32_t flags, VirtAddr new_addr);
    Status madvise_impl(VirtAddr addr, std::uint64_t len, int advice);
    Status mlock_impl(VirtAddr addr, std::uint64_t len, std::uint32_t flags);
    Status munlock_impl(VirtAddr addr, std::uint64_t len);
    Status mlockall_impl(std::uint32_t flags);
    Status munlockall_impl();
    Status mseal_impl(VirtAddr addr, std::uint64_t len, std::uint64_t flags);
    VirtAddr brk_impl(VirtAddr requested);
    void set_brk_base_impl(VirtAddr base);
    Result<std::unique_ptr<AddressSpace>> fork_impl();
    Status poke_impl(VirtAddr dst, const void* src, std::size_t n);
    Fault handle_fault_impl(VirtAddr va, Access access);
    // Reports a completed outermost operation to the observer.
    void record(const OperationRecord& record) const {
        if (observer_ && operation_depth_ == 0) observer_->on_operation(*this, record);
    }

    // Verifies the invariants when the enclosing operation returns, in checked mode.
    class CheckOnReturn {
    public:
        explicit CheckOnReturn(const AddressSpace& as) : as_(as) { ++as_.operation_depth_; }
        ~CheckOnReturn();
        CheckOnReturn(const CheckOnReturn&) = delete;
        CheckOnReturn& operator=(const CheckOnReturn&) = delete;

    private:
        const AddressSpace& as_;
    };

    // KeepUffdWp: Keep, and a page write-protected by userfaultfd leaves a uffd-wp marker behind
    // (Linux: in a mapping that is not anonymous and uses markers, a zap other than munmap keeps
    // the protection of the pages it removes). keep_markers_of picks it for a VMA.
    enum class MarkerPolicy : std::uint8_t { Keep, Clear, KeepUffdWp };
    static MarkerPolicy keep_markers_of(const Vma& vma) {
        return vma.shmem && vma.uffd_wp_uses_markers() ? MarkerPolicy::KeepUffdWp : MarkerPolicy::Keep;
    }
    class Zapper;

    Status validate_range(VirtAddr addr, std::uint64_t len) const;
    bool splits_exceed_map_count(const Vma& v, VirtAddr start, VirtAddr end) const;
    bool splits_special(VirtAddr start, VirtAddr end) const;
    // RLIMIT_AS for [start, end); the overcommit heuristic when `charged` (VM_ACCOUNT);
    // RLIMIT_DATA when `data` (private writable, not a stack).
    bool within_limits(VirtAddr start, VirtAddr end, bool charged, bool data) const;
    static bool is_data(const Vma& v);
    std::uint64_t data_vm_bytes() const;
    Result<VirtAddr> place(VirtAddr hint, std::uint64_t len, std::uint32_t flags) const;
    void unmap_range(VirtAddr start, VirtAddr end, TlbGather& gather);
    void zap(VirtAddr start, VirtAddr end, MarkerPolicy markers, TlbGather& gather);
    std::uint64_t new_anon_id(const Vma& vma);
    void prepare_anon(Vma& vma);
    bool sealed_in(VirtAddr start, VirtAddr end) const;
    Status populate(VirtAddr start, VirtAddr end, Populate kind, bool stop_at_error);
    void change_protection(VirtAddr start, VirtAddr end, std::uint32_t prot, TlbGather& gather);
    Status apply_vma_flags(VirtAddr start, VirtAddr end, std::uint32_t set, std::uint32_t clear,
                           bool stop_at_hole);
    Status move_ptes(VirtAddr from, VirtAddr to, std::uint64_t len, TlbGather& gather);
    Result<VirtAddr> mremap_move(Vma& vma, VirtAddr old_addr, std::uint64_t old_len,
                                 std::uint64_t new_len, VirtAddr new_addr, bool dont_unmap);
    // madvise helpers
    Status madvise_vma(Vma& vma, VirtAddr start, VirtAddr end, int advice, TlbGather& gather);
    Status guard_install(Vma& vma, VirtAddr start, VirtAddr end, TlbGather& gather);
    void guard_remove(VirtAddr start, VirtAddr end);
    Status madvise_populate(VirtAddr start, VirtAddr end, int advice);
    // fault helpers
    Fault resolve_fault(Vma& vma, Pte& pte, VirtAddr va, Access access);
    std::optional<Fault> userfault(const Vma& vma, Pte pte, VirtAddr va, Access access) const;
    // userfaultfd (userfaultfd.cpp)
    Status set_policy_impl(VirtAddr start, VirtAddr end, const MemPolicy& policy);
    Status set_home_node_impl(VirtAddr start, VirtAddr end, int node);
    Status uffd_register_impl(VirtAddr start, std::uint64_t len, std::uint32_t modes, std::uint64_t ctx);
    Status uffd_unregister_impl(VirtAddr start, std::uint64_t len);
    UffdFill uffd_copy_impl(VirtAddr dst, VirtAddr src, std::uint64_t len, bool wp, std::uint64_t ctx);
    UffdFill uffd_zeropage_impl(VirtAddr dst, std::uint64_t len, std::uint64_t ctx);
    UffdFill uffd_continue_impl(VirtAddr dst, std::uint64_t len, bool wp, std::uint64_t ctx);
    UffdFill uffd_poison_impl(VirtAddr dst, std::uint64_t len, std::uint64_t ctx);
    Status uffd_writeprotect_impl(VirtAddr start, std::uint64_t len, bool protect);
    Status uffd_wp_range_impl(VirtAddr start, std::uint64_t len);
    void uffd_release_impl(std::uint64_t ctx);
    Result<Vma*> uffd_fill_vma(VirtAddr dst, std::uint64_t len, std::uint64_t ctx);
    template <class InstallPage>
    UffdFill uffd_fill(VirtAddr dst, std::uint64_t len, InstallPage&& install);
    void uffd_clear_vmas(VirtAddr start, VirtAddr end, std::uint64_t ctx);
    void uffd_clear_wp(VirtAddr start, VirtAddr end);
    Result<Pfn> shared_frame(Vma& vma, VirtAddr va);
    Vma* grow_stack(VirtAddr va);
    std::size_t copy_user(VirtAddr va, std::byte* buf, std::size_t n, Access access);

    PhysicalMemory& memory_;
    Tlb& tlb_;
    Layout layout_;
    Asid asid_;
    PageTable table_;
    VmaSet vmas_;
    std::uint64_t rss_pages_ = 0;
    std::uint64_t next_anon_id_ = 1;
    std::uint32_t mlockall_flags_ = 0;  // MCL_FUTURE makes new mappings locked
    VirtAddr brk_start_ = 0;
    VirtAddr brk_ = 0;
    FaultCounters faults_;
    bool checked_ = false;
    mutable int operation_depth_ = 0;  // nested operations (a fault inside mlock) check once
    Observer* observer_ = nullptr;
};

}  // namespace mmu
