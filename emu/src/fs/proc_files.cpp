// /proc/self/maps and /proc/self/status, generated from the mmu state as Linux prints them.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "machine/process.hpp"
#include "syscalls/syscalls.hpp"

namespace emu {

std::string proc_self_maps(Process& p) { return p.as().maps(); }

std::string proc_self_status(Process& p) {
    const auto& as = p.as();
    const std::uint64_t size_kb = as.total_vm_bytes() / 1024;
    const std::uint64_t rss_kb = as.rss_pages() * 4;
    const std::uint64_t locked_kb = as.locked_bytes() / 1024;
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "Name:\tmmuemu-guest\nState:\tR (running)\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n"
                  "VmPeak:\t%8" PRIu64 " kB\nVmSize:\t%8" PRIu64 " kB\nVmLck:\t%8" PRIu64 " kB\n"
                  "VmHWM:\t%8" PRIu64 " kB\nVmRSS:\t%8" PRIu64 " kB\nRssAnon:\t%8" PRIu64 " kB\n"
                  "VmPTE:\t%8" PRIu64 " kB\nThreads:\t1\n",
                  static_cast<int>(::getpid()), static_cast<int>(::getpid()),
                  static_cast<int>(::getppid()), size_kb, size_kb, locked_kb,
                  p.stats().peak_rss_pages * 4 > rss_kb ? p.stats().peak_rss_pages * 4 : rss_kb,
                  rss_kb, rss_kb, as.page_table_pages() * 4);
    return buf;
}

}  // namespace emu
