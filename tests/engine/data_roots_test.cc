// The containment check behind --data-root (engine/common/data_roots.h) and the
// ownership marker behind every deletion of a folder (engine/common/owned_dir.h).
#include "engine/common/data_roots.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/common/owned_dir.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;

class DataRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/segflow-roots-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/root/data");
    fs::create_directories(dir_ + "/outside");
    auto roots = DataRoots::Make({dir_ + "/root"});
    ASSERT_TRUE(roots.ok()) << roots.status().ToString();
    roots_ = std::move(roots).value();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static void Touch(const std::string& path) { std::ofstream(path) << "sentinel\n"; }

  std::string dir_;
  DataRoots roots_;
};

TEST(IsWithinTest, ComparesWholeComponents) {
  EXPECT_TRUE(IsWithin("/data", "/data"));
  EXPECT_TRUE(IsWithin("/data/a/b", "/data"));
  EXPECT_FALSE(IsWithin("/data2", "/data"));
  EXPECT_FALSE(IsWithin("/dat", "/data"));
  EXPECT_FALSE(IsWithin("/data-x/a", "/data"));
  EXPECT_FALSE(IsWithin("/", "/data"));
  EXPECT_TRUE(IsWithin("/anything", "/"));
}

TEST_F(DataRootsTest, RelativePathsResolveAgainstTheFirstRoot) {
  EXPECT_EQ(roots_.base(), dir_ + "/root");
  EXPECT_EQ(roots_.Absolute("data/log"), dir_ + "/root/data/log");
  EXPECT_EQ(roots_.Absolute("data/log/"), dir_ + "/root/data/log");
  EXPECT_EQ(roots_.Absolute("/abs/x"), "/abs/x");
  EXPECT_TRUE(roots_.Check("data/log", "log").ok());
  EXPECT_TRUE(roots_.Check(dir_ + "/root", "log").ok());
  EXPECT_TRUE(roots_.Check(dir_ + "/root/not/yet/created", "log").ok());
}

TEST_F(DataRootsTest, OutsideIsRefusedNamingPathAndRoots) {
  Status s = roots_.Check(dir_ + "/outside/x", "audience");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("audience " + dir_ + "/outside/x"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(dir_ + "/root"), std::string::npos) << s.message();
  // A root's name as a string prefix is not containment.
  fs::create_directories(dir_ + "/root2");
  EXPECT_FALSE(roots_.Check(dir_ + "/root2", "log").ok());
  EXPECT_FALSE(roots_.Check(dir_ + "/rootx/y", "log").ok());
}

TEST_F(DataRootsTest, DotDotEscapesAreRefused) {
  EXPECT_FALSE(roots_.Check("../outside", "audience").ok());
  EXPECT_FALSE(roots_.Check("data/../../outside", "audience").ok());
  // Through a folder that does not exist yet: resolved lexically, still outside.
  EXPECT_FALSE(roots_.Check("missing/../../outside", "audience").ok());
  EXPECT_FALSE(roots_.Check("missing/a/../../../outside", "audience").ok());
  EXPECT_TRUE(roots_.Check("data/../data/x", "audience").ok());
}

TEST_F(DataRootsTest, SymlinkEscapesAreRefused) {
  fs::create_directory_symlink(dir_ + "/outside", dir_ + "/root/link");
  Status s = roots_.Check("link/audience", "audience");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("resolves to " + dir_ + "/outside/audience"), std::string::npos)
      << s.message();
  EXPECT_FALSE(roots_.Check("link", "audience").ok());
  // A symlink that stays inside is fine.
  fs::create_directory_symlink(dir_ + "/root/data", dir_ + "/root/inner");
  EXPECT_TRUE(roots_.Check("inner/x", "audience").ok());
}

TEST_F(DataRootsTest, AnUnresolvableSymlinkIsRefused) {
  fs::create_symlink(dir_ + "/root/loop", dir_ + "/root/loop");
  Status s = roots_.Check("loop/x", "log");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot be resolved"), std::string::npos) << s.message();
}

// A symlink to a name that does not exist yet is followed as the kernel would when a file
// is created through it (found by fuzz_data_roots: it was taken for a missing name inside).
TEST_F(DataRootsTest, ADanglingSymlinkIsFollowed) {
  fs::create_symlink(dir_ + "/outside/new", dir_ + "/root/dangling");
  fs::create_symlink("../outside/new2", dir_ + "/root/rel-dangling");
  fs::create_symlink("data/later", dir_ + "/root/dangling-in");
  Status s = roots_.Check("dangling", "log");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("resolves to " + dir_ + "/outside/new"), std::string::npos)
      << s.message();
  EXPECT_FALSE(roots_.Check("rel-dangling/x", "audience").ok());
  EXPECT_TRUE(roots_.Check("dangling-in/x", "audience").ok());
  EXPECT_EQ(ResolveExisting(dir_ + "/root/dangling-in/x"), dir_ + "/root/data/later/x");
}

TEST_F(DataRootsTest, ARootReachedThroughASymlinkIsResolved) {
  fs::create_directory_symlink(dir_ + "/root", dir_ + "/alias");
  auto roots = DataRoots::Make({dir_ + "/alias"});
  ASSERT_TRUE(roots.ok());
  EXPECT_TRUE(roots->Check(dir_ + "/root/data/x", "log").ok());
  EXPECT_TRUE(roots->Check(dir_ + "/alias/data/x", "log").ok());
  EXPECT_FALSE(roots->Check(dir_ + "/outside", "log").ok());
}

TEST_F(DataRootsTest, SeveralRoots) {
  auto roots = DataRoots::Make({dir_ + "/root", dir_ + "/outside"});
  ASSERT_TRUE(roots.ok());
  EXPECT_TRUE(roots->Check(dir_ + "/outside/x", "log").ok());
  EXPECT_EQ(roots->Absolute("x"), dir_ + "/root/x");
  EXPECT_FALSE(DataRoots::Make({}).ok());
}

TEST_F(DataRootsTest, OnlyMarkedFoldersAreDeleted) {
  const std::string foreign = dir_ + "/root/foreign";
  fs::create_directories(foreign);
  Touch(foreign + "/sentinel");
  EXPECT_FALSE(RemoveOwnedDir(foreign, "state folder").ok());
  EXPECT_FALSE(CreateOwnedDir(foreign, "state folder").ok());
  EXPECT_FALSE(CheckOwnableDir(foreign, "state folder").ok());
  EXPECT_TRUE(fs::exists(foreign + "/sentinel"));
  EXPECT_FALSE(fs::exists(foreign + "/" + kOwnedMarker));

  const std::string own = dir_ + "/root/own/state";
  ASSERT_TRUE(CreateOwnedDir(own, "state folder").ok());
  EXPECT_TRUE(IsOwnedDir(own));
  Touch(own + "/data");
  EXPECT_TRUE(CreateOwnedDir(own, "state folder").ok());  // already ours
  EXPECT_TRUE(CheckOwnableDir(own, "state folder").ok());
  ASSERT_TRUE(RemoveOwnedDir(own, "state folder").ok());
  EXPECT_FALSE(fs::exists(own));
  EXPECT_TRUE(RemoveOwnedDir(own, "state folder").ok());  // missing: nothing to do
}

TEST_F(DataRootsTest, EmptyFoldersAreAdoptedButNeverDeletedUnmarked) {
  const std::string empty = dir_ + "/root/empty";
  fs::create_directories(empty);
  EXPECT_TRUE(CheckOwnableDir(empty, "audience store").ok());
  EXPECT_TRUE(RemoveOwnedDir(empty, "audience store").ok());
  EXPECT_TRUE(fs::exists(empty));  // left as it was
  ASSERT_TRUE(CreateOwnedDir(empty, "audience store").ok());
  EXPECT_TRUE(IsOwnedDir(empty));
}

TEST_F(DataRootsTest, ASymlinkToAMarkedFolderIsNotOwned) {
  const std::string own = dir_ + "/root/own";
  ASSERT_TRUE(CreateOwnedDir(own, "state folder").ok());
  Touch(own + "/data");
  fs::create_directory_symlink(own, dir_ + "/root/alias");
  EXPECT_FALSE(IsOwnedDir(dir_ + "/root/alias"));
  EXPECT_FALSE(RemoveOwnedDir(dir_ + "/root/alias", "state folder").ok());
  EXPECT_TRUE(fs::exists(own + "/data"));
}

}  // namespace
}  // namespace segflow
