package task_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// pkg/task is the one package other modules import, so it must stay cheap to
// import: the standard library, asynq and what asynq itself needs. Nothing of
// the fleet (internal/...) may leak into it.
func TestBoundaryTaskDependsOnStdlibAndAsynqOnly(t *testing.T) {
	deps := goList(t, "github.com/testplanit/tpi-workers/pkg/task")
	allowed := map[string]bool{}
	for _, p := range goList(t, "github.com/hibiken/asynq") {
		allowed[p] = true
	}
	for _, p := range deps {
		if p == "github.com/testplanit/tpi-workers/pkg/task" || allowed[p] {
			continue
		}
		t.Errorf("pkg/task depends on %s, which is neither the standard library nor asynq's", p)
	}
}

// goList returns the non-standard packages pkg depends on, itself included.
func goList(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// Everything else of the fleet lives under internal/, where Go refuses imports
// from other modules; pkg/ holds the contract alone.
func TestBoundaryPkgHoldsOnlyTheContract(t *testing.T) {
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "task" {
			t.Errorf("pkg/%s: only the task contract belongs under pkg/; move it under internal/", e.Name())
		}
	}
}
