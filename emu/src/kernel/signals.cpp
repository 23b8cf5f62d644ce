// Linux's signal facts: default actions, names, si_code names.
#include "kernel/signals.hpp"

namespace emu {

DefaultAction default_action(int sig) {
    switch (sig) {
    case 3: case 4: case 5: case 6: case 7: case 8: case 11: case 24: case 25: case 31:
        return DefaultAction::CoreDump;  // QUIT ILL TRAP ABRT BUS FPE SEGV XCPU XFSZ SYS
    case 17: case 23: case 28:
        return DefaultAction::Ignore;    // CHLD URG WINCH
    case 18:
        return DefaultAction::Continue;  // CONT
    case 19: case 20: case 21: case 22:
        return DefaultAction::Stop;      // STOP TSTP TTIN TTOU
    default:
        return DefaultAction::Terminate;
    }
}

const char* signal_name(int sig) {
    static const char* names[] = {"0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP",
                                  "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV",
                                  "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
                                  "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU",
                                  "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
                                  "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"};
    return sig >= 0 && sig < 32 ? names[sig] : "SIGRT";
}

const char* si_code_name(int sig, int code) {
    if (code == 0) return "SI_USER";
    if (code == 0x80) return "SI_KERNEL";
    if (code == -6) return "SI_TKILL";
    if (sig == 11) {
        switch (code) {
        case 1: return "SEGV_MAPERR";
        case 2: return "SEGV_ACCERR";
        case 4: return "SEGV_PKUERR";
        }
    }
    if (sig == 7 && code == 2) return "BUS_ADRERR";
    if (sig == 8 && code == 1) return "FPE_INTDIV";
    if (sig == 4 && code == 2) return "ILL_ILLOPN";
    return "?";
}

}  // namespace emu
