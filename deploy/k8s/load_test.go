package k8s_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// repoRoot is the main module's root, where cmd/, pkg/ and docker-compose.yml are.
const repoRoot = "../.."

// object is one decoded manifest document.
type object struct {
	Source string // file or rendered overlay, for messages
	Kind   string
	Name   string
	Obj    any // a pointer to the typed API object
}

// decodeAll splits data into YAML documents and decodes each one strictly
// (unknown or duplicate fields are errors) into the API type its apiVersion
// and kind name. A kind the fleet does not use is an error too.
func decodeAll(source string, data []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		obj, err := newObject(tm)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: %s document %d: %w", source, tm.Kind, i, err)
		}
		name := ""
		if m, ok := obj.(metav1.Object); ok {
			name = m.GetName()
		}
		out = append(out, object{Source: source, Kind: tm.Kind, Name: name, Obj: obj})
	}
}

// stripComments drops comment-only lines, so that a document holding nothing
// but comments counts as empty.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// newObject returns the typed object for an apiVersion and kind.
func newObject(tm metav1.TypeMeta) (any, error) {
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "batch/v1 Job":
		return &batchv1.Job{}, nil
	case "keda.sh/v1alpha1 ScaledObject":
		return &kedav1alpha1.ScaledObject{}, nil
	case "keda.sh/v1alpha1 TriggerAuthentication":
		return &kedav1alpha1.TriggerAuthentication{}, nil
	case "kustomize.config.k8s.io/v1beta1 Kustomization", "kustomize.config.k8s.io/v1alpha1 Component":
		return &kusttypes.Kustomization{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a kind the fleet uses (or a typo)", tm.APIVersion, tm.Kind)
}

// manifestFiles lists every YAML file under base/, overlays/ and components/.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"base", "overlays", "components"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) == 0 {
		t.Fatal("no manifest under base/ or overlays/")
	}
	return files
}

// overlays lists the directories under overlays/.
func overlays(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no overlay under overlays/ (%v)", err)
	}
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	return dirs
}

// render builds a kustomization directory with the kustomize API (the same
// engine as `kubectl kustomize`, pinned in go.mod).
func render(t *testing.T, dir string) []byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// renderedFleet renders dir and decodes the result strictly.
func renderedFleet(t *testing.T, dir string) []object {
	t.Helper()
	objs, err := decodeAll("rendered "+dir, render(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// kubectl returns the path of kubectl, or "" when it is not installed.
func kubectl() string {
	p, err := exec.LookPath("kubectl")
	if err != nil {
		return ""
	}
	return p
}

// fleetBinaries are the binaries that run as Deployments: every
// cmd/<name>/main.go of the main module but the operator CLI.
func fleetBinaries(t *testing.T) []string {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(repoRoot, "cmd", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no cmd/*/main.go under %s (%v)", repoRoot, err)
	}
	var names []string
	for _, m := range mains {
		if n := filepath.Base(filepath.Dir(m)); n != "tpictl" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// placeholderQueues names the queue constant of a worker whose main.go is
// not written yet, for the placeholder manifests.
var placeholderQueues = map[string]string{
	"import-worker": "QueueTestmoImports",
}

// queueOf returns the queue a worker binary consumes, read from its source:
// the task.QueueX argument of worker.LoadConfig in cmd/<name>/main.go, and
// that constant's value in pkg/task.
func queueOf(t *testing.T, binary string) string {
	t.Helper()
	constName := placeholderQueues[binary]
	path := filepath.Join(repoRoot, "cmd", binary, "main.go")
	if _, err := os.Stat(path); err == nil {
		constName = ""
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isSelector(call.Fun, "worker", "LoadConfig") || len(call.Args) < 3 {
				return true
			}
			if sel, ok := call.Args[2].(*ast.SelectorExpr); ok && isSelector(sel, "task", sel.Sel.Name) {
				constName = sel.Sel.Name
			}
			return false
		})
	}
	if constName == "" {
		t.Fatalf("%s: no worker.LoadConfig(env, ..., task.QueueX, ...) call found", path)
	}
	return taskConst(t, constName)
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// taskConst returns the value of a string constant of pkg/task.
func taskConst(t *testing.T, name string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "pkg", "task", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if n.Name != name || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							t.Fatal(err)
						}
						return v
					}
				}
			}
		}
	}
	t.Fatalf("pkg/task has no string constant %s", name)
	return ""
}

// composeService is what the fleet test compares with docker-compose.yml.
type composeService struct {
	Environment map[string]any `json:"environment"`
	Deploy      struct {
		Resources struct {
			Limits struct {
				Memory string `json:"memory"`
			} `json:"limits"`
		} `json:"resources"`
	} `json:"deploy"`
}

// composeServices reads docker-compose.yml (its anchors and merge keys
// resolved by the YAML decoder).
func composeServices(t *testing.T) map[string]composeService {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]composeService `json:"services"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c.Services
}

// parseSize reads a size as the fleet's binaries read MAX_MEMORY_RESTART
// (internal/config.ParseBytes) and as Docker reads a memory limit: K, M, G,
// T are powers of 1024, an optional B or iB after them, any case.
func parseSize(raw string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(raw))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if s != "" {
		if i := strings.IndexByte("KMGT", s[len(s)-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size", raw)
	}
	return n * mult, nil
}
