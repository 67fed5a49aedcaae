/* A Kafka cluster for tests and benchmarks: librdkafka's mock cluster
 * (rdkafka_mock.h), listening on loopback. Prints its bootstrap address
 * on the first line of stdout, then takes commands on stdin, one a line,
 * answering each with "ok" (or "error ..."):
 *   down   every broker disconnects and refuses connections
 *   up     they take connections again
 *   quit   (or end of input) stops the cluster; SIGTERM kills it
 *   kafka-mock [-b BROKERS] [-p PARTITIONS] [-t TOPIC]... */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static void set_all(rd_kafka_mock_cluster_t *mc, int brokers, bool up)
{
    for (int id = 1; id <= brokers; id++) {
        rd_kafka_resp_err_t e = up ? rd_kafka_mock_broker_set_up(mc, id)
                                   : rd_kafka_mock_broker_set_down(mc, id);
        if (e)
            printf("error broker %d: %s\n", id, rd_kafka_err2str(e));
    }
}

int main(int argc, char **argv)
{
    int brokers = 1, partitions = 1, opt;
    const char *topics[16];
    int n_topics = 0;
    while ((opt = getopt(argc, argv, "b:p:t:")) != -1) {
        switch (opt) {
        case 'b':
            brokers = atoi(optarg);
            break;
        case 'p':
            partitions = atoi(optarg);
            break;
        case 't':
            if (n_topics < 16)
                topics[n_topics++] = optarg;
            break;
        default:
            fprintf(stderr, "usage: kafka-mock [-b BROKERS] [-p PARTITIONS] [-t TOPIC]...\n");
            return 2;
        }
    }
    if (brokers < 1 || brokers > 9 || partitions < 1 || partitions > 64) {
        fprintf(stderr, "kafka-mock: 1..9 brokers, 1..64 partitions\n");
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka-mock: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "kafka-mock: cannot start the mock cluster\n");
        return 1;
    }
    for (int i = 0; i < n_topics; i++) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topics[i], partitions,
                                                           brokers < 3 ? brokers : 3);
        if (e) {
            fprintf(stderr, "kafka-mock: topic %s: %s\n", topics[i], rd_kafka_err2str(e));
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strcmp(line, "down") == 0)
            set_all(mc, brokers, false);
        else if (strcmp(line, "up") == 0)
            set_all(mc, brokers, true);
        else if (strcmp(line, "quit") == 0)
            break;
        else if (*line) {
            printf("error unknown command '%s'\n", line);
            fflush(stdout);
            continue;
        }
        printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
