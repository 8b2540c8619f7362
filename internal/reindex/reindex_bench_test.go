package reindex

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// BenchmarkReindexCases rebuilds the repository-cases index of the
// benchmarks' data set (benchPool: 100,000 generated cases) end to end, as
// a task does: the documents built from PostgreSQL, sent through the bulk
// indexer with the default settings (5 MB requests, 2 in flight) to the
// in-process Elasticsearch, then the refresh, the count check and the alias
// move (each iteration replaces the previous one's index). It reports
// docs/s, the bulk throughput and the requests per rebuild.
//
// Two variants: "checked", where the server parses every document and
// checks it against the strict mapping (as Elasticsearch parses it), and
// "unchecked", where it stores the documents unparsed, which leaves the
// worker's own side: the ceiling it can feed a cluster with.
//
//	go test -run '^$' -bench ReindexCases -benchtime 3x ./internal/reindex
func BenchmarkReindexCases(b *testing.B) {
	for _, checked := range []bool{true, false} {
		name := "unchecked"
		if checked {
			name = "checked"
		}
		b.Run(name, func(b *testing.B) { benchReindexCases(b, checked) })
	}
}

func benchReindexCases(b *testing.B, checked bool) {
	pool := benchPool(b)
	es := testenv.StartElasticsearch(b)
	es.CheckMappings(checked)
	var last []byte
	h := &Handler{Clients: NewClients(Config{}, es.URL),
		results: func(context.Context) io.Writer {
			return writerFunc(func(p []byte) (int, error) { last = append(last[:0], p...); return len(p), nil })
		}}
	ctx := worker.WithLogger(context.Background(), slog.New(slog.DiscardHandler))
	ctx = worker.WithTenant(ctx, &tenant.Tenant{DB: pool, ElasticsearchNode: es.URL})
	var elapsed time.Duration
	var docs, bulkBytes int64
	requests, n := 0, 0
	for b.Loop() {
		sent := len(es.BulkRequestSizes())
		t0 := time.Now()
		if err := h.Reindex(ctx, task.Reindex{EntityType: task.EntityRepositoryCases}); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		var r Result
		if err := json.Unmarshal(last, &r); err != nil || !r.Success {
			b.Fatalf("result %s: %v", last, err)
		}
		docs += r.Results[KindRepositoryCases]
		for _, size := range es.BulkRequestSizes()[sent:] {
			bulkBytes += int64(size)
			requests++
		}
		n++
	}
	if docs/int64(n) != benchCases {
		b.Errorf("%d documents per rebuild, want %d", docs/int64(n), benchCases)
	}
	b.ReportMetric(elapsed.Seconds()/float64(n), "s/op")
	b.ReportMetric(float64(docs)/elapsed.Seconds(), "docs/s")
	b.ReportMetric(float64(bulkBytes)/elapsed.Seconds()/1e6, "bulk_MB/s")
	b.ReportMetric(float64(requests)/float64(n), "requests/op")
}
