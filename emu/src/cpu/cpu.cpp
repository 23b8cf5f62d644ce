#include "cpu/cpu.hpp"

#include <cstring>
#include <vector>

namespace emu {

namespace {

// The one-instruction kernel that drops the CPU to CPL 3, at a kernel-half address (Linux's
// text) backed by a scratch physical page that exists only while it runs.
constexpr std::uint64_t kEntryStub = 0xffffffff81000000;
constexpr std::uint8_t kSysretq[] = {0x48, 0x0f, 0x07};
constexpr std::uint64_t kStubPage = 4096;

// MSRs as Linux programs them (syscall_init): EFER.SCE, and STAR with __USER32_CS in bits
// 63:48 (SYSRET takes CS = 0x23 + 16 = __USER_CS 0x33, SS = 0x23 + 8 = __USER_DS 0x2b, RPL 3)
// and __KERNEL_CS in bits 47:32.
constexpr std::uint32_t kMsrEfer = 0xc0000080, kMsrStar = 0xc0000081;
constexpr std::uint64_t kEferSce = 1;
constexpr std::uint64_t kStar = (0x23ull << 48) | (0x10ull << 32);
constexpr std::uint64_t kUserCs = 0x33, kUserSs = 0x2b;
constexpr std::uint64_t kRflagsIf = 0x202;

bool stub_fill(uc_engine*, std::uint64_t, uc_mem_type type, uc_tlb_entry* out, void*) {
    if (type == UC_MEM_WRITE) return false;
    out->paddr = 0;
    out->perms = static_cast<uc_prot>(UC_PROT_READ | UC_PROT_EXEC);
    return true;
}

void write_msr(uc_engine* uc, std::uint32_t id, std::uint64_t value) {
    uc_x86_msr msr{id, value};
    check(uc_reg_write(uc, UC_X86_REG_MSR, &msr), "uc_reg_write msr");
}

std::uint64_t read_msr(uc_engine* uc, std::uint32_t id) {
    uc_x86_msr msr{id, 0};
    check(uc_reg_read(uc, UC_X86_REG_MSR, &msr), "uc_reg_read msr");
    return msr.value;
}

}  // namespace

UnicornError::UnicornError(const std::string& what, uc_err err)
    : std::runtime_error(what + ": " + uc_strerror(err)), code_(err) {}

void check(uc_err err, const char* what) {
    if (err != UC_ERR_OK) throw UnicornError(what, err);
}

Cpu::Cpu() {
    uc_engine* uc = nullptr;
    check(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), "uc_open");
    engine_.reset(uc);
    // Every miss of Unicorn's TLB asks our MMU (UC_HOOK_TLB_FILL): guest paging is ours.
    check(uc_ctl_tlb_mode(uc, UC_TLB_VIRTUAL), "uc_ctl_tlb_mode");
    enter_user_mode();
}

// Unicorn starts 64-bit engines at CPL 0, and in 64-bit mode a uc_reg_write of CS or SS only
// sets the selector: the CPL (QEMU's hflags, from the SS descriptor) stays 0 and privileged
// instructions run. SYSRETQ is the one way in: it loads CS and SS with their fixed user
// descriptors (no GDT read) and sets CPL 3, as Linux's return to user space does. It runs once,
// before any hook of the emulator exists, from a page no guest translation can reach; contexts
// saved afterwards carry CPL 3 through every task switch, exec and signal.
void Cpu::enter_user_mode() {
    uc_engine* uc = handle();
    check(uc_mem_map(uc, 0, kStubPage, UC_PROT_READ | UC_PROT_EXEC), "uc_mem_map entry stub");
    check(uc_mem_write(uc, 0, kSysretq, sizeof kSysretq), "uc_mem_write entry stub");
    uc_hook fill;
    check(uc_hook_add(uc, &fill, UC_HOOK_TLB_FILL, reinterpret_cast<void*>(&stub_fill), nullptr,
                      kEntryStub, kEntryStub + kStubPage - 1),
          "hook entry stub");
    write_msr(uc, kMsrEfer, read_msr(uc, kMsrEfer) | kEferSce);
    write_msr(uc, kMsrStar, kStar);
    set_reg(UC_X86_REG_RCX, kEntryStub + sizeof kSysretq);  // where SYSRETQ goes: the run's end
    set_reg(UC_X86_REG_R11, kRflagsIf);
    const uc_err err = uc_emu_start(uc, kEntryStub, kEntryStub + sizeof kSysretq, 0, 0);
    check(uc_hook_del(uc, fill), "uc_hook_del entry stub");
    check(uc_mem_unmap(uc, 0, kStubPage), "uc_mem_unmap entry stub");
    check(err, "entering user mode");
    if (reg(UC_X86_REG_CS) != kUserCs || reg(UC_X86_REG_SS) != kUserSs)
        throw UnicornError("entering user mode: CS/SS not 0x33/0x2b", UC_ERR_EXCEPTION);
    for (int id : {UC_X86_REG_RCX, UC_X86_REG_R11, UC_X86_REG_RIP}) set_reg(id, 0);
    flush_tlb();  // the stub's translation, and its code
    flush_code();
    user_entry_.emplace(uc);
    save(*user_entry_);
}

std::uint64_t Cpu::reg(int id) const {
    std::uint64_t value = 0;
    check(uc_reg_read(handle(), id, &value), "uc_reg_read");
    return value;
}

void Cpu::set_reg(int id, std::uint64_t value) {
    check(uc_reg_write(handle(), id, &value), "uc_reg_write");
}

Xmm Cpu::xmm(int index) const {
    Xmm value{};
    check(uc_reg_read(handle(), UC_X86_REG_XMM0 + index, value.data()), "uc_reg_read xmm");
    return value;
}

void Cpu::set_xmm(int index, const Xmm& value) {
    Xmm copy = value;
    check(uc_reg_write(handle(), UC_X86_REG_XMM0 + index, copy.data()), "uc_reg_write xmm");
}

Fp80 Cpu::st(int index) const {
    Fp80 value{};
    check(uc_reg_read(handle(), UC_X86_REG_ST0 + index, value.data()), "uc_reg_read st");
    return value;
}

void Cpu::set_st(int index, const Fp80& value) {
    Fp80 copy = value;
    check(uc_reg_write(handle(), UC_X86_REG_ST0 + index, copy.data()), "uc_reg_write st");
}

void Cpu::set_fp_physical(int index, const Fp80& value) {
    Fp80 copy = value;
    check(uc_reg_write(handle(), UC_X86_REG_FP0 + index, copy.data()), "uc_reg_write fp");
}

void Cpu::map_ram(void* host, std::uint64_t bytes) {
    check(uc_mem_map_ptr(handle(), 0, bytes, UC_PROT_ALL, host), "uc_mem_map_ptr");
}

namespace {
void add_hook(uc_engine* uc, int type, void* callback, void* user, std::uint64_t begin,
              std::uint64_t end, const char* what, int extra = -1) {
    uc_hook hook;
    uc_err err = extra < 0 ? uc_hook_add(uc, &hook, type, callback, user, begin, end)
                           : uc_hook_add(uc, &hook, type, callback, user, begin, end, extra);
    check(err, what);
}
}  // namespace

void Cpu::on_tlb_fill(uc_cb_tlbevent_t callback, void* user) {
    add_hook(handle(), UC_HOOK_TLB_FILL, reinterpret_cast<void*>(callback), user, 1, 0,
             "hook TLB fill");
}

void Cpu::on_syscall(void (*callback)(uc_engine*, void*), void* user) {
    add_hook(handle(), UC_HOOK_INSN, reinterpret_cast<void*>(callback), user, 1, 0, "hook syscall",
             UC_X86_INS_SYSCALL);
}

void Cpu::on_interrupt(void (*callback)(uc_engine*, std::uint32_t, void*), void* user) {
    add_hook(handle(), UC_HOOK_INTR, reinterpret_cast<void*>(callback), user, 1, 0,
             "hook interrupt");
}

void Cpu::on_port_in(std::uint32_t (*callback)(uc_engine*, std::uint32_t, int, void*), void* user) {
    add_hook(handle(), UC_HOOK_INSN, reinterpret_cast<void*>(callback), user, 1, 0, "hook in",
             UC_X86_INS_IN);
}

void Cpu::on_port_out(void (*callback)(uc_engine*, std::uint32_t, int, std::uint32_t, void*),
                      void* user) {
    add_hook(handle(), UC_HOOK_INSN, reinterpret_cast<void*>(callback), user, 1, 0, "hook out",
             UC_X86_INS_OUT);
}

void Cpu::on_code(void (*callback)(uc_engine*, std::uint64_t, std::uint32_t, void*), void* user) {
    add_hook(handle(), UC_HOOK_CODE, reinterpret_cast<void*>(callback), user, 1, 0, "hook code");
}

bool Cpu::filter_code_hooks(bool (*wanted)(std::uint64_t address, void* user), void* user) {
#ifdef UC_CTL_TB_CODE_HOOK_FILTER
    code_hook_filter_ = {wanted, user};
    auto choose = [](uc_engine*, std::uint64_t address, void* self) {
        const auto& filter = static_cast<Cpu*>(self)->code_hook_filter_;
        return filter.wanted(address, filter.user) ? UC_CODE_HOOK_CALL_NO_EFLAGS : UC_CODE_HOOK_SKIP;
    };
    check(uc_ctl_set_code_hook_filter(handle(), +choose, this), "uc_ctl_set_code_hook_filter");
    return true;
#else
    (void)wanted;
    (void)user;
    return false;
#endif
}

void Cpu::on_memory(void (*callback)(uc_engine*, uc_mem_type, std::uint64_t, int, std::int64_t, void*),
                    void* user) {
    add_hook(handle(), UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(callback),
             user, 1, 0, "hook memory");
}

void Cpu::on_block(void (*callback)(uc_engine*, std::uint64_t, std::uint32_t, void*), void* user) {
    add_hook(handle(), UC_HOOK_BLOCK, reinterpret_cast<void*>(callback), user, 1, 0, "hook block");
}

CpuContext::CpuContext(uc_engine* engine) {
    uc_context* c = nullptr;
    check(uc_context_alloc(engine, &c), "uc_context_alloc");
    context_.reset(c);
}

std::uint64_t CpuContext::reg(int id) const {
    std::uint64_t value = 0;
    check(uc_context_reg_read(get(), id, &value), "uc_context_reg_read");
    return value;
}

void CpuContext::set_reg(int id, std::uint64_t value) {
    check(uc_context_reg_write(get(), id, &value), "uc_context_reg_write");
}

void Cpu::save(CpuContext& into) const { check(uc_context_save(handle(), into.get()), "uc_context_save"); }

void Cpu::restore(const CpuContext& from) {
    check(uc_context_restore(handle(), from.get()), "uc_context_restore");
}

void Cpu::flush_tlb() { check(uc_ctl_flush_tlb(handle()), "uc_ctl_flush_tlb"); }

void Cpu::flush_tlb_page([[maybe_unused]] std::uint64_t vaddr) {
#ifdef UC_CTL_TLB_FLUSH_PAGE
    check(uc_ctl_flush_tlb_page(handle(), vaddr), "uc_ctl_flush_tlb_page");
#else
    flush_tlb();
#endif
}

void Cpu::flush_code() { check(uc_ctl_flush_tb(handle()), "uc_ctl_flush_tb"); }

bool Cpu::invalidate_code([[maybe_unused]] std::uint64_t paddr, [[maybe_unused]] std::uint64_t bytes) {
#ifdef UC_CTL_TB_REMOVE_CACHE_PHYS
    return uc_ctl_remove_cache_phys(handle(), paddr, paddr + bytes) == UC_ERR_OK;
#else
    return false;
#endif
}

uc_err Cpu::run(std::uint64_t rip, std::uint64_t max_instructions, std::uint64_t until) {
    // Without an end, until = 0: Unicorn may probe the page of until-1 when the run ends, which
    // would show up as a bogus refused fetch in the TLB-fill hook. A caller's `until` follows
    // code the CPU has just fetched, so that page is one it may execute.
    return uc_emu_start(handle(), rip, until, 0, max_instructions);
}

void Cpu::stop() { check(uc_emu_stop(handle()), "uc_emu_stop"); }

namespace {

// The user-visible register state: what a signal frame and the FPU image hold. FS and GS
// selectors go before their bases (a selector write reloads the base).
constexpr int kUserRegs[] = {
    UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RSI,
    UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP, UC_X86_REG_R8,  UC_X86_REG_R9,
    UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14,
    UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_RFLAGS, UC_X86_REG_CS, UC_X86_REG_SS,
    UC_X86_REG_DS,  UC_X86_REG_ES,  UC_X86_REG_FS,  UC_X86_REG_GS,  UC_X86_REG_FS_BASE,
    UC_X86_REG_GS_BASE, UC_X86_REG_FPSW, UC_X86_REG_FPCW, UC_X86_REG_FOP, UC_X86_REG_FIP,
    UC_X86_REG_FDP, UC_X86_REG_MXCSR};

}  // namespace

void Cpu::clear_exception_state() {
    std::vector<std::uint64_t> values;
    for (int id : kUserRegs) values.push_back(reg(id));
    std::array<Fp80, 8> fp{};  // physical R0-R7: independent of TOP
    for (int i = 0; i < 8; ++i)
        check(uc_reg_read(handle(), UC_X86_REG_FP0 + i, fp[i].data()), "uc_reg_read fp");
    const std::uint64_t tags = reg(UC_X86_REG_FPTAG);
    std::array<Xmm, 16> xmms{};
    for (int i = 0; i < 16; ++i) xmms[i] = xmm(i);
    restore(*user_entry_);
    for (std::size_t i = 0; i < values.size(); ++i) set_reg(kUserRegs[i], values[i]);
    for (int i = 0; i < 8; ++i) set_fp_physical(i, fp[i]);
    set_reg(UC_X86_REG_FPTAG, tags);  // after the registers: Unicorn keeps tags apart
    for (int i = 0; i < 16; ++i) set_xmm(i, xmms[i]);
}

}  // namespace emu
