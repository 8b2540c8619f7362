package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const (
	intakeName      = "bullmq-intake"            // the Deployment, its container and compose's service
	intakeComponent = "components/bullmq-intake" // optional: an overlay lists it under components
	intakeImage     = "testplanit-workers-intake"
)

// The optional BullMQ intake, added as its README says (a `components:` line
// in the kustomization) to the base and to every overlay: it renders, leaves
// every object of the fleet exactly as it was, lands in the fleet's
// namespace, and keeps its own invariants (checkIntake).
func TestBullMQIntakeComponent(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range append([]string{"base"}, overlays(t)...) {
		t.Run(dir, func(t *testing.T) {
			var fleetObjs, intakeObjs []object
			for _, o := range renderWithIntake(t, dir) {
				if o.Name == intakeName {
					intakeObjs = append(intakeObjs, o)
				} else {
					fleetObjs = append(fleetObjs, o)
				}
			}
			if got, want := summarize(fleetObjs), summarize(renderedFleet(t, dir)); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("the component changes the fleet's objects:\n%s\nwithout it:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			f := indexFleet(t, append(fleetObjs, intakeObjs...))
			checkIntake(t, f, string(readme))
		})
	}
}

// renderWithIntake renders dir with the component added to its
// kustomization, in memory (the files on disk are left alone).
func renderWithIntake(t *testing.T, dir string) []object {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	for _, top := range []string{"base", "overlays", "components"} {
		err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return fs.WriteFile("/"+path, data)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	kpath := "/" + dir + "/kustomization.yaml"
	data, err := fs.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, intakeComponent)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, fmt.Sprintf("\ncomponents:\n  - %s\n", rel)...)
	if err := fs.WriteFile(kpath, data); err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/"+dir)
	if err != nil {
		t.Fatalf("kustomize build %s with %s: %v", dir, intakeComponent, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll("rendered "+dir+" + "+intakeComponent, out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// checkIntake: one replica of the intake's own pinned image (not KEDA's to
// scale), in the dashboard's namespace, calling the dashboard's Service with
// the producer token from the Secret; probes on INTAKE_HTTP_ADDR; a grace
// period above INTAKE_SHUTDOWN_TIMEOUT; compose's memory limit with V8's heap
// below it; the fleet's pod security; one PodDisruptionBudget; its Secret
// keys documented.
func checkIntake(t *testing.T, f fleet, readme string) {
	t.Helper()
	d := f.deployments[intakeName]
	if d == nil {
		t.Fatalf("no Deployment %s", intakeName)
	}
	if dash := f.deployments["dashboard"]; dash == nil || dash.Namespace != d.Namespace {
		t.Errorf("%s in namespace %q, not the dashboard's", intakeName, d.Namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
		t.Errorf("%s: replicas %s", intakeName, show(d.Spec.Replicas))
	}
	for name, so := range f.scaled {
		if so.Spec.ScaleTargetRef.Name == intakeName {
			t.Errorf("ScaledObject %s scales %s: it has no asynq queue of its own", name, intakeName)
		}
	}
	pod := d.Spec.Template.Spec
	checkPodSecurity(t, "Deployment "+intakeName, pod)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("%s: selector %v does not select its own pods (%v)", intakeName, d.Spec.Selector, err)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", intakeName, len(pod.Containers))
	}
	c := pod.Containers[0]
	name, tag, ok := strings.Cut(c.Image, ":")
	if !strings.HasSuffix(name, intakeImage) || !ok || tag == "" || tag == "latest" {
		t.Errorf("%s: image %q, want %s with a pinned tag", intakeName, c.Image, intakeImage)
	}
	checkSecrets(t, intakeName, c)
	for _, key := range []string{"VALKEY_URL", "INTAKE_PRODUCER_TOKEN"} {
		e := envVar(c, key)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s: %s must come from the Secret's key %s", intakeName, key, key)
		} else if !strings.Contains(readme, "`"+key+"`") {
			t.Errorf("README.md does not document the Secret key `%s`", key)
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}

	// The enqueue API: the dashboard's Service, by its port.
	if svc := f.services["dashboard"]; svc == nil || len(svc.Spec.Ports) == 0 {
		t.Error("no Service dashboard for the intake to call")
	} else if want := fmt.Sprintf("http://dashboard:%d", svc.Spec.Ports[0].Port); env["INTAKE_API_URL"] != want {
		t.Errorf("%s: INTAKE_API_URL %q, want %q", intakeName, env["INTAKE_API_URL"], want)
	}

	// Probes on the port it listens on, beyond loopback.
	host, port, _ := strings.Cut(env["INTAKE_HTTP_ADDR"], ":")
	if host == "127.0.0.1" || host == "localhost" || port == "" {
		t.Errorf("%s: INTAKE_HTTP_ADDR %q: the kubelet's probes need a port on the pod's address", intakeName, env["INTAKE_HTTP_ADDR"])
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", intakeName, p.kind)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || fmt.Sprint(probePort(c, p.probe)) != port {
			t.Errorf("%s: %s probe on %s port %v, want %s on %s", intakeName, p.kind, p.probe.HTTPGet.Path, probePort(c, p.probe), p.path, port)
		}
	}

	// SIGTERM drains within INTAKE_SHUTDOWN_TIMEOUT (ms, default 10000).
	shutdown := 10 * time.Second
	if raw, ok := env["INTAKE_SHUTDOWN_TIMEOUT"]; ok {
		ms, err := strconv.Atoi(raw)
		if err != nil {
			t.Errorf("%s: INTAKE_SHUTDOWN_TIMEOUT %q is not milliseconds", intakeName, raw)
		}
		shutdown = time.Duration(ms) * time.Millisecond
	}
	if tgp := pod.TerminationGracePeriodSeconds; tgp == nil || time.Duration(*tgp)*time.Second <= shutdown {
		t.Errorf("%s: terminationGracePeriodSeconds %s must exceed INTAKE_SHUTDOWN_TIMEOUT %s", intakeName, show(tgp), shutdown)
	}

	// Memory: compose's limit; V8's heap bounded below it.
	limit, hasLimit := c.Resources.Limits[corev1.ResourceMemory]
	if !hasLimit {
		t.Errorf("%s: no memory limit", intakeName)
	} else {
		if s, ok := composeServices(t)[intakeName]; !ok {
			t.Errorf("docker-compose.yml has no %s service", intakeName)
		} else if want, err := parseSize(s.Deploy.Resources.Limits.Memory); err != nil || want != limit.Value() {
			t.Errorf("%s: memory limit %s, docker-compose.yml has %s", intakeName, limit.String(), s.Deploy.Resources.Limits.Memory)
		}
		_, heap, _ := strings.Cut(env["NODE_OPTIONS"], "--max-old-space-size=")
		if mb, err := strconv.Atoi(strings.Fields(heap + " x")[0]); err != nil || int64(mb)<<20 >= limit.Value() {
			t.Errorf("%s: NODE_OPTIONS %q: --max-old-space-size (MB) must sit below the memory limit %s", intakeName, env["NODE_OPTIONS"], limit.String())
		}
		if req, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok || req.Cmp(limit) > 0 {
			t.Errorf("%s: memory request %v above the limit %v", intakeName, req.String(), limit.String())
		}
	}

	// Exactly one PodDisruptionBudget, one that lets a node drain.
	var budgets []string
	for pn, pdb := range f.pdbs {
		s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || s.Empty() || !s.Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		budgets = append(budgets, pn)
		if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.String() == "0" || pdb.Spec.MinAvailable != nil {
			t.Errorf("PodDisruptionBudget %s: want maxUnavailable of at least 1", pn)
		}
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
			t.Errorf("PodDisruptionBudget %s: unhealthyPodEvictionPolicy %s, want AlwaysAllow", pn, show(p))
		}
	}
	if len(budgets) != 1 {
		t.Errorf("%s: PodDisruptionBudgets %v, want exactly one", intakeName, budgets)
	}
}
