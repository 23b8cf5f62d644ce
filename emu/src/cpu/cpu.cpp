#include "cpu/cpu.hpp"

#include <cstring>

namespace emu {

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

void Cpu::on_code(void (*callback)(uc_engine*, std::uint64_t, std::uint32_t, void*), void* user) {
    add_hook(handle(), UC_HOOK_CODE, reinterpret_cast<void*>(callback), user, 1, 0, "hook code");
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

void Cpu::flush_code() { check(uc_ctl_flush_tb(handle()), "uc_ctl_flush_tb"); }

uc_err Cpu::run(std::uint64_t rip, std::uint64_t max_instructions) {
    // until = 0: Unicorn would otherwise probe the page of until-1 when the run ends, which shows
    // up as a bogus refused fetch in the TLB-fill hook.
    return uc_emu_start(handle(), rip, 0, 0, max_instructions);
}

void Cpu::stop() { check(uc_emu_stop(handle()), "uc_emu_stop"); }

}  // namespace emu
