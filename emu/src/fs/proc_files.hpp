// The contents of the /proc files mmuemu generates from the MMU and the task model (never the
// host's): per process, per thread, and the few machine-wide files programs read.
#pragma once

#include <cstdint>
#include <string>

namespace emu {

class Process;
struct ThreadGroup;
struct Task;

// /proc/PID/<leaf> (task = the group's first live thread) or /proc/PID/task/TID/<leaf>.
// Returns false when mmuemu does not generate `leaf` as a text file.
bool proc_task_file(Process& p, ThreadGroup& g, Task& t, const std::string& leaf, std::string& out);
// /proc/<leaf> and /proc/sys/...: false when mmuemu does not generate it.
bool proc_machine_file(Process& p, const std::string& path, std::string& out);
// The text files of a process directory, in Linux's order, and those of /proc and /proc/sys.
const char* const* proc_task_text_leaves();
const char* const* proc_machine_leaves();
// Nanoseconds since the machine started (mmuemu's start): /proc/uptime and sysinfo.
std::uint64_t machine_uptime_ns();
// The guest RAM as the guest's kernel reports it: total and free bytes.
std::uint64_t guest_ram_total(Process& p);
std::uint64_t guest_ram_free(Process& p);
// The guest's view of the threads-max limit (from the guest RAM, as Linux derives it).
std::uint64_t guest_threads_max(std::uint64_t ram_bytes);

}  // namespace emu
