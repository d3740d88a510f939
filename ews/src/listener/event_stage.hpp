#pragma once
// The seam between the subscription manager and the application: every
// notification goes through one event_stage. Today that is the dispatcher
// (notifications straight to on_notification); the item fetcher becomes a
// stage of its own (GetItem, then outcomes to the application).

#include <ews/events.hpp>
#include <ews/listener.hpp>

namespace ews::detail {

class event_stage {
 public:
  virtual ~event_stage() = default;
  /// Takes `e` (true), or refuses it when full (false, `e` untouched). Never
  /// blocks. After a refusal the stage calls the ready callback it was built
  /// with once it has room; the listener wires that to the manager's resume().
  virtual bool offer(mailbox_event&& e) = 0;
  /// Every event at hand has been offered (see
  /// soap::streaming_event_sink::end_of_burst). Default: nothing.
  virtual void end_of_burst() {}
  /// No handler call starts after this returns (except one already running
  /// on the calling thread). Idempotent.
  virtual void stop() = 0;
  /// Adds this stage's numbers (delivered, queue depth, ...) to `c`.
  virtual void add_counters(listener_counters& c) const = 0;
};

}  // namespace ews::detail
