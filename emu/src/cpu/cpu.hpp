// The x86-64 CPU: a Unicorn 2.1 engine in virtual-TLB mode, behind one thin RAII layer. Every
// uc_* call of the emulator goes through this class; failures become UnicornError.
#pragma once

#include <unicorn/unicorn.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace emu {

class UnicornError : public std::runtime_error {
public:
    UnicornError(const std::string& what, uc_err err);
    uc_err code() const { return code_; }

private:
    uc_err code_;
};

// Throws UnicornError naming `what` when `err` is not UC_ERR_OK.
void check(uc_err err, const char* what);

using Xmm = std::array<std::uint8_t, 16>;
using Fp80 = std::array<std::uint8_t, 10>;  // an x87 register: 64-bit significand, sign+exponent

// A saved register state (all of it: general, segment bases, x87, SSE, AVX, flags), taken from
// one engine and restorable into any engine of the same mode: a task switch.
class CpuContext {
public:
    explicit CpuContext(uc_engine* engine);
    uc_context* get() const { return context_.get(); }
    std::uint64_t reg(int id) const;
    void set_reg(int id, std::uint64_t value);

private:
    struct Freer {
        void operator()(uc_context* c) const { uc_context_free(c); }
    };
    std::unique_ptr<uc_context, Freer> context_;
};

class Cpu {
public:
    Cpu();  // x86-64, virtual-TLB mode, at CPL 3 (see enter_user_mode)
    Cpu(const Cpu&) = delete;
    Cpu& operator=(const Cpu&) = delete;

    uc_engine* handle() const { return engine_.get(); }

    std::uint64_t reg(int id) const;
    void set_reg(int id, std::uint64_t value);
    // Several 64-bit registers in one call (a system call's arguments and results).
    template <std::size_t N>
    std::array<std::uint64_t, N> regs(const std::array<int, N>& ids) const {
        std::array<std::uint64_t, N> values{};
        std::array<void*, N> ptrs;
        for (std::size_t i = 0; i < N; ++i) ptrs[i] = &values[i];
        check(uc_reg_read_batch(handle(), ids.data(), ptrs.data(), static_cast<int>(N)), "uc_reg_read_batch");
        return values;
    }
    template <std::size_t N>
    void set_regs(const std::array<int, N>& ids, const std::array<std::uint64_t, N>& values) {
        std::array<void*, N> ptrs;
        for (std::size_t i = 0; i < N; ++i) ptrs[i] = const_cast<std::uint64_t*>(&values[i]);
        check(uc_reg_write_batch(handle(), ids.data(), ptrs.data(), static_cast<int>(N)), "uc_reg_write_batch");
    }
    Xmm xmm(int index) const;
    void set_xmm(int index, const Xmm& value);
    // x87 registers by stack position (ST(i), relative to the top in the status word) and by
    // physical number (R0-R7, what the tag word describes).
    Fp80 st(int index) const;
    void set_st(int index, const Fp80& value);
    void set_fp_physical(int index, const Fp80& value);

    // Guest-physical RAM: one region at physical address 0 backed by host memory.
    void map_ram(void* host, std::uint64_t bytes);

    // Hook registration; hooks live as long as the engine.
    void on_tlb_fill(uc_cb_tlbevent_t callback, void* user);
    void on_syscall(void (*callback)(uc_engine*, void*), void* user);
    void on_interrupt(void (*callback)(uc_engine*, std::uint32_t, void*), void* user);
    void on_code(void (*callback)(uc_engine*, std::uint64_t, std::uint32_t, void*), void* user);
    // Narrows the code hooks to the instructions `wanted` accepts when they are translated; the
    // hooks must not read or change EFLAGS (emu/unicorn/0005). False when this Unicorn cannot:
    // every instruction stays hooked.
    bool filter_code_hooks(bool (*wanted)(std::uint64_t address, void* user), void* user);
    void on_block(void (*callback)(uc_engine*, std::uint64_t, std::uint32_t, void*), void* user);
    // IN and OUT (Unicorn runs them at any CPL and never checks the I/O bitmap).
    void on_port_in(std::uint32_t (*callback)(uc_engine*, std::uint32_t, int, void*), void* user);
    void on_port_out(void (*callback)(uc_engine*, std::uint32_t, int, std::uint32_t, void*), void* user);
    void on_memory(void (*callback)(uc_engine*, uc_mem_type, std::uint64_t, int, std::int64_t, void*),
                   void* user);

    void save(CpuContext& into) const;
    void restore(const CpuContext& from);

    // Invalidation of Unicorn's soft TLB and of translated code for a physical or virtual range.
    // A full TLB flush also empties the CPU's jump cache (virtual PC -> translated block), which
    // every indirect jump then refills through the block hash table.
    void flush_tlb();
    // The entries of the page that holds `vaddr` only, and the jump-cache entries of the blocks
    // that may overlap it (emu/unicorn/0007); without that patch, all of the TLB.
    void flush_tlb_page(std::uint64_t vaddr);
#ifdef UC_CTL_TLB_FLUSH_PAGE
    static constexpr bool kFlushesTlbPages = true;
#else
    static constexpr bool kFlushesTlbPages = false;
#endif
    void flush_code();
    // Drops the translated code of guest-physical [paddr, paddr + bytes) only. False when this
    // Unicorn cannot (it lacks emu/unicorn/0006): the caller drops all of it instead.
    bool invalidate_code(std::uint64_t paddr, std::uint64_t bytes);
#ifdef UC_CTL_TB_REMOVE_CACHE_PHYS
    static constexpr bool kInvalidatesCodePrecisely = true;
#else
    static constexpr bool kInvalidatesCodePrecisely = false;
#endif

    // Runs from `rip` until stopped, an exception, or `max_instructions` (0 = unlimited); with
    // `until` (0 = none) it also stops when RIP reaches that address, which the translator
    // never fetches (a block ends before it).
    uc_err run(std::uint64_t rip, std::uint64_t max_instructions, std::uint64_t until = 0);
    void stop();

    // Forgets the exception the CPU took (QEMU's "exception in flight"). Unicorn hands every
    // exception to the interrupt hook and never delivers it, so without this the next #GP or
    // #DE would turn into a double fault and the one after into a triple fault that stops the
    // CPU for good. Only a context restore clears it: the user registers survive the call.
    void clear_exception_state();

private:
    void enter_user_mode();
    struct Closer {
        void operator()(uc_engine* uc) const { uc_close(uc); }
    };
    std::unique_ptr<uc_engine, Closer> engine_;
    std::optional<CpuContext> user_entry_;  // at CPL 3, no exception in flight
    // filter_code_hooks' predicate: Unicorn holds a pointer to this Cpu for it.
    struct CodeHookFilter {
        bool (*wanted)(std::uint64_t address, void* user) = nullptr;
        void* user = nullptr;
    } code_hook_filter_;
};

}  // namespace emu
