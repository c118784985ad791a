// ScenarioModel: what users of one scenario do in a session (the event vocabulary).
// The generator picks who has a session and when; the model writes that session's events.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "bench/generator/json_line.h"
#include "bench/generator/rng.h"

namespace segflow::gen {

// Where a model writes the events of the current session's user (the generator).
class EventOut {
 public:
  virtual ~EventOut() = default;
  // Starts an event of the session's user at `ts`; add properties, then Commit().
  virtual JsonLine& Begin(std::string_view type, int64_t ts) = 0;
  virtual void Commit() = 0;
  // False once the requested number of events exists: the model must stop.
  virtual bool more() const = 0;
  // The end of the generated period (start + days): the data's "now". A model leaves out
  // follow-ups that would happen after it (they have not happened yet).
  virtual int64_t end() const = 0;
};

class ScenarioModel {
 public:
  virtual ~ScenarioModel() = default;
  // Average events per session, used to spread sessions over the requested days.
  virtual double MeanEventsPerSession() const = 0;
  // Writes one session of `user` (an index < users) starting at `start`: at least one
  // event while out.more(), at or after `start` (a session may schedule events hours or
  // days later, e.g. a late purchase).
  virtual void Session(uint64_t user, int64_t start, Rng& rng, EventOut& out) = 0;
};

std::unique_ptr<ScenarioModel> NewMediaModel(uint64_t users);
std::unique_ptr<ScenarioModel> NewCartModel(uint64_t users);
std::unique_ptr<ScenarioModel> NewFintechModel(uint64_t users);

// Shared vocabulary: countries weighted roughly like a European audience. Models keep the
// index (one byte per user) and write the name.
uint8_t PickCountry(Rng& rng);
std::string_view CountryName(uint8_t country);

}  // namespace segflow::gen
