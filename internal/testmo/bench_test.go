package testmo_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/testplanit/tpi-workers/internal/testmo"
	"github.com/testplanit/tpi-workers/internal/testmo/testmogen"
)

// benchExport is the 200 MB export the benchmarks share, written once per test binary run
// (the benchmark functions are called several times: for b.N probing and -count).
var benchExport struct {
	once sync.Once
	dir  string
	path string
	rep  testmogen.Report
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchExport.dir != "" {
		os.RemoveAll(benchExport.dir)
	}
	os.Exit(code)
}

func exportForBench(b *testing.B) (string, testmogen.Report) {
	b.Helper()
	benchExport.once.Do(func() {
		if benchExport.dir, benchExport.err = os.MkdirTemp("", "testmo-bench-"); benchExport.err != nil {
			return
		}
		benchExport.path = filepath.Join(benchExport.dir, "export.json")
		f, err := os.Create(benchExport.path)
		if err != nil {
			benchExport.err = err
			return
		}
		benchExport.rep, benchExport.err = testmogen.Generate(context.Background(), f, testmogen.Config{TargetBytes: 200 << 20, Seed: 1})
		if err := f.Close(); benchExport.err == nil {
			benchExport.err = err
		}
	})
	if benchExport.err != nil {
		b.Fatal(benchExport.err)
	}
	return benchExport.path, benchExport.rep
}

// BenchmarkTestmoDecode decodes a generated 200 MB export from a file, every row passed to
// a visitor that reads each value: the decoder's share of analyze (the issue asks >= 50 MB/s).
func BenchmarkTestmoDecode(b *testing.B) {
	path, rep := exportForBench(b)
	b.SetBytes(rep.Bytes)
	b.ReportAllocs()
	b.ResetTimer()
	var rows int64
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := testmo.Decode(context.Background(), f, &rowCounter{})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		rows += sum.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkTestmoDecodeStdlibTokens only tokenizes the same export with encoding/json's
// Decoder.Token, for comparison: no rows are assembled.
func BenchmarkTestmoDecodeStdlibTokens(b *testing.B) {
	path, rep := exportForBench(b)
	b.SetBytes(rep.Bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		dec := json.NewDecoder(f)
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}
