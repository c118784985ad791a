#include "operators/sink/live_audience.h"

#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

namespace segflow {
namespace {

struct Lent {
  const AudienceStore* store;
  int readers = 0;
};

// Never destroyed: sinks may still run when static destructors do.
struct Registry {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::shared_ptr<Lent>> stores;  // normalized dir -> lent store
};
Registry& registry = *new Registry;

// One key per folder however a job file spelled it.
std::string Key(const std::string& dir) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(dir, ec);
  return (ec ? std::filesystem::path(dir) : abs).lexically_normal().string();
}

}  // namespace

LiveAudienceRegistration::LiveAudienceRegistration(const std::string& dir,
                                                   const AudienceStore* store)
    : dir_(Key(dir)), store_(store) {
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.stores[dir_] = std::make_shared<Lent>(Lent{store, 0});
}

LiveAudienceRegistration::~LiveAudienceRegistration() {
  std::unique_lock<std::mutex> lock(registry.mu);
  std::shared_ptr<Lent> lent;
  auto it = registry.stores.find(dir_);
  if (it != registry.stores.end() && it->second->store == store_) {
    lent = it->second;
    registry.stores.erase(it);
  }
  if (lent) registry.cv.wait(lock, [&] { return lent->readers == 0; });
}

bool WithLiveAudience(const std::string& dir, const std::function<void(const AudienceStore&)>& fn) {
  std::shared_ptr<Lent> lent;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.stores.find(Key(dir));
    if (it == registry.stores.end()) return false;
    lent = it->second;
    ++lent->readers;
  }
  struct Release {  // also when fn throws (Cap'n Proto builders may)
    Lent* lent;
    ~Release() {
      {
        std::lock_guard<std::mutex> lock(registry.mu);
        --lent->readers;
      }
      registry.cv.notify_all();
    }
  } release{lent.get()};
  fn(*lent->store);
  return true;
}

}  // namespace segflow
