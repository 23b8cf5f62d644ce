#include "loader/elf_loader.hpp"

#include <elf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

// The vDSO image built from emu/vdso at build time (emu/cmake/embed_bytes.cmake).
extern const unsigned char mmuemu_vdso_image[];
extern const unsigned long mmuemu_vdso_image_size;

namespace emu {

using namespace mmu;

namespace {

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
    throw LoadError(path + ": truncated or corrupt ELF file (" + why + ")", 126);
}

template <class T>
T read_struct(const std::vector<std::uint8_t>& bytes, std::uint64_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

std::uint32_t prot_of(const Elf64_Phdr& ph) {
    std::uint32_t prot = 0;
    if (ph.p_flags & PF_R) prot |= kProtRead;
    if (ph.p_flags & PF_W) prot |= kProtWrite;
    if (ph.p_flags & PF_X) prot |= kProtExec;
    return prot;
}

void check_header(const std::vector<std::uint8_t>& bytes, const std::string& path) {
    if (bytes.size() < 4 || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0)
        throw LoadError(path + ": not an ELF executable", 126);
    if (bytes.size() < sizeof(Elf64_Ehdr)) corrupt(path, "file shorter than the ELF header");
    const auto eh = read_struct<Elf64_Ehdr>(bytes, 0);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
        throw LoadError(path + ": wrong architecture (mmuemu runs x86-64 ELF64 executables)", 126);
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) corrupt(path, "not little-endian");
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
        throw LoadError(path + ": not an executable (ELF type " + std::to_string(eh.e_type) + ")", 126);
    if (eh.e_phentsize != sizeof(Elf64_Phdr)) corrupt(path, "bad program header size");
    if (eh.e_phnum == 0 || eh.e_phnum > 512) corrupt(path, "bad program header count");
    if (eh.e_phoff > bytes.size() || eh.e_phnum * sizeof(Elf64_Phdr) > bytes.size() - eh.e_phoff)
        corrupt(path, "program headers beyond the end of the file");
}

void check_segment(const Elf64_Phdr& ph, std::size_t file_size, std::uint64_t bias,
                   const std::string& path) {
    if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset)
        corrupt(path, "segment beyond the end of the file");
    if (ph.p_filesz > ph.p_memsz) corrupt(path, "segment file size larger than memory size");
    if ((ph.p_vaddr & (kPageSize - 1)) != (ph.p_offset & (kPageSize - 1)))
        corrupt(path, "segment address and offset not congruent modulo the page size");
    const std::uint64_t start = ph.p_vaddr + bias;
    if (start < ph.p_vaddr || ph.p_memsz > kTaskSize || start > kTaskSize - ph.p_memsz)
        corrupt(path, "segment outside the user address space");
}

[[noreturn]] void out_of_ram(const std::string& path) {
    throw LoadError(path + ": the program needs more memory than the guest RAM (--ram)", 126);
}

// Maps one PT_LOAD segment as Linux does: a private mapping of the file's pages (named after the
// file; a page shared with the neighbouring segment holds both), the bytes past p_filesz in the
// last file page zeroed (which copies that page), then anonymous pages for the rest of .bss.
void map_segment(AddressSpace& as, const std::vector<std::uint8_t>& bytes, const Elf64_Phdr& ph,
                 std::uint64_t bias, const std::string& path, const struct stat& st) {
    const std::uint64_t start = page_down(ph.p_vaddr + bias);
    const std::uint64_t file_end = page_up(ph.p_vaddr + bias + ph.p_filesz);
    const std::uint64_t mem_end = page_up(ph.p_vaddr + bias + ph.p_memsz);
    const std::uint32_t flags = map::kPrivate | map::kFixed;
    const std::uint32_t prot = prot_of(ph);
    if (file_end > start) {
        const std::uint64_t first = page_down(ph.p_offset);
        const std::uint64_t last = std::min<std::uint64_t>(bytes.size(), first + (file_end - start));
        auto cache = make_page_cache(as.memory(), bytes.data() + first, last - first, pages(first));
        if (!cache) out_of_ram(path);
        cache.value()->id = st.st_ino;
        cache.value()->dev_major = major(st.st_dev);
        cache.value()->dev_minor = minor(st.st_dev);
        auto mapped = as.mmap_file(start, file_end - start, prot, flags, cache.value(),
                                   pages(first), path);
        if (!mapped) throw LoadError(path + ": cannot map segment: " + std::strerror(mapped.error()), 126);
        const std::uint64_t data_end = ph.p_vaddr + bias + ph.p_filesz;
        if (ph.p_memsz > ph.p_filesz && data_end < file_end) {
            const std::vector<std::uint8_t> zeros(file_end - data_end, 0);
            if (!as.poke(data_end, zeros.data(), zeros.size())) out_of_ram(path);
        }
    }
    if (mem_end > file_end) {
        auto bss = as.mmap(file_end, mem_end - file_end, prot, flags | map::kAnonymous);
        if (!bss) throw LoadError(path + ": cannot map bss: " + std::strerror(bss.error()), 126);
    }
}

// The parts of an ELF file that loading needs, checked.
struct ElfFile {
    Elf64_Ehdr eh{};
    std::vector<Elf64_Phdr> loads;  // non-empty PT_LOAD segments, by address
    std::uint64_t phdr_vaddr = 0;   // PT_PHDR, 0 when absent
    std::string interp;             // PT_INTERP, "" when absent
    bool executable_stack = false;
};

// PT_INTERP: a NUL-terminated path of at most PATH_MAX bytes (else ENOEXEC, as binfmt_elf).
std::string read_interp(const std::vector<std::uint8_t>& bytes, const Elf64_Phdr& ph,
                        const std::string& path) {
    if (ph.p_filesz < 2 || ph.p_filesz > PATH_MAX) corrupt(path, "bad interpreter path size");
    if (ph.p_offset > bytes.size() || ph.p_filesz > bytes.size() - ph.p_offset)
        corrupt(path, "interpreter path beyond the end of the file");
    const char* s = reinterpret_cast<const char*>(bytes.data() + ph.p_offset);
    if (s[ph.p_filesz - 1] != 0) corrupt(path, "interpreter path not NUL-terminated");
    return std::string(s);
}

ElfFile parse_elf(const std::vector<std::uint8_t>& bytes, const std::string& path) {
    check_header(bytes, path);
    ElfFile f;
    f.eh = read_struct<Elf64_Ehdr>(bytes, 0);
    for (unsigned i = 0; i < f.eh.e_phnum; ++i) {
        const auto ph = read_struct<Elf64_Phdr>(bytes, f.eh.e_phoff + i * sizeof(Elf64_Phdr));
        if (ph.p_type == PT_INTERP && f.interp.empty()) f.interp = read_interp(bytes, ph, path);
        if (ph.p_type == PT_GNU_STACK) f.executable_stack = ph.p_flags & PF_X;
        if (ph.p_type == PT_PHDR) f.phdr_vaddr = ph.p_vaddr;
        if (ph.p_type == PT_LOAD && ph.p_memsz != 0) f.loads.push_back(ph);
    }
    if (f.loads.empty()) corrupt(path, "no loadable segment");
    std::sort(f.loads.begin(), f.loads.end(), [](auto& a, auto& b) { return a.p_vaddr < b.p_vaddr; });
    return f;
}

// Linux's total_mapping_size: from the first segment's page to the end of the last one.
std::uint64_t total_span(const ElfFile& f, const std::string& path) {
    const Elf64_Phdr& first = f.loads.front();
    const Elf64_Phdr& last = f.loads.back();
    if (last.p_memsz > kTaskSize || last.p_vaddr > kTaskSize - last.p_memsz)
        corrupt(path, "segment outside the user address space");
    return page_up(last.p_vaddr + last.p_memsz) - page_down(first.p_vaddr);
}

// Linux's maximum_alignment: the largest power-of-two p_align of the PT_LOADs, at least a page.
std::uint64_t max_alignment(const ElfFile& f) {
    std::uint64_t align = kPageSize;
    for (const auto& ph : f.loads)
        if (ph.p_align && (ph.p_align & (ph.p_align - 1)) == 0) align = std::max(align, ph.p_align);
    return align;
}

// Who the file is being loaded as: the program with an interpreter (an ET_DYN goes to
// ELF_ET_DYN_BASE), or a file loaded on its own or as the interpreter (an ET_DYN goes where mmap
// puts it, top-down from the mmap base).
enum class Placement : std::uint8_t { ElfEtDynBase, MmapBase };

// The load bias as binfmt_elf chooses it without ASLR.
std::uint64_t choose_bias(AddressSpace& as, const ElfFile& f, Placement placement, const std::string& path) {
    if (f.eh.e_type == ET_EXEC) return 0;
    const std::uint64_t first = f.loads.front().p_vaddr;
    const std::uint64_t align = max_alignment(f);
    if (placement == Placement::ElfEtDynBase) return page_down((kElfEtDynBase & ~(align - 1)) - first);
    // Where an mmap of the whole span would go (the segments then replace it, MAP_FIXED).
    const std::uint64_t span = total_span(f, path);
    auto area = as.mmap(0, span, kProtNone, map::kPrivate | map::kAnonymous);
    if (!area) throw LoadError(path + ": no room for the segments", 126);
    (void)as.munmap(area.value(), span);
    return page_down((area.value() & ~(align - 1)) - page_down(first));
}

struct Mapped {
    std::uint64_t bias = 0, phdr = 0, end = 0;
};

// Maps every PT_LOAD of `f` at `bias`; `name` is what /proc/PID/maps shows.
Mapped map_file(AddressSpace& as, const std::vector<std::uint8_t>& bytes, const ElfFile& f,
                std::uint64_t bias, const std::string& name) {
    for (const auto& ph : f.loads) check_segment(ph, bytes.size(), bias, name);
    struct stat st {};
    ::stat(name.c_str(), &st);
    Mapped m;
    m.bias = bias;
    m.phdr = f.phdr_vaddr ? f.phdr_vaddr + bias : 0;
    for (const auto& ph : f.loads) {
        map_segment(as, bytes, ph, bias, name, st);
        // AT_PHDR: where the program headers land, if a segment covers them.
        if (m.phdr == 0 && f.eh.e_phoff >= ph.p_offset && f.eh.e_phoff < ph.p_offset + ph.p_filesz)
            m.phdr = ph.p_vaddr + bias + (f.eh.e_phoff - ph.p_offset);
        m.end = std::max(m.end, page_up(ph.p_vaddr + bias + ph.p_memsz));
    }
    return m;
}

// The name /proc/PID/maps shows for the program: Linux shows the file's path with symbolic links
// resolved (/bin/cat is /usr/bin/cat). A relative path stays as given, so that a trace recorded
// in one build directory replays in another.
std::string maps_name(const std::string& path) {
    char real[PATH_MAX];
    return !path.empty() && path[0] == '/' && ::realpath(path.c_str(), real) ? std::string(real) : path;
}

// The interpreter, loaded top-down like an mmap (binfmt_elf's load_elf_interp). Any problem
// with it is ELIBBAD ("Accessing a corrupted shared library"), as Linux reports a bad one.
std::uint64_t load_interpreter(AddressSpace& as, const InterpreterFile& file, const std::string& program,
                               std::uint64_t& entry) {
    try {
        const ElfFile f = parse_elf(file.bytes, file.host_path);
        const Mapped m = map_file(as, file.bytes, f, choose_bias(as, f, Placement::MmapBase, file.host_path),
                                  file.host_path);
        entry = f.eh.e_entry + m.bias;
        return m.bias;
    } catch (const LoadError& e) {
        throw LoadError(std::string(e.what()) + " (the interpreter of " + program + ")", 126, ELIBBAD);
    }
}

}  // namespace

std::optional<ScriptInterpreter> script_interpreter(const std::vector<std::uint8_t>& bytes) {
    if (bytes.size() < 2 || bytes[0] != '#' || bytes[1] != '!') return std::nullopt;
    // The line ends at a newline or after Linux's BINPRM_BUF_SIZE (256) bytes.
    std::string line(bytes.begin() + 2, bytes.begin() + static_cast<long>(std::min<std::size_t>(bytes.size(), 256)));
    line = line.substr(0, line.find('\n'));
    const auto trim = [](const std::string& text) {
        const auto first = text.find_first_not_of(" \t");
        if (first == std::string::npos) return std::string();
        return text.substr(first, text.find_last_not_of(" \t") - first + 1);
    };
    line = trim(line);
    ScriptInterpreter script;
    const auto space = line.find_first_of(" \t");
    script.path = line.substr(0, space);
    if (space != std::string::npos) script.arg = trim(line.substr(space));
    return script;
}

std::vector<std::string> script_argv(const ScriptInterpreter& script, const std::string& script_path,
                                     const std::vector<std::string>& argv) {
    std::vector<std::string> next{script.path};
    if (!script.arg.empty()) next.push_back(script.arg);
    next.push_back(script_path);
    if (argv.size() > 1) next.insert(next.end(), argv.begin() + 1, argv.end());
    return next;
}

std::vector<std::uint8_t> read_program(const std::string& path) {
    if (::access(path.c_str(), F_OK) != 0) throw LoadError(path + ": No such file or directory", 127, ENOENT);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        throw LoadError(path + ": not a regular file (" + (S_ISDIR(st.st_mode) ? "a directory" : "a special file") + ")",
                        126, EACCES);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw LoadError(path + ": cannot open: " + std::strerror(errno), 126, EACCES);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw LoadError(path + ": read error", 126, EIO);
    return bytes;
}

LoadedImage load_elf(AddressSpace& as, const std::vector<std::uint8_t>& bytes, const std::string& path,
                     const InterpreterOpener& open_interp) {
    const ElfFile f = parse_elf(bytes, path);
    const bool dynamic = !f.interp.empty();
    const Placement placement = dynamic ? Placement::ElfEtDynBase : Placement::MmapBase;
    const Mapped m = map_file(as, bytes, f, choose_bias(as, f, placement, path), maps_name(path));
    LoadedImage image;
    image.load_bias = m.bias;
    image.phdr = m.phdr;
    image.phnum = f.eh.e_phnum;
    image.executable_stack = f.executable_stack;
    image.entry = f.eh.e_entry + m.bias;
    image.start = image.entry;
    // An ET_DYN run without an interpreter has its brk moved to ELF_ET_DYN_BASE, out of the
    // mmap area (binfmt_elf, even without ASLR); otherwise it follows the program's end.
    image.brk_start = f.eh.e_type == ET_DYN && !dynamic ? page_up(kElfEtDynBase) : m.end;
    if (dynamic) {
        if (!open_interp) throw LoadError(path + ": no interpreter lookup", 126);
        image.interp_base = load_interpreter(as, open_interp(f.interp), path, image.start);
    }
    return image;
}

namespace {

class StackWriter {
public:
    StackWriter(AddressSpace& as, std::uint64_t top) : as_(as), sp_(top) {}
    std::uint64_t push_bytes(const void* data, std::size_t n) {
        sp_ -= n;
        if (!as_.copy_to_user(sp_, data, n)) throw LoadError("initial stack does not fit", 126);
        return sp_;
    }
    std::uint64_t push_string(const std::string& s) { return push_bytes(s.c_str(), s.size() + 1); }
    void align(std::uint64_t a) { sp_ &= ~(a - 1); }
    std::uint64_t sp() const { return sp_; }
    void set_sp(std::uint64_t sp) { sp_ = sp; }

private:
    AddressSpace& as_;
    std::uint64_t sp_;
};

}  // namespace

// The vDSO, mapped like Linux 6.18 maps it: [vvar] (4 pages), [vvar_vclock] (2), then [vdso]
// (2), as special mappings placed top-down. The shared object exports Linux's vDSO symbols at
// version LINUX_2.6; its clocks read the first [vvar] page, `vvar` (emu/vdso/vvar_clock.h).
std::uint64_t map_vdso(AddressSpace& as, std::shared_ptr<SharedMemoryObject> vvar) {
    constexpr std::uint64_t kVvarPages = 4, kVclockPages = 2, kVdsoPages = 2;
    constexpr std::uint64_t kTotal = (kVvarPages + kVclockPages + kVdsoPages) * kPageSize;
    static_assert(kVdsoPages * kPageSize >= 4096);
    if (mmuemu_vdso_image_size > kVdsoPages * kPageSize) throw LoadError("the vDSO image is larger than its pages", 126);
    auto area = as.mmap(0, kTotal, kProtNone, map::kPrivate | map::kAnonymous);
    if (!area) throw LoadError("cannot map the vDSO", 126);
    const std::uint64_t base = area.value();
    std::vector<std::uint8_t> image(kVdsoPages * kPageSize, 0);
    std::memcpy(image.data(), mmuemu_vdso_image, mmuemu_vdso_image_size);
    const std::vector<std::uint8_t> zeros(kVvarPages * kPageSize, 0);
    const std::uint64_t vclock = base + kVvarPages * kPageSize;
    const std::uint64_t vdso = vclock + kVclockPages * kPageSize;
    const bool vvar_mapped = vvar ? !!as.map_special(base, kProtRead, std::move(vvar), kVvarPages * kPageSize, "[vvar]")
                                  : !!as.map_special(base, kProtRead, zeros.data(), kVvarPages * kPageSize, "[vvar]");
    if (!vvar_mapped ||
        !as.map_special(vclock, kProtRead, zeros.data(), kVclockPages * kPageSize, "[vvar_vclock]") ||
        !as.map_special(vdso, kProtRead | kProtExec, image.data(), image.size(), "[vdso]"))
        throw LoadError("cannot map the vDSO", 126);
    return vdso;
}

StackImage build_stack(AddressSpace& as, const LoadedImage& image, const std::vector<std::string>& argv,
                       const std::vector<std::string>& envp, const std::string& execfn,
                       const VvarPages& vvar) {
    // The stack VMA: 132 KiB below the top of user space, growing down on demand.
    constexpr std::uint64_t kInitialStack = 0x21000;
    auto stack = as.mmap(kStackTop - kInitialStack, kInitialStack,
                         kProtRead | kProtWrite | (image.executable_stack ? std::uint32_t{kProtExec} : 0u),
                         map::kPrivate | map::kAnonymous | map::kFixed | map::kGrowsDown, "[stack]");
    if (!stack) throw LoadError("cannot map the initial stack", 126);

    StackWriter w(as, kStackTop - 8);
    const std::uint64_t execfn_addr = w.push_string(execfn);
    std::vector<std::uint64_t> env_addrs, arg_addrs;
    const std::uint64_t env_end = w.sp();
    for (auto it = envp.rbegin(); it != envp.rend(); ++it) env_addrs.insert(env_addrs.begin(), w.push_string(*it));
    for (auto it = argv.rbegin(); it != argv.rend(); ++it) arg_addrs.insert(arg_addrs.begin(), w.push_string(*it));
    const std::uint64_t arg_end = env_addrs.empty() ? env_end : env_addrs.front();
    const std::uint64_t platform = w.push_string("x86_64");
    // AT_RANDOM: fixed bytes so that runs (and traces) are reproducible.
    const std::uint8_t random_bytes[16] = {0x6d, 0x6d, 0x75, 0x65, 0x6d, 0x75, 0x21, 0x00,
                                           0x13, 0x37, 0xc0, 0xde, 0x5e, 0xed, 0x42, 0x99};
    const std::uint64_t random_addr = w.push_bytes(random_bytes, sizeof random_bytes);
    w.align(16);

    const std::uint64_t vdso = map_vdso(as, vvar ? vvar() : nullptr);
    StackImage out;
    out.arg_start = arg_addrs.empty() ? arg_end : arg_addrs.front();
    out.arg_end = arg_end;
    out.env_start = env_addrs.empty() ? env_end : env_addrs.front();
    out.env_end = env_end;
    out.auxv_words = {
        AT_SYSINFO_EHDR, vdso,
        AT_HWCAP, 0x078bfbff, AT_PAGESZ, kPageSize, AT_CLKTCK, 100,
        AT_PHDR, image.phdr, AT_PHENT, sizeof(Elf64_Phdr), AT_PHNUM, image.phnum,
        AT_BASE, image.interp_base, AT_FLAGS, 0, AT_ENTRY, image.entry,
        AT_UID, ::getuid(), AT_EUID, ::geteuid(), AT_GID, ::getgid(), AT_EGID, ::getegid(),
        AT_SECURE, 0, AT_RANDOM, random_addr, AT_HWCAP2, 0, AT_EXECFN, execfn_addr,
        AT_PLATFORM, platform, AT_MINSIGSTKSZ, 2048, AT_NULL, 0,
    };
    std::vector<std::uint64_t> table;
    table.push_back(argv.size());
    table.insert(table.end(), arg_addrs.begin(), arg_addrs.end());
    table.push_back(0);
    table.insert(table.end(), env_addrs.begin(), env_addrs.end());
    table.push_back(0);
    const std::size_t auxv_index = table.size();
    table.insert(table.end(), out.auxv_words.begin(), out.auxv_words.end());
    // argc must end up 16-byte aligned.
    std::uint64_t sp = w.sp() - table.size() * 8;
    sp &= ~0xfull;
    w.set_sp(sp + table.size() * 8);
    out.rsp = w.push_bytes(table.data(), table.size() * 8);
    out.auxv = out.rsp + auxv_index * 8;
    return out;
}

}  // namespace emu
