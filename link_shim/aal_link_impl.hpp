// aal_link_impl.hpp - what the shim's two files share (aal_link.cpp,
// aal_audio.cpp): Link's headers, the node-id specialization, struct
// aal_link and the one exception barrier.  Private to link_shim/.
//
// With Link 4.0 (ableton/LinkAudio.hpp exists) every aal_link holds an
// ableton::LinkAudio: including LinkAudio.hpp swaps the controller of
// ableton::Link itself (link_audio/ApiConfig.hpp defines ApiController), so
// "Link" and "LinkAudio" cannot both exist in one program: one type, audio
// off until enabled (docs/audio.md).  Link 3.x has no LinkAudio.hpp.
#ifndef AAL_LINK_IMPL_HPP
#define AAL_LINK_IMPL_HPP

#if defined(__has_include)
#if __has_include(<ableton/LinkAudio.hpp>)
#define AAL_HAS_LINK_AUDIO 1
#endif
#endif
#ifndef AAL_HAS_LINK_AUDIO
#define AAL_HAS_LINK_AUDIO 0
#endif

#include "aal_link.h"

#include <ableton/platforms/Config.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <system_error>

// Joining must never change the tempo of an existing session (Link's
// TEST-PLAN TEMPO-2).  Why it could:
//
// Enabling a Link (and losing its last peer) founds a new session: a new
// random node id becomes the session id, and the session's ghost clock is
// reset to read 0 at that moment (Controller::resetState).  When two
// sessions meet, each side measures the other and Sessions::
// handleSuccessfulMeasurement keeps the older one (larger ghost time); when
// the two ghost times are less than 0.5 s apart it falls back to comparing
// session ids and the smaller id wins.  A peer that just lost its last
// peer has just founded a session too: LinkHut at 100 bpm, whose previous
// peer (a process that exited) is gone, founds a new session at that
// instant, and a fresh process that runs `Link(140, loop); link.enabled =
// True` within 0.5 s meets it as an equally old session.  The random ids
// then decide, and about half of those joins pulled LinkHut to 140 bpm (8 of
// 30 back-to-back joins; see tests/test_test_plan.py).  How long after
// construction the Link is enabled does not matter by itself: enable()
// resets the session again; it only matters when the other session is
// younger than 0.5 s.
//
// The fix: our node ids start with the largest bytes Link's generator can
// produce, so our sessions lose every id tie and a session that is not
// clearly younger than the existing one (by 0.5 s of ghost time) joins it
// instead of taking it over.  Sessions that are older still win, as Link
// intends.  Between two aalink peers the remaining random bytes decide, as
// before.  This specializes the id generator Link's Controller uses
// (NodeId::random with the platform Random, printable ASCII 33..126); it is
// declared before <ableton/Link.hpp> so that it is the one instantiated, and
// this file is the only one that includes Link.
namespace ableton {
namespace link {

template <>
inline NodeId NodeId::random<platform::Random>()
{
    constexpr std::size_t yield_prefix = 3; // P(a foreign id ties these) = 94^-3
    constexpr std::uint8_t largest = 126;   // '~', the top of Link's range
    platform::Random random;
    NodeId id;
    std::generate(id.begin(), id.end(), [&] { return random(); });
    std::fill_n(id.begin(), yield_prefix, largest);
    return id;
}

} // namespace link
} // namespace ableton

// Link 4.0's audio encoder copies an AudioBuffer whose header fields it has
// not set yet (link_audio/AudioBuffer.hpp); GCC reports -Wuninitialized at
// the line in Link's header when it inlines that copy into this file, even
// though Link is included as a system header.  Silenced for Link's headers
// only: the shim's own code keeps the warning.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if AAL_HAS_LINK_AUDIO
#include <ableton/LinkAudio.hpp>
#else
#include <ableton/Link.hpp>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#if AAL_HAS_LINK_AUDIO
// The peer name a new Link announces (settable: aal_audio_set_peer_name).
#define AAL_DEFAULT_PEER_NAME "aalink"
struct aal_link {
    explicit aal_link(double bpm) : link(bpm, AAL_DEFAULT_PEER_NAME) {}
    ableton::LinkAudio link;
};
#else
struct aal_link {
    explicit aal_link(double bpm) : link(bpm) {}
    ableton::Link link;
};
#endif

struct aal_session {
    aal_session() : state(ableton::link::ApiState{}, false) {}
    ableton::Link::SessionState state;
};

namespace aal_shim {

using micros = std::chrono::microseconds;

// The calling thread's last failure (aal_last_error), one variable for
// both of the shim's files.
inline thread_local aal_error last_error;

inline void record(int kind, int errnum, const char *message) noexcept
{
    last_error.kind = kind;
    last_error.errnum = errnum;
    std::strncpy(last_error.message, message ? message : "", sizeof last_error.message - 1);
    last_error.message[sizeof last_error.message - 1] = '\0';
}

// Records the exception being handled; called only from a catch block.
inline void record_current() noexcept
{
    try {
        throw;
    }
    catch (const std::system_error &e) {
        // asio (standalone) has its own category for the OS's errno values.
        const std::error_category &cat = e.code().category();
        bool os = cat == std::system_category() || cat == std::generic_category() ||
                  std::strcmp(cat.name(), "asio.system") == 0;
        record(AAL_ERR_SYSTEM, os ? e.code().value() : 0, e.what());
    }
    catch (const std::bad_alloc &e) {
        record(AAL_ERR_NOMEM, 0, e.what());
    }
    catch (const std::exception &e) {
        record(AAL_ERR_OTHER, 0, e.what());
    }
    catch (...) {
        record(AAL_ERR_OTHER, 0, "unknown C++ exception in Ableton Link");
    }
}

// A call that fails without an exception: a NULL handle, or a result Link
// could not represent.
template <typename R>
R invalid(R failure, const char *what) noexcept
{
    record(AAL_ERR_OTHER, 0, what);
    return failure;
}

// The one exception barrier: every extern "C" function below runs its body
// through it, so that no C++ exception crosses into C.  Returns what `body`
// returns, or `failure` when it throws.  The failure type is spelled at each
// call (barrier<double>(NAN, ...)) so that it is the C function's own.
template <typename R, typename F>
R barrier(R failure, F &&body) noexcept
{
    try {
        return body();
    }
    catch (...) {
        record_current();
        return failure;
    }
}

// For functions with nothing to report.
template <typename F>
void barrier(F &&body) noexcept
{
    try {
        body();
    }
    catch (...) {
        record_current();
    }
}

// For functions that return a status: 0, or -1 when `body` throws.
template <typename F>
int status(F &&body) noexcept
{
    return barrier<int>(-1, [&] {
        body();
        return 0;
    });
}

} // namespace aal_shim

#endif // AAL_LINK_IMPL_HPP
