#include "engine/runtime/task_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "engine/runtime/channel.h"
#include "engine/runtime/stream_element.h"

namespace segflow {
namespace {

using namespace std::chrono_literals;

// Loops until cancelled; fails the test (instead of hanging) after `limit`.
Status SpinUntilCancelled(CancellationToken& cancel, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cancel.cancelled()) {
    if (std::chrono::steady_clock::now() > deadline) return Status::Internal("never cancelled");
    std::this_thread::sleep_for(1ms);
  }
  return Status::Cancelled("stopped");
}

TEST(TaskGroupTest, JoinIsOkWhenEveryTaskSucceeds) {
  std::atomic<int> ran{0};
  TaskGroup group;
  for (int i = 0; i < 4; ++i) {
    group.Spawn("t" + std::to_string(i), [&](CancellationToken&) {
      ++ran;
      return Status::OK();
    });
  }
  EXPECT_TRUE(group.Join().ok());
  EXPECT_EQ(ran.load(), 4);
  EXPECT_FALSE(group.token().cancelled());
}

TEST(TaskGroupTest, FirstFailureCancelsTheRestAndIsReportedWithTaskName) {
  BoundedChannel<int> idle(1);  // nobody ever pushes: its popper blocks until closed
  TaskGroup group;
  group.CloseOnCancel(&idle);
  std::atomic<bool> spinner_saw_cancel{false};
  std::atomic<bool> popper_woke{false};
  group.Spawn("spinner", [&](CancellationToken& cancel) {
    Status s = SpinUntilCancelled(cancel);
    spinner_saw_cancel = s.code() == Status::Code::kCancelled;
    return s;
  });
  group.Spawn("popper", [&](CancellationToken&) {
    auto v = idle.Pop();
    popper_woke = !v.has_value();
    return Status::Cancelled("input closed");
  });
  group.Spawn("broken", [](CancellationToken&) {
    std::this_thread::sleep_for(20ms);
    return Status::IOError("disk full");
  });
  const Status s = group.Join();
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "broken: disk full");
  EXPECT_TRUE(spinner_saw_cancel.load());
  EXPECT_TRUE(popper_woke.load());
  EXPECT_TRUE(idle.closed());
}

TEST(TaskGroupTest, FailingConsumerUnblocksProducerStuckOnFullChannel) {
  BoundedChannel<StreamElement<int>> ch(2);
  TaskGroup group;
  group.CloseOnCancel(&ch);
  Status producer_status;
  group.Spawn("producer", [&](CancellationToken&) {
    // Pushes far more than fit; only the channel closing on cancellation ends it.
    for (int i = 0; i < 1000000; ++i) {
      Status s = ch.Push(StreamElement<int>(i));
      if (!s.ok()) {
        producer_status = s;
        return s;
      }
    }
    return Status::OK();
  });
  group.Spawn("consumer", [&](CancellationToken&) -> Status {
    for (int i = 0; i < 5; ++i) {
      if (!ch.PopFor(5s)) return Status::Internal("no input");
    }
    return Status::Corruption("bad record 5");
  });
  const Status s = group.Join();
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_EQ(s.message(), "consumer: bad record 5");
  EXPECT_EQ(producer_status.code(), Status::Code::kCancelled);
}

TEST(TaskGroupTest, PipelineRunsToEndOfStream) {
  BoundedChannel<StreamElement<std::vector<int>>> ch(3);
  TaskGroup group;
  group.CloseOnCancel(&ch);
  int64_t sum = 0;
  group.Spawn("source", [&](CancellationToken&) {
    for (int b = 0; b < 100; ++b) {
      std::vector<int> batch;
      for (int i = 0; i < 10; ++i) batch.push_back(b * 10 + i);
      SEGFLOW_RETURN_IF_ERROR(ch.Push(std::move(batch)));
      SEGFLOW_RETURN_IF_ERROR(ch.Push(Watermark{0, b}));
    }
    return ch.Push(EndOfStream{});
  });
  group.Spawn("sink", [&](CancellationToken& cancel) -> Status {
    int64_t last_wm = -1;
    for (int n = 0; n < 1000 && !cancel.cancelled(); ++n) {
      auto e = ch.PopFor(5s);
      if (!e) return Status::Internal("stalled");
      if (IsEndOfStream(*e)) return Status::OK();
      if (auto* wm = std::get_if<Watermark>(&*e)) {
        if (wm->time <= last_wm) return Status::Internal("watermark went back");
        last_wm = wm->time;
      } else if (auto* batch = std::get_if<std::vector<int>>(&*e)) {
        for (int v : *batch) sum += v;
      }
    }
    return Status::Internal("no end of stream");
  });
  ASSERT_TRUE(group.Join().ok());
  EXPECT_EQ(sum, 999 * 1000 / 2);
}

TEST(TaskGroupTest, ExceptionBecomesInternalErrorAndCancels) {
  TaskGroup group;
  group.Spawn("spinner", [](CancellationToken& cancel) { return SpinUntilCancelled(cancel); });
  group.Spawn("thrower", [](CancellationToken&) -> Status { throw std::runtime_error("boom"); });
  const Status s = group.Join();
  EXPECT_EQ(s.code(), Status::Code::kInternal);
  EXPECT_NE(s.message().find("thrower"), std::string::npos);
  EXPECT_NE(s.message().find("boom"), std::string::npos);
}

TEST(TaskGroupTest, ExternalCancelStopsTasksAndIsReported) {
  TaskGroup group;
  group.Spawn("a", [](CancellationToken& cancel) { return SpinUntilCancelled(cancel); });
  group.Spawn("b", [](CancellationToken& cancel) { return SpinUntilCancelled(cancel); });
  std::this_thread::sleep_for(10ms);
  group.Cancel("shutdown requested");
  const Status s = group.Join();
  EXPECT_EQ(s.code(), Status::Code::kCancelled);
  EXPECT_EQ(s.message(), "shutdown requested");
}

TEST(TaskGroupTest, LaterErrorsDoNotReplaceTheFirst) {
  TaskGroup group;
  group.Spawn("first", [](CancellationToken&) { return Status::NotFound("a"); });
  ASSERT_TRUE(group.token().WaitFor(10s));
  group.Spawn("second", [](CancellationToken&) { return Status::IOError("b"); });
  const Status s = group.Join();
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "first: a");
}

TEST(TaskGroupTest, DestructorCancelsAndJoinsRunningTasks) {
  std::atomic<bool> stopped{false};
  {
    TaskGroup group;
    group.Spawn("spinner", [&](CancellationToken& cancel) {
      Status s = SpinUntilCancelled(cancel);
      stopped = true;
      return s;
    });
  }
  EXPECT_TRUE(stopped.load());
}

TEST(CancellationTokenTest, CallbacksRunOnceAndLateOnesRunImmediately) {
  CancellationToken token;
  int calls = 0;
  token.OnCancel([&] { ++calls; });
  EXPECT_FALSE(token.WaitFor(1ms));
  token.Cancel();
  token.Cancel();
  EXPECT_EQ(calls, 1);
  token.OnCancel([&] { calls += 10; });
  EXPECT_EQ(calls, 11);
  EXPECT_TRUE(token.WaitFor(0ms));
}

}  // namespace
}  // namespace segflow
