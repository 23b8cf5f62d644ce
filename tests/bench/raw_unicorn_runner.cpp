// raw_unicorn_runner - the baseline for compare_emulators.sh: runs a static, non-PIE x86-64 ELF
// (the no-libc guests) on plain Unicorn 2.1, without mmuemu's MMU and without the virtual TLB.
//
//   raw_unicorn_runner [--ram SIZE] [--virtual-tlb] PROGRAM [ARGS...]
//
//   --ram SIZE       size of the guest region, in bytes or with K/M/G (default 512M)
//   --virtual-tlb    use Unicorn's UC_TLB_VIRTUAL mode with no TLB callback (still an identity
//                    mapping) instead of the default UC_TLB_CPU mode. For comparison only: on
//                    Unicorn 2.1.4 the default mode's TLB fills are markedly slower, which is
//                    why a memory-bound guest can run faster under mmuemu than here.
//
// Guest memory is one uc_mem_map'd RWX region, guest address = Unicorn address (identity mapping),
// starting at the page below the lowest PT_LOAD segment: the segments, then a bump allocator for
// anonymous mmap, then the stack at the top (argc, argv, envp = {NULL}, auxv = {AT_PAGESZ, AT_NULL}).
// Only the system calls the no-libc benchmark guests make are implemented, through a
// UC_HOOK_INSN syscall hook:
//   write        fd 1 and 2 only
//   mmap         anonymous only, from the bump allocator (fresh, zero-filled memory; never reused)
//   munmap       no-op, returns 0
//   madvise      no-op, returns 0. There is no MMU here, so MADV_GUARD_INSTALL installs nothing
//                (a store to a "guarded" page just succeeds); the count is reported on stderr.
//   exit, exit_group
// anything else returns -ENOSYS (with a message on stderr). Exit status: the guest's, or 1 (and a
// message) if Unicorn stops on an error such as an access outside the region.
#include <unicorn/unicorn.h>

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kStackSize = 8ull << 20;

std::uint64_t page_down(std::uint64_t v) { return v & ~(kPage - 1); }
std::uint64_t page_up(std::uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

struct UcCloser {
    void operator()(uc_engine *uc) const noexcept { uc_close(uc); }
};
using UcEngine = std::unique_ptr<uc_engine, UcCloser>;

void check(uc_err err, const char *what)
{
    if (err != UC_ERR_OK)
        throw std::runtime_error(std::string(what) + ": " + uc_strerror(err));
}

std::uint64_t parse_size(const std::string &s)
{
    std::size_t pos = 0;
    std::uint64_t v = std::stoull(s, &pos, 0);
    const std::string suffix = s.substr(pos);
    if (suffix == "K" || suffix == "k")
        v <<= 10;
    else if (suffix == "M" || suffix == "m")
        v <<= 20;
    else if (suffix == "G" || suffix == "g")
        v <<= 30;
    else if (!suffix.empty())
        throw std::runtime_error("bad size: " + s);
    return v;
}

struct Guest {
    uc_engine *uc = nullptr;
    std::uint64_t mmap_next = 0;   // bump allocator for anonymous mmap
    std::uint64_t mmap_limit = 0;  // bottom of the stack area
    std::uint64_t madvise_calls = 0;
    int exit_status = -1;          // set by exit/exit_group
};

std::uint64_t reg(uc_engine *uc, int id)
{
    std::uint64_t v = 0;
    uc_reg_read(uc, id, &v);
    return v;
}

std::int64_t sys_write(Guest &g, std::uint64_t fd, std::uint64_t buf, std::uint64_t len)
{
    if (fd != 1 && fd != 2)
        return -EBADF;
    std::vector<char> data(len);
    if (len != 0 && uc_mem_read(g.uc, buf, data.data(), len) != UC_ERR_OK)
        return -EFAULT;
    std::size_t done = 0;
    while (done < len) {
        ssize_t n = ::write(static_cast<int>(fd), data.data() + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += static_cast<std::size_t>(n);
    }
    return static_cast<std::int64_t>(len);
}

std::int64_t sys_mmap(Guest &g, std::uint64_t len, std::uint64_t flags)
{
    constexpr std::uint64_t kMapFixed = 0x10, kMapAnonymous = 0x20;
    if (!(flags & kMapAnonymous) || (flags & kMapFixed))
        return -ENOSYS;  // not needed by the benchmark guests
    if (len == 0)
        return -EINVAL;
    const std::uint64_t size = page_up(len);
    if (size > g.mmap_limit - g.mmap_next)
        return -ENOMEM;
    const std::uint64_t addr = g.mmap_next;
    g.mmap_next += size;
    return static_cast<std::int64_t>(addr);
}

void on_syscall(uc_engine *uc, void *user_data)
{
    Guest &g = *static_cast<Guest *>(user_data);
    const std::uint64_t nr = reg(uc, UC_X86_REG_RAX);
    const std::uint64_t a0 = reg(uc, UC_X86_REG_RDI), a1 = reg(uc, UC_X86_REG_RSI),
                        a2 = reg(uc, UC_X86_REG_RDX), a3 = reg(uc, UC_X86_REG_R10);
    std::int64_t ret = 0;
    switch (nr) {
    case 1:  // write
        ret = sys_write(g, a0, a1, a2);
        break;
    case 9:  // mmap
        ret = sys_mmap(g, a1, a3);
        break;
    case 11:  // munmap
        ret = 0;
        break;
    case 28:  // madvise: no MMU, nothing to do (guard installs/removes are no-ops)
        g.madvise_calls++;
        ret = 0;
        break;
    case 60:   // exit
    case 231:  // exit_group
        g.exit_status = static_cast<int>(a0 & 0xff);
        uc_emu_stop(uc);
        return;
    default:
        std::fprintf(stderr, "raw_unicorn_runner: unsupported system call %llu: returning -ENOSYS\n",
                     static_cast<unsigned long long>(nr));
        ret = -ENOSYS;
        break;
    }
    uc_reg_write(uc, UC_X86_REG_RAX, &ret);
}

std::vector<unsigned char> read_file(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int run(const std::string &path, const std::vector<std::string> &args, std::uint64_t ram,
        bool virtual_tlb)
{
    const std::vector<unsigned char> file = read_file(path);
    Elf64_Ehdr eh{};
    if (file.size() < sizeof eh)
        throw std::runtime_error(path + ": not an ELF file");
    std::memcpy(&eh, file.data(), sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_machine != EM_X86_64)
        throw std::runtime_error(path + ": not an x86-64 ELF64 file");
    if (eh.e_type != ET_EXEC)
        throw std::runtime_error(path + ": not a static non-PIE executable (e_type != ET_EXEC)");

    std::vector<Elf64_Phdr> loads;
    std::uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph{};
        const std::uint64_t off = eh.e_phoff + std::uint64_t{i} * eh.e_phentsize;
        if (off + sizeof ph > file.size())
            throw std::runtime_error(path + ": truncated program headers");
        std::memcpy(&ph, file.data() + off, sizeof ph);
        if (ph.p_type == PT_INTERP)
            throw std::runtime_error(path + ": dynamically linked (PT_INTERP)");
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_offset + ph.p_filesz > file.size() || ph.p_filesz > ph.p_memsz)
            throw std::runtime_error(path + ": bad PT_LOAD segment");
        loads.push_back(ph);
        lo = std::min(lo, page_down(ph.p_vaddr));
        hi = std::max(hi, page_up(ph.p_vaddr + ph.p_memsz));
    }
    if (loads.empty())
        throw std::runtime_error(path + ": no PT_LOAD segments");

    const std::uint64_t base = lo, top = base + ram;
    if (hi + kStackSize + kPage > top)
        throw std::runtime_error("--ram too small for the program and its stack");

    uc_engine *raw = nullptr;
    check(uc_open(UC_ARCH_X86, UC_MODE_64, &raw), "uc_open");
    UcEngine uc(raw);
    if (virtual_tlb)
        check(uc_ctl_tlb_mode(uc.get(), UC_TLB_VIRTUAL), "uc_ctl_tlb_mode");
    check(uc_mem_map(uc.get(), base, ram, UC_PROT_ALL), "uc_mem_map");
    for (const Elf64_Phdr &ph : loads)
        if (ph.p_filesz != 0)
            check(uc_mem_write(uc.get(), ph.p_vaddr, file.data() + ph.p_offset, ph.p_filesz),
                  "loading a segment");  // the rest of p_memsz (.bss) is already zero

    Guest g;
    g.uc = uc.get();
    g.mmap_next = page_up(hi) + 16 * kPage;  // a gap after .bss, like a heap start
    g.mmap_limit = top - kStackSize;

    // Stack: strings at the top, then (growing down) auxv, envp, argv, argc; rsp 16-aligned.
    std::uint64_t sp = top;
    std::vector<std::uint64_t> argv_ptrs;
    for (const std::string &a : args) {
        sp -= a.size() + 1;
        check(uc_mem_write(uc.get(), sp, a.c_str(), a.size() + 1), "writing argv");
        argv_ptrs.push_back(sp);
    }
    std::vector<std::uint64_t> words;
    words.push_back(args.size());
    words.insert(words.end(), argv_ptrs.begin(), argv_ptrs.end());
    words.push_back(0);                                  // argv terminator
    words.push_back(0);                                  // empty envp
    words.insert(words.end(), {AT_PAGESZ, kPage, AT_NULL, 0});
    sp = (sp - words.size() * 8) & ~std::uint64_t{15};
    check(uc_mem_write(uc.get(), sp, words.data(), words.size() * 8), "writing the stack");
    check(uc_reg_write(uc.get(), UC_X86_REG_RSP, &sp), "setting rsp");

    uc_hook hook{};
    check(uc_hook_add(uc.get(), &hook, UC_HOOK_INSN, reinterpret_cast<void *>(on_syscall), &g, 1, 0,
                      UC_X86_INS_SYSCALL),
          "adding the syscall hook");

    const uc_err err = uc_emu_start(uc.get(), eh.e_entry, 0, 0, 0);
    if (g.madvise_calls != 0)
        std::fprintf(stderr,
                     "raw_unicorn_runner: %llu madvise calls ignored (no MMU: guard installs do nothing)\n",
                     static_cast<unsigned long long>(g.madvise_calls));
    if (err != UC_ERR_OK) {
        std::fprintf(stderr, "raw_unicorn_runner: stopped at rip 0x%llx: %s\n",
                     static_cast<unsigned long long>(reg(uc.get(), UC_X86_REG_RIP)), uc_strerror(err));
        return 1;
    }
    if (g.exit_status < 0) {
        std::fprintf(stderr, "raw_unicorn_runner: emulation ended without exit (rip 0x%llx)\n",
                     static_cast<unsigned long long>(reg(uc.get(), UC_X86_REG_RIP)));
        return 1;
    }
    return g.exit_status;
}

}  // namespace

int main(int argc, char **argv)
{
    std::uint64_t ram = 512ull << 20;
    bool virtual_tlb = false;
    int i = 1;
    try {
        for (; i < argc && argv[i][0] == '-'; i++) {
            const std::string opt = argv[i];
            if (opt == "--ram" && i + 1 < argc)
                ram = page_up(parse_size(argv[++i]));
            else if (opt == "--virtual-tlb")
                virtual_tlb = true;
            else
                throw std::runtime_error("unknown option " + opt);
        }
        if (i >= argc) {
            std::fprintf(stderr, "usage: %s [--ram SIZE] [--virtual-tlb] PROGRAM [ARGS...]\n", argv[0]);
            return 2;
        }
        return run(argv[i], std::vector<std::string>(argv + i, argv + argc), ram, virtual_tlb);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "raw_unicorn_runner: %s\n", e.what());
        return 2;
    }
}
