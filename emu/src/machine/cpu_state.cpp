#include "machine/cpu_state.hpp"

#include <cstddef>
#include <cstring>

namespace emu {

namespace {

// struct _fpx_sw_bytes (arch/x86/include/uapi/asm/sigcontext.h): bytes 464..511 of the image.
struct FpxSwBytes {
    std::uint32_t magic1, extended_size;
    std::uint64_t xfeatures;
    std::uint32_t xstate_size;
    std::uint32_t padding[7];
};
static_assert(sizeof(FpxSwBytes) == 48);

// The FXSAVE image, 64-bit format (struct fxregs_state; SDM Vol. 1, 10.5.1).
struct FxsaveArea {
    std::uint16_t cwd, swd;
    std::uint16_t twd;  // abridged tag: bit i set when physical register R(i) is not empty
    std::uint16_t fop;
    std::uint64_t rip, rdp;
    std::uint32_t mxcsr, mxcsr_mask;
    std::uint8_t st[8][16];  // ST(0)-ST(7), 10 bytes each used
    std::uint8_t xmm[16][16];
    std::uint8_t reserved[48];
    FpxSwBytes sw;
};
static_assert(sizeof(FxsaveArea) == 512 && offsetof(FxsaveArea, mxcsr) == 24 &&
              offsetof(FxsaveArea, st) == 32 && offsetof(FxsaveArea, xmm) == 160 &&
              offsetof(FxsaveArea, sw) == 464);

struct XsaveHeader {
    std::uint64_t xstate_bv, xcomp_bv, reserved[6];
};
static_assert(sizeof(XsaveHeader) == 64);

struct SigFpuFrame {
    FxsaveArea fx;
    XsaveHeader header;
    std::uint32_t magic2;  // FP_XSTATE_MAGIC2, right after the xstate_size bytes
};
static_assert(offsetof(SigFpuFrame, magic2) + sizeof(std::uint32_t) == kSigFpuBytes);

constexpr std::uint32_t kMagic1 = 0x46505853;  // FP_XSTATE_MAGIC1
constexpr std::uint32_t kMagic2 = 0x46505845;  // FP_XSTATE_MAGIC2
constexpr std::uint64_t kX87 = 0x1, kSse = 0x2;
constexpr std::uint64_t kXfeatures = kX87 | kSse;  // XCR0 of Unicorn's CPU (xgetbv reads 3)
constexpr std::uint32_t kXstateSize = 512 + 64;    // FXSAVE image + XSAVE header
constexpr std::uint16_t kInitFcw = 0x037f;         // all exceptions masked, 64-bit precision
constexpr std::uint16_t kEmptyTags = 0xffff;
constexpr std::uint32_t kInitMxcsr = 0x1f80;       // all SIMD exceptions masked
constexpr std::uint32_t kMxcsrMask = 0xffff;       // MXCSR bits the CPU implements (with DAZ)
constexpr std::uint64_t kEflagsIf = 0x200, kEflagsFixed = 0x2;

// Full tag word (2 bits per physical register, 3 = empty) <-> FXSAVE's abridged one.
std::uint16_t abridged_tag(std::uint64_t full) {
    std::uint16_t abridged = 0;
    for (int i = 0; i < 8; ++i)
        if (((full >> (2 * i)) & 3) != 3) abridged |= static_cast<std::uint16_t>(1u << i);
    return abridged;
}

std::uint16_t full_tag(std::uint16_t abridged) {
    // Unicorn derives valid/zero/special from the register itself: any value but 3 is "in use".
    std::uint16_t full = 0;
    for (int i = 0; i < 8; ++i)
        if (!(abridged & (1u << i))) full |= static_cast<std::uint16_t>(3u << (2 * i));
    return full;
}

// check_xstate_in_sigframe: software bytes that do not describe this CPU's XSAVE layout make
// rt_sigreturn treat the image as plain FXSAVE (fx_only).
bool is_xstate_frame(const SigFpuFrame& f) {
    const FpxSwBytes& sw = f.fx.sw;
    return sw.magic1 == kMagic1 && sw.xstate_size == kXstateSize &&
           sw.extended_size >= sw.xstate_size && f.magic2 == kMagic2;
}

void load_x87(Cpu& cpu, const FxsaveArea& fx) {
    cpu.set_reg(UC_X86_REG_FPCW, fx.cwd);
    cpu.set_reg(UC_X86_REG_FPSW, fx.swd);  // TOP first: ST(i) are relative to it
    for (int i = 0; i < 8; ++i) {
        Fp80 value;
        std::memcpy(value.data(), fx.st[i], value.size());
        cpu.set_st(i, value);
    }
    cpu.set_reg(UC_X86_REG_FPTAG, full_tag(fx.twd));
    cpu.set_reg(UC_X86_REG_FOP, fx.fop);
    cpu.set_reg(UC_X86_REG_FIP, fx.rip);
    cpu.set_reg(UC_X86_REG_FDP, fx.rdp);
}

void load_xmm(Cpu& cpu, const FxsaveArea& fx) {
    for (int i = 0; i < 16; ++i) {
        Xmm value;
        std::memcpy(value.data(), fx.xmm[i], value.size());
        cpu.set_xmm(i, value);
    }
}

}  // namespace

void reset_fpu(Cpu& cpu) {
    cpu.set_reg(UC_X86_REG_FPCW, kInitFcw);
    cpu.set_reg(UC_X86_REG_FPSW, 0);
    for (int i = 0; i < 8; ++i) cpu.set_fp_physical(i, Fp80{});
    cpu.set_reg(UC_X86_REG_FPTAG, kEmptyTags);
    cpu.set_reg(UC_X86_REG_FOP, 0);
    cpu.set_reg(UC_X86_REG_FIP, 0);
    cpu.set_reg(UC_X86_REG_FDP, 0);
    cpu.set_reg(UC_X86_REG_MXCSR, kInitMxcsr);
    for (int i = 0; i < 16; ++i) cpu.set_xmm(i, Xmm{});
}

void set_exec_state(Cpu& cpu) {
    // ELF_PLAT_INIT and start_thread: every general register zero but rsp; RFLAGS = IF.
    constexpr int kGprs[] = {UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX,
                             UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_R8,
                             UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,
                             UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
    for (int id : kGprs) cpu.set_reg(id, 0);
    cpu.set_reg(UC_X86_REG_EFLAGS, kEflagsIf | kEflagsFixed);
    // __USER_CS and __USER_DS; ds, es, fs and gs null with zero bases (start_thread_common).
    // In 64-bit mode Unicorn writes only the selectors: CPL 3 is the engine's since its creation.
    cpu.set_reg(UC_X86_REG_CS, 0x33);
    cpu.set_reg(UC_X86_REG_SS, 0x2b);
    for (int id : {UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_FS, UC_X86_REG_GS}) cpu.set_reg(id, 0);
    cpu.set_reg(UC_X86_REG_FS_BASE, 0);
    cpu.set_reg(UC_X86_REG_GS_BASE, 0);
    reset_fpu(cpu);  // fpu_flush_thread
}

SigFpuImage save_fpu_image(const Cpu& cpu) {
    SigFpuFrame f{};
    FxsaveArea& fx = f.fx;
    fx.cwd = static_cast<std::uint16_t>(cpu.reg(UC_X86_REG_FPCW));
    fx.swd = static_cast<std::uint16_t>(cpu.reg(UC_X86_REG_FPSW));
    fx.twd = abridged_tag(cpu.reg(UC_X86_REG_FPTAG));
    fx.fop = static_cast<std::uint16_t>(cpu.reg(UC_X86_REG_FOP));
    fx.rip = cpu.reg(UC_X86_REG_FIP);
    fx.rdp = cpu.reg(UC_X86_REG_FDP);
    fx.mxcsr = static_cast<std::uint32_t>(cpu.reg(UC_X86_REG_MXCSR));
    fx.mxcsr_mask = kMxcsrMask;
    for (int i = 0; i < 8; ++i) std::memcpy(fx.st[i], cpu.st(i).data(), sizeof(Fp80));
    for (int i = 0; i < 16; ++i) std::memcpy(fx.xmm[i], cpu.xmm(i).data(), sizeof(Xmm));
    // save_sw_bytes; the header says both components are saved (XINUSE may always read 1).
    fx.sw.magic1 = kMagic1;
    fx.sw.extended_size = kSigFpuBytes;
    fx.sw.xfeatures = kXfeatures;
    fx.sw.xstate_size = kXstateSize;
    f.header.xstate_bv = kXfeatures;
    f.magic2 = kMagic2;
    SigFpuImage image;
    std::memcpy(image.data(), &f, image.size());
    return image;
}

bool load_fpu_image(Cpu& cpu, const SigFpuImage& image) {
    SigFpuFrame f{};
    std::memcpy(&f, image.data(), image.size());
    // Components XRSTOR takes from the image (the sw bytes' xfeatures) and those it finds
    // saved there (xstate_bv); the rest get their initial state. fx_only: FXRSTOR, all of it.
    std::uint64_t requested = kXfeatures, saved = kXfeatures;
    if (is_xstate_frame(f)) {
        // XRSTOR of the standard format faults on unsupported components or a compacted header.
        if ((f.header.xstate_bv & ~kXfeatures) || f.header.xcomp_bv || f.header.reserved[0])
            return false;
        requested = f.fx.sw.xfeatures & kXfeatures;
        saved = f.header.xstate_bv & requested;
    }
    if ((requested & kSse) && (f.fx.mxcsr & ~kMxcsrMask)) return false;  // #GP: reserved bits
    reset_fpu(cpu);
    if (saved & kX87) load_x87(cpu, f.fx);
    if (requested & kSse) cpu.set_reg(UC_X86_REG_MXCSR, f.fx.mxcsr);  // MXCSR goes with SSE
    if (saved & kSse) load_xmm(cpu, f.fx);
    return true;
}

}  // namespace emu
