package k8s_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The fleet's contract with its manifests.
const (
	secretName      = "tpi-workers"     // the one Secret (README.md says what it holds)
	shutdownDefault = 25 * time.Second  // SHUTDOWN_TIMEOUT's default in internal/worker
	schedulerName   = "scheduler"       // runs twice: HA-safe by deterministic task IDs
	configMapName   = "tpi-workers-env" // the shared, non-secret environment
	migrateCommand  = "tpictl migrate --mode auto"
	containerPort   = 9090                 // HTTP_ADDR of every worker in a container, as in docker-compose.yml
	pendingListFmt  = "asynq:{%s}:pending" // asynq v0.26 internal/base.PendingKey
	activeListFmt   = "asynq:{%s}:active"  // asynq v0.26 internal/base.ActiveKey
)

// secretLike matches the variables that hold credentials: they must come
// from a secretKeyRef, never from a literal or a ConfigMap.
var secretLike = regexp.MustCompile(`^(DATABASE_URL|VALKEY_URL|TENANT_CONFIGS)$|^TENANT_.+_DATABASE_URL$|PASSWORD|SECRET|TOKEN|_HASH$|KEY`)

func TestSecretLikeNames(t *testing.T) {
	for _, name := range []string{"DATABASE_URL", "VALKEY_URL", "ENCRYPTION_KEY", "DASHBOARD_PASSWORD_HASH", "DASHBOARD_TOKEN_HASH",
		"DASHBOARD_PRODUCER_TOKEN_HASH", "EMAIL_SERVER_PASSWORD", "JIRA_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY", "TENANT_CONFIGS",
		"TENANT_ACME_DATABASE_URL"} {
		if !secretLike.MatchString(name) {
			t.Errorf("%s is a credential but not matched", name)
		}
	}
	for _, name := range []string{"HTTP_ADDR", "SHUTDOWN_TIMEOUT", "MAX_MEMORY_RESTART", "EMAIL_SERVER_HOST", "NEXTAUTH_URL", "DATABASE_POOL_MAX_CONNS"} {
		if secretLike.MatchString(name) {
			t.Errorf("%s is not a credential but matched", name)
		}
	}
}

// Every file decodes strictly: a misspelt field (livenesProbe), a field at
// the wrong level or an unknown kind fails here, as kubectl's server-side
// validation would fail at apply time.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, path := range manifestFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeAll(path, data)
		if err != nil {
			t.Error(err)
		}
		for _, o := range objs {
			if strings.HasPrefix(path, "base") {
				kinds[o.Kind]++
			}
		}
	}
	for _, k := range []string{"Kustomization", "Deployment", "PodDisruptionBudget", "Service", "Job", "ServiceAccount",
		"ScaledObject", "TriggerAuthentication"} {
		if kinds[k] == 0 {
			t.Errorf("base/ has no %s", k)
		}
	}
}

// The strict decoding is what the other tests rely on: show that it fails.
func TestStrictDecodingRefusesMistakes(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          livenesProbe: {}\n",
		"wrong level":    "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nmaxUnavailable: 1\n",
		"unknown kind":   "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n",
		"keda typo":      "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec:\n  scaleTargetRef: {name: x}\n  maxReplicas: 3\n",
		"duplicate key":  "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  type: ClusterIP\n  type: NodePort\n",
	} {
		if _, err := decodeAll(name, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// The base and every overlay render, and the rendered fleet keeps every
// invariant (checkFleet).
func TestRenderedFleet(t *testing.T) {
	binaries := fleetBinaries(t)
	for _, dir := range append([]string{"base"}, overlays(t)...) {
		t.Run(dir, func(t *testing.T) {
			checkFleet(t, renderedFleet(t, dir), binaries)
		})
	}
}

// import-worker.yaml waits in base/ until cmd/import-worker exists: it is
// listed in the base's resources exactly when the binary is, and it keeps
// the invariants once added (rendered here with the base).
func TestImportWorkerPlaceholder(t *testing.T) {
	const file = "import-worker.yaml"
	data, err := os.ReadFile("base/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll("base/kustomization.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	listed := slices.Contains(objs[0].Obj.(*kusttypes.Kustomization).Resources, file)
	_, statErr := os.Stat(filepath.Join(repoRoot, "cmd", "import-worker", "main.go"))
	if exists := statErr == nil; listed != exists {
		t.Errorf("base/kustomization.yaml lists %s: %v; cmd/import-worker/main.go exists: %v (list it when the binary lands)", file, listed, exists)
	}
	if listed {
		return // TestRenderedFleet covers it
	}

	// The step to come, in memory: the base with the placeholder's line
	// uncommented.
	fs := filesys.MakeFsInMemory()
	files, err := filepath.Glob("base/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if path == "base/kustomization.yaml" {
			commented := regexp.MustCompile(`(?m)^(\s*)# (- ` + regexp.QuoteMeta(file) + `)`)
			if !commented.Match(data) {
				t.Fatalf("base/kustomization.yaml has no commented line \"# - %s\" to uncomment", file)
			}
			data = commented.ReplaceAll(data, []byte("$1$2"))
		}
		if err := fs.WriteFile("/"+path, data); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/base")
	if err != nil {
		t.Fatalf("kustomize build of the base with %s: %v", file, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := decodeAll("base + "+file, out)
	if err != nil {
		t.Fatal(err)
	}
	binaries := append(fleetBinaries(t), "import-worker")
	slices.Sort(binaries)
	f := checkFleet(t, rendered, binaries)
	if so := f.scaled["import-worker"]; so == nil {
		t.Error("no ScaledObject for the import worker")
	} else if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount != 0 {
		t.Errorf("the import worker scales to zero: minReplicaCount %s", show(so.Spec.MinReplicaCount))
	}
}

// The production overlay's differences from the base are the ones it
// documents: required spreading of the schedulers, two dashboards, higher
// ceilings.
func TestProductionOverlay(t *testing.T) {
	base := indexFleet(t, renderedFleet(t, "base"))
	prod := indexFleet(t, renderedFleet(t, "overlays/production"))
	tsc := prod.deployments[schedulerName].Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 1 || tsc[0].TopologyKey != "kubernetes.io/hostname" || tsc[0].WhenUnsatisfiable != corev1.DoNotSchedule {
		t.Errorf("production schedulers: spread %+v, want one DoNotSchedule constraint on kubernetes.io/hostname", tsc)
	}
	if r := prod.deployments["dashboard"].Spec.Replicas; r == nil || *r != 2 {
		t.Errorf("production dashboard replicas %s, want 2", show(r))
	}
	for name, so := range prod.scaled {
		if *so.Spec.MaxReplicaCount <= *base.scaled[name].Spec.MaxReplicaCount {
			t.Errorf("%s: production ceiling %d not above the base's %d", name, *so.Spec.MaxReplicaCount, *base.scaled[name].Spec.MaxReplicaCount)
		}
	}
}

// Users apply with `kubectl apply -k`: kubectl's own kustomize must render
// the same objects as the version pinned here.
func TestKubectlRendersTheSame(t *testing.T) {
	bin := kubectl()
	if bin == "" {
		t.Skip("kubectl not installed; the overlays were rendered with the kustomize API only")
	}
	for _, dir := range append([]string{"base"}, overlays(t)...) {
		out, err := exec.Command(bin, "kustomize", dir).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize %s: %v\n%s", dir, err, out)
			continue
		}
		theirs, err := decodeAll("kubectl kustomize "+dir, out)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		ours := renderedFleet(t, dir)
		if got, want := summarize(theirs), summarize(ours); !slices.Equal(got, want) {
			t.Errorf("%s: kubectl renders\n%s\nthe kustomize API\n%s", dir, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// summarize renders each object as one line of its JSON, sorted, so that
// two renderings compare regardless of their order.
func summarize(objs []object) []string {
	var out []string
	for _, o := range objs {
		j, err := json.Marshal(o.Obj)
		if err != nil {
			j = []byte(err.Error())
		}
		out = append(out, fmt.Sprintf("%s/%s %s", o.Kind, o.Name, j))
	}
	slices.Sort(out)
	return out
}

// Every secret key the manifests read is documented in README.md, where the
// operator learns what to put in the Secret.
func TestSecretKeysAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	f := indexFleet(t, renderedFleet(t, "base"))
	for _, c := range f.containers() {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				keys[e.ValueFrom.SecretKeyRef.Key] = true
			}
		}
	}
	for _, a := range f.auths {
		for _, ref := range a.Spec.SecretTargetRef {
			keys[ref.Key] = true
		}
	}
	for k := range keys {
		if !strings.Contains(string(readme), "`"+k+"`") {
			t.Errorf("README.md does not document the Secret key `%s`", k)
		}
	}
	if len(keys) < 5 {
		t.Errorf("only %d secret keys found: %v", len(keys), keys)
	}
}

// fleet indexes one rendered set of objects.
type fleet struct {
	deployments map[string]*appsv1.Deployment
	pdbs        map[string]*policyv1.PodDisruptionBudget
	scaled      map[string]*kedav1alpha1.ScaledObject
	auths       map[string]*kedav1alpha1.TriggerAuthentication
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	jobs        map[string]*batchv1.Job
}

func indexFleet(t *testing.T, objs []object) fleet {
	t.Helper()
	f := fleet{map[string]*appsv1.Deployment{}, map[string]*policyv1.PodDisruptionBudget{}, map[string]*kedav1alpha1.ScaledObject{},
		map[string]*kedav1alpha1.TriggerAuthentication{}, map[string]*corev1.ConfigMap{}, map[string]*corev1.Service{}, map[string]*batchv1.Job{}}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			f.deployments[o.Name] = v
		case *policyv1.PodDisruptionBudget:
			f.pdbs[o.Name] = v
		case *kedav1alpha1.ScaledObject:
			f.scaled[o.Name] = v
		case *kedav1alpha1.TriggerAuthentication:
			f.auths[o.Name] = v
		case *corev1.ConfigMap:
			f.configMaps[o.Name] = v
		case *corev1.Service:
			f.services[o.Name] = v
		case *batchv1.Job:
			f.jobs[o.Name] = v
		case *corev1.ServiceAccount:
		default:
			t.Errorf("%s: a rendered %s", o.Source, o.Kind)
		}
	}
	return f
}

// containers returns every container of the Deployments and Jobs.
func (f fleet) containers() []corev1.Container {
	var cs []corev1.Container
	for _, d := range f.deployments {
		cs = append(cs, d.Spec.Template.Spec.Containers...)
	}
	for _, j := range f.jobs {
		cs = append(cs, j.Spec.Template.Spec.Containers...)
	}
	return cs
}

// checkFleet checks the invariants of one rendered fleet and returns its
// index. binaries are the Deployments it must have.
func checkFleet(t *testing.T, objs []object, binaries []string) fleet {
	t.Helper()
	f := indexFleet(t, objs)

	// One Deployment per binary of the fleet, and nothing else.
	var names []string
	for n := range f.deployments {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, binaries) {
		t.Errorf("Deployments %v, want one per binary of the fleet %v (cmd/*/main.go but tpictl)", names, binaries)
	}

	compose := composeServices(t)
	images := map[string]bool{}
	for name, d := range f.deployments {
		pod := d.Spec.Template.Spec
		checkPodSecurity(t, "Deployment "+name, pod)
		if len(pod.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", name, len(pod.Containers))
			continue
		}
		c := pod.Containers[0]
		images[c.Image] = true
		if len(c.Command) != 1 || c.Command[0] != name {
			t.Errorf("%s: command %v, want the binary of the same name", name, c.Command)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not select its own pods %v (%v)", name, d.Spec.Selector, d.Spec.Template.Labels, err)
		}
		env := effectiveEnv(t, f, name, c)
		checkSecrets(t, name, c)

		// Probes on the port the binary listens on.
		addr := env["HTTP_ADDR"]
		if a, ok := env["DASHBOARD_ADDR"]; ok {
			addr = a
		}
		_, port, ok := strings.Cut(addr, ":")
		if !ok || port == "" {
			t.Errorf("%s: HTTP_ADDR %q has no port", name, addr)
		}
		if s, ok := compose[name]; ok && fmt.Sprint(s.Environment["HTTP_ADDR"]) != addr {
			t.Errorf("%s: HTTP_ADDR %q, docker-compose.yml has %q", name, addr, s.Environment["HTTP_ADDR"])
		}
		if name != "dashboard" && port != fmt.Sprint(containerPort) {
			t.Errorf("%s: listens on %q, want %d as every worker in a container", name, port, containerPort)
		}
		for _, p := range []struct {
			kind  string
			probe *corev1.Probe
			path  string
		}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", name, p.kind)
				continue
			}
			if p.probe.HTTPGet.Path != p.path || fmt.Sprint(probePort(c, p.probe)) != port {
				t.Errorf("%s: %s probe on %s port %v, want %s on %s", name, p.kind, p.probe.HTTPGet.Path, probePort(c, p.probe), p.path, port)
			}
		}

		// The drain fits in the grace period.
		shutdown := duration(t, name, env, "SHUTDOWN_TIMEOUT", shutdownDefault)
		grace := duration(t, name, env, "READINESS_GRACE", 0)
		if s, ok := compose[name]; ok && s.Environment["SHUTDOWN_TIMEOUT"] != nil && fmt.Sprint(s.Environment["SHUTDOWN_TIMEOUT"]) != shutdown.String() {
			t.Errorf("%s: SHUTDOWN_TIMEOUT %s, docker-compose.yml has %v", name, shutdown, s.Environment["SHUTDOWN_TIMEOUT"])
		}
		tgp := pod.TerminationGracePeriodSeconds
		if tgp == nil || time.Duration(*tgp)*time.Second <= shutdown+grace {
			t.Errorf("%s: terminationGracePeriodSeconds %s must exceed SHUTDOWN_TIMEOUT %s + READINESS_GRACE %s", name, show(tgp), shutdown, grace)
		}

		// The worker's own guard drains below the container's hard cap, with
		// compose's numbers.
		limit, hasLimit := c.Resources.Limits[corev1.ResourceMemory]
		guardRaw, hasGuard := env["MAX_MEMORY_RESTART"]
		guard, err := parseSize(guardRaw)
		switch {
		case !hasLimit || !hasGuard || err != nil:
			t.Errorf("%s: memory limit %v, MAX_MEMORY_RESTART %q (%v): both are needed", name, limit.String(), guardRaw, err)
		case guard >= limit.Value():
			t.Errorf("%s: MAX_MEMORY_RESTART %s (%d bytes) must be below the memory limit %s", name, guardRaw, guard, limit.String())
		}
		if req, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok || req.Cmp(limit) > 0 {
			t.Errorf("%s: memory request %v above the limit %v", name, req.String(), limit.String())
		}
		if s, ok := compose[name]; ok {
			want, err := parseSize(s.Deploy.Resources.Limits.Memory)
			if err != nil || want != limit.Value() || fmt.Sprint(s.Environment["MAX_MEMORY_RESTART"]) != guardRaw {
				t.Errorf("%s: memory limit %s and MAX_MEMORY_RESTART %s; docker-compose.yml has %s and %v", name, limit.String(), guardRaw,
					s.Deploy.Resources.Limits.Memory, s.Environment["MAX_MEMORY_RESTART"])
			}
		}

		// Exactly one PodDisruptionBudget, one that lets a node drain.
		var budgets []string
		for pn, pdb := range f.pdbs {
			s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err == nil && !s.Empty() && s.Matches(labels.Set(d.Spec.Template.Labels)) {
				budgets = append(budgets, pn)
				if mu := pdb.Spec.MaxUnavailable; pdb.Spec.MinAvailable != nil || mu == nil || mu.String() == "0" || mu.String() == "0%" {
					t.Errorf("PodDisruptionBudget %s: want maxUnavailable of at least 1 (minAvailable %v, maxUnavailable %v), or no node drains",
						pn, pdb.Spec.MinAvailable, mu)
				}
				if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
					t.Errorf("PodDisruptionBudget %s: unhealthyPodEvictionPolicy %s, want AlwaysAllow (unready during an outage, still evictable)", pn, show(p))
				}
			}
		}
		if len(budgets) != 1 {
			t.Errorf("%s: PodDisruptionBudgets %v, want exactly one", name, budgets)
		}
	}

	if d := f.deployments[schedulerName]; d != nil {
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("scheduler: replicas %s, want 2 (HA: each occurrence is enqueued once by task ID)", show(d.Spec.Replicas))
		}
		if tsc := d.Spec.Template.Spec.TopologySpreadConstraints; len(tsc) == 0 || tsc[0].TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("scheduler: the two replicas are not spread over nodes: %+v", tsc)
		}
	}
	if d := f.deployments["dashboard"]; d != nil {
		svc := f.services["dashboard"]
		if svc == nil {
			t.Error("no Service in front of the dashboard")
		} else {
			sel := labels.SelectorFromSet(svc.Spec.Selector)
			if len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("Service dashboard selects %v, not the dashboard's pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
			}
			c := d.Spec.Template.Spec.Containers[0]
			for _, p := range svc.Spec.Ports {
				if portNumber(c, p.TargetPort.String()) == 0 && p.TargetPort.IntValue() == 0 {
					t.Errorf("Service dashboard: target port %s is not a port of the container", p.TargetPort.String())
				}
			}
		}
	}

	// The migrations Job.
	if len(f.jobs) != 1 {
		t.Errorf("Jobs %v, want the one migrate Job", len(f.jobs))
	}
	for name, j := range f.jobs {
		pod := j.Spec.Template.Spec
		checkPodSecurity(t, "Job "+name, pod)
		for _, c := range pod.Containers {
			images[c.Image] = true
			if got := strings.Join(c.Command, " "); got != migrateCommand {
				t.Errorf("Job %s: command %q, want %q", name, got, migrateCommand)
			}
			if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
				t.Errorf("Job %s: no memory limit", name)
			}
			checkSecrets(t, "Job "+name, c)
			if e := envVar(c, "DATABASE_URL"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("Job %s: DATABASE_URL not from the Secret", name)
			}
		}
		if pod.RestartPolicy == corev1.RestartPolicyAlways || j.Spec.TTLSecondsAfterFinished == nil {
			t.Errorf("Job %s: restartPolicy %q, ttlSecondsAfterFinished %s", name, pod.RestartPolicy, show(j.Spec.TTLSecondsAfterFinished))
		}
	}
	if len(images) != 1 {
		t.Errorf("images %v, want the one image of every binary", images)
	}
	for img := range images {
		if strings.HasSuffix(img, ":latest") || !strings.Contains(img, ":") {
			t.Errorf("image %q: pin a tag", img)
		}
	}

	// No credential in a ConfigMap.
	for name, cm := range f.configMaps {
		for k := range cm.Data {
			if secretLike.MatchString(k) {
				t.Errorf("ConfigMap %s holds %s: a credential belongs in the Secret", name, k)
			}
		}
	}

	checkScaledObjects(t, f)
	return f
}

// checkScaledObjects: one ScaledObject per queue worker, on an existing
// Deployment that leaves its replica count to it, watching asynq's pending
// list of the queue that worker consumes.
func checkScaledObjects(t *testing.T, f fleet) {
	t.Helper()
	targets := map[string]string{}
	for name, so := range f.scaled {
		ref := so.Spec.ScaleTargetRef
		d := f.deployments[ref.Name]
		if d == nil || (ref.Kind != "" && ref.Kind != "Deployment") {
			t.Errorf("ScaledObject %s targets %s %q, not a Deployment of the fleet", name, ref.Kind, ref.Name)
			continue
		}
		if other, dup := targets[ref.Name]; dup {
			t.Errorf("ScaledObjects %s and %s both scale %s", name, other, ref.Name)
		}
		targets[ref.Name] = name
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas %d: every apply would reset what ScaledObject %s decided", ref.Name, *d.Spec.Replicas, name)
		}
		min, max := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
		if min == nil || max == nil || *max < 1 || *min > *max {
			t.Errorf("ScaledObject %s: replicas from %s to %s", name, show(min), show(max))
			continue
		}
		queue := queueOf(t, ref.Name)
		pending, active := fmt.Sprintf(pendingListFmt, queue), fmt.Sprintf(activeListFmt, queue)
		var lists []string
		for i, trig := range so.Spec.Triggers {
			if trig.Type != "redis" {
				t.Errorf("ScaledObject %s trigger %d: type %q, want redis", name, i, trig.Type)
				continue
			}
			list := trig.Metadata["listName"]
			if list != pending && list != active {
				t.Errorf("ScaledObject %s trigger %d: listName %q, want %q (or %q); %s consumes queue %q",
					name, i, list, pending, active, ref.Name, queue)
			}
			lists = append(lists, list)
			if trig.AuthenticationRef == nil || f.auths[trig.AuthenticationRef.Name] == nil {
				t.Errorf("ScaledObject %s trigger %d: authenticationRef %v is not a TriggerAuthentication of the fleet", name, i, trig.AuthenticationRef)
				continue
			}
			checkRedisTrigger(t, name, trig, f.auths[trig.AuthenticationRef.Name])
		}
		if !slices.Contains(lists, pending) {
			t.Errorf("ScaledObject %s does not watch %s", name, pending)
		}
		// From zero, a running task is not pending: only with a trigger on the
		// active list may the floor be zero, or a long task's replica goes.
		if *min == 0 && !slices.Contains(lists, active) {
			t.Errorf("ScaledObject %s scales to zero without watching %s", name, active)
		}
	}
	for name := range f.deployments {
		if strings.HasSuffix(name, "-worker") && targets[name] == "" {
			t.Errorf("queue worker %s has no ScaledObject", name)
		}
		if !strings.HasSuffix(name, "-worker") && targets[name] != "" {
			t.Errorf("%s is scaled by ScaledObject %s: only queue workers scale on a backlog", name, targets[name])
		}
	}
	for name, a := range f.auths {
		for _, ref := range a.Spec.SecretTargetRef {
			if ref.Name != secretName {
				t.Errorf("TriggerAuthentication %s reads Secret %q, want %q", name, ref.Name, secretName)
			}
		}
	}
}

// checkPodSecurity: non-root, read-only root file system, no capability, no
// privilege escalation, no service account token.
func checkPodSecurity(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and a non-zero runAsUser", what, psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: want the RuntimeDefault seccomp profile", what)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it does not need", what)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 ||
			(sc.Privileged != nil && *sc.Privileged) {
			t.Errorf("%s container %s: securityContext %+v, want readOnlyRootFilesystem, no privilege escalation, capabilities drop ALL", what, c.Name, sc)
		}
	}
}

// checkSecrets: a credential comes from a secretKeyRef of the Secret, never
// from a literal, a ConfigMap key or a whole ConfigMap.
func checkSecrets(t *testing.T, what string, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if !secretLike.MatchString(e.Name) {
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: %s must come from a secretKeyRef, not %+v", what, e.Name, e)
			continue
		}
		if ref := e.ValueFrom.SecretKeyRef; ref.Name != secretName {
			t.Errorf("%s: %s from Secret %q, want %q", what, e.Name, ref.Name, secretName)
		}
	}
}

// effectiveEnv is the container's environment as the binary sees it: the
// ConfigMaps of envFrom, then env (later wins). Values from a Secret are not
// known here and are left out.
func effectiveEnv(t *testing.T, f fleet, what string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	shared := false
	for _, src := range c.EnvFrom {
		switch {
		case src.ConfigMapRef != nil:
			cm := f.configMaps[src.ConfigMapRef.Name]
			if cm == nil {
				t.Errorf("%s: envFrom ConfigMap %q does not exist", what, src.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[src.Prefix+k] = v
			}
			// Rendered, the generated ConfigMap's name has a hash suffix.
			shared = shared || strings.HasPrefix(src.ConfigMapRef.Name, configMapName)
		case src.SecretRef != nil:
			// Whole-Secret imports are allowed by the brief but unused: the
			// workers get only the keys they need, by secretKeyRef.
			t.Errorf("%s: envFrom Secret %q; give each variable its secretKeyRef", what, src.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		} else {
			delete(env, e.Name)
		}
	}
	if !shared {
		t.Errorf("%s: does not read the shared ConfigMap %s", what, configMapName)
	}
	return env
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// duration reads a Go duration from env, def when unset.
func duration(t *testing.T, what string, env map[string]string, name string, def time.Duration) time.Duration {
	t.Helper()
	raw, ok := env[name]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		t.Errorf("%s: %s=%q: %v", what, name, raw, err)
	}
	return d
}

// show prints what a pointer field holds, or "unset".
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// probePort returns the port number an HTTP probe targets.
func probePort(c corev1.Container, p *corev1.Probe) int32 {
	if n := p.HTTPGet.Port.IntValue(); n != 0 {
		return int32(n)
	}
	return portNumber(c, p.HTTPGet.Port.String())
}

// portNumber returns the number of the container's port called name, or 0.
func portNumber(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}
