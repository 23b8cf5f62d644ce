#include "targets.hpp"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mmu::testing {

std::string to_string(const Probe& p) {
    if (p.ok) return "value " + std::to_string(p.value);
    return "SIGSEGV si_code " + std::to_string(p.si_code);
}

namespace {

// A window at 80 TiB: below PIE programs and the top-down mmap area, and outside the ranges
// AddressSanitizer reserves for its shadow (up to 0x10007fff8000) and allocator (0x600000000000).
constexpr std::uint64_t kWindowBase = 0x500000000000ull;

std::int64_t result_of(long r) { return r < 0 ? -errno : r; }

// ---- host kernel ----
sigjmp_buf probe_jump;
volatile int probe_si_code = 0;

void on_segv(int, siginfo_t* info, void*) {
    probe_si_code = info->si_code;
    siglongjmp(probe_jump, 1);
}

class HostTarget final : public Target {
public:
    HostTarget() {
        // The scratch half must be free; the upper half may hold sealed mappings of earlier tests.
        void* p = ::mmap(reinterpret_cast<void*>(kWindowBase), kScratchBytes, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p != reinterpret_cast<void*>(kWindowBase))
            throw std::runtime_error("host test window at 0x500000000000 is not free");
        ::munmap(p, kScratchBytes);
        pagemap_ = ::open("/proc/self/pagemap", O_RDONLY);
        char path[] = "/tmp/mmu-target-file-XXXXXX";
        file_ = ::mkstemp(path);
        if (file_ < 0) throw std::runtime_error("cannot make the host target's test file");
        ::unlink(path);
        fill_file();
        struct sigaction sa {};
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        ::sigaction(SIGSEGV, &sa, &old_segv_);
    }
    ~HostTarget() override {
        ::munmap(at(0), kWindowBytes);  // sealed mappings stay: the kernel refuses (EPERM)
        ::close(pagemap_);
        ::close(file_);
        ::sigaction(SIGSEGV, &old_segv_, nullptr);
    }

    std::int64_t mmap(std::uint64_t off, std::uint64_t len, int prot, int flags) override {
        void* r = ::mmap(at(off), len, prot, flags, -1, 0);
        if (r == MAP_FAILED) return -errno;
        return static_cast<std::int64_t>(reinterpret_cast<std::uint64_t>(r) - kWindowBase);
    }
    std::int64_t mmap_file(std::uint64_t off, std::uint64_t len, int prot, int flags) override {
        void* r = ::mmap(at(off), len, prot, flags, file_, static_cast<off_t>(off));
        if (r == MAP_FAILED) return -errno;
        return static_cast<std::int64_t>(reinterpret_cast<std::uint64_t>(r) - kWindowBase);
    }
    std::int64_t munmap(std::uint64_t off, std::uint64_t len) override {
        return result_of(::munmap(at(off), len));
    }
    std::int64_t mprotect(std::uint64_t off, std::uint64_t len, int prot) override {
        return result_of(::mprotect(at(off), len, prot));
    }
    std::int64_t madvise(std::uint64_t off, std::uint64_t len, int advice) override {
        return result_of(::madvise(at(off), len, advice));
    }
    std::int64_t mbind(std::uint64_t off, std::uint64_t len, int mode) override {
        const unsigned long node0 = 1;
        const bool nodes = mode != 0 && mode != 4;
        return result_of(::syscall(SYS_mbind, at(off), len, mode, nodes ? &node0 : nullptr, nodes ? 64 : 0, 0));
    }
    std::int64_t mremap(std::uint64_t off, std::uint64_t old_len, std::uint64_t new_len, int flags,
                        std::uint64_t new_off) override {
        void* r = ::mremap(at(off), old_len, new_len, flags, at(new_off));
        if (r == MAP_FAILED) return -errno;
        return static_cast<std::int64_t>(reinterpret_cast<std::uint64_t>(r) - kWindowBase);
    }
    std::int64_t mlock(std::uint64_t off, std::uint64_t len, int flags) override {
        return result_of(::syscall(SYS_mlock2, at(off), len, flags));
    }
    std::int64_t munlock(std::uint64_t off, std::uint64_t len) override {
        // Raw system call: AddressSanitizer turns the libc mlock family into no-ops.
        return result_of(::syscall(SYS_munlock, at(off), len));
    }
    std::int64_t mseal(std::uint64_t off, std::uint64_t len) override {
        return result_of(::syscall(462, at(off), len, 0));
    }
    std::int64_t mincore(std::uint64_t off, std::uint64_t len, std::vector<std::uint8_t>& vec) override {
        vec.assign((len + kPageSize - 1) / kPageSize, 0);
        return result_of(::mincore(at(off), len, vec.data()));
    }
    Probe read(std::uint64_t off) override { return access(off, false, 0); }
    Probe write(std::uint64_t off, std::uint8_t value) override { return access(off, true, value); }
    bool guard(std::uint64_t off) override { return pagemap_word(off) & (1ull << 58); }
    bool present(std::uint64_t off) override { return pagemap_word(off) & (1ull << 63); }
    int vma_count() override {
        std::ifstream maps("/proc/self/maps");
        std::string line;
        int count = 0;
        while (std::getline(maps, line)) {
            std::uint64_t lo = 0, hi = 0;
            if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) continue;
            if (hi > kWindowBase && lo < kWindowBase + kScratchBytes) ++count;
        }
        return count;
    }
    std::string describe_vmas() override {
        std::ifstream maps("/proc/self/maps");
        std::string line, out;
        while (std::getline(maps, line)) {
            std::uint64_t lo = 0, hi = 0;
            char perms[8] = {};
            if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
            if (hi > kWindowBase && lo < kWindowBase + kScratchBytes)
                out += "  [" + std::to_string((lo - kWindowBase) / kPageSize) + ", " +
                       std::to_string((hi - kWindowBase) / kPageSize) + ") " + perms + "\n";
        }
        return out;
    }
    std::vector<Probe> fork_and_read(const std::vector<std::uint64_t>& offsets) override {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        const pid_t pid = ::fork();
        if (pid == 0) {
            for (std::uint64_t off : offsets) {
                Probe p = read(off);
                if (::write(fds[1], &p, sizeof p) != sizeof p) ::_exit(2);
            }
            ::_exit(0);
        }
        ::close(fds[1]);
        std::vector<Probe> out(offsets.size());
        for (Probe& p : out)
            if (::read(fds[0], &p, sizeof p) != sizeof p) throw std::runtime_error("child died");
        ::close(fds[0]);
        ::waitpid(pid, nullptr, 0);
        return out;
    }
    void reset() override {
        ::munmap(at(0), kScratchBytes);
        fill_file();
    }

private:
    static void* at(std::uint64_t off) { return reinterpret_cast<void*>(kWindowBase + off); }
    void fill_file() {
        std::vector<std::uint8_t> bytes(kFilePages * kPageSize);
        for (std::uint64_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i / kPageSize + 1);
        if (::pwrite(file_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
            throw std::runtime_error("cannot fill the host target's test file");
    }

    Probe access(std::uint64_t off, bool is_write, std::uint8_t value) {
        volatile std::uint8_t* p = static_cast<volatile std::uint8_t*>(at(off));
        Probe out;
        if (sigsetjmp(probe_jump, 1) == 0) {
            if (is_write) *p = value;
            out.value = *p;
            out.ok = true;
        } else {
            out.si_code = probe_si_code;
        }
        return out;
    }
    std::uint64_t pagemap_word(std::uint64_t off) {
        std::uint64_t word = 0;
        const off_t pos = static_cast<off_t>((kWindowBase + off) / kPageSize * 8);
        if (::pread(pagemap_, &word, sizeof word, pos) != sizeof word) return 0;
        return word;
    }

    int pagemap_ = -1;
    int file_ = -1;
    struct sigaction old_segv_ {};
};

// The mmu target's test file: bytes held in memory, as the emulator's host file would be.
class InMemoryFile final : public ObjectBacking {
public:
    explicit InMemoryFile(std::vector<std::uint8_t>& bytes) : bytes_(bytes) {}
    void read_page(std::uint64_t index, std::byte* page) override {
        for (std::uint64_t i = 0; i < kPageSize && (index << kPageShift) + i < bytes_.size(); ++i)
            page[i] = std::byte{bytes_[(index << kPageShift) + i]};
    }
    void write_page(std::uint64_t index, const std::byte* page, std::size_t len) override {
        for (std::size_t i = 0; i < len && (index << kPageShift) + i < bytes_.size(); ++i)
            bytes_[(index << kPageShift) + i] = std::to_integer<std::uint8_t>(page[i]);
    }
    void punch_hole(std::uint64_t first, std::uint64_t count) override {
        for (std::uint64_t i = first << kPageShift; i < ((first + count) << kPageShift) && i < bytes_.size(); ++i)
            bytes_[i] = 0;
    }
    void sync_data() override {}

private:
    std::vector<std::uint8_t>& bytes_;
};

// ---- mmu library ----
class MmuTarget final : public Target {
public:
    std::int64_t mmap(std::uint64_t off, std::uint64_t len, int prot, int flags) override {
        auto r = as_->mmap(kWindowBase + off, len, static_cast<std::uint32_t>(prot),
                           static_cast<std::uint32_t>(flags));
        return r ? static_cast<std::int64_t>(r.value() - kWindowBase) : -r.error();
    }
    std::int64_t mmap_file(std::uint64_t off, std::uint64_t len, int prot, int flags) override {
        if (!file_object_) make_file();
        auto r = as_->mmap_file(kWindowBase + off, len, static_cast<std::uint32_t>(prot),
                                static_cast<std::uint32_t>(flags), file_object_, pages(off), "/test-file");
        return r ? static_cast<std::int64_t>(r.value() - kWindowBase) : -r.error();
    }
    std::int64_t munmap(std::uint64_t off, std::uint64_t len) override {
        return status(as_->munmap(kWindowBase + off, len));
    }
    std::int64_t mprotect(std::uint64_t off, std::uint64_t len, int prot) override {
        return status(as_->mprotect(kWindowBase + off, len, static_cast<std::uint32_t>(prot)));
    }
    std::int64_t madvise(std::uint64_t off, std::uint64_t len, int advice) override {
        return status(as_->madvise(kWindowBase + off, len, advice));
    }
    std::int64_t mbind(std::uint64_t off, std::uint64_t len, int mode) override {
        MemPolicy policy;
        policy.mode = static_cast<std::uint16_t>(mode);
        policy.nodes = mode != 0 && mode != 4 ? 1 : 0;
        return status(as_->set_policy(kWindowBase + off, kWindowBase + off + len, policy));
    }
    std::int64_t mremap(std::uint64_t off, std::uint64_t old_len, std::uint64_t new_len, int flags,
                        std::uint64_t new_off) override {
        auto r = as_->mremap(kWindowBase + off, old_len, new_len, static_cast<std::uint32_t>(flags),
                             kWindowBase + new_off);
        return r ? static_cast<std::int64_t>(r.value() - kWindowBase) : -r.error();
    }
    std::int64_t mlock(std::uint64_t off, std::uint64_t len, int flags) override {
        return status(as_->mlock(kWindowBase + off, len, static_cast<std::uint32_t>(flags)));
    }
    std::int64_t munlock(std::uint64_t off, std::uint64_t len) override {
        return status(as_->munlock(kWindowBase + off, len));
    }
    std::int64_t mseal(std::uint64_t off, std::uint64_t len) override {
        return status(as_->mseal(kWindowBase + off, len, 0));
    }
    std::int64_t mincore(std::uint64_t off, std::uint64_t len, std::vector<std::uint8_t>& vec) override {
        auto r = as_->mincore(kWindowBase + off, len);
        if (!r) return -r.error();
        vec = r.value();
        return 0;
    }
    Probe read(std::uint64_t off) override { return access(*as_, off, false, 0); }
    Probe write(std::uint64_t off, std::uint8_t value) override { return access(*as_, off, true, value); }
    bool guard(std::uint64_t off) override { return as_->pagemap(kWindowBase + off).guard; }
    bool present(std::uint64_t off) override { return as_->pagemap(kWindowBase + off).present; }
    int vma_count() override {
        int count = 0;
        for (const auto& [start, v] : as_->vmas().all())
            if (v.end > kWindowBase && v.start < kWindowBase + kScratchBytes) ++count;
        return count;
    }
    std::string describe_vmas() override {
        std::string out;
        for (const auto& [start, v] : as_->vmas().all()) {
            if (v.end <= kWindowBase || v.start >= kWindowBase + kScratchBytes) continue;
            out += "  [" + std::to_string((v.start - kWindowBase) / kPageSize) + ", " +
                   std::to_string((v.end - kWindowBase) / kPageSize) + ") prot " +
                   std::to_string(v.prot) + " flags " + std::to_string(v.flags) + " anon " +
                   std::to_string(v.anon_id) + " pgoff " + std::to_string(v.pgoff) + "\n";
        }
        return out;
    }
    std::vector<Probe> fork_and_read(const std::vector<std::uint64_t>& offsets) override {
        auto child = as_->fork();
        if (!child) throw std::runtime_error("mmu fork failed");
        std::vector<Probe> out;
        for (std::uint64_t off : offsets) out.push_back(access(*child.value(), off, false, 0));
        child.value()->check_invariants();
        return out;
    }
    void reset() override {
        as_->check_invariants();
        as_ = make_checked();
        file_object_.reset();  // after the address space: its mappings write back into the bytes
    }

private:
    static std::int64_t status(const Status& s) { return s ? 0 : -s.error(); }
    static Probe access(AddressSpace& space, std::uint64_t off, bool is_write, std::uint8_t value) {
        Translated t = space.access(kWindowBase + off, is_write ? Access::Write : Access::Read);
        Probe out;
        if (!t.ok) {
            out.si_code = t.fault.si_code;
            return out;
        }
        auto* host = reinterpret_cast<std::uint8_t*>(space.memory().host_base() + t.translation.paddr);
        if (is_write) *host = value;
        out.ok = true;
        out.value = *host;
        return out;
    }

    // One page cache for the test file, shared by every mapping of it until reset().
    void make_file() {
        file_bytes_.assign(kFilePages * kPageSize, 0);
        for (std::uint64_t i = 0; i < file_bytes_.size(); ++i) file_bytes_[i] = static_cast<std::uint8_t>(i / kPageSize + 1);
        file_object_ = std::make_shared<SharedMemoryObject>();
        file_object_->memory = &memory_;
        file_object_->size = kFilePages * kPageSize;
        file_object_->backing = std::make_unique<InMemoryFile>(file_bytes_);
    }

    PhysicalMemory memory_{512ull << 20};
    Tlb tlb_;
    std::vector<std::uint8_t> file_bytes_;
    std::shared_ptr<SharedMemoryObject> file_object_;
    std::unique_ptr<AddressSpace> as_ = make_checked();

    std::unique_ptr<AddressSpace> make_checked() {
        auto space = std::make_unique<AddressSpace>(memory_, tlb_);
        space->set_checked(true);
        return space;
    }
};

}  // namespace

std::unique_ptr<Target> make_host_target() { return std::make_unique<HostTarget>(); }
std::unique_ptr<Target> make_mmu_target() { return std::make_unique<MmuTarget>(); }

}  // namespace mmu::testing
