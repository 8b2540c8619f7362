package reindex

import (
	"os"
	"testing"
)

// TestScenariosRealCluster runs the scenarios of index_scenarios_test.go
// against a real Elasticsearch 8 node, ELASTICSEARCH_TEST_NODE (for
// instance the compose stack's, with its port published:
// ELASTICSEARCH_TEST_NODE=http://127.0.0.1:9200; credentials in the URL when
// security is on). Each scenario uses indices of its own, deleted at its end.
// No Elasticsearch can run on the CI machines, so CI runs the same scenarios
// against the in-process server (TestScenariosInProcess) and skips this one.
func TestScenariosRealCluster(t *testing.T) {
	node := os.Getenv("ELASTICSEARCH_TEST_NODE")
	if node == "" {
		t.Skip("ELASTICSEARCH_TEST_NODE is not set: no real Elasticsearch to run the scenarios against " +
			"(CI runs them against the in-process server: TestScenariosInProcess)")
	}
	if err := NewClients(Config{}, node).Ping(t.Context()); err != nil {
		t.Fatalf("ELASTICSEARCH_TEST_NODE=%s: %v", Redact(node), err)
	}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, node) })
	}
}
