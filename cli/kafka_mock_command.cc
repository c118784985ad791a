// `segflow kafka-mock`: a local Kafka-protocol cluster from librdkafka's mock
// (rd_kafka_mock_cluster_new), over real TCP on 127.0.0.1, for trying and testing Kafka
// sources without a Kafka installation (spec integrations §10.3). It prints the
// bootstrap servers and serves until SIGINT or SIGTERM. SIGUSR1 takes every broker down
// (connections dropped and refused, topics kept), SIGUSR2 brings them back: an outage. Segflow
// itself never special-cases it: jobs talk to it as to any cluster.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace segflow::cli {

namespace po = boost::program_options;

int KafkaMockCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file "
      "FILE]\n\n"
      "Starts librdkafka's mock Kafka cluster on 127.0.0.1 (random ports), prints its bootstrap\n"
      "servers on stdout and serves until SIGINT or SIGTERM. Its topics live in memory only.\n"
      "kill -USR1 takes every broker down (topics kept), kill -USR2 brings them back up.\n"
      "Produce with kcat -P -b BOOTSTRAP -t TOPIC, read with kcat -C -b BOOTSTRAP -t TOPIC.\n\n"
      "options");
  opts.add_options()("help,h", "this help")("brokers", po::value<int>()->default_value(3),
                                            "number of brokers")(
      "topic", po::value<std::vector<std::string>>(),
      "create topic NAME with PARTITIONS partitions (repeatable); other topics are created on "
      "first use")("bootstrap-file", po::value<std::string>(),
                   "also write the bootstrap servers to FILE (one line)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "segflow kafka-mock: " << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  const int brokers = vm["brokers"].as<int>();
  if (brokers < 1 || brokers > 16) {
    std::cerr << "segflow kafka-mock: --brokers must be 1..16\n";
    return 2;
  }
  // Block the stop signals before librdkafka starts its threads, so they all inherit the
  // mask and only sigwait below takes the signal.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGUSR1);
  sigaddset(&stop, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    std::cerr << "segflow kafka-mock: " << errstr << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    std::cerr << "segflow kafka-mock: could not start the mock cluster\n";
    rd_kafka_destroy(rk);
    return 1;
  }
  if (vm.count("topic")) {
    for (const std::string& t : vm["topic"].as<std::vector<std::string>>()) {
      const size_t colon = t.rfind(':');
      int partitions = 0;
      try {
        partitions = colon == std::string::npos ? 0 : std::stoi(t.substr(colon + 1));
      } catch (const std::exception&) {
      }
      if (colon == 0 || partitions < 1) {
        std::cerr << "segflow kafka-mock: --topic \"" << t
                  << "\": expected NAME:PARTITIONS, e.g. events:4\n";
        rd_kafka_mock_cluster_destroy(cluster);
        rd_kafka_destroy(rk);
        return 2;
      }
      const std::string name = t.substr(0, colon);
      rd_kafka_resp_err_t err =
          rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, std::min(brokers, 3));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::cerr << "segflow kafka-mock: topic " << name << ": " << rd_kafka_err2str(err) << "\n";
        rd_kafka_mock_cluster_destroy(cluster);
        rd_kafka_destroy(rk);
        return 1;
      }
    }
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  if (vm.count("bootstrap-file")) {
    const std::string path = vm["bootstrap-file"].as<std::string>();
    const std::string tmp = path + ".tmp";
    {
      std::ofstream f(tmp);
      f << bootstrap << "\n";
    }
    std::rename(tmp.c_str(), path.c_str());  // readers see the whole line or nothing
  }
  std::cout << bootstrap << std::endl;
  std::cerr << "segflow kafka-mock: " << brokers << " brokers at " << bootstrap
            << " (Ctrl-C stops)\n";
  int sig = 0;
  for (;;) {
    sigwait(&stop, &sig);
    if (sig != SIGUSR1 && sig != SIGUSR2) break;
    for (int b = 1; b <= brokers; ++b) {
      if (sig == SIGUSR1) {
        rd_kafka_mock_broker_set_down(cluster, b);
      } else {
        rd_kafka_mock_broker_set_up(cluster, b);
      }
    }
    std::cerr << "segflow kafka-mock: every broker " << (sig == SIGUSR1 ? "down" : "up")
              << std::endl;
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace segflow::cli
