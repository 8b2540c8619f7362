package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenTestmo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.json")
	out, err := runCLI(t, nil, "", "gen-testmo", "--size", "200KB", "--seed", "3", "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(body) || !strings.Contains(out, fmt.Sprintf("wrote %s: %d bytes", path, len(body))) ||
		!strings.Contains(out, "50 datasets") || !strings.Contains(out, "run_results") {
		t.Fatalf("report %q for a %d-byte export (valid JSON: %v)", out, len(body), json.Valid(body))
	}

	// Without --out the export goes to stdout, the same bytes for the same size and seed.
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"gen-testmo", "--size", "204800", "--seed", "3"}, func(string) string { return "" }, nil, &stdout); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), body) {
		t.Errorf("stdout export (%d bytes) differs from the file (%d bytes)", stdout.Len(), len(body))
	}

	if _, err := runCLI(t, nil, "", "gen-testmo", "--size", "lots"); err == nil || !strings.Contains(err.Error(), `--size "lots"`) {
		t.Errorf("bad size: %v", err)
	}
}
