// execve and execveat: ELF programs (static, static-PIE, dynamic with their interpreter) and "#!" scripts, with Linux's errno
// rules (ENOENT, EACCES, ENOEXEC, ELOOP, E2BIG/EFAULT for the argument arrays).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {


// One argument or environment string: EFAULT when unreadable, E2BIG beyond MAX_ARG_STRLEN
// (32 pages). Read a page at a time.
std::int64_t read_exec_string(Process& p, std::uint64_t addr, std::string& out) {
    constexpr std::size_t kMaxArgStrlen = 32 * 4096;
    out.clear();
    char buf[4096];
    while (true) {
        const std::size_t room = 4096 - (addr & 4095);
        const std::size_t got = p.as().copy_from_user_partial(buf, addr, room);
        const void* nul = std::memchr(buf, 0, got);
        const std::size_t n = nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - buf) : got;
        out.append(buf, n);
        if (out.size() >= kMaxArgStrlen) return err(E2BIG);
        if (nul) return 0;
        if (got < room) return err(EFAULT);
        addr += got;
    }
}

// argv or envp: EFAULT for an unreadable pointer or string, E2BIG when the strings and their
// pointers need more than a quarter of the 8 MiB stack limit (Linux's bound).
std::int64_t read_string_array(Process& p, std::uint64_t addr, std::vector<std::string>& out,
                               std::size_t& total) {
    out.clear();
    if (!addr) return 0;
    for (std::size_t i = 0;; ++i) {
        std::uint64_t ptr;
        if (!p.as().copy_from_user(&ptr, addr + 8 * i, 8)) return err(EFAULT);
        if (!ptr) return 0;
        std::string s;
        if (const std::int64_t e = read_exec_string(p, ptr, s)) return e;
        total += s.size() + 1 + 8;
        if (total > 2 * 1024 * 1024) return err(E2BIG);
        out.push_back(std::move(s));
    }
}

std::int64_t exec_program(Process& p, int dirfd, const std::string& path,
                          std::vector<std::string> argv, const std::vector<std::string>& envp,
                          int flags, int depth) {
    if (path.empty() && !(flags & AT_EMPTY_PATH)) return err(ENOENT);
    HostPath hp;
    if (path.empty()) {  // fexecve: the descriptor's own file
        auto f = p.files().get(dirfd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EACCES);
        hp.dirfd = f->host_fd;
    } else if (const std::int64_t e = resolve_path(p, dirfd, path, hp,
                                                   (flags & AT_SYMLINK_NOFOLLOW) ? Final::NoFollow : Final::Follow)) {
        return e;
    }
    const int open_flags = O_RDONLY | O_CLOEXEC | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0);
    const int fd = path.empty() ? ::fcntl(hp.dirfd, F_DUPFD_CLOEXEC, 3)
                                : ::openat(hp.dirfd, hp.path.c_str(), open_flags);
    if (fd < 0) return err(errno == ELOOP && (flags & AT_SYMLINK_NOFOLLOW) ? ELOOP : errno);
    struct stat st;
    const bool ok = ::fstat(fd, &st) == 0;
    std::vector<std::uint8_t> bytes;
    if (ok && S_ISREG(st.st_mode)) {
        bytes.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < bytes.size()) {
            const long n = ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        bytes.resize(got);
    }
    char self_fd[64];
    std::snprintf(self_fd, sizeof self_fd, "/proc/self/fd/%d", fd);
    const bool executable = ::access(self_fd, X_OK) == 0 && (st.st_mode & 0111);
    ::close(fd);
    if (!ok || !S_ISREG(st.st_mode) || !executable) return err(EACCES);
    const std::string host_file = host_path_of(hp);
    // "#!interpreter [one argument]": the interpreter runs with the script's path (Linux's
    // binfmt_script), at most a few levels deep.
    if (const auto script = script_interpreter(bytes)) {
        if (depth >= kMaxScriptDepth) return err(ELOOP);
        if (script->path.empty()) return err(ENOEXEC);
        return exec_program(p, AT_FDCWD, script->path, script_argv(*script, path, argv), envp, 0, depth + 1);
    }
    if (bytes.size() < 4 || std::memcmp(bytes.data(), "\x7f" "ELF", 4) != 0) return err(ENOEXEC);
    auto mm = std::make_shared<AddressSpace>(p.ram(), p.as().tlb(), p.as().layout());
    p.trace_new_image(*mm);
    try {
        const LoadedImage image = load_elf(*mm, bytes, host_file, [&](const std::string& interp) {
            return p.open_interpreter(interp, path);
        });
        mm->set_brk_base(image.brk_start);
        const StackImage stack = build_stack(*mm, image, argv, envp, path, [&p] { return p.vvar_clock().pages(); });
        // The close-on-exec descriptors close: the process's POSIX locks on their files go.
        for (const auto& [open_fd, file] : p.files().table())
            if (p.files().cloexec(open_fd)) release_posix_locks(p, open_fd);
        p.exec_image(std::move(mm), host_file, image, stack);
    } catch (const LoadError& e) {
        std::fprintf(stderr, "mmuemu: execve: %s\n", e.what());
        p.untrace_failed_image(*mm);
        return err(e.error());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mmuemu: execve of %s: %s\n", path.c_str(), e.what());
        p.untrace_failed_image(*mm);
        return err(ENOMEM);
    }
    return kNoReturn;
}

}  // namespace

std::int64_t do_execve(Process& p, int dirfd, std::uint64_t path_addr, std::uint64_t argv_addr,
                       std::uint64_t envp_addr, int flags) {
    if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return err(EINVAL);
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    std::vector<std::string> argv, envp;
    std::size_t total = 0;
    if (const std::int64_t e = read_string_array(p, argv_addr, argv, total)) return e;
    if (const std::int64_t e = read_string_array(p, envp_addr, envp, total)) return e;
    return exec_program(p, dirfd, path, std::move(argv), envp, flags, 0);
}

}  // namespace emu::sys
