// SPDX-License-Identifier: Apache-2.0
// The etcd client against a real etcd: keys, compare-and-swap, leases, watches that resume and
// that see a compaction, and failover when a member dies.
#include "canary/fleet/etcd_client.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "canary/http/client.hpp"
#include "etcd_cluster.hpp"
#include "scratch_dir.hpp"

namespace canary::fleet {
namespace {

using testing::EtcdCluster;
using testing::ScratchDir;

EtcdClient client_of(const EtcdCluster& cluster) {
  EtcdOptions o;
  o.endpoints = *parse_endpoints(cluster.endpoints());
  return EtcdClient(o);
}

TEST(EtcdEndpoints, ParsesAListAndRefusesWhatIsNotAUrl) {
  auto ok = parse_endpoints("http://127.0.0.1:2379,https://etcd.example:2379/");
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1], "https://etcd.example:2379");
  EXPECT_FALSE(parse_endpoints("127.0.0.1:2379"));
  EXPECT_FALSE(parse_endpoints(""));
  EXPECT_EQ(prefix_end("/canary/"), "/canary0");
}

class EtcdClientTest : public ::testing::Test {
 protected:
  ScratchDir dir{"etcd"};
  EtcdCluster cluster{dir.path, 1};
  void SetUp() override { ASSERT_TRUE(cluster.wait_ready()) << "etcd did not start; see " << dir.path; }
};

TEST_F(EtcdClientTest, PutsGetsAndErasesBytes) {
  EtcdClient etcd = client_of(cluster);
  const std::string binary("v\0\xff\x01", 4);
  ASSERT_TRUE(etcd.put("/t/a", binary));
  ASSERT_TRUE(etcd.put("/t/b", "2"));
  ASSERT_TRUE(etcd.put("/u/c", "3"));
  auto one = etcd.get("/t/a");
  ASSERT_TRUE(one) << one.status().message();
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, binary);
  EXPECT_GT(one->kvs[0].mod_revision, 0);
  auto all = etcd.get_prefix("/t/");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->kvs.size(), 2u);
  auto gone = etcd.erase("/t/", true);
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, 2);
  EXPECT_TRUE(etcd.get("/t/a")->kvs.empty());
  EXPECT_EQ(etcd.get("/u/c")->kvs.size(), 1u);
}

TEST_F(EtcdClientTest, CompareAndSwapByModRevision) {
  EtcdClient etcd = client_of(cluster);
  const std::int64_t rev = *etcd.put("/cas", "one");
  Compare same{"/cas", Compare::Target::mod, Compare::Result::equal, rev, {}};
  auto first = etcd.txn({same}, {TxnOp::put("/cas", "two")}, {TxnOp::range("/cas")});
  ASSERT_TRUE(first) << first.status().message();
  EXPECT_TRUE(first->succeeded);
  // The same compare again: the key moved on, so the write is refused and the failure branch reads.
  auto second = etcd.txn({same}, {TxnOp::put("/cas", "three")}, {TxnOp::range("/cas")});
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->ranges.size(), 1u);
  EXPECT_EQ(second->ranges[0].kvs.at(0).value, "two");
  // Create-if-absent: create_revision 0.
  Compare absent{"/new", Compare::Target::create, Compare::Result::equal, 0, {}};
  EXPECT_TRUE(etcd.txn({absent}, {TxnOp::put("/new", "x")})->succeeded);
  EXPECT_FALSE(etcd.txn({absent}, {TxnOp::put("/new", "y")})->succeeded);
}

TEST_F(EtcdClientTest, LeasedKeysLiveWithTheirLease) {
  EtcdClient etcd = client_of(cluster);
  auto lease = etcd.grant(5);
  ASSERT_TRUE(lease) << lease.status().message();
  ASSERT_TRUE(etcd.put("/leased", "here", *lease));
  EXPECT_TRUE(etcd.keep_alive(*lease).ok());
  EXPECT_EQ(etcd.get("/leased")->kvs.at(0).lease, *lease);
  ASSERT_TRUE(etcd.revoke(*lease).ok());
  EXPECT_TRUE(etcd.get("/leased")->kvs.empty());
  EXPECT_EQ(etcd.keep_alive(*lease).code(), Errc::missing);
}

TEST_F(EtcdClientTest, WatchSeesEveryChangeAndResumesWhereItStopped) {
  EtcdClient etcd = client_of(cluster);
  const std::int64_t start = *etcd.put("/w/0", "0");
  std::vector<std::string> seen;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    EtcdClient w = client_of(cluster);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (void)w.put("/w/1", "1");
    (void)w.erase("/w/0");
    (void)w.put("/other", "not watched");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
  });
  auto end = etcd.watch("/w/", start, [&](std::int64_t, const std::vector<WatchEvent>& events) {
    for (const WatchEvent& e : events) seen.push_back((e.deleted ? "-" : "+") + e.kv.key);
  }, stop);
  writer.join();
  ASSERT_TRUE(end) << end.status().message();
  EXPECT_EQ(seen, (std::vector<std::string>{"+/w/0", "+/w/1", "-/w/0"}));
  // What happened while nobody watched arrives with the next watch, from next_revision.
  (void)etcd.put("/w/2", "2");
  seen.clear();
  std::atomic<bool> stop2{false};
  auto again = etcd.watch("/w/", end->next_revision, [&](std::int64_t, const std::vector<WatchEvent>& events) {
    for (const WatchEvent& e : events) seen.push_back("+" + e.kv.key);
    stop2 = true;
  }, stop2);
  ASSERT_TRUE(again);
  EXPECT_EQ(seen, (std::vector<std::string>{"+/w/2"}));
}

TEST_F(EtcdClientTest, WatchFromACompactedRevisionSaysSo) {
  EtcdClient etcd = client_of(cluster);
  const std::int64_t old = *etcd.put("/c/a", "1");
  const std::int64_t now = *etcd.put("/c/a", "2");
  http::ClientRequest compact;
  compact.method = "POST";
  compact.url = cluster.client_url(0) + "/v3/kv/compaction";
  compact.body = "{\"revision\":\"" + std::to_string(now) + "\"}";
  ASSERT_EQ(http::fetch(compact)->status, 200);
  std::atomic<bool> stop{false};
  auto end = etcd.watch("/c/", old, [](std::int64_t, const std::vector<WatchEvent>&) {}, stop,
                        std::chrono::milliseconds(2000));
  ASSERT_TRUE(end) << end.status().message();
  EXPECT_TRUE(end->compacted);
  EXPECT_GE(end->next_revision, now);
}

TEST_F(EtcdClientTest, AuthenticatesWithAUserAndPassword) {
  // etcd's own client sets up a root user and turns auth on.
  const std::string ctl = "ETCDCTL_API=3 etcdctl --endpoints=" + cluster.client_url(0) + " ";
  ASSERT_EQ(std::system((ctl + "user add root:secret-pw >/dev/null").c_str()), 0);
  ASSERT_EQ(std::system((ctl + "auth enable >/dev/null").c_str()), 0);
  EtcdOptions o;
  o.endpoints = {cluster.client_url(0)};
  EtcdClient anonymous(o);
  auto refused = anonymous.put("/auth/x", "1");
  ASSERT_FALSE(refused);
  o.user = "root";
  o.password = "wrong";
  EXPECT_FALSE(EtcdClient(o).put("/auth/x", "1"));
  o.password = "secret-pw";
  EtcdClient user(o);
  auto ok = user.put("/auth/x", "1");
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ(user.get("/auth/x")->kvs.at(0).value, "1");
}

TEST(EtcdFailover, ACallMovesOnToALiveMember) {
  ScratchDir dir("etcd3");
  EtcdCluster cluster(dir.path, 3);
  ASSERT_TRUE(cluster.wait_ready()) << "etcd did not start; see " << dir.path;
  EtcdOptions o;
  o.endpoints = *parse_endpoints(cluster.endpoints());
  // The killed member may be the Raft leader: the others answer after an election. One round takes
  // 2.5-5 s here, and etcd 3.4 has no pre-vote, so two members can split their votes and need
  // another round; on a loaded machine 10 s was once not enough.
  o.retry_for = std::chrono::seconds(30);
  EtcdClient etcd(o);
  ASSERT_TRUE(etcd.put("/f", "before"));
  cluster.kill(0);
  // Two of three members still make a quorum: every call keeps working.
  for (int i = 0; i < 5; ++i) {
    auto r = etcd.put("/f", std::to_string(i));
    ASSERT_TRUE(r) << r.status().message();
  }
  EXPECT_NE(etcd.endpoint(), cluster.client_url(0));
  EXPECT_EQ(etcd.get("/f")->kvs.at(0).value, "4");
}

}  // namespace
}  // namespace canary::fleet
