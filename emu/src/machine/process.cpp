#include "machine/process.hpp"

#include <x86intrin.h>

#include "fs/proc_files.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "machine/cpu_state.hpp"
#include "machine/fault_report.hpp"
#include "syscalls/syscalls.hpp"
#include "syscalls/syscall_support.hpp"

#include <sys/syscall.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <utility>

namespace emu {

using namespace mmu;

namespace {

// The host's memory settings the guest inherits: vm.overcommit_memory's heuristic (mode 0: no
// single charged allocation beyond RAM + swap; mode 1: none; mode 2 is approximated as 0),
// vm.max_map_count, RLIMIT_AS and RLIMIT_STACK.
Layout host_layout() {
    Layout layout;
    int mode = 0;
    if (FILE* f = std::fopen("/proc/sys/vm/overcommit_memory", "r")) {
        if (std::fscanf(f, "%d", &mode) != 1) mode = 0;
        std::fclose(f);
    }
    struct sysinfo si;
    if (mode != 1 && ::sysinfo(&si) == 0)
        layout.overcommit_limit = (static_cast<std::uint64_t>(si.totalram) + si.totalswap) * si.mem_unit;
    if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
        unsigned long n = 0;
        if (std::fscanf(f, "%lu", &n) == 1 && n > 0) layout.max_map_count = n;
        std::fclose(f);
    }
    struct rlimit r;
    if (::getrlimit(RLIMIT_AS, &r) == 0) layout.address_space_limit = r.rlim_cur;
    if (::getrlimit(RLIMIT_DATA, &r) == 0) layout.data_limit = r.rlim_cur;
    // CAP_IPC_LOCK (14) lifts RLIMIT_MEMLOCK.
    if (::getrlimit(RLIMIT_MEMLOCK, &r) == 0 && !sys::host_has_capability(14)) layout.memlock_limit = r.rlim_cur;
    if (::getrlimit(RLIMIT_STACK, &r) == 0 && r.rlim_cur != RLIM_INFINITY) layout.stack_limit = r.rlim_cur;
    return layout;
}

}  // namespace

Process::Process(const RunOptions& options, const std::string& program,
                 std::vector<std::string> argv, std::vector<std::string> envp)
    : options_(options), program_(program), ram_(options.ram_bytes) {
    next_pid_ = static_cast<int>(::getpid());
    rng_state_ = options.sched_seed * 0x9e3779b97f4a7c15ull + 1;
    auto mm = std::make_shared<AddressSpace>(ram_, tlb_, host_layout());
    mm->set_checked(options.check == CheckMode::Accesses);
    if (!options.trace_path.empty()) {
        recorder_ = std::make_unique<TraceRecorder>(options.trace_path);
        // What decides the interleaving of tasks, so that a recording can be made again.
        if (options.cpus > 1 || options.sched_seed)
            recorder_->note("run with --cpus " + std::to_string(options.cpus) + " --sched-seed " +
                            std::to_string(options.sched_seed));
        recorder_->attach(*mm);
    }
    auto bytes = read_program(program);

    (void)machine_uptime_ns();  // the machine starts now (/proc/uptime, sysinfo)
    init_ = std::make_shared<ThreadGroup>();
    init_->tgid = init_->pgid = init_->sid = next_pid_++;
    init_->mm = mm;
    for (int r = 0; r < static_cast<int>(init_->rlimits.size()); ++r) {
        struct rlimit host;
        if (::getrlimit(r, &host) == 0) init_->rlimits[static_cast<std::size_t>(r)] = {host.rlim_cur, host.rlim_max};
    }
    auto task = std::make_shared<Task>();
    task->tid = init_->tgid;
    task->group = init_;
    task->files = std::make_shared<GuestFiles>();
    task->fs = std::make_shared<FsState>();
    // The guest starts in mmuemu's working directory with its umask; from now on both are the
    // guest tasks' own (CLONE_FS), and mmuemu's umask is 0 so that the guest's alone applies.
    task->fs->cwd_fd = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    task->fs->umask = ::umask(0);
    task->fs->root = options.root;
    if (options.root != "/") {
        // A confined root: resolved by the host inside it; a working directory outside it
        // starts at its top.
        task->fs->root_fd = ::open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (task->fs->root_fd < 0)
            throw std::system_error(errno, std::generic_category(), "--root " + options.root);
        char cwd[4096];
        const std::string here = ::getcwd(cwd, sizeof cwd) ? cwd : "";
        if (here.compare(0, options.root.size(), options.root) != 0 ||
            (here.size() > options.root.size() && here[options.root.size()] != '/')) {
            ::close(task->fs->cwd_fd);
            task->fs->cwd_fd = ::fcntl(task->fs->root_fd, F_DUPFD_CLOEXEC, 3);
        }
    }
    // The first task starts with mmuemu's own nice value (a run under nice(1) is one natively).
    errno = 0;
    if (const int nice = ::getpriority(PRIO_PROCESS, 0); errno == 0) task->nice = nice;
    init_->threads.push_back(task);
    groups_[init_->tgid] = init_;
    tasks_[task->tid] = task;
    current_ = task;
    // A "#!" script runs its interpreter, looked up in the guest's root, as execve would; the
    // auxv's AT_EXECFN stays the script's path, /proc/self/exe is the interpreter.
    std::string image_path = program;
    for (int depth = 0; const auto script = script_interpreter(bytes); ++depth) {
        if (depth >= kMaxScriptDepth) throw LoadError(program + ": too many levels of \"#!\" interpreters", 126, ELOOP);
        if (script->path.empty()) throw LoadError(image_path + ": \"#!\" names no interpreter", 126, ENOEXEC);
        // The file being run is the program, then each interpreter in turn (argv[0] by now).
        argv = script_argv(*script, depth == 0 ? program : argv[0], argv);
        InterpreterFile interpreter = open_interpreter(script->path, image_path);
        bytes = std::move(interpreter.bytes);
        image_path = interpreter.host_path;
    }
    // The program, with its interpreter looked up in the guest's root (the task's root now).
    const LoadedImage image = load_elf(*mm, bytes, image_path, [&](const std::string& interp) {
        return open_interpreter(interp, image_path);
    });
    mm->set_brk_base(image.brk_start);
    init_->set_exe(image_path);
    init_->stack = build_stack(*mm, image, argv, envp, program, [this] { return vvar_clock_.pages(); });

    for (unsigned i = 0; i < std::max(1u, options.cpus); ++i) add_cpu();
    // What exec starts from (here and in every execve): the registers as Linux sets them.
    set_exec_state(*cpus_[0].engine);
    initial_context_ = std::make_unique<CpuContext>(cpus_[0].engine->handle());
    cpus_[0].engine->save(*initial_context_);
    // Every invalidation the MMU commits is mirrored onto the soft TLB of each CPU that may hold
    // translations of that address space before any of them runs again.
    tlb_.set_listener([this](const FlushEvent& e) {
        if (recorder_) recorder_->flush(e);  // those of traced address spaces
        on_mmu_flush(e);
    });
    // A frame written by the kernel side (read() into an RWX page) or freed makes the code
    // translated from it stale: dropped before the guest runs again.
    ram_.set_frame_change_listener([this](Pfn pfn, PhysicalMemory::FrameChange) { on_frame_change(pfn); });
    if (options_.check == CheckMode::Shadow) ram_.set_frame_write_listener([this](Pfn pfn) { note_frame_written(pfn); });
    install_host_signal_forwarding();
    switch_to(0, task);
    if (options.gdb) gdb_ = std::make_unique<GdbStub>(*this, *options.gdb);
    cpu().set_reg(UC_X86_REG_RSP, init_->stack.rsp);
    cpu().set_reg(UC_X86_REG_RIP, image.start);
}

void Process::add_cpu() {
    VirtualCpu v;
    v.engine = std::make_unique<Cpu>();
    Cpu& c = *v.engine;
    c.map_ram(ram_.host_base(), ram_.size_bytes());
    c.on_tlb_fill(&Process::tlb_fill_hook, this);
    c.on_syscall(&Process::syscall_hook, this);
    c.on_interrupt(&Process::interrupt_hook, this);
    c.on_port_in(&Process::port_in_hook, this);
    c.on_port_out(&Process::port_out_hook, this);
    if (options_.max_instructions) c.on_code(&Process::count_hook, this);
    if (options_.check == CheckMode::Accesses) {
        c.on_code(&Process::check_code_hook, this);
        c.on_memory(&Process::check_memory_hook, this);
    }
    if (recorder_ && options_.trace_accesses) {
        c.on_code(&Process::trace_access_hook, this);
        // The tracer alone needs only the instructions with memory operands; any other code
        // hook needs every instruction.
        if (!options_.max_instructions && options_.check != CheckMode::Accesses && !options_.gdb)
            c.filter_code_hooks(&Process::trace_access_filter, this);
    }
    if (options_.gdb) {
        c.on_code(&Process::debug_code_hook, this);
        c.on_memory(&Process::debug_memory_hook, this);
    }
    cpus_.push_back(std::move(v));
}

// Address spaces flush the TLB as they are torn down: stop mirroring flushes (the CPUs and the
// trace recorder may be gone) before they go, and tear them down before the CPUs.
Process::~Process() {
    tlb_.set_listener(nullptr);
    ram_.set_frame_change_listener(nullptr);
    ram_.set_frame_write_listener(nullptr);
    futex_waiters_.clear();
    for (auto& [tid, t] : tasks_) {
        t->block = BlockState{};
        t->group.reset();
    }
    for (auto& c : cpus_) c.task.reset();
    current_.reset();
    tasks_.clear();
    for (auto& [tgid, g] : groups_) g->mm.reset(), g->children.clear();
    groups_.clear();
    init_.reset();
}

void Process::flush_cpu(VirtualCpu& c) {
    c.engine->flush_tlb();
    c.shadow.flush();
    c.handed_out.clear();
    c.checked_code_page = c.checked_data_frame = ~0ull;
    c.fills_since_flush = 0;
    ++stats_.unicorn_flushes;
}

// One page's translation leaves the CPU's soft TLB, and every model of what it holds. Not under
// --check=accesses: its frame -> pages map would need a reverse search; nor without
// emu/unicorn/0007: both flush all instead.
void Process::flush_cpu_page(VirtualCpu& c, VirtAddr vpage) {
    if (!Cpu::kFlushesTlbPages || options_.check == CheckMode::Accesses) return flush_cpu(c);
    c.engine->flush_tlb_page(vpage);
    c.shadow.flush_page(vpage);
    c.checked_code_page = c.checked_data_frame = ~0ull;
    // fills_since_flush stays: only a full flush lets Unicorn's TLB grow (see note_fill).
    ++stats_.unicorn_page_flushes;
}

void Process::on_mmu_flush(const FlushEvent& e) {
    if (options_.skip_tlb_flush) return;
    for (unsigned i = 0; i < cpus_.size(); ++i) {
        VirtualCpu& c = cpus_[i];
        if (c.loaded_asid != e.asid) continue;
        if (i != cpu_index_) {
            // A shootdown: the other CPU is not running (one host thread runs them in turn), so
            // flushing it now is the IPI and its acknowledgement in one.
            if (options_.skip_shootdown) continue;
            ++stats_.shootdowns;
        }
        if (e.kind == FlushKind::Page)
            flush_cpu_page(c, e.vpage);
        else
            flush_cpu(c);
    }
}

bool Process::tlb_fill_hook(uc_engine*, std::uint64_t vaddr, uc_mem_type type, uc_tlb_entry* out,
                            void* self) {
    auto& p = *static_cast<Process*>(self);
    ++p.stats_.tlb_fills;
    VirtualCpu& c = p.cpus_[p.cpu_index_];
    c.checked_code_page = c.checked_data_frame = ~0ull;  // the page table may change now
    const Access access = type == UC_MEM_WRITE ? Access::Write
                          : type == UC_MEM_FETCH ? Access::Execute
                                                 : Access::Read;
    // The user access: TLB, walk, and the page-fault handler for what Linux resolves.
    AddressSpace& as = p.as();
    const FillContext before{as.fault_counters().faults, p.ram_.page_table_epoch(), p.tlb_.counters().hits};
    const Translated t = as.access(vaddr, access);
    // A page fault neither frees nor writes frames in use (it fills fresh ones), but should one
    // ever, the code is dropped before a translation can reach it: here if the engine can drop
    // a frame's code mid-block, else at the next block (dropping all of it waits for the stop).
    if (!p.changed_code_.empty()) p.drop_changed_code_in_fill();
    if (p.recorder_ && p.options_.trace_fills && p.recorder_->traces(as))
        p.recorder_->fill(as, page_down(vaddr), access, t.ok, page_down(t.translation.paddr),
                          t.translation.writable, t.translation.executable);
    if (!t.ok) {
        p.refused_ = t.fault;
        return false;  // Unicorn stops with UC_ERR_EXCEPTION, RIP at the faulting instruction
    }
    out->paddr = page_down(t.translation.paddr);
    int perms = UC_PROT_READ;
    if (t.translation.writable) perms |= UC_PROT_WRITE;
    if (t.translation.executable) perms |= UC_PROT_EXEC;
    out->perms = static_cast<uc_prot>(perms);
    if (t.translation.executable) c.code_frames.try_emplace(t.translation.paddr >> kPageShift, page_down(vaddr));
    if (p.options_.check == CheckMode::Accesses)
        c.handed_out[t.translation.paddr >> kPageShift].push_back(page_down(vaddr));
    if (p.options_.check == CheckMode::Shadow && !p.record_shadow_fill(as, page_down(vaddr), t.translation, before))
        p.cpu().stop();
    p.note_fill(c);
    return true;
}

// Unicorn's soft TLB is QEMU's: direct-mapped, 256 entries to start with, and resized only when
// it is flushed (doubled when more than 70% of it was in use). A program whose working set
// outgrows it while it makes no system call is never flushed, and refills the same pages
// through this hook forever (busybox bzip2: 63 million fills for 4 MiB). Many fills since the
// last flush stop the CPU for a flush, which lets the TLB grow; a flush only drops translations,
// so what the guest sees does not change. Not under a debugger: its steps and stops stay its own.
// Since munmap and mprotect flush single pages (emu/unicorn/0007), these are most of the full
// flushes of a long run. The first comes after 4096 fills, each next one after twice as many, up
// to 65536: a TLB that only shrinks when less than 30% of it was used between flushes can then
// grow to a large working set (xz: 0.71 s with every 4096 fills, 0.44 s with 65536), while a
// short run grows it early (python_embedded: 134,000 fills with 65536 throughout, 26,000 so).
void Process::note_fill(VirtualCpu& c) {
    constexpr std::uint64_t kMaxFillsBeforeResizeFlush = 1 << 16;
    if (++c.fills_since_flush != c.fills_before_resize_flush || gdb_) return;
    c.fills_before_resize_flush = std::min(2 * c.fills_before_resize_flush, kMaxFillsBeforeResizeFlush);
    tlb_resize_due_ = true;
    c.engine->stop();
}

// --check: the translation just handed to the current CPU joins its shadow TLB; checked at once
// where it may already be stale, and after a page fault (the CPU goes on running in this same
// run, so the check cannot wait for the next system call).
bool Process::record_shadow_fill(AddressSpace& as, VirtAddr vpage, const Translation& tr, const FillContext& before) {
    VirtualCpu& c = cpus_[cpu_index_];
    const ShadowEntry entry{tr.paddr >> kPageShift, tr.writable, tr.executable};
    const bool faulted = as.fault_counters().faults != before.faults;
    if (faulted) last_operation_ = "page fault";
    if (!c.shadow.fill(as.asid(), vpage, entry)) {
        violation_ = "CPU " + std::to_string(cpu_index_) +
                     " was handed a translation of another address space without a TLB flush";
        return false;
    }
    // A translation from the MMU's TLB model may be one it kept after the page table changed (a
    // walk gives what the page table has).
    if (tlb_.counters().hits != before.model_hits && !verify_translation(cpu_index_, as, vpage, entry))
        return false;
    return !faulted || verify_shadow_page(as, vpage, before.epoch);
}

void Process::syscall_hook(uc_engine*, void* self) {
    auto& p = *static_cast<Process*>(self);
    try {
        p.on_syscall();
    } catch (...) {
        // Never unwind through Unicorn: stop and let run() see what happened.
        p.violation_ = "internal error in a system call";
        p.cpu().stop();
        throw;
    }
}

void Process::interrupt_hook(uc_engine*, std::uint32_t intno, void* self) {
    auto& p = *static_cast<Process*>(self);
    p.pending_interrupt_ = static_cast<int>(intno);
    p.cpu().stop();
}

// Unicorn runs IN and OUT at any privilege level (its I/O permission check is compiled out);
// stopped here, RIP is still the instruction's.
std::uint32_t Process::port_in_hook(uc_engine*, std::uint32_t, int, void* self) {
    auto& p = *static_cast<Process*>(self);
    p.on_port_io();
    return static_cast<std::uint32_t>(p.port_fault_->rax);  // AL/AX/EAX as they were
}

void Process::port_out_hook(uc_engine*, std::uint32_t, int, std::uint32_t, void* self) {
    static_cast<Process*>(self)->on_port_io();
}

void Process::on_port_io() {
    const auto r = cpu().regs(std::array<int, 2>{UC_X86_REG_RIP, UC_X86_REG_RAX});
    port_fault_ = PortFault{r[0], r[1]};
    pending_interrupt_ = 13;  // #GP(0): CPL 3 > IOPL 0 and no I/O bitmap in Linux's TSS
    cpu().stop();
}

// Preemption: a time slice is a number of translated blocks entered, counted by the emulator,
// never by the wall clock, so the same program and input interleave the same way.
void Process::block_hook(uc_engine*, std::uint64_t, std::uint32_t, void* self) {
    auto& p = *static_cast<Process*>(self);
    if (p.slice_blocks_ && --p.slice_blocks_ == 0) p.cpu().stop();
}

std::string Process::start_trace(const std::string& path) {
    if (recorder_ && recorder_->active()) return "a trace is already being recorded\n";
    try {
        recorder_ = std::make_unique<TraceRecorder>(path, as());
    } catch (const TraceError& e) {
        return std::string(e.what()) + "\n";
    }
    return "recording the MMU trace to " + path + " (it starts with a snapshot of the address space)\n";
}

std::string Process::stop_trace() {
    if (!recorder_ || !recorder_->active()) return "no trace is being recorded\n";
    recorder_->stop(as());
    return "trace stopped\n";
}

void Process::on_syscall() {
    ++stats_.syscalls;
    VirtualCpu& c = cpus_[cpu_index_];
    c.checked_code_page = c.checked_data_frame = ~0ull;  // the page table may change now
    Cpu& cpu = *c.engine;
    static constexpr std::array<int, 9> kEntryRegs = {UC_X86_REG_RIP, UC_X86_REG_RAX, UC_X86_REG_RDI,
                                                      UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_R10,
                                                      UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_EFLAGS};
    const auto r = cpu.regs(kEntryRegs);
    const std::uint64_t rip = r[0];  // the syscall instruction itself
    const std::uint64_t eflags = r[8];
    SyscallArgs args{r[1], {r[2], r[3], r[4], r[5], r[6], r[7]}};
    // current_ (and the task table) keep the task alive until the scheduler runs again.
    Task* const task = current_.get();
    AddressSpace* mm = &as();
    const bool traced = recorder_ && recorder_->traces(*mm);
    std::int64_t result = do_syscall(*this, args);
    drop_changed_code();
    last_operation_ = "system call";
    last_syscall_ = args.nr;
    // The guest may go on running in this same run once the hook returns: check now.
    if (options_.check == CheckMode::Shadow && !verify_shadow_tlbs()) {
        cpus_[cpu_index_].engine->stop();
        return;
    }
    if (result != kBlock && task->state == TaskState::Runnable && task->block.retry) {
        futex_dequeue(*task);
        task->block = BlockState{};
    }
    if (traced && task->alive() && result != kBlock) {
        if (args.nr == SYS_rt_sigreturn) recorder_->sigreturn(*mm);
        else if (result != kNoReturn) recorder_->syscall(*mm, args.nr, result);
    }
    if (task->alive() && task->group->mm)
        stats_.peak_rss_pages = std::max(stats_.peak_rss_pages, task->group->mm->rss_pages());
    take_host_signals();
    if (result == kNoReturn) return;
    if (result == kBlock || result == kRestart) {
        // Blocked: the call runs again when the task is woken. Restart: the handler runs first,
        // then the syscall instruction again.
        cpu.set_reg(UC_X86_REG_RAX, args.nr);
        redirect(rip);
        return;
    }
    // The result, and what the syscall instruction itself does: RCX = return address, R11 = RFLAGS
    // (as they were at the syscall: the call cannot change the flags).
    static constexpr std::array<int, 3> kExitRegs = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_R11};
    cpu.set_regs(kExitRegs, {static_cast<std::uint64_t>(result), rip + 2, eflags});
    if ((signals().pending & ~signals().blocked) || yield_ || task->state != TaskState::Runnable ||
        task->group->stopped)
        redirect(rip + 2);
}

void Process::redirect(std::uint64_t rip) {
    redirect_ = rip;
    cpu().stop();
}

void Process::send_signal(int sig, int code) {
    SigInfo info;
    info.signo = sig;
    info.code = code;
    info.pid = group().tgid;
    info.from_kill = true;
    signal_task(task(), info);
}

int Process::run() {
    if (gdb_) {
        gdb_->wait_for_client();
        resume_ = gdb_->stopped(5, nullptr, "", false);  // stopped before the first instruction
        if (resume_ == Resume::Kill) finished_ = true, killed_by_ = 9, exit_status_ = 137;
        if (resume_ == Resume::Detach) gdb_.reset(), resume_ = Resume::Continue;
    }
    bool first = true;
    while (!finished_) {
        std::shared_ptr<Task> next = first ? current_ : pick_next();
        first = false;
        if (!next) {
            wait_for_events();
            continue;
        }
        switch_to(cpu_index_, next);
        run_slice();
        if (cpus_.size() > 1) cpu_index_ = (cpu_index_ + 1) % static_cast<unsigned>(cpus_.size());
    }
    if (gdb_) gdb_->exited(exit_status_, killed_by_);
    if (options_.stats) print_stats();
    return exit_status_;
}

// One time slice of the current task: runs until it blocks, exits, yields or uses its budget.
void Process::run_slice() {
    const std::shared_ptr<Task> task = current_;
    slice_blocks_ = preemption_ ? next_slice_budget() : 0;
    yield_ = false;
    std::uint64_t rip = cpu().reg(UC_X86_REG_RIP);
    redirect_.reset();
    // Signals that arrived while it was off the CPU; a task woken in a blocking call first
    // finishes the call (EINTR or a restart), the handler runs after it.
    if (!task->block.retry) deliver_pending();
    if (!task->alive() || task->state != TaskState::Runnable || task->group->stopped || finished_) return;
    if (redirect_) rip = *redirect_;
    std::uint64_t run_until = 0;  // re-running a block up to the instruction whose fetch faulted
    while (!finished_ && task->alive() && task->state == TaskState::Runnable) {
        if (forced_next_ && forced_next_ != task->tid) return;  // the debugger steps another thread
        redirect_.reset();
        refused_.reset();
        pending_interrupt_.reset();
        port_fault_.reset();
        debug_stop_.reset();
        const bool stepping = gdb_ && resume_ == Resume::Step;
        // A re-run goes on with the run it repeats: no instruction of the abandoned block ran, so
        // a breakpoint at its start is still to be hit and a step is as far as it had come.
        const std::uint64_t until = std::exchange(run_until, 0);
        if (gdb_) {
            if (!until && gdb_->breakpoint_at(rip)) gdb_->step_over = rip;  // leave a breakpoint we stand on
            prepare_watchpoints();
        }
        const std::uint64_t signals_before = stats_.signals_delivered;
        stepping_ = stepping;
        if (!until) step_started_ = false;
        step_done_ = false;
        drop_changed_code();
        if (options_.check == CheckMode::Shadow && !verify_shadow_tlbs()) {
            coherence_violation(violation_);
            return;
        }
        if (gdb_ && !stepping) gdb_->start_watching(cpu().handle());
        vvar_clock_.refresh();  // the vDSO's clocks start from the host's now
        begin_cpu_slice(task);
        const uc_err err = cpu().run(rip, 0, until);
        end_cpu_slice();
        if (std::exchange(tlb_resize_due_, false)) flush_cpu(cpus_[cpu_index_]);
        if (gdb_) gdb_->stop_watching();
        stepping_ = false;
        if (gdb_ && gdb_->take_interrupt() && !refused_) {  // ^C from the debugger
            if (redirect_) cpu().set_reg(UC_X86_REG_RIP, *redirect_);
            debugger_stop(2, nullptr, "");
            rip = cpu().reg(UC_X86_REG_RIP);
            continue;
        }
        if (!violation_.empty()) {
            coherence_violation(violation_);
            return;
        }
        if (finished_ || !task->alive()) return;
        if (!until && (run_until = imprecise_fetch_fault(err))) {
            rip = cpu().reg(UC_X86_REG_RIP);  // nothing of the block ran: run it up to that
            continue;                         // instruction, whose fetch then faults again
        }
        if (options_.max_instructions && instructions_ >= options_.max_instructions) {
            std::fprintf(stderr, "mmuemu: stopped after %" PRIu64 " instructions (--max-insns)\n",
                         instructions_);
            finished_ = true;
            exit_status_ = 124;  // like timeout(1)
            return;
        }
        if (step_done_ && !refused_ && !redirect_ && !pending_interrupt_) debug_stop_ = "";
        if (gdb_ && debug_stop_ && !refused_) {  // a breakpoint, watchpoint or finished step
            debugger_stop(5, nullptr, *debug_stop_);
            rip = cpu().reg(UC_X86_REG_RIP);
            continue;
        }
        const bool out_of_budget = preemption_ && slice_blocks_ == 0 && err == UC_ERR_OK &&
                                   !redirect_ && !refused_ && !pending_interrupt_;
        if (!handle_stop(err)) return;
        rip = redirect_ ? *redirect_ : cpu().reg(UC_X86_REG_RIP);
        // A completed single step (a step that raised a signal was reported as that signal).
        if (stepping && gdb_ && task->alive() && stats_.signals_delivered == signals_before) {
            cpu().set_reg(UC_X86_REG_RIP, rip);
            debugger_stop(5, nullptr, "");
            rip = cpu().reg(UC_X86_REG_RIP);
        }
        if (out_of_budget || yield_ || task->state != TaskState::Runnable || task->group->stopped) {
            cpu().set_reg(UC_X86_REG_RIP, rip);
            return;
        }
    }
}

namespace {
// #DE, #TS, #NP, #SS and #GP: a second one while QEMU thinks one is in flight is a double fault.
constexpr bool contributory(int intno) { return intno == 0 || (intno >= 10 && intno <= 13); }
}  // namespace

SigInfo Process::interrupt_signal(int intno, std::uint64_t rip) {
    if (contributory(intno)) cpu().clear_exception_state();
    SigInfo info;
    info.trapno = static_cast<std::uint64_t>(intno);
    info.signo = 11;
    info.code = 0x80;  // SI_KERNEL, si_addr 0: #GP (privileged instruction, non-canonical address)
    switch (intno) {
    case 0:  // #DE
        info.signo = 8;
        info.code = 1;  // FPE_INTDIV
        info.addr = rip;
        break;
    case 3:  // int3 and INT 3 (a gate of DPL 3): RIP is already past the instruction
        info.signo = 5;
        break;
    case 6:  // #UD
        info.signo = 4;
        info.code = 2;  // ILL_ILLOPN
        info.addr = rip;
        break;
    default:
        if (intno >= 32) {
            // INT n through one of Linux's DPL 0 gates: #GP(n << 3 | 2) at the INT itself,
            // where Unicorn left RIP after it (INT imm8 is two bytes).
            cpu().set_reg(UC_X86_REG_RIP, rip - 2);
            info.trapno = 13;
            info.error_code = (static_cast<std::uint64_t>(intno) << 3) | 2;
        }
        break;
    }
    return info;
}

// mov Sreg, r/m16 with a selector of Linux's x86-64 GDT. Unicorn's CPU has no descriptor table,
// so every load of a non-null selector raises #GP; this does what the descriptor would. Measured
// on the host: DS, ES, FS and GS take __USER32_CS (entry 4), __USER_DS (5), __USER_CS (6) and the
// per-CPU segment (15) with any RPL, SS only __USER_DS with RPL 3; a load into FS or GS sets its
// base to the descriptor's, 0. FS and GS need emu/unicorn/0004 (an unpatched Unicorn checks a
// selector written to them against its absent descriptor table: the load stays SIGSEGV). Any
// other #GP is left to the caller (SIGSEGV, SI_KERNEL).
bool Process::emulate_segment_load(std::uint64_t rip) {
    const auto load = decode_segment_load(*this, rip);
    if (!load) return false;
    const unsigned entry = load->selector >> 3;
    const bool in_gdt = !(load->selector & 4);
    const bool data_segment_ok = in_gdt && (entry == 4 || entry == 5 || entry == 6 || entry == 15);
    const bool ok = load->segment == UC_X86_REG_SS ? load->selector == 0x2b : data_segment_ok;
    if (!ok) return false;
    const bool base_register = load->segment == UC_X86_REG_FS || load->segment == UC_X86_REG_GS;
    try {
        cpu().set_reg(load->segment, load->selector);
    } catch (const UnicornError&) {
        return false;  // FS or GS on an unpatched Unicorn
    }
    if (base_register) cpu().set_reg(load->segment == UC_X86_REG_FS ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE, 0);
    cpu().clear_exception_state();
    cpu().set_reg(UC_X86_REG_RIP, rip + load->length);
    return true;
}

// The vsyscall page (0xffffffffff600000, execute-only): old binaries call gettimeofday, time and
// getcpu at fixed addresses in it. Like Linux's emulation, the call is made as a system call
// and returns to the caller (the address on the stack); a call to any other address in the
// page, a return address that cannot be read or a bad pointer argument (EFAULT) is a forced
// SIGSEGV (SI_KERNEL). Returns false for fetches outside the page.
bool Process::emulate_vsyscall(std::uint64_t target) {  // target: RIP, the address called
    constexpr std::uint64_t kVsyscallPage = 0xffffffffff600000ull;
    static constexpr std::array<std::pair<std::uint64_t, std::uint64_t>, 3> kEntries = {
        {{kVsyscallPage, SYS_gettimeofday}, {kVsyscallPage + 0x400, SYS_time}, {kVsyscallPage + 0x800, SYS_getcpu}}};
    if (page_down(target) != kVsyscallPage) return false;
    const auto entry = std::find_if(kEntries.begin(), kEntries.end(), [target](const auto& e) { return e.first == target; });
    const auto r = cpu().regs(std::array<int, 4>{UC_X86_REG_RSP, UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX});
    std::uint64_t return_to = 0;
    std::int64_t result = -EFAULT;
    last_operation_ = "vsyscall";
    if (entry != kEntries.end() && as().copy_from_user(&return_to, r[0], sizeof return_to))
        result = do_syscall(*this, SyscallArgs{entry->second, {r[1], r[2], r[3], 0, 0, 0}});
    if (result == -EFAULT) {
        SigInfo info;
        info.signo = 11;
        info.code = 0x80;  // SI_KERNEL
        deliver(info, true);
        return true;
    }
    cpu().set_reg(UC_X86_REG_RAX, static_cast<std::uint64_t>(result));
    cpu().set_reg(UC_X86_REG_RIP, return_to);
    cpu().set_reg(UC_X86_REG_RSP, r[0] + 8);
    return true;
}

// An x86 instruction fetch faults at the instruction that needs the page. Unicorn fetches a
// whole block while translating it, and a refused fetch abandons the block before any of it
// runs: RIP is the block's start, and the instruction that reaches into the refused page (the
// one after the start's page) may be further on. Returns its address when it is not the start,
// else 0. Costs nothing unless a fetch was refused.
std::uint64_t Process::imprecise_fetch_fault(uc_err err) {
    if (err != UC_ERR_EXCEPTION || !refused_ || refused_->access != Access::Execute) return 0;
    const std::uint64_t block_start = cpu().reg(UC_X86_REG_RIP);
    const std::uint64_t next_page = page_down(block_start) + kPageSize;
    if (page_down(refused_->addr) != next_page) return 0;  // the block's first fetch: precise
    const std::uint64_t faulting = first_instruction_reaching(*this, block_start, next_page);
    return faulting != block_start ? faulting : 0;
}

// Why did uc_emu_start return? A redirect (signal delivery, sigreturn), a page fault the MMU
// refused, an interrupt (int3, divide error...), an invalid instruction, or the budget.
bool Process::handle_stop(uc_err err) {
    if (port_fault_) {  // the IN or OUT completed: undo it, the #GP comes before it
        cpu().set_reg(UC_X86_REG_RIP, port_fault_->rip);
        cpu().set_reg(UC_X86_REG_RAX, port_fault_->rax);
    }
    const std::uint64_t rip = cpu().reg(UC_X86_REG_RIP);
    if (redirect_) {
        // The hook asked to continue elsewhere: make that the interrupted RIP a signal frame saves.
        cpu().set_reg(UC_X86_REG_RIP, *redirect_);
        if (current_->state == TaskState::Runnable) deliver_pending();
        return current_->alive() && !finished_;
    }
    if (err == UC_ERR_EXCEPTION && refused_ && refused_->reason == FaultReason::OutOfMemory) {
        // Linux would OOM-kill the process: say why, and die by SIGKILL.
        const auto& ram = ram_.stats();
        if (ram.frames_in_use + 1 < ram.frames_total)  // frames left: the page cache index bound
            std::fprintf(stderr, "mmuemu: the guest touched a page of a file or shared memory object beyond "
                         "%" PRIu64 " GiB into it, which mmuemu cannot index (address 0x%" PRIx64 ")\n",
                         mmu::SharedMemoryObject::kMaxIndexedPages >> (30 - kPageShift), refused_->addr);
        else
            std::fprintf(stderr, "mmuemu: the guest needs more memory than the guest RAM (--ram %" PRIu64
                         " MiB): no free frame at address 0x%" PRIx64 "\n",
                         options_.ram_bytes >> 20, refused_->addr);
        exit_group(0, 9);
        return false;
    }
    if (err == UC_ERR_EXCEPTION && refused_ && refused_->reason == FaultReason::UserFault) {
        userfault(*refused_, rip);  // the task waits; the instruction runs again once woken
        return current_->alive() && !finished_;
    }
    if (err == UC_ERR_EXCEPTION && refused_ && refused_->access == Access::Execute && emulate_vsyscall(rip))
        return current_->alive() && !finished_;
    if (err == UC_ERR_EXCEPTION && refused_) {
        deliver(fault_signal(*refused_, rip), true);
        return current_->alive() && !finished_;
    }
    if (pending_interrupt_ && *pending_interrupt_ == 13 && emulate_segment_load(rip)) {
        pending_interrupt_.reset();
        return current_->alive() && !finished_;
    }
    if (pending_interrupt_) {
        deliver(interrupt_signal(*pending_interrupt_, rip), true);
        return current_->alive() && !finished_;
    }
    if (err == UC_ERR_INSN_INVALID) {
        SigInfo info;
        info.signo = 4;
        info.code = 2;  // ILL_ILLOPN
        info.addr = rip;
        info.trapno = 6;
        deliver(info, true);
        return current_->alive() && !finished_;
    }
    if (err == UC_ERR_OK) {
        take_host_signals();
        deliver_pending();
        return current_->alive() && !finished_;
    }
    std::fprintf(stderr, "mmuemu: CPU stopped at rip 0x%" PRIx64 ": %s\n", rip, uc_strerror(err));
    finished_ = true;
    exit_status_ = 134;
    return false;
}

SigInfo Process::fault_signal(const Fault& fault, std::uint64_t rip) {
    SigInfo info;
    info.signo = fault.signo;
    info.code = fault.si_code;
    info.addr = exact_fault_address(*this, fault, rip);
    info.trapno = 14;  // #PF
    if (!is_canonical(info.addr)) {
        // A non-canonical address is a general-protection fault: SI_KERNEL, no address.
        info.code = 0x80;
        info.addr = 0;
        info.trapno = 13;
        return info;
    }
    // The x86 page-fault error code: P (protection violation on a present page), W, U, I.
    const PageWalk walk = as().walk(info.addr);
    // Kernel addresses are mapped (supervisor-only), so the fault is a protection violation.
    const bool present = info.addr >= (1ull << 47) ||
                         (walk.depth == kLevels && walk.levels[kLevels - 1].entry.present());
    info.error_code = 4 | (present ? 1 : 0) | (fault.access == Access::Write ? 2 : 0) |
                      (fault.access == Access::Execute ? 0x10 : 0) |
                      (fault.si_code == kSegvPkuErr ? 0x20 : 0);
    return info;
}

void Process::coherence_violation(const std::string& what) {
    std::fprintf(stderr, "mmuemu: MMU coherence violation: %s\n", what.c_str());
    finished_ = true;
    exit_status_ = 70;
}

void Process::print_stats() const {
    const TlbCounters& t = tlb_.counters();
    const AddressSpace& as = *init_->mm;
    const FaultCounters& f = as.fault_counters();
    std::fprintf(stderr,
                 "mmuemu stats:\n"
                 "  syscalls %" PRIu64 ", signals delivered %" PRIu64 "\n"
                 "  page faults %" PRIu64 " (demand-zero %" PRIu64 ", zero page %" PRIu64
                 ", COW copies %" PRIu64 ", write-enable %" PRIu64 ", guard %" PRIu64
                 ", signals %" PRIu64 ")\n"
                 "  TLB model: hits %" PRIu64 ", misses %" PRIu64 ", walks %" PRIu64
                 ", page flushes %" PRIu64 ", full flushes %" PRIu64 "\n"
                 "  Unicorn: TLB fills %" PRIu64 ", TLB flushes %" PRIu64 " (and %" PRIu64
                 " of one page), translated code dropped: %" PRIu64 " pages, %" PRIu64 " times all\n"
                 "  VMAs %zu, RSS %" PRIu64 " KiB (peak frames in use %" PRIu64
                 "), page-table pages %" PRIu64 "\n",
                 stats_.syscalls, stats_.signals_delivered, f.faults, f.demand_zero, f.zero_page_maps,
                 f.cow_copies, f.write_enables, f.guard_faults, f.signals, t.hits, t.misses, t.walks,
                 t.page_flushes, t.full_flushes, stats_.tlb_fills, stats_.unicorn_flushes,
                 stats_.unicorn_page_flushes,
                 stats_.code_pages_dropped, stats_.code_flushes,
                 as.vma_count(), as.rss_pages() * 4, ram_.stats().frames_peak,
                 as.page_table_pages());
    std::fprintf(stderr,
                 "  tasks: created %" PRIu64 ", context switches %" PRIu64 ", CR3 loads %" PRIu64
                 ", TLB shootdowns %" PRIu64 " (%zu virtual CPUs)\n",
                 stats_.tasks_created, stats_.context_switches, stats_.cr3_loads,
                 stats_.shootdowns, cpus_.size());
    if (options_.check == CheckMode::Shadow) {
        std::size_t peak = 0;
        for (const auto& c : cpus_) peak = std::max(peak, c.shadow.peak());
        std::fprintf(stderr,
                     "  --check: %" PRIu64 " shadow-TLB checks, %" PRIu64
                     " translations compared, at most %zu held by one CPU\n",
                     stats_.shadow_checks, stats_.shadow_entries, peak);
    }
    for (const auto& [nr, count] : sys::unsupported_calls())
        std::fprintf(stderr, "  unsupported system call %s (%" PRIu64 "): %" PRIu64 " calls\n",
                     sys::syscall_name(nr).c_str(), nr, count);
}

namespace {

std::uint64_t host_thread_cpu_ns() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

void Process::begin_cpu_slice(const std::shared_ptr<Task>& t) {
    cpu_slice_ = {t, host_thread_cpu_ns(), __rdtsc(), 0, cpu_index_};
}

void Process::settle_cpu_slice() {
    if (!cpu_slice_.task) return;
    const std::uint64_t cpu = host_thread_cpu_ns(), tsc = __rdtsc();
    const std::uint64_t spent = cpu > cpu_slice_.cpu_ns ? cpu - cpu_slice_.cpu_ns : 0;
    const std::uint64_t wall = tsc > cpu_slice_.tsc ? tsc - cpu_slice_.tsc : 0;
    const double in_calls = wall ? std::min(1.0, static_cast<double>(cpu_slice_.syscall_ticks) / static_cast<double>(wall)) : 0.0;
    const auto system = static_cast<std::uint64_t>(static_cast<double>(spent) * in_calls);
    Task& t = *cpu_slice_.task;
    // A task that has exited meanwhile leaves its time to its process (RUSAGE_SELF).
    CpuTimes* gone = !t.alive() && t.group ? &t.group->exited_threads : nullptr;
    (gone ? gone->user_ns : t.user_ns) += spent - system;
    (gone ? gone->system_ns : t.system_ns) += system;
    cpus_[cpu_slice_.cpu].busy.user_ns += spent - system;
    cpus_[cpu_slice_.cpu].busy.system_ns += system;
    cpu_slice_.cpu_ns = cpu;
    cpu_slice_.tsc = tsc;
    cpu_slice_.syscall_ticks = 0;
}

void Process::end_cpu_slice() {
    settle_cpu_slice();
    cpu_slice_.task.reset();
}

}  // namespace emu
