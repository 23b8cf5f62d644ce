// One emulated machine: the physical memory and TLB model every guest task shares, the virtual
// CPUs (one Unicorn engine each), the tasks (processes and threads) of the kernel model, and the
// deterministic scheduler that runs them. The system-call layer sees it through the *current*
// task: as(), files() and signals() are that task's, cpu() is the CPU it runs on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/cpu.hpp"
#include "loader/elf_loader.hpp"
#include "gdb/debug_target.hpp"
#include "gdb/gdb_stub.hpp"
#include "fs/file_locks.hpp"
#include "fs/file_objects.hpp"
#include "kernel/sysv_shm.hpp"
#include "machine/vvar_clock.hpp"
#include "fs/guest_files.hpp"
#include "kernel/task.hpp"
#include <map>
#include "mmu/address_space.hpp"
#include "kernel/signals.hpp"
#include "machine/access_tracer.hpp"
#include "machine/shadow_tlb.hpp"
#include "trace/trace_recorder.hpp"

namespace emu {

// --check: which coherence checker runs (see README, "Checking").
enum class CheckMode : std::uint8_t {
    Off,
    // --check (=shadow): after every operation that may change mappings, every translation a CPU
    // was handed since its last flush is still what the page table gives.
    Shadow,
    // --check=accesses: every instruction fetch and data access verified as it happens, and the
    // MMU's invariants after every address-space operation.
    Accesses,
};

struct RunOptions {
    std::uint64_t ram_bytes = mmu::PhysicalMemory::kDefaultBytes;
    CheckMode check = CheckMode::Off;
    std::string root = "/";         // the guest's view of the file system
    bool host_devices = false;      // --host-devices: every host device node may be opened
    bool strace = false;            // --strace: every system call on stderr, decoded
    std::uint64_t max_instructions = 0;
    bool stats = false;
    std::optional<GdbOptions> gdb;
    std::string trace_path;       // --trace FILE (.zst: compressed)
    bool trace_accesses = false;  // --trace-accesses: every memory access too
    // --trace-fills: Unicorn's TLB fills too. Off by default: when they happen depends on
    // Unicorn's soft-TLB sizing, which follows wall-clock time, so they differ between runs.
    bool trace_fills = false;  // --gdb: wait for a debugger before the first instruction
    // Fault injection for the checker's own test: do not mirror MMU flushes onto Unicorn.
    bool skip_tlb_flush = false;
    unsigned cpus = 1;               // --cpus: virtual CPUs, run round-robin by one host thread
    std::uint64_t sched_seed = 0;    // --sched-seed: random slices and picks (0: round robin)
    // Fault injection for the shootdown test: flush only the CPU that changed the mapping.
    bool skip_shootdown = false;
    // Fault injection for the code test: never drop translated code after the emulator wrote
    // into guest memory or freed frames (drop_changed_code and flush_code_everywhere do nothing).
    bool skip_code_flush = false;
};

// Statistics printed by --stats.
struct RunStats {
    std::uint64_t syscalls = 0;
    std::uint64_t tlb_fills = 0;
    std::uint64_t unicorn_flushes = 0;       // of a CPU's whole soft TLB
    std::uint64_t unicorn_page_flushes = 0;  // of one page's entries in a CPU's soft TLB
    std::uint64_t code_pages_dropped = 0;  // one frame's translated code dropped on one CPU
    std::uint64_t code_flushes = 0;        // all of a CPU's translated code dropped
    std::uint64_t signals_delivered = 0;
    std::uint64_t peak_rss_pages = 0;
    std::uint64_t context_switches = 0;
    std::uint64_t cr3_loads = 0;    // a CPU switched to another address space (flushes its TLB)
    std::uint64_t shootdowns = 0;   // flushes sent to a CPU other than the one that changed a mapping
    std::uint64_t tasks_created = 0;
    std::uint64_t shadow_checks = 0;    // --check: verifications of the shadow TLBs
    std::uint64_t shadow_entries = 0;   // translations they compared with the page table
};

// One virtual CPU: an engine, the task whose registers it holds, and the address space whose
// translations its soft TLB may hold (Linux's mm_cpumask is the set of CPUs with that asid).
struct VirtualCpu {
    std::unique_ptr<Cpu> engine;
    std::shared_ptr<Task> task;
    std::optional<mmu::Asid> loaded_asid;
    int last_tid = 0;  // round robin per CPU: a task pinned elsewhere never starves this one's
    // --check: the translations this CPU was handed since its TLB was last flushed.
    ShadowTlb shadow;
    // The frames this CPU's engine may hold translated code of, or may translate code from
    // without asking the TLB-fill hook (handed out executable since its translated code was
    // last dropped whole, which flushes its TLB too; freed frames leave), with a page that
    // mapped each. What drop_changed_code looks at.
    std::unordered_map<mmu::Pfn, mmu::VirtAddr> code_frames;
    // --check: those of them the emulator wrote since (their code must be dropped before this
    // CPU runs again).
    std::map<mmu::Pfn, mmu::VirtAddr> stale_code;
    // --check=accesses: the same, as frame -> pages (memory hooks see physical addresses).
    std::unordered_map<mmu::Pfn, std::vector<mmu::VirtAddr>> handed_out;
    std::uint64_t checked_code_page = ~0ull;
    CpuTimes busy;  // guest time run on this CPU, user and system (/proc/stat)
    std::uint64_t checked_data_frame = ~0ull;
    bool checked_data_write = false;
    // Fills handed to this CPU's engine since its TLB was last flushed (see tlb_fill_hook).
    std::uint64_t fills_since_flush = 0;
    std::uint64_t fills_before_resize_flush = 1 << 12;  // doubles after each resize flush
};

// The machine, and the debugger's target (DebugTarget: what the GDB stub sees of it).
class Userfaultfd;

class Process final : public DebugTarget {
public:
    Process(const RunOptions& options, const std::string& program, std::vector<std::string> argv,
            std::vector<std::string> envp);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    // Runs every task to the end of the first one; returns the exit status a shell would see of
    // the first task (128 + signal when killed).
    int run();

    // The current task's view, used by the syscall layer.
    mmu::AddressSpace& as() { return *current_->group->mm; }
    Cpu& cpu() { return *cpus_[cpu_index_].engine; }
    GuestFiles& files() { return *current_->files; }
    SignalState& signals() { return current_->signals; }
    const std::shared_ptr<Task>& current_task() const { return current_; }
    Task& task() { return *current_; }
    std::shared_ptr<Task> current() { return current_; }
    ThreadGroup& group() { return *current_->group; }
    FsState& fs() { return *current_->fs; }
    const RunOptions& options() const { return options_; }
    const StackImage& stack_image() const { return current_->group->stack; }
    const std::string& program_path() const { return current_->group->exe; }
    const RunStats& stats() const { return stats_; }
    unsigned cpu_index() const { return cpu_index_; }
    unsigned cpu_count() const { return static_cast<unsigned>(cpus_.size()); }
    const CpuTimes& cpu_busy(unsigned cpu) const { return cpus_[cpu].busy; }
    mmu::PhysicalMemory& ram() { return ram_; }
    // The page cache of the host files the guest maps (shared by every task).
    FileObjects& file_objects() { return file_objects_; }
    // POSIX record locks of every guest process (fcntl F_SETLK).
    FileLocks& file_locks() { return file_locks_; }
    SysvShm& sysv_shm() { return sysv_shm_; }
    VvarClock& vvar_clock() { return vvar_clock_; }
    // Per-task CPU time. One host thread runs every CPU, so its CPU time while a task runs is
    // that task's: a slice is timed from begin_cpu_slice to settle_cpu_slice (two clock reads
    // per run of a CPU, not per system call), and split into user and system time by the share
    // of the slice's TSC ticks spent in system calls (two rdtsc per call).
    void begin_cpu_slice(const std::shared_ptr<Task>& t);
    void settle_cpu_slice();  // charges the slice so far; the slice goes on (if any)
    void end_cpu_slice();
    void add_syscall_ticks(std::uint64_t ticks) { cpu_slice_.syscall_ticks += ticks; }
    void print_stats() const;

    // --- the kernel model (kernel/*.cpp) ---
    std::shared_ptr<Task> find_task(int tid) const;
    std::shared_ptr<ThreadGroup> find_group(int tgid) const;
    const std::map<int, std::shared_ptr<Task>>& tasks() const { return tasks_; }
    const std::map<int, std::shared_ptr<ThreadGroup>>& groups() const { return groups_; }
    // A reaped group is forgotten (wait4 took its status).
    void forget_group(int tgid) { groups_.erase(tgid); }
    // A new task cloned from the current one (the flags are validated by the caller).
    std::shared_ptr<Task> clone_task(std::uint64_t flags, std::shared_ptr<mmu::AddressSpace> mm);
    // The current task ends (exit); the last one out ends its group.
    void exit_thread(int code);
    // Every task of the current group ends (exit_group, or death by a signal: `signo` != 0).
    void exit_group(int code, int signo = 0);
    // Reads the interpreter `interp` a program at `program` names (PT_INTERP), looked up inside
    // the current task's root as Linux's open_exec does; throws LoadError (127 when missing).
    InterpreterFile open_interpreter(const std::string& interp, const std::string& program);
    // Replaces the current group's program (execve succeeded): new address space and registers.
    // execve: when the calling process is traced, its new address space is recorded from its
    // first mapping (the loader's), and forgotten again if the exec fails.
    void trace_new_image(mmu::AddressSpace& mm);
    void untrace_failed_image(const mmu::AddressSpace& mm);
    void exec_image(std::shared_ptr<mmu::AddressSpace> mm, const std::string& exe,
                    const LoadedImage& image, const StackImage& stack);
    // Sends a signal to a thread group (kill) or one task (tgkill); applies Linux's generation
    // rules (ignored signals are dropped, SIGKILL/SIGSTOP/SIGCONT act at once).
    // Both return whether the signal was queued (false: ignored, coalesced, or no target).
    bool signal_group(ThreadGroup& group, const SigInfo& info);
    bool signal_task(Task& task, const SigInfo& info);
    // Bookkeeping of a POSIX timer's signal when it is dequeued (delivery, sigtimedwait, signalfd).
    void timer_signal_taken(SigInfo& info);
    // The current task blocks in its system call until `block.ready` (or a signal, or the
    // deadline); the call is executed again then, with block.retry set.
    std::int64_t block(BlockState block);
    // Wakes waiters of a futex key; returns how many.
    int futex_wake(std::uint64_t key_a, std::uint64_t key_b, int count, std::uint32_t bitset);
    int futex_requeue(std::uint64_t from_a, std::uint64_t from_b, std::uint64_t to_a,
                      std::uint64_t to_b, int wake, int requeue);
    void futex_enqueue(std::uint64_t key_a, std::uint64_t key_b, std::uint32_t bitset);
    void futex_dequeue(Task& task);
    std::pair<std::uint64_t, std::uint64_t> futex_key(mmu::AddressSpace& mm, std::uint64_t addr) const;
    // Ends the current task's time slice after this system call (sched_yield, a wake-up).
    void yield() { yield_ = true; cpu().stop(); }
    // Translated code of every CPU is dropped whole (a debugger's breakpoints, another CPU's
    // stores into memory made executable).
    void flush_code_everywhere();
    // True when the current task has a signal that would interrupt a blocking call.
    bool signal_interrupts() const;
    // userfaultfd contexts by id (the id VMAs name): `make` builds the context for its new id.
    std::uint64_t add_userfaultfd(std::function<std::shared_ptr<Userfaultfd>(std::uint64_t)> make);
    std::shared_ptr<Userfaultfd> find_userfaultfd(std::uint64_t id) const;
    // A fresh pidfd-like reference to a group, for poll and waitid(P_PIDFD).
    int next_pid() { return next_pid_++; }

    // Ends the current task after the current instruction with `status` (exit/exit_group).
    void exit(int status) { exit_group(status); }
    // Sends a signal to the current task (raise): delivered when unblocked.
    void send_signal(int sig, int code);
    // After a host call returned EINTR: should the interrupted call be restarted (SA_RESTART)?
    bool restart_after_interrupt();
    // Continues at `rip` once the current hook returns (rt_sigreturn, signal delivery).
    void redirect(std::uint64_t rip);
    // --- the debugger's view: the threads of the first task's process (children not followed) ---
    bool is_debugged(const Task& task) const { return task.group == init_; }
    std::vector<int> debugger_threads() const override;
    bool debugger_has_thread(int tid) const override;
    std::string debugger_thread_name(int tid) const override;
    // The thread a stop reports: the current task, or the first debugged thread.
    int debugger_thread() const override;
    // Registers of a thread (0: the one debugger_thread() names): in the engine of the CPU that
    // holds it, else in its saved context.
    void debugger_read_register(int tid, int uc_id, void* value) override;
    void debugger_write_register(int tid, int uc_id, const void* value) override;
    mmu::AddressSpace& debugger_memory() override { return as(); }
    void debugger_code_changed() override { flush_code_everywhere(); }
    std::string debugger_exec_file() const override;
    std::vector<std::uint64_t> debugger_auxv() const override { return stack_image().auxv_words; }
    std::string debugger_cpu_summary() const override;
    struct RegisterHome {
        uc_engine* engine = nullptr;
        CpuContext* context = nullptr;
        std::shared_ptr<Task> task;
    };
    RegisterHome register_home(int tid);
    // gdb's `monitor trace on FILE` / `off`; returns a message for the user.
    std::string start_trace(const std::string& path) override;
    std::string stop_trace() override;
    // The signal that killed the first task, or 0 if it exited.
    int killed_by() const { return killed_by_; }

private:
    static bool tlb_fill_hook(uc_engine*, std::uint64_t vaddr, uc_mem_type type, uc_tlb_entry* out,
                              void* self);
    // What a fill's access may change, counted before it.
    struct FillContext {
        std::uint64_t faults, epoch, model_hits;
    };
    void note_fill(VirtualCpu& c);
    bool record_shadow_fill(mmu::AddressSpace& as, mmu::VirtAddr vpage, const mmu::Translation& tr,
                            const FillContext& before);
    static void syscall_hook(uc_engine*, void* self);
    static void interrupt_hook(uc_engine*, std::uint32_t intno, void* self);
    static std::uint32_t port_in_hook(uc_engine*, std::uint32_t port, int size, void* self);
    static void port_out_hook(uc_engine*, std::uint32_t port, int size, std::uint32_t value, void* self);
    void on_port_io();
    // The signal Linux sends for an exception the CPU reported to the interrupt hook.
    SigInfo interrupt_signal(int intno, std::uint64_t rip);
    static void block_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void debug_code_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void debug_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int size,
                                  std::int64_t value, void* self);
    // Reports a debugger stop and applies what the client answers (kill, detach, step...).
    void debugger_stop(int signo, const SigInfo* info, const std::string& extra);
    void prepare_watchpoints();
    static void trace_access_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static bool trace_access_filter(std::uint64_t address, void* self);
    static void count_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void check_code_hook(uc_engine*, std::uint64_t address, std::uint32_t size, void* self);
    static void check_memory_hook(uc_engine*, uc_mem_type type, std::uint64_t address, int size,
                                  std::int64_t value, void* self);

    void add_cpu();
    void on_syscall();
    // Host signals sent to the emulator (by other processes, the terminal) become guest signals
    // of the first task's process (group): the host handlers record them and stop the CPU.
    void install_host_signal_forwarding();
    void take_host_signals();
    // A flush of `asid` committed by the MMU: every CPU that may hold its translations flushes
    // (the local one, and a shootdown to the others).
    void on_mmu_flush(const mmu::FlushEvent& event);
    void flush_cpu(VirtualCpu& cpu);
    void flush_cpu_page(VirtualCpu& cpu, mmu::VirtAddr vpage);
    // Drops the translated code of one CPU's engine (and its TLB, see code_frames).
    void flush_code(VirtualCpu& cpu);
    // A frame's contents changed behind the CPUs, or it was freed: the CPUs that translated code
    // from it drop that code before they run again (drop_changed_code).
    void on_frame_change(mmu::Pfn pfn);
    void drop_changed_code();
    void drop_changed_code_in_fill();
    void drop_changed_code(VirtualCpu& cpu, const std::vector<mmu::Pfn>& frames);
    // --check: the emulator wrote into `pfn`; the CPUs that translated code from it must drop it.
    void note_frame_written(mmu::Pfn pfn);
    // --check: false (and violation_ set) when a CPU may run code translated from a frame the
    // emulator has written since.
    bool verify_code_caches();
    // Handles the stop of uc_emu_start; returns false when the current task stops running.
    bool handle_stop(uc_err err);
    std::uint64_t imprecise_fetch_fault(uc_err err);
    // A call into the legacy vsyscall page: emulated as Linux does (false: SIGSEGV instead).
    bool emulate_segment_load(std::uint64_t rip);
    bool emulate_vsyscall(std::uint64_t target);
    SigInfo fault_signal(const mmu::Fault& fault, std::uint64_t rip);
    // A fault that goes to a userfaultfd: the task waits for it (syscalls/userfaultfd.cpp).
    void userfault(const mmu::Fault& fault, std::uint64_t rip);
    // Delivers `info` now: runs the handler, or applies the default action.
    void deliver(const SigInfo& info, bool synchronous);
    void deliver_pending();
    bool setup_frame(const SigInfo& info, const SigAction& action);
    void kill_by_signal(const SigInfo& info, bool report);
    void coherence_violation(const std::string& what);
    // --check: every CPU's shadow TLB against the page table of the address space it belongs to.
    // Returns false (and sets violation_) when a CPU may still use a translation the page table
    // no longer grants; `operation` names what was done last (for the report).
    bool verify_shadow_tlbs();
    template <class Verify>
    bool verify_edited(const ShadowTlb& shadow, const mmu::AddressSpace& mm,
                       const std::vector<mmu::PhysicalMemory::PageTableEdit>& edits, Verify& verify);
    // After a page fault on `vpage` (the page-table epoch was `epoch_before` when it started).
    bool verify_shadow_page(const mmu::AddressSpace& mm, mmu::VirtAddr vpage, std::uint64_t epoch_before);
    // One translation CPU `cpu` holds; false (and violation_ set) when the page table no longer
    // grants it.
    bool verify_translation(unsigned cpu, const mmu::AddressSpace& mm, mmu::VirtAddr vpage,
                            const ShadowEntry& entry);
    std::string describe_last_operation() const;
    // The live address space with this asid (a group's), or nullptr.
    mmu::AddressSpace* find_address_space(mmu::Asid asid) const;
    // --- the scheduler (kernel/scheduler.cpp) ---
    std::shared_ptr<Task> pick_next();
    bool wake_ready_tasks();
    void wait_for_events();
    void switch_to(unsigned cpu, const std::shared_ptr<Task>& task);
    void park(VirtualCpu& cpu);
    int host_wake_fd();
    void drain_host_wake_fd();
    void run_slice();
    std::uint64_t next_slice_budget();
    std::uint64_t next_random();
    void enable_preemption();
    void check_timers();
    // --- task teardown (kernel/task_lifecycle.cpp) ---
    void release_thread(Task& task, bool mm_release);
    void finish_group(ThreadGroup& group, int wait_status);
    void notify_parent(ThreadGroup& group, int code, int status);
    void drop_address_space(std::shared_ptr<mmu::AddressSpace>& mm);
    void stop_group(ThreadGroup& group, int sig);
    void kill_group(ThreadGroup& group, int wait_status);
    void continue_group(ThreadGroup& group);

    RunOptions options_;
    std::string program_;
    mmu::PhysicalMemory ram_;
    mmu::Tlb tlb_;
    FileObjects file_objects_{ram_};
    FileLocks file_locks_;
    SysvShm sysv_shm_{ram_};
    VvarClock vvar_clock_{ram_};
    struct CpuSlice {
        std::shared_ptr<Task> task;
        std::uint64_t cpu_ns = 0, tsc = 0, syscall_ticks = 0;
        unsigned cpu = 0;
    } cpu_slice_;
    std::vector<VirtualCpu> cpus_;
    unsigned cpu_index_ = 0;
    std::shared_ptr<Task> current_;
    std::map<int, std::shared_ptr<Task>> tasks_;          // live and dead-but-unreleased tasks
    std::map<int, std::shared_ptr<ThreadGroup>> groups_;  // until reaped
    std::shared_ptr<ThreadGroup> init_;                   // the first task's group
    int next_pid_ = 1;
    int forced_next_ = 0;  // the debugger steps this thread: it runs next
    bool preemption_ = false;
    bool yield_ = false;
    bool tlb_resize_due_ = false;  // a flush lets Unicorn's TLB grow (see tlb_fill_hook)
    std::vector<mmu::Pfn> changed_code_;  // frames of on_frame_change, until drop_changed_code
    std::uint64_t slice_blocks_ = 0;   // translated blocks left in the current slice
    std::uint64_t rng_state_ = 0;      // --sched-seed
    struct FutexWaiter {
        std::uint64_t key_a, key_b;
        std::uint32_t bitset;
        std::weak_ptr<Task> task;
    };
    std::vector<FutexWaiter> futex_waiters_;
    std::map<std::uint64_t, std::weak_ptr<Userfaultfd>> userfaultfds_;
    std::uint64_t next_userfaultfd_id_ = 1;
    std::unique_ptr<CpuContext> initial_context_;  // a fresh CPU's registers (for execve)
    RunStats stats_;

    bool finished_ = false;            // the first task's group has ended
    std::uint64_t instructions_ = 0;   // counted only with --max-insns
    int killed_by_ = 0;
    int exit_status_ = 0;
    std::optional<std::uint64_t> redirect_;
    // The last translation the TLB-fill hook refused, and why.
    std::optional<mmu::Fault> refused_;
    std::optional<int> pending_interrupt_;
    // IN or OUT at CPL 3 (I/O bitmap absent: #GP on Linux), which Unicorn lets run: where it
    // was and the RAX it may have changed, restored before the fault is reported.
    struct PortFault {
        std::uint64_t rip, rax;
    };
    std::optional<PortFault> port_fault_;
    std::string violation_;
    // What the emulator did last (--check names it in a violation report): a system call, a
    // page fault, a signal delivery...
    const char* last_operation_ = "start-up";
    std::uint64_t last_syscall_ = 0;
    // The page-table epoch at which every shadow TLB was last found coherent.
    std::uint64_t verified_epoch_ = ~0ull;

    std::unique_ptr<TraceRecorder> recorder_;
    AccessTracer access_tracer_;  // --trace-accesses
    std::unique_ptr<GdbStub> gdb_;
    Resume resume_ = Resume::Continue;
    bool stepping_ = false, step_started_ = false, step_done_ = false;
    std::optional<std::string> debug_stop_;  // set by the hooks: a breakpoint or watchpoint hit
    struct WatchedFrame {
        mmu::Pfn pfn;
        std::uint64_t begin, end;  // offsets in the frame
        char kind;
        std::uint64_t vaddr;
    };
    std::vector<WatchedFrame> watched_;
};

}  // namespace emu

namespace emu {
// rt_sigreturn: restores the registers, FPU/SSE state and mask saved by setup_frame.
bool restore_sigframe(Process& p);
}  // namespace emu
